//! The load generator against a real server in this process: a small room
//! for two seconds, nothing lost. (It proves the tool works; speed is
//! measured by running it, never asserted in a test.)

// A panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use clap::Parser;
use loadgen::{Identity, Scenario, run};
use server::{AppState, Config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_for_two_seconds_lose_nothing() {
    let data = tempfile::tempdir().unwrap();
    // The crowd's 50 guests share one address, which the rate limits count
    // as one account: no limit that people would reach applies here.
    let mut config = Config::try_parse_from([
        "server",
        "--allow-guests",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--entry-burst",
        "1000",
        "--message-burst",
        "1000",
        "--message-rate",
        "60000",
        "--sockets-per-account",
        "1000",
    ])
    .unwrap();
    config.database_url = None;
    let state = AppState::open(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, state, async move {
        let _ = stopped.await;
    }));

    let report = run(&Scenario {
        url,
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
    assert!(phase.sent >= 90, "about 100 messages sent: {}", phase.sent);
    assert_eq!(phase.expected, phase.sent * 49);
    assert_eq!(phase.received, phase.expected, "nothing lost");
    assert!(phase.latency_ms.max > 0.0);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn it_refuses_to_leave_this_machine() {
    let scenario = Scenario {
        url: "http://10.1.2.3:3000".into(),
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
