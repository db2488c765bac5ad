//! `bench`: Chatroom side by side with the reference servers, in one run on
//! one machine. Each scenario runs against each server in turn (A, B, C, A,
//! B, C, …), each time on a freshly started process whose memory and CPU are
//! read from `/proc`; the results go to a Markdown table and a JSON file.
//! `bench/run` builds everything and calls this; see BENCHMARKS.md.
//!
//! Servers: chatroom (as shipped), memory (Chatroom with the benchmark-only
//! in-memory store), tmpfs (Chatroom with SQLite on a memory file system),
//! bare (socketioxide's chat example), node (the Node.js reference).
//!
//! Two nodes (`--servers two-nodes` is the set): chatroom-pg (one Chatroom
//! node on PostgreSQL, the baseline), chatroom-2n (two Chatroom nodes
//! sharing PostgreSQL and Redis), node and node-2n (the Node.js reference
//! alone, and on two nodes with socket.io's Redis adapter). The crowd is
//! split evenly over the nodes; each run gets its own PostgreSQL schema and
//! Redis prefix ([`shared`]), removed after it. Memory is the nodes' sum.
//!
//! Scenarios:
//! - idle: N connections held open (Chatroom's logged in with tokens);
//!   resident memory per connection over the process's idle baseline.
//! - fanout: 1,000 clients enter at once (timed until everyone has heard
//!   that everyone is in), then 10 of them send at rising rates until p99
//!   passes 100 ms or anything is lost: the highest sustained rate.
//! - busy: 50 clients, all sending, at rising rates, under the same rule.
//! - abuse: 1,000 clients chatting at a steady rate a person could keep (10
//!   senders, 5 messages a second in all), once alone and once while 10
//!   flooders hammer `typing`, `new message` and `history` and reconnect
//!   whenever they are disconnected; Chatroom with its default limits, and
//!   the Node.js reference, which has none.

mod shared;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use loadgen::process::{Launch, Nodes};
use loadgen::{Crowd, Entry, FloodPlan, FloodReport, Identity, Phase};
use serde::Serialize;
use shared::{Made, Services};

/// Chatroom against the Node.js socket.io server and socketioxide's bare example.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// Chatroom's server binary (release build).
    #[arg(long, default_value = "target/release/server")]
    server_bin: PathBuf,
    /// The server's `seed_users` example binary (accounts and tokens).
    #[arg(long, default_value = "target/release/examples/seed_users")]
    seed_bin: PathBuf,
    /// socketioxide's bare chat example, re-written in bench/socketioxide-bare.
    #[arg(long, default_value = "target/release/socketioxide-bare")]
    bare_bin: PathBuf,
    /// The Node.js reference server.
    #[arg(long, default_value = "bench/node/server.js")]
    node_script: PathBuf,
    /// Chatroom built with `--features bench-memory-store` (the conversation
    /// in memory, not stored), for the `memory` server: the difference to
    /// `chatroom` is what storage costs.
    #[arg(long, default_value = "target/release/server-memory-store")]
    memory_bin: PathBuf,
    /// A memory-backed directory (tmpfs) for the `tmpfs` server: Chatroom
    /// with its SQLite database in memory, where a commit never waits for a
    /// disk, to price durable storage against the `chatroom` runs.
    #[arg(long, default_value = "/dev/shm")]
    tmpfs: PathBuf,
    /// Rounds of every scenario against every server.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Which scenarios (idle, fanout, busy, held, abuse).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "idle,fanout,busy,held,abuse"
    )]
    scenarios: Vec<String>,
    /// Idle connection counts.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    idle: Vec<usize>,
    /// Authenticated connections Chatroom alone is asked to hold. (The
    /// default stays under a 20,000 open-files hard limit: this process
    /// holds the client ends.)
    #[arg(long, default_value_t = 19_900)]
    held: usize,
    /// Seconds each sending step lasts.
    #[arg(long, default_value_t = 5.0)]
    step_secs: f64,
    /// Abuse: the normal clients, all in the room.
    #[arg(long, default_value_t = 1000)]
    abuse_clients: usize,
    /// Abuse: how many of them send.
    #[arg(long, default_value_t = 10)]
    abuse_senders: usize,
    /// Abuse: their messages a second, all together (each sender well under
    /// Chatroom's default of 60 a minute after a burst of 20).
    #[arg(long, default_value_t = 5.0)]
    abuse_rate: f64,
    /// Abuse: seconds of chatting (and flooding).
    #[arg(long, default_value_t = 20.0)]
    abuse_secs: f64,
    /// Abuse: flooders in the flooded run (each its own account).
    #[arg(long, default_value_t = 10)]
    flooders: usize,
    /// Abuse: events a second each flooder sends at most (0: as fast as its
    /// socket takes them). The cap keeps the flooders' own CPU, on the
    /// cores the server shares, from being what slows everyone down.
    #[arg(long, default_value_t = 1000.0)]
    flood_rate: f64,
    /// Which servers (chatroom, memory, tmpfs, bare, node, chatroom-pg,
    /// chatroom-2n, node-2n; `two-nodes` stands for chatroom-pg,
    /// chatroom-2n, node, node-2n).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "chatroom,memory,bare,node"
    )]
    servers: Vec<String>,
    /// PostgreSQL for chatroom-pg and chatroom-2n: each run makes a schema
    /// of its own in this database and drops it afterwards (with `psql`).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Redis for chatroom-2n and node-2n: each run uses a key and channel
    /// prefix of its own, and deletes its keys afterwards (with `redis-cli`).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Working directory for data, logs and tokens.
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
    /// Markdown results.
    #[arg(long, default_value = "target/bench/results.md")]
    out: PathBuf,
}

