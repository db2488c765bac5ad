//! Test support: `spawn_app()` runs a fresh server on a free port and stops
//! it when the test is done; helpers connect clients and enter the room.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use protocol::{Ack, AddUser, Login, ServerEvent};
use server::{AppState, Config};
use sio_client::native::NativeClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for something that should come at once.
pub const WAIT: Duration = Duration::from_secs(5);

/// A server running for one test.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    /// The server's data directory, deleted when the test ends.
    pub data: Arc<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Whether the server still runs: its task has neither returned nor
    /// panicked.
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|task| !task.is_finished())
    }

    /// A connected Socket.IO client (no auth payload, like the demo client).
    pub async fn client(&self) -> NativeClient {
        NativeClient::connect(&self.url(), None)
            .await
            .expect("connecting a client")
    }

    /// A client that entered the room as `name`; returns its login.
    pub async fn join(&self, name: &str) -> (NativeClient, Login) {
        let mut client = self.client().await;
        let login = enter(&mut client, name).await;
        (client, login)
    }

    /// Registers `username` (password "correct horse") and expects 201; the
    /// answer carries the token and the cookie.
    pub async fn register(&self, username: &str) -> reqwest::Response {
        let response = reqwest::Client::new()
            .post(format!("{}/api/register", self.url()))
            .json(&serde_json::json!({ "username": username, "password": "correct horse" }))
            .send()
            .await
            .expect("a register request");
        assert_eq!(response.status(), 201, "registering {username}");
        response
    }

    /// Stops the server (as SIGTERM would) and waits for `run` to return.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("the server task");
        tokio::time::timeout(WAIT, task)
            .await
            .expect("the server stops in time")
            .expect("the server task does not panic")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Rate limits no test of the protocol reaches: those tests send faster
/// than people, and their guests all come from 127.0.0.1, one address, so
/// one "account". The limits' own tests start servers with the defaults or
/// with limits of their own.
pub const UNLIMITED: &[&str] = &[
    "--event-burst",
    "1000000",
    "--event-rate",
    "60000000",
    "--message-burst",
    "1000000",
    "--message-rate",
    "60000000",
    "--read-burst",
    "1000000",
    "--read-rate",
    "60000000",
    "--entry-burst",
    "1000000",
    "--entry-rate",
    "60000000",
    "--events-in-flight",
    "1000000",
    "--sockets-per-account",
    "1000000",
    "--connections-per-address",
    "0",
];

/// Turns the presence grace period off: a dropped connection's user leaves
/// at once, for tests of what a broken connection leaves behind.
pub const NO_GRACE: &[&str] = &["--presence-grace-secs", "0"];

/// [`spawn_app`] with [`NO_GRACE`].
pub async fn spawn_app_without_grace() -> TestApp {
    let mut flags = vec!["--allow-guests"];
    flags.extend_from_slice(UNLIMITED);
    flags.extend_from_slice(NO_GRACE);
    spawn_app_with(&flags).await
}

/// Starts a server on a free port with its own, empty room and store, open
/// to guests (the chat protocol's tests connect as the demo's clients do),
/// without rate limits (see [`UNLIMITED`]).
pub async fn spawn_app() -> TestApp {
    let mut flags = vec!["--allow-guests"];
    flags.extend_from_slice(UNLIMITED);
    spawn_app_with(&flags).await
}

/// Starts a server with extra command-line flags.
pub async fn spawn_app_with(flags: &[&str]) -> TestApp {
    let data = Arc::new(tempfile::tempdir().expect("a data directory"));
    spawn_app_on(data, flags).await
}

/// Starts a server on an existing data directory (as after a restart).
pub async fn spawn_app_on(data: Arc<tempfile::TempDir>, flags: &[&str]) -> TestApp {
    // `TEST_LOG=server=debug cargo test …` shows the servers' logs.
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let site_root = std::env::temp_dir().join("chatroom-test-site");
    std::fs::create_dir_all(&site_root).expect("creating the site root");
    let mut args = vec![
        "server",
        "--data-dir",
        data.path().to_str().expect("utf-8 path"),
    ];
    // A test of the site's files brings a site of its own.
    if !flags.contains(&"--site-root") {
        args.extend(["--site-root", site_root.to_str().expect("utf-8 path")]);
    }
    args.extend_from_slice(flags);
    let mut config = Config::try_parse_from(args).expect("test configuration");
    if !flags.contains(&"--database-url") {
        // The data directory's SQLite file, whatever the environment says.
        config.database_url = None;
    }
    if !flags.contains(&"--redis-url") {
        // A single node, whatever the environment says.
        config.redis_url = None;
    }
    if !flags.contains(&"--jwt-secret") {
        config.jwt_secret = None;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a free port");
    let addr = listener.local_addr().expect("local address");
    let state = AppState::open(&config).await.expect("opening the store");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        state,
        data,
        stop: Some(stop),
        task: Some(task),
    }
}

/// Sends `add user` and expects success: the acknowledgement and the
/// `login` event agree.
pub async fn enter(client: &mut NativeClient, name: &str) -> Login {
    let ack = client
        .request(&AddUser(name.to_owned()))
        .await
        .expect("an ack for add user");
    let Ack::Ok(login) = ack else {
        panic!("add user {name:?} was refused: {ack:?}");
    };
    match next(client).await {
        ServerEvent::Login(event) => assert_eq!(event, login, "login event and ack agree"),
        other => panic!("expected login, got {other:?}"),
    }
    login
}

/// The next server event, within [`WAIT`].
pub async fn next(client: &mut NativeClient) -> ServerEvent {
    client
        .next_event(WAIT)
        .await
        .expect("a server event in time")
}

/// The machine's PostgreSQL (`scripts/test` starts it when it is down).
pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of its own in PostgreSQL for one test, dropped when the test ends.
pub struct PostgresSchema {
    /// Its name.
    pub name: String,
    /// A database URL whose connections use it.
    pub url: String,
}

impl PostgresSchema {
    pub async fn new() -> Self {
        let name = format!("test_{}", unique_name());
        let pool = sqlx::PgPool::connect(POSTGRES)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (scripts/test starts it)");
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&pool)
            .await
            .expect("creating a test schema");
        pool.close().await;
        let url = format!("{POSTGRES}?options=-c%20search_path%3D{name}");
        Self { name, url }
    }

    /// A connection of the test's own, in the schema.
    pub async fn connect(&self) -> sqlx::PgConnection {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&self.url)
            .await
            .expect("connecting to PostgreSQL")
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        let schema = self.name.clone();
        // Drop can't await: drop the schema from a small runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let pool = sqlx::PgPool::connect(POSTGRES).await?;
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&pool)
                    .await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a test schema: {dropped:?}");
        }
    }
}

/// A name no other test run uses.
pub fn unique_name() -> String {
    let dir = tempfile::Builder::new()
        .prefix("")
        .tempdir()
        .expect("a temporary directory");
    dir.path()
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("x")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
        + &std::process::id().to_string()
}
