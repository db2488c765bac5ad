//! Fuzzing the server over real connections (README, "Fuzzing"). Every case
//! starts a server with two well-behaved users, alice and bob, then opens a
//! raw WebSocket, does the Engine.IO open and the Socket.IO
//! CONNECT, maybe enters the room, and sends a generated run of frames:
//! arbitrary text and binary, events of every name with arbitrary payloads,
//! with and without ack ids (huge ones too), binary-attachment headers, other
//! namespaces, stray Engine.IO packets. After each case:
//!
//! - the server has not panicked (no panic on the test's thread, where its
//!   tasks run, and its task is still running);
//! - every well-formed event sent with an ack id was answered with a
//!   protocol `Ack`, or the server closed the connection;
//! - once the fuzzing connection is gone, nobody it entered as is left in
//!   the room, and bob's message still reaches alice.
//!
//! `PROPTEST_CASES=5000 cargo test -p server --test server fuzz::` runs it
//! long (5,000 cases took 22 minutes on 2 cores; the default, 48, keeps it
//! to seconds); failing cases are kept
//! in `tests/proptest-regressions/fuzz.txt` and replayed first.

use std::collections::BTreeSet;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use protocol::strategies::{CLIENT_EVENT_NAMES, event_name, payload, text};
use protocol::{Ack, NewMessage, ServerEvent, event};
use serde_json::{Value, json};
use sio_client::codec::{DEFAULT_NS, EnginePacket, SocketPacket, frame};
use sio_client::native::NativeClient;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{TestApp, WAIT, next, spawn_app, spawn_app_without_grace};

type Raw = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Cases per run when `PROPTEST_CASES` does not say: the module stays well
/// under half a minute on a 2-core machine.
const DEFAULT_CASES: u32 = 48;

/// The name a fuzzing connection enters under.
const FUZZER: &str = "fuzzer";

/// The largest ack id socketioxide reads: its parser reads the id as an
/// `i64` and takes one that overflows as no id at all, so the event is
/// handled but never answered. Only ids up to this one are owed an answer
/// (JavaScript clients count theirs from 0).
const LARGEST_ACK_ID: u64 = i64::MAX as u64;

/// What a case sends after the handshake.
#[derive(Debug, Clone)]
struct Case {
    /// Whether it enters the room (as [`FUZZER`]) before fuzzing.
    enter: bool,
    frames: Vec<Frame>,
}

/// One thing the fuzzing client sends.
#[derive(Debug, Clone)]
enum Frame {
    /// Any text frame.
    Text(String),
    /// Any binary frame.
    Binary(Vec<u8>),
    /// A well-formed event packet: `42[name, ...args]`, in `ns`, with an ack
    /// id if `ack` says so.
    Event {
        ns: String,
        ack: AckId,
        name: String,
        args: Vec<Value>,
    },
    /// A binary event header (`451-[name, {placeholder}]`) followed by
    /// `sent` binary frames, where it announced `announced`.
    BinaryEvent {
        announced: usize,
        sent: usize,
        ack: AckId,
        name: String,
    },
    /// A bare Engine.IO or Socket.IO packet: `1` (close), `2` (ping), `41`
    /// (leave the namespace), `40/admin,` (join another namespace), …
    Packet(&'static str),
}

/// Whether and how an event asks for an acknowledgement.
#[derive(Debug, Clone, Copy)]
enum AckId {
    /// No answer wanted.
    None,
    /// The next of the case's ids (0, 1, 2, …).
    Next,
    /// This one: huge, at the limits of `i64`/`u64`, or JavaScript's.
    Fixed(u64),
}

fn ack_id() -> impl Strategy<Value = AckId> {
    prop_oneof![
        2 => Just(AckId::None),
        3 => Just(AckId::Next),
        1 => prop::sample::select(&[
            (1 << 53) + 1,
            i64::MAX as u64,
            i64::MAX as u64 + 1,
            u64::MAX,
        ][..]).prop_map(AckId::Fixed),
    ]
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(DEFAULT_NS.to_owned()),
        1 => Just("/admin".to_owned()),
        1 => text().prop_map(|name| format!("/{}", name.replace(',', ""))),
    ]
}

