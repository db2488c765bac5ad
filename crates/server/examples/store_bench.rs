//! How many messages a second the store makes durable, with many writers at
//! once (as a busy room) or one (each commit then carries one message, which
//! shows what group commit saves).
//!
//! ```sh
//! cargo run --release -p server --example store_bench -- --writers 100
//! cargo run --release -p server --example store_bench -- --writers 100 \
//!     --postgres postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! `--client-ids` gives every message a client id (as the page sends them),
//! which each batch looks up before it inserts.
//!
//! SQLite runs in a temporary directory; PostgreSQL in a temporary schema that
//! is dropped at the end. Bounded: it writes `--messages` and stops.

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use server::store::{ClientKey, NewItem, Store};

#[derive(Debug, Parser)]
struct Args {
    /// Concurrent writers (think: senders in the room).
    #[arg(long, default_value_t = 100)]
    writers: usize,
    /// Messages to write in all.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Measure PostgreSQL at this URL instead of SQLite.
    #[arg(long)]
    postgres: Option<String>,
    /// Send every message with a client id of its own.
    #[arg(long)]
    client_ids: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let schema = format!("bench_{}", std::process::id());
    let store = match &args.postgres {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.context("connecting")?;
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await?;
            let sep = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{sep}options=-c%20search_path%3D{schema}");
            Store::open(Some(&url), dir.path()).await?
        }
        None => Store::open(None, dir.path()).await?,
    };

    let per_writer = args.messages / args.writers;
    let started = Instant::now();
    let writers: Vec<_> = (0..args.writers)
        .map(|w| {
            let store = store.clone();
            let client_ids = args.client_ids;
            tokio::spawn(async move {
                for i in 0..per_writer {
                    let item = NewItem::Message {
                        username: format!("writer{w}"),
                        message: format!(
                            "message {i} of a benchmark, about as long as a chat line"
                        ),
                        key: client_ids.then(|| ClientKey {
                            sender: format!("user:{w}"),
                            client_id: format!("{w}-{i}"),
                        }),
                    };
                    store.append(item, None).await?;
                }
                Ok::<_, server::store::StoreError>(())
            })
        })
        .collect();
    for writer in writers {
        writer.await??;
    }
    let elapsed = started.elapsed();
    let written = per_writer * args.writers;
    println!(
        "{}{}: {written} messages by {} writers in {:.2} s = {:.0} messages/s durable",
        store.kind(),
        if args.client_ids { " (client ids)" } else { "" },
        args.writers,
        elapsed.as_secs_f64(),
        written as f64 / elapsed.as_secs_f64()
    );

    if let Some(url) = &args.postgres {
        let pool = sqlx::PgPool::connect(url).await?;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&pool)
            .await?;
    }
    Ok(())
}