/// Fan-out rates tried, messages per second from all senders together.
const FANOUT_RATES: &[f64] = &[
    1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 125.0, 150.0,
    175.0, 200.0, 250.0, 300.0, 350.0, 400.0, 500.0, 600.0, 700.0, 800.0, 1000.0, 1200.0,
];
/// Busy-room rates tried, messages per second from all 50 clients together.
const BUSY_RATES: &[f64] = &[
    10.0, 25.0, 50.0, 100.0, 200.0, 300.0, 400.0, 600.0, 800.0, 1000.0, 1250.0, 1500.0, 2000.0,
    2500.0, 3000.0, 4000.0, 5000.0, 6000.0, 8000.0,
];
/// The rule a sending step must pass to count as sustained.
const P99_LIMIT_MS: f64 = 100.0;
/// Abuse: how long the crowd listens after the last message; what has not
/// arrived by then is lost.
const ABUSE_DRAIN: Duration = Duration::from_secs(5);

/// One Chatroom node on PostgreSQL: what the two nodes are measured against.
const CHATROOM_PG: &str = "chatroom-pg";
/// Two Chatroom nodes sharing PostgreSQL and Redis.
const CHATROOM_TWO: &str = "chatroom-2n";
/// The Node.js reference on two nodes with socket.io's Redis adapter.
const NODE_TWO: &str = "node-2n";
/// What `--servers two-nodes` stands for: each two-node server next to its
/// one-node baseline.
const TWO_NODES: &[&str] = &[CHATROOM_PG, CHATROOM_TWO, "node", NODE_TWO];
/// Chatroom servers whose crowd logs in with the seeded tokens (the others'
/// crowd are guests).
const SEEDED: &[&str] = &["chatroom", "memory", "tmpfs"];

/// Servers the abuse scenario runs on: Chatroom as shipped and the Node.js
/// reference (no limits at all). The storage variants would measure the
/// same limits again, and bare socketioxide has none, like Node.
const ABUSE_SERVERS: &[&str] = &["chatroom", "node"];

#[derive(Debug, Clone, Serialize)]
struct Idle {
    connections: usize,
    connected: usize,
    errors: usize,
    baseline_kb: u64,
    plateau_kb: u64,
    peak_kb: u64,
    kb_per_connection: f64,
    connect_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Ramp {
    clients: usize,
    senders: usize,
    entry: Entry,
    steps: Vec<Phase>,
    /// The last step that passed: no loss, no drops, p99 under the limit.
    best: Option<Phase>,
    /// All nodes together.
    cpu_s: f64,
    /// The nodes' peaks added up (an upper bound of the peak of their sum).
    peak_kb: u64,
    /// Each node's peak.
    node_peaks_kb: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
struct Abuse {
    clients: usize,
    senders: usize,
    rate: f64,
    flooders: usize,
    entry: Entry,
    /// The normal clients' chatting; `None` when they did not all get in.
    phase: Option<Phase>,
    /// What the flooders did (a flooded run that got that far).
    flood: Option<FloodReport>,
    /// Server CPU during the chatting (and flooding) and its drain.
    cpu_s: f64,
    /// Over the whole run, entry included.
    peak_kb: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "scenario", rename_all = "snake_case")]
enum Outcome {
    Idle(Idle),
    Fanout(Ramp),
    Busy(Ramp),
    Held(Idle),
    Abuse(Abuse),
}

#[derive(Debug, Clone, Serialize)]
struct Run {
    server: String,
    round: usize,
    #[serde(flatten)]
    outcome: Outcome,
}

struct Bench {
    args: Args,
    /// PostgreSQL and Redis for the servers that share them.
    services: Services,
    /// Chatroom's accounts and tokens, seeded once and copied per start.
    template: PathBuf,
    tokens: Vec<Identity>,
    starts: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    args.servers = expand(&args.servers);
    anyhow::ensure!(
        args.flood_rate.is_finite() && args.flood_rate >= 0.0,
        "--flood-rate must be 0 (no cap) or positive"
    );
    std::fs::create_dir_all(&args.work)?;
    // Where the results go, before a run that may take half an hour.
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let template = args.work.join("seeded");
    let tokens_file = args.work.join("tokens.tsv");
    // As many accounts as the scenarios asked for need (at least the
    // fan-out's 1,000), so that a part of the benchmark seeds no more.
    let wanted = args
        .scenarios
        .iter()
        .map(|scenario| match scenario.as_str() {
            "held" => args.held,
            "idle" => args.idle.iter().copied().max().unwrap_or(0),
            "abuse" => args.abuse_clients + args.flooders,
            _ => 1000,
        })
        .fold(1000, usize::max);
    let tokens = if args.servers.iter().any(|s| SEEDED.contains(&s.as_str())) {
        seed(&args, &template, &tokens_file, wanted).await?
    } else {
        Vec::new()
    };
    let services = Services {
        postgres: args.postgres.clone(),
        redis: args.redis_url.clone(),
    };
    let mut bench = Bench {
        args,
        services,
        template,
        tokens,
        starts: 0,
    };