fn fuzz_frame() -> impl Strategy<Value = Frame> {
    let event = (
        namespace(),
        ack_id(),
        prop_oneof![
            3 => prop::sample::select(CLIENT_EVENT_NAMES).prop_map(str::to_owned),
            1 => event_name(),
        ],
        prop::collection::vec(payload(), 0..3),
    )
        .prop_map(|(ns, ack, name, args)| Frame::Event {
            ns,
            ack,
            name,
            args,
        });
    let binary_event =
        (0usize..3, 0usize..4, ack_id(), event_name()).prop_map(|(announced, sent, ack, name)| {
            Frame::BinaryEvent {
                announced,
                sent,
                ack,
                name,
            }
        });
    prop_oneof![
        8 => event,
        1 => any::<String>().prop_map(Frame::Text),
        1 => text().prop_map(|t| Frame::Text(format!("42{t}"))),
        1 => prop::collection::vec(any::<u8>(), 0..32).prop_map(Frame::Binary),
        1 => binary_event,
        1 => prop::sample::select(&[
            "1", "2", "3", "5", "6", "2probe", "4", "40", "41", "40/admin,", "41/admin,", "4{}",
            "43", "430[]", "44{\"message\":\"x\"}", "45", "451-", "451-[]", "46", "461-0[]",
        ][..]).prop_map(Frame::Packet),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (any::<bool>(), prop::collection::vec(fuzz_frame(), 0..12))
        .prop_map(|(enter, frames)| Case { enter, frames })
}

/// Throws generated frames at one server, case after case, and checks the
/// room after each.
#[test]
fn arbitrary_frames_never_take_the_room_down() {
    count_panics_on_this_thread();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = Config {
        cases,
        source_file: Some(file!()),
        // A failing case replays its whole run of frames: fewer, smaller
        // steps keep shrinking to minutes.
        max_shrink_iters: 256,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |case| {
        // A server of its own for every case: what one case leaves behind
        // fails that case, not every later one (which would also make
        // shrinking end at an empty case).
        runtime.block_on(async {
            // A dropped connection's user leaves at once: the check after
            // the case counts who is online.
            let app = spawn_app_without_grace().await;
            let (mut alice, _) = app.join("alice").await;
            let (bob, _) = app.join("bob").await;
            assert!(matches!(next(&mut alice).await, ServerEvent::UserJoined(_)));
            fuzz_once(&app, &case).await?;
            room_is_intact(&app, &mut alice, &bob).await?;
            app.shutdown()
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))
        })
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, case)) => {
            panic!("{reason}\nminimal failing case: {case:#?}")
        }
        Err(TestError::Abort(reason)) => panic!("aborted: {reason}"),
    }
}

/// Runs one case: handshake, maybe enter, the frames, then the wait for
/// every answer owed; closes the connection at the end.
async fn fuzz_once(app: &TestApp, case: &Case) -> Result<(), TestCaseError> {
    let panics = PANICS.load(Ordering::SeqCst);
    let mut client = FuzzClient::connect(app).await;
    if case.enter {
        let add = SocketPacket::event(event::ADD_USER, vec![json!(FUZZER)], Some(0));
        client.send_text(frame(&add)).await;
        client.owed.insert(0);
        client.next_id = 1;
        client.settle().await?;
        prop_assert_eq!(client.refused.take(), None, "entering as {}", FUZZER);
    }
    for sent in &case.frames {
        if client.closed {
            break;
        }
        client.send(sent).await;
    }
    client.settle().await?;
    prop_assert_eq!(client.broken.take(), None, "the connection broke");
    client.close().await;
    no_panics_since(panics)
}

