//! Creates benchmark accounts in a data directory and writes a login token
//! for each, so a load test can connect thousands of authenticated clients
//! without paying for thousands of argon2id logins first.
//!
//! ```sh
//! cargo run --release -p server --example seed_users -- \
//!     --data-dir /tmp/bench-data --count 20000 --tokens /tmp/bench-tokens.tsv
//! ```
//!
//! It uses the server's own store and token code: the accounts are ordinary
//! rows (sharing one argon2id hash of a random password, computed once), the
//! tokens are signed with the data directory's secret (created if missing),
//! and the server started on that directory verifies them on every
//! connection like any other. The tokens file is `name<TAB>token` per line,
//! as `loadgen --tokens` reads it, written with mode 0600.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use clap::Parser;
use server::auth::{Tokens, hash_password};
use server::store::Store;

#[derive(Debug, Parser)]
struct Args {
    /// The server's data directory (SQLite database and token secret).
    #[arg(long)]
    data_dir: PathBuf,
    /// How many accounts.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Account names are `PREFIX0`, `PREFIX1`, ….
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Where to write the tokens.
    #[arg(long)]
    tokens: PathBuf,
    /// How long the tokens stay valid, in seconds.
    #[arg(long, default_value_t = 43_200)]
    token_ttl_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let store = Store::open(None, &args.data_dir).await?;
    let tokens = Tokens::load(
        None,
        &args.data_dir,
        Duration::from_secs(args.token_ttl_secs),
    )?;
    // A random password nobody types: the accounts are only for tokens.
    let password = format!("{:x}{:x}", OsRng.next_u64(), OsRng.next_u64());
    let hash = hash_password(password).await?;

    let mut out = Vec::new();
    for i in 0..args.count {
        let name = format!("{}{i}", args.prefix);
        let user = match store.create_user(&name, &hash).await? {
            Some(user) => user,
            None => store
                .user_by_name(&name)
                .await?
                .context("the name is taken but its account is missing")?,
        };
        let generation = store.session_generation(user.id).await?;
        let (token, _) = tokens.issue(&user, generation)?;
        writeln!(out, "{}\t{token}", user.username)?;
    }
    write_private(&args.tokens, &out)?;
    // Closing folds SQLite's write-ahead log into the database file, so a
    // copy of the directory is one small file instead of a long log.
    store.close().await;
    println!(
        "{} accounts and tokens in {:.1} s → {}",
        args.count,
        started.elapsed().as_secs_f64(),
        args.tokens.display()
    );
    Ok(())
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}