    let servers = bench.args.servers.clone();
    let mut runs = Vec::new();
    for scenario in bench.args.scenarios.clone() {
        for (count, round, server) in plan(&bench.args, &scenario, &servers) {
            eprintln!("== {scenario} {count} · round {round} · {server}");
            let outcome = bench.one(&scenario, server, count).await?;
            eprintln!("{}", serde_json::to_string(&outcome)?);
            runs.push(Run {
                server: server.to_owned(),
                round,
                outcome,
            });
        }
    }
    let json = bench.args.out.with_extension("json");
    std::fs::write(&json, serde_json::to_string_pretty(&runs)?)?;
    let table = markdown(&runs);
    std::fs::write(&bench.args.out, &table)?;
    println!("{table}");
    eprintln!(
        "results: {} and {}",
        bench.args.out.display(),
        json.display()
    );
    Ok(())
}

/// `--servers` with `two-nodes` replaced by the servers it stands for,
/// each server once.
fn expand(servers: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for server in servers {
        let named: Vec<&str> = match server.as_str() {
            "two-nodes" => TWO_NODES.to_vec(),
            other => vec![other],
        };
        for name in named {
            if !out.iter().any(|s| s == name) {
                out.push(name.to_owned());
            }
        }
    }
    out
}

/// A scenario's runs, in order: (count, round, server). The count is the
/// idle scenarios' connections, or the abuse scenario's flooders.
fn plan<'a>(args: &Args, scenario: &str, servers: &'a [String]) -> Vec<(usize, usize, &'a str)> {
    let servers: Vec<&str> = servers
        .iter()
        .map(String::as_str)
        .filter(|server| match scenario {
            "held" => *server == "chatroom",
            // Storage variants matter only where messages are sent.
            "idle" => *server != "tmpfs" && *server != "memory",
            "abuse" => ABUSE_SERVERS.contains(server),
            _ => true,
        })
        .collect();
    let mut runs = Vec::new();
    if scenario == "abuse" {
        // Each server's quiet run right before its flooded one, so that
        // the machine is the same for the two being compared.
        for round in 1..=args.rounds {
            for server in &servers {
                for flooders in [0, args.flooders] {
                    runs.push((flooders, round, *server));
                }
            }
        }
        return runs;
    }
    let counts = match scenario {
        "idle" => args.idle.clone(),
        "held" => vec![args.held],
        _ => vec![0],
    };
    for count in counts {
        for round in 1..=args.rounds {
            for server in &servers {
                runs.push((count, round, *server));
            }
        }
    }
    runs
}

/// What one run starts, and what it made that goes after it.
#[derive(Default)]
struct Setup {
    /// The server's nodes (one but for the two-node servers).
    launches: Vec<Launch>,
    /// Data directories made for the nodes.
    dirs: Vec<PathBuf>,
    /// A PostgreSQL schema and a Redis prefix, for the servers using them.
    made: Made,
}