/// After a case: the fuzzing user is gone from the room, and the room works:
/// a message from bob reaches alice.
async fn room_is_intact(
    app: &TestApp,
    alice: &mut NativeClient,
    bob: &NativeClient,
) -> Result<(), TestCaseError> {
    let panics = PANICS.load(Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.state.room.num_users().await.unwrap() != 2 {
        if tokio::time::Instant::now() > deadline {
            return Err(TestCaseError::fail(format!(
                "{} users online after the fuzzing connection closed; alice and bob are 2",
                app.state.room.num_users().await.unwrap()
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = "still here".to_owned();
    match bob.request(&NewMessage(text.clone())).await {
        Ok(Ack::Ok(_)) => {}
        other => return Err(TestCaseError::fail(format!("bob's message: {other:?}"))),
    }
    loop {
        match alice.next_event(WAIT).await {
            Ok(ServerEvent::NewMessage(m)) if m.message == text => break,
            Ok(_) => {}
            Err(error) => {
                return Err(TestCaseError::fail(format!(
                    "alice never heard bob's message: {error}"
                )));
            }
        }
    }
    prop_assert!(app.is_running(), "the server task ended");
    no_panics_since(panics)
}

/// A bug the fuzzing found: a connection in the room that sent `typing` with
/// an ack id never got an answer (`add user`, `new message`, `history`,
/// `catch up` and refusals all answered). A client that waits for every
/// ack, as the JS client's `emitWithAck` does, hung.
#[tokio::test]
async fn typing_with_an_ack_id_is_answered() {
    let app = spawn_app().await;
    let (alice, _) = app.join("alice").await;
    for name in [event::TYPING, event::STOP_TYPING] {
        let answer = alice.request_raw(name, vec![]).await;
        assert!(answer.is_ok(), "{name} with an ack id: {answer:?}");
    }
}

/// The other bug the fuzzing found (run on one server for every case): a
/// guest whose connection closes while its `add user` waits on the store
/// (the check that no account owns the name) is entered after its
/// disconnect ran, and stays online for ever. The case before the one that
/// failed sent `42<u64::MAX>["add user", <a free name>]` (an ack id too large
/// for socketioxide, so nobody waited for the answer) and then closed.
#[tokio::test]
async fn a_guest_who_leaves_while_entering_is_not_left_online() {
    let app = spawn_app_without_grace().await;
    let (mut alice, _) = app.join("alice").await;
    let (bob, _) = app.join("bob").await;
    next(&mut alice).await;
    for n in 0..100 {
        let mut client = FuzzClient::connect(&app).await;
        let add = SocketPacket::event(event::ADD_USER, vec![json!(format!("guest{n}"))], None);
        client.send_text(frame(&add)).await;
        client.close().await;
    }
    // Once bob's message made it through the store and back, every
    // entry started above has finished.
    room_is_intact(&app, &mut alice, &bob).await.unwrap();
    let Ack::Ok(_) = bob.request(&NewMessage("later".into())).await.unwrap() else {
        panic!("bob's second message was refused");
    };
    assert_eq!(
        app.state.room.num_users().await.unwrap(),
        2,
        "guests left online"
    );
}

/// A raw Socket.IO connection that keeps count of the answers it is owed.
struct FuzzClient {
    ws: Raw,
    /// Ack ids sent in well-formed events and not answered yet.
    owed: BTreeSet<u64>,
    /// The next [`AckId::Next`] id.
    next_id: u64,
    /// The last refusal received, if any (for the entry's check).
    refused: Option<Value>,
    /// Whether the server closed the connection (or it broke).
    closed: bool,
    /// How the connection broke, if the server did not close it cleanly
    /// (a WebSocket close, or the end of the stream).
    broken: Option<String>,
    /// Whether a binary packet is waiting for attachments: later text
    /// frames are then malformed, and owe no answer.
    partial_binary: bool,
    /// Whether the client left the namespace (`41`): later events go to no
    /// socket and owe no answer.
    left: bool,
}

impl FuzzClient {
    async fn connect(app: &TestApp) -> Self {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.addr);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = Self {
            ws,
            owed: BTreeSet::new(),
            next_id: 0,
            refused: None,
            closed: false,
            broken: None,
            partial_binary: false,
            left: false,
        };
        let open = client.next_text().await.expect("the open packet");
        assert!(matches!(
            EnginePacket::decode(&open),
            Ok(EnginePacket::Open(_))
        ));
        client.send_text(frame(&SocketPacket::connect(None))).await;
        let connected = client.next_text().await.expect("the connect answer");
        assert!(connected.starts_with("40{"), "connected: {connected}");
        client
    }

    async fn send(&mut self, sent: &Frame) {
        match sent {
            Frame::Text(text) => {
                self.partial_binary = false;
                self.send_text(text.clone()).await;
            }
            Frame::Binary(bytes) => self.send_binary(bytes.clone()).await,
            Frame::Event {
                ns,
                ack,
                name,
                args,
            } => {
                let owed = ns == DEFAULT_NS;
                let id = self.ack_id(*ack, owed);
                let packet = SocketPacket::Event {
                    ns: ns.clone(),
                    id,
                    name: name.clone(),
                    args: args.clone(),
                };
                self.send_text(frame(&packet)).await;
            }
            Frame::BinaryEvent {
                announced,
                sent,
                ack,
                name,
            } => {
                let owed = announced == sent;
                let id = self.ack_id(*ack, owed);
                let id = id.map(|id| id.to_string()).unwrap_or_default();
                let placeholders =
                    (0..*announced).map(|num| json!({"_placeholder": true, "num": num}));
                let body = Value::Array(std::iter::once(json!(name)).chain(placeholders).collect());
                self.send_text(format!("45{announced}-{id}{body}")).await;
                self.partial_binary = sent < announced;
                for n in 0..*sent {
                    self.send_binary(vec![n as u8; 3]).await;
                }
            }
            Frame::Packet(packet) => {
                self.partial_binary = false;
                if *packet == "41" {
                    self.left = true;
                }
                self.send_text((*packet).to_owned()).await;
            }
        }
    }

    /// The ack id to send, recorded as owed when the packet is well formed.
    fn ack_id(&mut self, ack: AckId, well_formed: bool) -> Option<u64> {
        let id = match ack {
            AckId::None => return None,
            AckId::Next => {
                self.next_id += 1;
                self.next_id - 1
            }
            AckId::Fixed(id) => id,
        };
        if well_formed && !self.left && !self.partial_binary && id <= LARGEST_ACK_ID {
            self.owed.insert(id);
        }
        Some(id)
    }

    async fn send_text(&mut self, text: String) {
        if !self.closed && self.ws.send(Message::text(text)).await.is_err() {
            self.closed = true;
        }
    }

    async fn send_binary(&mut self, bytes: Vec<u8>) {
        if !self.closed && self.ws.send(Message::binary(bytes)).await.is_err() {
            self.closed = true;
        }
    }

    /// Reads until every owed answer came or the server closed the
    /// connection; fails if neither happens in time.
    async fn settle(&mut self) -> Result<(), TestCaseError> {
        while !self.owed.is_empty() && !self.closed {
            let Some(text) = self.next_text().await else {
                break;
            };
            let Ok(EnginePacket::Message(payload)) = EnginePacket::decode(&text) else {
                continue;
            };
            match SocketPacket::decode(&payload) {
                Ok(SocketPacket::Ack { ns, id, args }) => {
                    prop_assert_eq!(ns.as_str(), DEFAULT_NS);
                    let answer = args.first().cloned().unwrap_or(Value::Null);
                    match serde_json::from_value::<Ack<Value>>(answer.clone()) {
                        Ok(Ack::Ok(_)) => {}
                        Ok(Ack::Err(_)) => self.refused = Some(answer),
                        Err(_) => {
                            return Err(TestCaseError::fail(format!(
                                "ack {id} is not a protocol ack: {answer}"
                            )));
                        }
                    }
                    self.owed.remove(&id);
                }
                Ok(SocketPacket::Disconnect { .. }) => self.closed = true,
                _ => {}
            }
        }
        if self.owed.is_empty() || self.closed {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!(
                "no answer to ack ids {:?} and the connection is still open",
                self.owed
            )))
        }
    }

    /// The next text frame, answering pings; `None` once the connection is
    /// closed or when nothing comes for [`WAIT`].
    async fn next_text(&mut self) -> Option<String> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    if text.as_str() == EnginePacket::Ping.encode() {
                        self.send_text(EnginePacket::Pong.encode()).await;
                        continue;
                    }
                    if text.as_str() == EnginePacket::Close.encode() {
                        self.closed = true;
                    }
                    return Some(text.as_str().to_owned());
                }
                Ok(Some(Ok(Message::Close(_))) | None) => {
                    self.closed = true;
                    return None;
                }
                Ok(Some(Err(error))) => {
                    self.closed = true;
                    self.broken = Some(error.to_string());
                    return None;
                }
                Ok(Some(Ok(_))) => {}
                Err(_) => return None,
            }
        }
    }

    async fn close(mut self) {
        if !self.closed {
            let _ = self.ws.close(None).await;
        }
        // Drain until the server's side of the close arrives.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
    }
}

static PANICS: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();

/// Counts panics on threads named like this module's tests: the server's
/// tasks run on the test's own thread (a current-thread runtime), so a
/// handler that panics is seen here even though tokio catches it.
fn count_panics_on_this_thread() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|name| name.starts_with("fuzz::"))
            {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// Fails if anything panicked on this thread since the count was `before`.
fn no_panics_since(before: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(PANICS.load(Ordering::SeqCst), before, "the server panicked");
    Ok(())
}
