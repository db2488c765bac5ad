//! The load generator against a real server in this process: a small room
//! for two seconds, nothing lost; the same with flooders against the
//! server's default limits; and a crowd split over two nodes of one cluster
//! (PostgreSQL and Redis as the machine runs them), in one order. (It proves the tool works; speed is measured by
//! running it, never asserted in a test.)

// A panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use clap::Parser;
use loadgen::{FloodPlan, Identity, Scenario, run};
use server::auth::{Tokens, hash_password};
use server::store::Store;
use server::{AppState, Config};

/// One in-process server test at a time: the flooders' full speed would
/// take the other's CPU, and its senders would fall behind their rate.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server on 127.0.0.1:0 with `flags` over a fresh data directory, in
/// which `accounts` accounts (`smoke0`, `smoke1`, …) are made first, as the
/// `seed_users` example makes them: their identities with tokens, the
/// server's URL, and what stops it.
async fn serve(
    flags: &[&str],
    accounts: usize,
) -> (
    Vec<Identity>,
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
    tempfile::TempDir,
) {
    let data = tempfile::tempdir().unwrap();
    let mut identities = Vec::new();
    if accounts > 0 {
        let store = Store::open(None, data.path()).await.unwrap();
        let tokens = Tokens::load(None, data.path(), Duration::from_secs(3600)).unwrap();
        let hash = hash_password("never typed by anyone".into()).await.unwrap();
        for i in 0..accounts {
            let user = store
                .create_user(&format!("smoke{i}"), &hash)
                .await
                .unwrap()
                .unwrap();
            let generation = store.session_generation(user.id).await.unwrap();
            let (token, _) = tokens.issue(&user, generation).unwrap();
            identities.push(Identity::Token {
                name: user.username,
                token,
            });
        }
        store.close().await;
    }
    let mut args = vec!["server", "--data-dir", data.path().to_str().unwrap()];
    args.extend_from_slice(flags);
    let mut config = Config::try_parse_from(args).unwrap();
    if !flags.contains(&"--database-url") {
        // The data directory's SQLite file, whatever the environment says.
        config.database_url = None;
    }
    let state = AppState::open(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, state, async move {
        let _ = stopped.await;
    }));
    (identities, url, stop, server, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_for_two_seconds_lose_nothing() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // The crowd's 50 guests share one address, which the rate limits count
    // as one account: no limit that people would reach applies here.
    let flags = [
        "--allow-guests",
        "--entry-burst",
        "1000",
        "--message-burst",
        "1000",
        "--message-rate",
        "60000",
        "--sockets-per-account",
        "1000",
    ];
    let (_, url, stop, server, _data) = serve(&flags, 0).await;

    let report = run(&Scenario {
        urls: vec![url],
        identities: Identity::guests("smoke", 50),
        senders: 5,
        rate: 50.0,
        duration: Duration::from_secs(2),
        drain: Duration::from_secs(2),
        flood: None,
    })
    .await
    .unwrap();
    println!("{report}");
    assert_eq!(report.entry.errors, 0);
    assert_eq!(report.entry.connected, 50);
    assert!(
        report.entry.all_in_ms.is_some(),
        "everyone heard everyone enter"
    );
    let phase = &report.phase;
    assert_eq!(phase.dropped, 0);
    // About 100 on a quiet machine; a busy one delays the senders' timers
    // (the count is speed, which is not what this tests).
    assert!(phase.sent >= 10, "the senders sent: {}", phase.sent);
    assert_eq!(phase.expected, phase.sent * 49);
    assert_eq!(phase.received, phase.expected, "nothing lost");
    assert_eq!(phase.numbered, phase.received, "Chatroom numbers messages");
    assert_eq!(phase.out_of_order, 0, "every client heard one order");
    assert!(phase.latency_ms.max > 0.0);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Two flooders, each its own account, hammer a server with its default
/// limits while 20 others chat: the flooders are refused with
/// `rate_limited` and disconnected for flooding (and, trying to come back
/// at once as a script would, are kept out for the cool-down), and the
/// others lose nothing and stay connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooders_are_refused_and_disconnected_while_the_room_loses_nothing() {
    const CLIENTS: usize = 20;
    const FLOODERS: usize = 2;
    let _alone = ONE_AT_A_TIME.lock().await;
    let (identities, url, stop, server, _data) = serve(&[], CLIENTS + FLOODERS).await;
    let (clients, flooders) = loadgen::roles(identities, CLIENTS, FLOODERS).unwrap();

    let report = run(&Scenario {
        urls: vec![url],
        identities: clients,
        senders: 4,
        // Half a message a second each: well under the default 60 a minute.
        rate: 2.0,
        duration: Duration::from_secs(3),
        drain: Duration::from_secs(2),
        flood: Some(FloodPlan {
            identities: flooders,
            rate: 0.0,
        }),
    })
    .await
    .unwrap();
    println!("{report}");
    assert_eq!(report.entry.errors, 0);
    let phase = &report.phase;
    assert!(phase.sent >= 4, "the crowd chatted: {}", phase.sent);
    assert_eq!(phase.dropped, 0, "nobody but the flooders is disconnected");
    assert_eq!(phase.expected, phase.sent * (CLIENTS as u64 - 1));
    assert_eq!(phase.received, phase.expected, "nothing lost");
    let flood = report.flood.as_ref().expect("the flooders' report");
    assert_eq!(flood.flooders, FLOODERS);
    for (i, flooder) in flood.each.iter().enumerate() {
        assert!(flooder.rate_limited > 0, "flooder {i} refused: {flooder:?}");
        assert!(flooder.flooding > 0, "flooder {i} told: {flooder:?}");
        assert!(flooder.disconnects > 0, "flooder {i} disconnected");
        // It tries to come back at once, and is refused for the cool-down.
        assert!(
            flooder.connect_errors > 0,
            "flooder {i} kept out: {flooder:?}"
        );
    }
    // Their burst of messages was let through and reached everyone, and
    // counted apart from the crowd's.
    assert!(phase.flood_messages > 0);
    assert!(phase.flood_deliveries >= phase.flood_messages);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// PostgreSQL and Redis as the machine runs them (`scripts/test` starts both).
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const REDIS: &str = "redis://127.0.0.1:6379";

/// What two nodes share for one test: a PostgreSQL schema and a Redis key
/// prefix of its own (removed when it is dropped), and a token secret.
struct Shared {
    schema: String,
    prefix: String,
}

impl Shared {
    async fn new() -> Self {
        // A name no other run uses: this process and a fresh directory's.
        let dir = tempfile::tempdir().unwrap();
        let unique: String = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_lowercase();
        let schema = format!("loadgen_{}_{unique}", std::process::id());
        let pool = sqlx::PgPool::connect(POSTGRES).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        Self {
            prefix: format!("loadgen-{}-{unique}", std::process::id()),
            schema,
        }
    }

    fn flags(&self) -> Vec<String> {
        [
            "--database-url",
            &format!("{POSTGRES}?options=-c%20search_path%3D{}", self.schema),
            "--redis-url",
            REDIS,
            "--redis-prefix",
            &self.prefix,
            "--jwt-secret",
            "loadgen-two-nodes-test-secret-0123456789abcdef",
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

impl Drop for Shared {
    /// Drops the schema and deletes the keys, also when the test failed.
    fn drop(&mut self) {
        let (schema, pattern) = (self.schema.clone(), format!("{}:*", self.prefix));
        // Drop can't await: a small runtime of its own, on a thread of its own.
        let removed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let pool = sqlx::PgPool::connect(POSTGRES).await?;
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&pool)
                    .await?;
                pool.close().await;
                let client = redis::Client::open(REDIS)?;
                let mut redis = client.get_multiplexed_async_connection().await?;
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(&pattern)
                    .query_async(&mut redis)
                    .await?;
                if !keys.is_empty() {
                    let _: () = redis::cmd("DEL").arg(keys).query_async(&mut redis).await?;
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if !matches!(removed, Ok(Ok(()))) {
            eprintln!("could not remove the test's schema and keys: {removed:?}");
        }
    }
}

/// Two nodes of one cluster, the crowd split over them: everyone hears that
/// everyone is in (the head count is the cluster's), and every client, on
/// either node, hears every message, numbered in one increasing order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_split_over_two_nodes_hears_one_order() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let shared = Shared::new().await;
    let flags = shared.flags();
    let mut flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    flags.extend([
        "--allow-guests",
        "--entry-burst",
        "1000",
        "--message-burst",
        "1000",
        "--message-rate",
        "60000",
        "--sockets-per-account",
        "1000",
    ]);
    let (_, first, stop_first, first_task, _first_data) = serve(&flags, 0).await;
    let (_, second, stop_second, second_task, _second_data) = serve(&flags, 0).await;

    let report = run(&Scenario {
        urls: vec![first, second],
        identities: Identity::guests("split", 20),
        senders: 4,
        rate: 20.0,
        duration: Duration::from_secs(2),
        drain: Duration::from_secs(2),
        flood: None,
    })
    .await
    .unwrap();
    println!("{report}");
    assert_eq!(report.entry.errors, 0);
    assert!(
        report.entry.all_in_ms.is_some(),
        "everyone heard all 20 enter, across the nodes"
    );
    let phase = &report.phase;
    assert_eq!(phase.dropped, 0);
    assert!(phase.sent >= 4, "the senders sent: {}", phase.sent);
    assert_eq!(phase.expected, phase.sent * 19);
    assert_eq!(phase.received, phase.expected, "nothing lost");
    assert_eq!(phase.numbered, phase.received, "every message numbered");
    assert_eq!(phase.out_of_order, 0, "one order on both nodes");
    assert!(!report.failed());

    for (stop, task) in [(stop_first, first_task), (stop_second, second_task)] {
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn it_refuses_to_leave_this_machine() {
    let scenario = Scenario {
        urls: vec![
            "http://127.0.0.1:3000".into(),
            "http://10.1.2.3:3000".into(),
        ],
        identities: Identity::guests("far", 2),
        senders: 1,
        rate: 1.0,
        duration: Duration::from_millis(10),
        drain: Duration::from_millis(10),
        flood: None,
    };
    assert!(matches!(
        run(&scenario).await,
        Err(loadgen::LoadgenError::NotLoopback(_))
    ));
}