impl Bench {
    /// Fills `setup` with what `server` needs for `scenario` (made fresh
    /// for this run, and listed in `setup` as it is made, so that the
    /// caller removes it even when a later step fails).
    async fn setup(
        &mut self,
        server: &str,
        scenario: &str,
        setup: &mut Setup,
    ) -> anyhow::Result<()> {
        self.starts += 1;
        let start = self.starts;
        let log = |node: usize| {
            let suffix = if node == 0 {
                String::new()
            } else {
                format!("-{node}")
            };
            self.args.work.join(format!("{server}-{start}{suffix}.log"))
        };
        let mut chatroom_args = vec![
            "--log".to_owned(),
            "warn".to_owned(),
            // Thousands of clients from one address (127.0.0.1).
            "--connections-per-address".to_owned(),
            "0".to_owned(),
        ];
        // Each sender far above what a person sends: those scenarios
        // measure fan-out, not the limits. The abuse scenario measures the
        // limits, so it keeps the defaults.
        if scenario != "abuse" {
            chatroom_args.extend(
                [
                    "--message-burst",
                    "1000000",
                    "--message-rate",
                    "60000000",
                    "--event-burst",
                    "1000000",
                    "--event-rate",
                    "60000000",
                    "--events-in-flight",
                    "1000000",
                ]
                .map(str::to_owned),
            );
        }
        let site = ("LEPTOS_SITE_ADDR".to_owned(), "127.0.0.1:{port}".to_owned());
        match server {
            "chatroom" | "memory" | "tmpfs" => {
                let parent = match server {
                    "tmpfs" => &self.args.tmpfs,
                    _ => &self.args.work,
                };
                let data = parent.join(format!("chatroom-bench-data-{start}"));
                setup.dirs.push(data.clone());
                copy_dir(&self.template, &data)?;
                let program = match server {
                    "memory" => &self.args.memory_bin,
                    _ => &self.args.server_bin,
                };
                let mut args = vec!["--data-dir".to_owned(), data.display().to_string()];
                args.extend(chatroom_args);
                setup.launches.push(Launch {
                    name: server.to_owned(),
                    program: program.clone(),
                    args,
                    env: vec![site],
                    log: log(0),
                });
            }
            CHATROOM_PG | CHATROOM_TWO => {
                let nodes = if server == CHATROOM_TWO { 2 } else { 1 };
                let schema = format!("bench_{}_{start}", std::process::id());
                let url = self.services.create_schema(&schema).await?;
                setup.made.schema = Some((schema, url.clone()));
                // The crowd are guests (the shared schema holds no seeded
                // accounts), all from 127.0.0.1: one account to the
                // per-account limits, which must not count here.
                chatroom_args.extend(
                    [
                        "--allow-guests",
                        "--sockets-per-account",
                        "1000000",
                        "--entry-burst",
                        "1000000",
                        "--entry-rate",
                        "60000000",
                        "--database-url",
                        &url,
                    ]
                    .map(str::to_owned),
                );
                let mut env = vec![site];
                if nodes > 1 {
                    let prefix = format!("bench-{}-{start}", std::process::id());
                    setup.made.prefix = Some(prefix.clone());
                    chatroom_args.extend(
                        [
                            "--redis-url",
                            &self.services.redis,
                            "--redis-prefix",
                            &prefix,
                        ]
                        .map(str::to_owned),
                    );
                    // The nodes must share the secret their tokens are
                    // signed with; in the environment, never on a command
                    // line that `ps` shows.
                    env.push(("CHATROOM_JWT_SECRET".to_owned(), random_secret()?));
                }
                for node in 0..nodes {
                    let data = self
                        .args
                        .work
                        .join(format!("chatroom-bench-data-{start}-{node}"));
                    std::fs::create_dir_all(&data)?;
                    setup.dirs.push(data.clone());
                    let mut args = vec!["--data-dir".to_owned(), data.display().to_string()];
                    if nodes > 1 {
                        args.extend(["--node-id".to_owned(), format!("bench-{start}-{node}")]);
                    }
                    args.extend(chatroom_args.iter().cloned());
                    setup.launches.push(Launch {
                        name: format!("{server} node {node}"),
                        program: self.args.server_bin.clone(),
                        args,
                        env: env.clone(),
                        log: log(node),
                    });
                }
            }
            "bare" => setup.launches.push(Launch {
                name: server.to_owned(),
                program: self.args.bare_bin.clone(),
                args: vec![],
                env: vec![("PORT".into(), "{port}".into())],
                log: log(0),
            }),
            "node" => setup.launches.push(Launch {
                name: server.to_owned(),
                program: "node".into(),
                args: vec![self.args.node_script.display().to_string()],
                env: vec![("PORT".into(), "{port}".into())],
                log: log(0),
            }),
            NODE_TWO => {
                let prefix = format!("bench-{}-{start}", std::process::id());
                setup.made.prefix = Some(prefix.clone());
                for node in 0..2 {
                    setup.launches.push(Launch {
                        name: format!("{server} node {node}"),
                        program: "node".into(),
                        args: vec![self.args.node_script.display().to_string()],
                        env: vec![
                            ("PORT".into(), "{port}".into()),
                            ("REDIS_URL".into(), self.services.redis.clone()),
                            ("REDIS_PREFIX".into(), prefix.clone()),
                        ],
                        log: log(node),
                    });
                }
            }
            other => anyhow::bail!("unknown server {other:?}"),
        }
        Ok(())
    }

    /// The crowd's identities: tokens for Chatroom, guest names otherwise.
    fn identities(&self, server: &str, count: usize) -> Vec<Identity> {
        if SEEDED.contains(&server) {
            self.tokens.iter().take(count).cloned().collect()
        } else {
            Identity::guests("bench", count)
        }
    }

    /// One run of `scenario` on a fresh `server`, and everything made for
    /// it removed afterwards, whether it succeeded or not.
    async fn one(&mut self, scenario: &str, server: &str, count: usize) -> anyhow::Result<Outcome> {
        let mut setup = Setup::default();
        let outcome = match self.setup(server, scenario, &mut setup).await {
            Ok(()) => self.measure(&setup.launches, scenario, server, count).await,
            Err(e) => Err(e),
        };
        for dir in &setup.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.services.remove(setup.made).await;
        outcome
    }

    async fn measure(
        &self,
        launches: &[Launch],
        scenario: &str,
        server: &str,
        count: usize,
    ) -> anyhow::Result<Outcome> {
        let nodes = Nodes::start(launches).await?;
        let outcome = match scenario {
            "idle" => Outcome::Idle(self.idle(&nodes, server, count).await),
            "held" => Outcome::Held(self.idle(&nodes, server, count).await),
            "fanout" => Outcome::Fanout(self.ramp(&nodes, server, 1000, 10, FANOUT_RATES).await),
            "busy" => Outcome::Busy(self.ramp(&nodes, server, 50, 50, BUSY_RATES).await),
            "abuse" => Outcome::Abuse(self.abuse(&nodes, server, count).await?),
            other => anyhow::bail!("unknown scenario {other:?}"),
        };
        nodes.stop().await;
        Ok(outcome)
    }

