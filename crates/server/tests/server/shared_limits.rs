//! Limits that hold across nodes (cluster mode): the login and registration
//! throttles, the flooding cool-down, the socket cap and the accounts'
//! buckets count in Redis, so a second node is no way around them; and with
//! Redis gone, each node limits on its own and nothing hangs.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use protocol::{Ack, ErrorCode, NewMessage, Session, event};
use reqwest::StatusCode;
use serde_json::json;
use sio_client::native::{NativeClient, NativeError};

use crate::accounts::{error_of, login, post, refusal};
use crate::nodes::Cluster;
use crate::support::{TestApp, UNLIMITED, WAIT, enter, spawn_app_on};

/// A node of `cluster` with the limits in `limits` (flag, value pairs) and
/// no others (a flag may be given once).
async fn node(cluster: &Cluster, limits: &[&str]) -> TestApp {
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let flags = cluster.flags();
    let mut all: Vec<&str> = flags.iter().map(String::as_str).collect();
    for pair in UNLIMITED.chunks(2) {
        if !limits.contains(&pair[0]) {
            all.extend_from_slice(pair);
        }
    }
    all.extend_from_slice(limits);
    spawn_app_on(data, &all).await
}

/// Registers `username` (password "correct horse") and returns its token.
async fn token(app: &TestApp, username: &str) -> String {
    let session: Session = app.register(username).await.json().await.unwrap();
    session.token
}

/// A socket of the account whose token is `token`.
async fn socket(app: &TestApp, token: &str) -> Result<NativeClient, NativeError> {
    NativeClient::connect(&app.url(), Some(json!({ "token": token }))).await
}

