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

/// Starts a server on a free port with its own, empty room and store, open
/// to guests (the chat protocol's tests connect as the demo's clients do).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&["--allow-guests"]).await
}

/// Starts a server with extra command-line flags.
pub async fn spawn_app_with(flags: &[&str]) -> TestApp {
    let data = Arc::new(tempfile::tempdir().expect("a data directory"));
    spawn_app_on(data, flags).await
}

/// Starts a server on an existing data directory (as after a restart).
pub async fn spawn_app_on(data: Arc<tempfile::TempDir>, flags: &[&str]) -> TestApp {
    let site_root = std::env::temp_dir().join("chatroom-test-site");
    std::fs::create_dir_all(&site_root).expect("creating the site root");
    let mut args = vec![
        "server",
        "--site-root",
        site_root.to_str().expect("utf-8 path"),
        "--data-dir",
        data.path().to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(flags);
    let mut config = Config::try_parse_from(args).expect("test configuration");
    if !flags.contains(&"--database-url") {
        // The data directory's SQLite file, whatever the environment says.
        config.database_url = None;
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