    async fn idle(&self, process: &Nodes, server: &str, count: usize) -> Idle {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let baseline = process.read();
        let watch = process.watch();
        let identities = self.identities(server, count);
        let (crowd, entry) =
            Crowd::connect(&process.urls(), identities, false, Duration::from_secs(120)).await;
        // Let allocations settle, then read the plateau.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let plateau = process.read();
        let connected = crowd.open().await;
        let peak_kb = watch.peaks_kb().await.iter().sum();
        crowd.close().await;
        Idle {
            connections: count,
            connected,
            errors: entry.errors,
            baseline_kb: baseline.rss_kb,
            plateau_kb: plateau.rss_kb,
            peak_kb,
            kb_per_connection: plateau.rss_kb.saturating_sub(baseline.rss_kb) as f64
                / connected.max(1) as f64,
            connect_ms: entry.connect_ms,
        }
    }

    async fn ramp(
        &self,
        process: &Nodes,
        server: &str,
        clients: usize,
        senders: usize,
        rates: &[f64],
    ) -> Ramp {
        let before = process.read();
        let watch = process.watch();
        let identities = self.identities(server, clients);
        let (mut crowd, entry) =
            Crowd::connect(&process.urls(), identities, true, Duration::from_secs(120)).await;
        let mut steps = Vec::new();
        let mut best = None;
        // Let the entry's burst of joins drain before timing anything.
        tokio::time::sleep(Duration::from_secs(2)).await;
        if entry.errors == 0 {
            let step = Duration::from_secs_f64(self.args.step_secs);
            for &rate in rates {
                let phase = crowd
                    .send(senders, rate, step, Duration::from_secs(2))
                    .await;
                eprintln!(
                    "   {rate:>6} msg/s → {:>8.0} deliveries/s, p99 {:>7.1} ms, lost {}, dropped {}, out of order {} of {} numbered",
                    phase.deliveries_per_s,
                    phase.latency_ms.p99,
                    phase.lost,
                    phase.dropped,
                    phase.out_of_order,
                    phase.numbered
                );
                let passed = phase.lost == 0
                    && phase.dropped == 0
                    && phase.out_of_order == 0
                    && phase.latency_ms.p99 < P99_LIMIT_MS;
                steps.push(phase.clone());
                if !passed {
                    break;
                }
                best = Some(phase);
            }
        }
        let after = process.read();
        let node_peaks_kb = watch.peaks_kb().await;
        crowd.close().await;
        Ramp {
            clients,
            senders,
            entry,
            steps,
            best,
            cpu_s: after.cpu_s - before.cpu_s,
            peak_kb: node_peaks_kb.iter().sum(),
            node_peaks_kb,
        }
    }
}

impl Bench {
    /// The abuse scenario once: the crowd enters, then chats at a steady
    /// rate for `--abuse-secs`, with `flooders` hammering the server
    /// meanwhile (none: the quiet run to compare with).
    async fn abuse(&self, process: &Nodes, server: &str, flooders: usize) -> anyhow::Result<Abuse> {
        let args = &self.args;
        let watch = process.watch();
        let identities = self.identities(server, args.abuse_clients + flooders);
        let (clients, hostile) = loadgen::roles(identities, args.abuse_clients, flooders)?;
        let (mut crowd, entry) =
            Crowd::connect(&process.urls(), clients, true, Duration::from_secs(120)).await;
        // Let the entry's burst of joins drain before timing anything.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = process.read();
        let (phase, flood) = if entry.errors == 0 {
            let plan = FloodPlan {
                identities: hostile,
                rate: args.flood_rate,
            };
            let urls = process.urls();
            let (phase, flood) = loadgen::send_flooded(
                &mut crowd,
                &urls[0],
                Some(&plan),
                (args.abuse_senders, args.abuse_rate),
                Duration::from_secs_f64(args.abuse_secs),
                ABUSE_DRAIN,
            )
            .await?;
            let l = &phase.latency_ms;
            eprintln!(
                "   {flooders} flooders: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, lost {}, dropped {}",
                l.p50, l.p99, l.max, phase.lost, phase.dropped
            );
            if let Some(flood) = &flood {
                eprintln!("{flood}");
            }
            (Some(phase), flood)
        } else {
            (None, None)
        };
        let after = process.read();
        let peak_kb = watch.peaks_kb().await.iter().sum();
        crowd.close().await;
        Ok(Abuse {
            clients: args.abuse_clients,
            senders: args.abuse_senders,
            rate: args.abuse_rate,
            flooders,
            entry,
            phase,
            flood,
            cpu_s: after.cpu_s - before.cpu_s,
            peak_kb,
        })
    }
}

/// Accounts and tokens for Chatroom, made once into `template`.
async fn seed(
    args: &Args,
    template: &Path,
    tokens_file: &Path,
    count: usize,
) -> anyhow::Result<Vec<Identity>> {
    if let Ok(text) = std::fs::read_to_string(tokens_file) {
        let tokens = Identity::from_tokens(&text)?;
        if tokens.len() >= count && template.exists() {
            return Ok(tokens);
        }
    }
    let _ = std::fs::remove_dir_all(template);
    eprintln!("== seeding {count} accounts");
    let status = tokio::process::Command::new(&args.seed_bin)
        .arg("--data-dir")
        .arg(template)
        .arg("--count")
        .arg(count.to_string())
        .arg("--tokens")
        .arg(tokens_file)
        .status()
        .await?;
    anyhow::ensure!(status.success(), "seeding failed: {status}");
    Ok(Identity::from_tokens(&std::fs::read_to_string(
        tokens_file,
    )?)?)
}

/// A fresh secret for one run's nodes to sign and check tokens with: 32
/// bytes from the kernel, as 64 hex digits.
fn random_secret() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0_u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

