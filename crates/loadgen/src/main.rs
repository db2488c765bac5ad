//! `loadgen`: runs one load scenario against a chat server on this machine
//! and prints what it measured, as a table and (with `--json`) as JSON.
//!
//! ```sh
//! cargo run --release -p loadgen -- --url http://127.0.0.1:3000 --clients 1000 --senders 10 --rate 50
//! ```

use std::time::Duration;

use clap::Parser;
use loadgen::{Scenario, run};

/// Many Socket.IO clients in one room: delivery, loss and latency.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
struct Args {
    /// The server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
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
    let scenario = Scenario {
        url: args.url,
        clients: args.clients,
        senders: args.senders,
        rate: args.rate,
        duration: Duration::from_secs_f64(args.duration),
        drain: Duration::from_secs_f64(args.drain),
        auth: None,
    };
    let report = run(&scenario).await?;
    println!("{report}");
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    let failed = report.lost > 0 || report.connect_errors > 0 || report.dropped_connections > 0;
    if args.require_no_loss && failed {
        std::process::exit(1);
    }
    Ok(())
}