/// Whether a message from `client` was stored, or refused as rate limited.
async fn sent(client: &NativeClient, text: &str) -> bool {
    match client.request(&NewMessage(text.to_owned())).await.unwrap() {
        Ack::Ok(_) => true,
        Ack::Err(error) => {
            assert_eq!(error.code, ErrorCode::RateLimited, "{error:?}");
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_on_two_nodes_add_up_to_one_limit() {
    let cluster = Cluster::new().await;
    let (one, two) = (cluster.node(&[]).await, cluster.node(&[]).await);
    token(&one, "alice").await;
    // Five failures allowed per name and address: three here, two there.
    for node in [&one, &one, &one, &two, &two] {
        assert_eq!(
            login(node, "alice", "wrong horse").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for node in [&two, &one] {
        let (status, message) = error_of(login(node, "alice", "wrong horse").await).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(message.starts_with("too many failed logins"), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_per_address_count_across_nodes() {
    let cluster = Cluster::new().await;
    let limit = ["--register-per-minute", "2"];
    let (one, two) = (cluster.node(&limit).await, cluster.node(&limit).await);
    token(&one, "alice").await;
    token(&two, "bob").await;
    let third = post(
        &one,
        "/api/register",
        json!({ "username": "carol", "password": "correct horse" }),
    )
    .await;
    assert!(third.headers().contains_key("retry-after"));
    let (status, message) = error_of(third).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        message.starts_with("too many registrations from your address"),
        "{message}"
    );
}

/// An account disconnected for flooding on one node is kept out of the
/// others for its cool-down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cool_down_holds_on_the_other_node() {
    let cluster = Cluster::new().await;
    let flags = [
        "--event-burst",
        "5",
        "--event-rate",
        "60",
        "--refusals-before-disconnect",
        "1",
    ];
    let (one, two) = (node(&cluster, &flags).await, node(&cluster, &flags).await);
    let mallory = token(&one, "mallory").await;
    let mut flooder = socket(&one, &mallory).await.unwrap();
    for _ in 0..5_000 {
        if flooder.emit_raw(event::TYPING, vec![]).await.is_err() || !flooder.is_open() {
            break;
        }
    }
    let mut told = false;
    while let Ok((name, _)) = flooder.next_raw(WAIT).await {
        told |= name == event::FLOODING;
    }
    assert!(told && !flooder.is_open(), "the flooder was disconnected");
    let reason = refusal(&two, Some(json!({ "token": mallory }))).await;
    assert!(
        reason.starts_with("disconnected for flooding: you can connect again in "),
        "{reason}"
    );
    let alice = token(&two, "alice").await;
    socket(&two, &alice).await.unwrap();
}

/// The socket cap counts an account's sockets on every live node; a dead
/// node's do not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_cap_counts_sockets_on_both_nodes() {
    let cluster = Cluster::new().await;
    let cap = ["--sockets-per-account", "2"];
    let (one, two) = (node(&cluster, &cap).await, node(&cluster, &cap).await);
    let alice = token(&one, "alice").await;
    let first = socket(&one, &alice).await.unwrap();
    let _second = socket(&two, &alice).await.unwrap();
    for node in [&one, &two] {
        assert_eq!(
            refusal(node, Some(json!({ "token": alice.clone() }))).await,
            "too many connections for this account (2 open); close a tab and try again"
        );
    }
    // A closed socket frees its place on the other node too.
    first.close().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let third = loop {
        match socket(&two, &alice).await {
            Ok(client) => break client,
            Err(error) if tokio::time::Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the closed socket's place was not freed: {error}"),
        }
    };
    // Sockets counted for a node that is not alive (it died without giving
    // them back) do not count.
    let user_id = one
        .state
        .store
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    let mut redis = redis::Client::open(cluster.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{}:limits:sockets:user:{user_id}", cluster.prefix))
        .arg("a-dead-node")
        .arg(5)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        refusal(&one, Some(json!({ "token": alice.clone() }))).await,
        "too many connections for this account (2 open); close a tab and try again",
        "only the live nodes' sockets count"
    );
    third.close().await.unwrap();
}

/// Two tabs of one account on two nodes share its message bucket: a burst
/// split between them hits one limit, not two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_burst_split_across_nodes_hits_one_limit() {
    let cluster = Cluster::new().await;
    let rate = ["--message-burst", "3", "--message-rate", "1"];
    let (one, two) = (node(&cluster, &rate).await, node(&cluster, &rate).await);
    let alice = token(&one, "alice").await;
    let mut here = socket(&one, &alice).await.unwrap();
    let mut there = socket(&two, &alice).await.unwrap();
    enter(&mut here, "alice").await;
    enter(&mut there, "alice").await;
    let mut stored = 0;
    for i in 0..8 {
        let tab = if i % 2 == 0 { &here } else { &there };
        if sent(tab, &format!("hello {i}")).await {
            stored += 1;
        }
    }
    assert_eq!(stored, 3, "one burst for the account, whichever node");

    // Of a burst sent at once, the last ones are refused, as on one node.
    let bob = token(&two, "bob").await;
    let mut tab = socket(&two, &bob).await.unwrap();
    enter(&mut tab, "bob").await;
    let texts: Vec<NewMessage> = (0..6).map(|i| NewMessage(format!("burst {i}"))).collect();
    let burst = texts.iter().map(|text| tab.request(text));
    let acks: Vec<bool> = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(|ack| matches!(ack.unwrap(), Ack::Ok(_)))
        .collect();
    assert_eq!(acks, [true, true, true, false, false, false]);
}

/// A `redis-server` of the test's own on a free port, killed when dropped.
struct PrivateRedis {
    process: Child,
    url: String,
    port: u16,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port).await
    }

    /// Starts it on `port` (again, after [`Self::kill`]).
    async fn start_on(port: u16) -> Self {
        let process = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        while client.get_multiplexed_async_connection().await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server starts"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { process, url, port }
    }

    fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// With Redis gone, logins and connections still work, limited by each
/// node on its own, and nothing waits longer than Redis's timeout; when
/// Redis is back, the node counts there again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_each_node_limits_on_its_own() {
    let mut redis = PrivateRedis::start().await;
    let cluster = Cluster::on_redis(&redis.url).await;
    let one = cluster.node(&[]).await;
    let alice = token(&one, "alice").await;
    assert_eq!(
        login(&one, "alice", "wrong horse").await.status(),
        StatusCode::UNAUTHORIZED
    );
    redis.kill();

    // A hang detector, not a speed test: each check waits at most
    // REDIS_TIMEOUT once, then counts locally.
    let checks = async {
        assert_eq!(
            login(&one, "alice", "correct horse").await.status(),
            StatusCode::OK
        );
        // The local throttle holds: five failures, then 429.
        for _ in 0..5 {
            assert_eq!(
                login(&one, "alice", "wrong horse").await.status(),
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            login(&one, "alice", "wrong horse").await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        socket(&one, &alice).await.unwrap()
    };
    let client = tokio::time::timeout(Duration::from_secs(30), checks)
        .await
        .expect("nothing hangs while Redis is down");
    client.close().await.unwrap();

    let _back = PrivateRedis::start_on(redis.port).await;
    let mut connection = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{}:limits:win:login:127.0.0.1", cluster.prefix);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        login(&one, "alice", "correct horse").await;
        let counted: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        if counted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "logins are counted in Redis again once it is back"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The keys go while this Redis still runs.
    drop(one);
    drop(cluster);
}

/// Whether the Redis at `url` answers a PING within 200 ms.
async fn answers(url: &str) -> bool {
    let probe = async {
        let client = redis::Client::open(url)?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<()>(&mut connection).await
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(200), probe).await,
        Ok(Ok(()))
    )
}

/// With Redis asleep (it takes every command and answers none), a login is
/// answered, limited locally, while Redis still sleeps: no check waits on
/// Redis longer than its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_asleep_logins_do_not_wait_for_it() {
    let mut redis = PrivateRedis::start().await;
    let cluster = Cluster::on_redis(&redis.url).await;
    let one = cluster.node(&[]).await;
    token(&one, "alice").await;
    let mut connection = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // Sent, never awaited: its answer comes after 30 s.
    let _asleep = tokio::spawn(async move {
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(30)
            .query_async::<()>(&mut connection)
            .await
    });
    while answers(&redis.url).await {}
    assert_eq!(
        login(&one, "alice", "correct horse").await.status(),
        StatusCode::OK
    );
    assert!(
        !answers(&redis.url).await,
        "the login was answered while Redis still slept"
    );
    drop(one);
    // Nothing of the test's is left in a Redis that goes.
    redis.kill();
    drop(cluster);
}