/// The mean of `values`, or `None` when there are none.
fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

/// Each server's headline figures (means over rounds) and Chatroom's ratios.
fn summary(runs: &[Run], servers: &[&str]) -> String {
    let fanout = |server: &str| {
        mean(
            runs.iter()
                .filter(|r| r.server == server)
                .filter_map(|r| match &r.outcome {
                    Outcome::Fanout(f) => Some(f.best.as_ref().map_or(0.0, |b| b.deliveries_per_s)),
                    _ => None,
                }),
        )
    };
    let entry = |server: &str| {
        mean(
            runs.iter()
                .filter(|r| r.server == server)
                .filter_map(|r| match &r.outcome {
                    Outcome::Fanout(f) => f.entry.all_in_ms,
                    _ => None,
                }),
        )
    };
    let idle = |server: &str| {
        let largest = runs
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Idle(i) => Some(i.connections),
                _ => None,
            })
            .max()?;
        mean(
            runs.iter()
                .filter(|r| r.server == server)
                .filter_map(|r| match &r.outcome {
                    Outcome::Idle(i) if i.connections == largest => Some(i.kb_per_connection),
                    _ => None,
                }),
        )
        .map(|kb| (largest, kb))
    };
    let show =
        |v: Option<f64>, unit: &str| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}{unit}"));
    let mut out = String::from(
        "## Summary (means over rounds)\n\n| server | fan-out: highest sustained deliveries/s | 1,000 all in after | kB per idle connection |\n|---|---|---|---|\n",
    );
    for server in servers {
        out.push_str(&format!(
            "| {server} | {} | {} | {} |\n",
            show(fanout(server), ""),
            show(entry(server).map(|ms| ms / 1e3), " s"),
            idle(server).map_or_else(|| "-".to_owned(), |(n, kb)| format!("{kb:.1} (at {n})")),
        ));
    }
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        (Some(a), Some(_)) if a > 0.0 => "∞ (the other sustains none)".to_owned(),
        _ => "-".to_owned(),
    };
    out.push_str(&format!(
        "\nChatroom's fan-out ÷ Node's: {}; ÷ bare socketioxide's: {}. Chatroom's memory per idle connection ÷ Node's: {}. Fan-out with storage ÷ without (in-memory store): {}; ÷ SQLite on tmpfs: {}.\n\n",
        ratio(fanout("chatroom"), fanout("node")),
        ratio(fanout("chatroom"), fanout("bare")),
        ratio(idle("chatroom").map(|(_, kb)| kb), idle("node").map(|(_, kb)| kb)),
        ratio(fanout("chatroom"), fanout("memory")),
        ratio(fanout("chatroom"), fanout("tmpfs")),
    ));
    out
}

/// The mean of each server's rounds, per scenario, as Markdown tables.
fn markdown(runs: &[Run]) -> String {
    let mut out = String::new();
    let mut servers: Vec<&str> = Vec::new();
    for run in runs {
        if !servers.contains(&run.server.as_str()) {
            servers.push(&run.server);
        }
    }
    let mb = |kb: f64| kb / 1024.0;
    out.push_str(&summary(runs, &servers));

    let idle: Vec<(&Run, &Idle)> = runs
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Idle(i) | Outcome::Held(i) => Some((r, i)),
            _ => None,
        })
        .collect();
    if !idle.is_empty() {
        out.push_str("## Idle connections\n\n| server | connections | round | held | kB per connection | plateau MB | peak MB | connect s |\n|---|---|---|---|---|---|---|---|\n");
        for (run, i) in &idle {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                run.server,
                i.connections,
                run.round,
                i.connected,
                i.kb_per_connection,
                mb(i.plateau_kb as f64),
                mb(i.peak_kb as f64),
                i.connect_ms / 1e3
            ));
        }
        out.push('\n');
    }

    for (title, pick) in [
        ("Fan-out: 1,000 clients, 10 senders", 0),
        ("Busy room: 50 clients, all sending", 1),
    ] {
        let ramps: Vec<(&Run, &Ramp)> = runs
            .iter()
            .filter_map(|r| match (&r.outcome, pick) {
                (Outcome::Fanout(f), 0) | (Outcome::Busy(f), 1) => Some((r, f)),
                _ => None,
            })
            .collect();
        if ramps.is_empty() {
            continue;
        }
        out.push_str(&format!("## {title}\n\nHighest sustained step: no loss, no dropped connection, p99 under {P99_LIMIT_MS} ms.\n\n| server | round | all in after | highest sustained msg/s | deliveries/s there | p99 ms there | first failing step | server CPU s | peak MB |\n|---|---|---|---|---|---|---|---|---|\n"));
        for (run, r) in &ramps {
            let best = r.best.as_ref();
            let failed = r
                .steps
                .last()
                .filter(|last| best.map(|b| b.target_rate) != Some(last.target_rate))
                .map_or_else(
                    || "none (top of the scale)".to_owned(),
                    |s| {
                        format!(
                            "{} msg/s: p99 {:.0} ms, lost {}, dropped {}",
                            s.target_rate, s.latency_ms.p99, s.lost, s.dropped
                        )
                    },
                );
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {failed} | {:.1} | {:.1} |\n",
                run.server,
                run.round,
                r.entry
                    .all_in_ms
                    .map_or_else(|| "not all".to_owned(), |ms| format!("{:.2} s", ms / 1e3)),
                best.map_or_else(|| "-".to_owned(), |b| format!("{}", b.target_rate)),
                best.map_or_else(|| "-".to_owned(), |b| format!("{:.0}", b.deliveries_per_s)),
                best.map_or_else(|| "-".to_owned(), |b| format!("{:.1}", b.latency_ms.p99)),
                r.cpu_s,
                mb(r.peak_kb as f64),
            ));
        }
        out.push('\n');
        // Every step of every run, for the latency at a given rate.
        let mut by_rate: BTreeMap<u64, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
        for (run, r) in &ramps {
            for step in &r.steps {
                by_rate
                    .entry(step.target_rate as u64)
                    .or_default()
                    .entry(run.server.as_str())
                    .or_default()
                    .push(step.latency_ms.p99);
            }
        }
        out.push_str(&format!(
            "p99 latency (ms) at each step, per round:\n\n| msg/s | {} |\n|---|{}\n",
            servers.join(" | "),
            "---|".repeat(servers.len())
        ));
        for (rate, cells) in &by_rate {
            let row: Vec<String> = servers
                .iter()
                .map(|s| {
                    cells.get(s).map_or_else(
                        || "-".to_owned(),
                        |v| {
                            v.iter()
                                .map(|p| format!("{p:.1}"))
                                .collect::<Vec<_>>()
                                .join(" / ")
                        },
                    )
                })
                .collect();
            out.push_str(&format!("| {rate} | {} |\n", row.join(" | ")));
        }
        out.push('\n');
    }
    out.push_str(&two_nodes_table(runs));
    out.push_str(&abuse_table(runs, &servers));
    out
}

