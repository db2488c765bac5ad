//! `loadgen`: runs one load scenario against a chat server on this machine
//! and prints what it measured, as a table and (with `--json`) as JSON.
//!
//! ```sh
//! cargo run --release -p loadgen -- --url http://127.0.0.1:3000 --clients 1000 --senders 10 --rate 50
//! ```
//!
//! Several `--url`s (comma-separated) are the nodes of one server: the
//! clients are split evenly over them, and every client must still hear
//! every message, numbered in one strictly increasing order.
//!
//! Chatroom refuses connections without a login unless it runs with
//! `--allow-guests`; `--tokens FILE` gives each client a login token (the
//! server's `seed_users` example writes such a file).
//!
//! `--flooders N` adds hostile clients that hammer `typing`, `new message`
//! and `history` while the crowd chats, and reports what happened to them
//! (refusals, `flooding` disconnects, accepted messages).

use std::time::Duration;

use clap::Parser;
use loadgen::{FloodPlan, Identity, Scenario, run};

/// Many Socket.IO clients in one room: delivery, loss and latency.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
struct Args {
    /// The server (loopback only); several, comma-separated, are the nodes
    /// of one server, and the clients are split evenly over them.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:3000")]
    url: Vec<String>,
    /// Connections that enter the room.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// How many of them send.
    #[arg(long, default_value_t = 5)]
    senders: usize,
    /// Messages per second, all senders together.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 2.0)]
    duration: f64,
    /// Seconds of listening after the last send.
    #[arg(long, default_value_t = 2.0)]
    drain: f64,
    /// Log every client in with a token from this file (`name<TAB>token`
    /// per line, at least `--clients` plus `--flooders` lines; the flooders
    /// take the lines after the clients'); without it clients are guests,
    /// whom Chatroom's limits count by address, all as one.
    #[arg(long)]
    tokens: Option<std::path::PathBuf>,
    /// Flooders: extra clients that send `typing`, `new message` and
    /// `history` as fast as they may while the senders send, ignoring every
    /// refusal and reconnecting whenever they are disconnected.
    #[arg(long, default_value_t = 0)]
    flooders: usize,
    /// Events a second each flooder sends at most (0: as fast as its socket
    /// takes them).
    #[arg(long, default_value_t = 1000.0)]
    flood_rate: f64,
    /// Only connect (logged in, not entering the room), hold the
    /// connections this many seconds, and report how many held.
    #[arg(long)]
    hold: Option<f64>,
    /// Print the report as one JSON line after the table.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 if any delivery was lost or any client failed.
    #[arg(long)]
    require_no_loss: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let wanted = args.clients + args.flooders;
    let identities = match &args.tokens {
        Some(path) => {
            let ids = Identity::from_tokens(&std::fs::read_to_string(path)?)?;
            anyhow::ensure!(
                ids.len() >= wanted,
                "{} holds {} tokens, fewer than --clients {} and --flooders {}",
                path.display(),
                ids.len(),
                args.clients,
                args.flooders
            );
            ids
        }
        None => Identity::guests(&format!("lg{}", std::process::id()), wanted),
    };
    let (identities, flooders) = loadgen::roles(identities, args.clients, args.flooders)?;
    if let Some(secs) = args.hold {
        anyhow::ensure!(
            args.flooders == 0,
            "--hold and --flooders do not go together"
        );
        for url in &args.url {
            loadgen::check_loopback(url)?;
        }
        let (crowd, entry) =
            loadgen::Crowd::connect(&args.url, identities, false, Duration::from_secs(120)).await;
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        let held = crowd.open().await;
        crowd.close().await;
        println!(
            "held {held} of {} connections for {secs} s; connecting took {:.0} ms; {} failed",
            args.clients, entry.connect_ms, entry.errors
        );
        for why in &entry.error_samples {
            println!("error: {why}");
        }
        return Ok(());
    }
    let scenario = Scenario {
        urls: args.url,
        identities,
        senders: args.senders,
        rate: args.rate,
        duration: Duration::from_secs_f64(args.duration),
        drain: Duration::from_secs_f64(args.drain),
        flood: (args.flooders > 0).then_some(FloodPlan {
            identities: flooders,
            rate: args.flood_rate,
        }),
    };
    let report = run(&scenario).await?;
    println!("{report}");
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    if args.require_no_loss && report.failed() {
        std::process::exit(1);
    }
    Ok(())
}