/// The fan-out on two nodes next to one, as Markdown: each node's memory,
/// the order every client heard, and what the second node costs.
fn two_nodes_table(runs: &[Run]) -> String {
    let fanouts: Vec<(&Run, &Ramp)> = runs
        .iter()
        .filter(|r| TWO_NODES.contains(&r.server.as_str()))
        .filter_map(|r| match &r.outcome {
            Outcome::Fanout(f) => Some((r, f)),
            _ => None,
        })
        .collect();
    if !fanouts
        .iter()
        .any(|(r, _)| r.server == CHATROOM_TWO || r.server == NODE_TWO)
    {
        return String::new();
    }
    let mut out = String::from(
        "## Two nodes: fan-out with the crowd split over the nodes\n\n\
         The fan-out scenario (1,000 clients, 10 senders) with client `i` on node `i mod 2`. \
         \"Out of order\" counts, over every step, the messages a client heard whose id was not above \
         the last it had heard (must be 0), of all the numbered messages heard (the Node.js reference \
         numbers none: no order to check). Memory: each node's peak, and their sum.\n\n\
         | server | nodes | round | all in after | highest sustained msg/s | deliveries/s there | p99 ms there | out of order / numbered | server CPU s | peak MB (each) |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mb = |kb: u64| kb as f64 / 1024.0;
    for (run, r) in &fanouts {
        let best = r.best.as_ref();
        let numbered: u64 = r.steps.iter().map(|s| s.numbered).sum();
        let out_of_order: u64 = r.steps.iter().map(|s| s.out_of_order).sum();
        let order = if numbered == 0 {
            "- (no ids)".to_owned()
        } else {
            format!("{out_of_order} / {numbered}")
        };
        let each: Vec<String> = r
            .node_peaks_kb
            .iter()
            .map(|kb| format!("{:.0}", mb(*kb)))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {order} | {:.1} | {:.0} ({}) |\n",
            run.server,
            r.node_peaks_kb.len(),
            run.round,
            r.entry
                .all_in_ms
                .map_or_else(|| "not all".to_owned(), |ms| format!("{:.2} s", ms / 1e3)),
            best.map_or_else(|| "-".to_owned(), |b| format!("{}", b.target_rate)),
            best.map_or_else(|| "-".to_owned(), |b| format!("{:.0}", b.deliveries_per_s)),
            best.map_or_else(|| "-".to_owned(), |b| format!("{:.1}", b.latency_ms.p99)),
            r.cpu_s,
            mb(r.peak_kb),
            each.join(" + "),
        ));
    }
    let of = |server: &str, pick: &dyn Fn(&Ramp) -> Option<f64>| {
        mean(
            fanouts
                .iter()
                .filter(|(r, _)| r.server == server)
                .filter_map(|(_, f)| pick(f)),
        )
    };
    let fanout = |f: &Ramp| Some(f.best.as_ref().map_or(0.0, |b| b.deliveries_per_s));
    let all_in = |f: &Ramp| f.entry.all_in_ms;
    let memory = |f: &Ramp| Some(f.peak_kb as f64);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "-".to_owned(),
    };
    out.push('\n');
    for (two, one) in [(CHATROOM_TWO, CHATROOM_PG), (NODE_TWO, "node")] {
        if of(two, &memory).is_none() || of(one, &memory).is_none() {
            continue;
        }
        out.push_str(&format!(
            "{two} ÷ {one} (means over rounds): fan-out {}, time until all 1,000 are in {}, peak memory {}.\n",
            ratio(of(two, &fanout), of(one, &fanout)),
            ratio(of(two, &all_in), of(one, &all_in)),
            ratio(of(two, &memory), of(one, &memory)),
        ));
    }
    out.push('\n');
    out
}

/// The abuse runs: the normal clients' chat with and without flooders, and
/// what the flooders got, as Markdown.
fn abuse_table(runs: &[Run], servers: &[&str]) -> String {
    let abuse: Vec<(&Run, &Abuse)> = runs
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Abuse(a) => Some((r, a)),
            _ => None,
        })
        .collect();
    let Some((_, first)) = abuse.first() else {
        return String::new();
    };
    let mut out = format!(
        "## Abuse: {} chatting ({} senders, {} msg/s in all) while flooders hammer\n\n\
         The normal clients' latency, loss and drops (connections the server closed); \
         \"typing heard\" is per normal client; \"flood msgs delivered\" the most flooders' messages one normal client heard, \
         \"acked\" how many the flooders were told were accepted (acknowledgements still due at a disconnect never come; \
         Node sends none). Chatroom with its default limits; Node has none.\n\n\
         | server | round | flooders | sent | lost | dropped | p50 ms | p99 ms | max ms | flood msgs delivered | typing heard | flooders' events | rate_limited | other refusals | flooding disconnects | reconnections | flood msgs acked | server CPU s | peak MB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        first.clients, first.senders, first.rate
    );
    for (run, a) in &abuse {
        let per_client = |n: u64| n as f64 / a.entry.connected.max(1) as f64;
        let chat = a.phase.as_ref().map_or_else(
            || "not all entered | - | - | - | - | - | - | -".to_owned(),
            |p| {
                format!(
                    "{} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.1}",
                    p.sent,
                    p.lost,
                    p.dropped,
                    p.latency_ms.p50,
                    p.latency_ms.p99,
                    p.latency_ms.max,
                    p.flood_messages,
                    per_client(p.typing_deliveries),
                )
            },
        );
        let flood = a.flood.as_ref().map_or_else(
            || "- | - | - | - | - | -".to_owned(),
            |f| {
                let t = &f.total;
                format!(
                    "{} | {} | {} | {} | {} | {}",
                    t.sent,
                    t.rate_limited,
                    t.other_refusals,
                    t.flooding,
                    t.reconnections,
                    t.messages_accepted
                )
            },
        );
        out.push_str(&format!(
            "| {} | {} | {} | {chat} | {flood} | {:.1} | {:.1} |\n",
            run.server,
            run.round,
            a.flooders,
            a.cpu_s,
            a.peak_kb as f64 / 1024.0,
        ));
    }
    // The target: the flooded runs' p99 and loss as the quiet runs'.
    let mean_of = |server: &str, flooded: bool, pick: &dyn Fn(&Phase) -> f64| {
        mean(
            abuse
                .iter()
                .filter(|(r, a)| r.server == server && (a.flooders > 0) == flooded)
                .filter_map(|(_, a)| a.phase.as_ref().map(pick)),
        )
    };
    out.push('\n');
    for server in servers {
        let p99 = |flooded| mean_of(server, flooded, &|p: &Phase| p.latency_ms.p99);
        let lost = |flooded| mean_of(server, flooded, &|p: &Phase| p.lost as f64);
        if let (Some(quiet), Some(flooded)) = (p99(false), p99(true)) {
            out.push_str(&format!(
                "{server}: p99 {quiet:.1} ms quiet, {flooded:.1} ms flooded ({:.2}×); lost {:.0} quiet, {:.0} flooded (means over rounds).\n",
                flooded / quiet.max(f64::MIN_POSITIVE),
                lost(false).unwrap_or(0.0),
                lost(true).unwrap_or(0.0),
            ));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abuse_runs_each_servers_quiet_run_before_its_flooded_one() {
        let args = Args::parse_from(["bench", "--rounds", "2", "--flooders", "3"]);
        let servers: Vec<String> = ["chatroom", "memory", "bare", "node"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(
            plan(&args, "abuse", &servers),
            [
                (0, 1, "chatroom"),
                (3, 1, "chatroom"),
                (0, 1, "node"),
                (3, 1, "node"),
                (0, 2, "chatroom"),
                (3, 2, "chatroom"),
                (0, 2, "node"),
                (3, 2, "node"),
            ]
        );
        let fanout = plan(&args, "fanout", &servers);
        assert_eq!(fanout.len(), 8, "every server, every round");
        assert!(
            plan(&args, "held", &servers)
                .iter()
                .all(|(_, _, s)| *s == "chatroom")
        );
    }

    #[test]
    fn two_nodes_stands_for_each_two_node_server_and_its_baseline() {
        let given: Vec<String> = ["chatroom", "two-nodes", "node"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(
            expand(&given),
            ["chatroom", "chatroom-pg", "chatroom-2n", "node", "node-2n"]
        );
        let args = Args::parse_from(["bench", "--servers", "two-nodes"]);
        let servers = expand(&args.servers);
        // The abuse scenario's limits count per account: not on guests.
        assert_eq!(
            plan(&args, "abuse", &servers)
                .iter()
                .map(|(_, _, s)| *s)
                .collect::<Vec<_>>(),
            ["node", "node", "node", "node"]
        );
        assert_eq!(plan(&args, "fanout", &servers).len(), 8);
    }
}
