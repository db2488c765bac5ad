//! A crowd: many lean Socket.IO connections to one server, or split evenly
//! over the nodes of one (client `i` to node `i mod n`), each owned by one
//! task that answers pings, sends when it is told to, and records what it
//! receives. The coordinator drives them through phases (enter the room,
//! send at a rate, report) over a command channel, so one crowd can go
//! through several rates without reconnecting.
//!
//! Each client also checks the order it hears messages in: where the server
//! numbers them (Chatroom's `id`), every client must hear strictly
//! increasing ids, which is what "one conversation in one order" means once
//! the clients sit on different nodes.
//!
//! The connections are deliberately cheaper than `sio-client`'s test client:
//! one task each, a small read buffer, and incoming frames are scanned for
//! the few fields the generator needs instead of being parsed as JSON, so the
//! generator's own cost stays small next to the server's on a shared machine.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt, future::join_all};
use protocol::event;
use serde_json::{Value, json};
use sio_client::codec::{self, EnginePacket, SocketPacket};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{Identity, Latency, percentiles};

/// Messages the generator sends start with this (then the phase, the send
/// time in µs since the crowd's clock started, and a sequence number).
const TAG: &str = "lg";

/// Messages flooders send start with this (see [`crate::flood`]): the crowd
/// counts them apart, never as its own deliveries or latencies.
pub(crate) const FLOOD_TAG: &str = "lf";

/// How long the crowd waits, after the last handshake, for every client to
/// hear that everyone is in.
const ALL_IN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long after telling every client of a new phase the senders start.
pub(crate) const PHASE_SWITCH: Duration = Duration::from_millis(200);

/// How long one connection's handshake may take.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How entering went.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Entry {
    /// Connections that completed the Socket.IO handshake.
    pub connected: usize,
    /// Connections refused or failed, and why (the first few reasons).
    pub errors: usize,
    pub error_samples: Vec<String>,
    /// From the first connect to the last handshake done, in ms.
    pub connect_ms: f64,
    /// From the first connect until every client had heard that everyone
    /// is in (`numUsers` reached the crowd's size), in ms; `None` when the
    /// crowd did not enter or not everyone heard it in time.
    pub all_in_ms: Option<f64>,
}

/// One sending phase's result.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Phase {
    pub senders: usize,
    pub target_rate: f64,
    pub duration_s: f64,
    pub sent: u64,
    /// Every message to every connected client but its sender.
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    /// Deliveries per second over the sending time.
    pub deliveries_per_s: f64,
    pub latency_ms: Latency,
    /// Connections that closed during the phase (the server dropped them).
    pub dropped: usize,
    /// Flooders' messages the crowd heard (every client's count added up):
    /// neither expected nor lost, and never in the latencies.
    pub flood_deliveries: u64,
    /// The flooders' messages the server let through: the most that any
    /// one client heard (a flooder disconnected for flooding never hears
    /// the acknowledgements of its last accepted messages, so its own count
    /// of them falls short).
    pub flood_messages: u64,
    /// `typing` events the crowd heard, all clients together.
    pub typing_deliveries: u64,
    /// Messages that carried the server's id (all clients together): 0
    /// when the server numbers none (the Node.js reference), and the order
    /// could not be checked.
    pub numbered: u64,
    /// Messages a client heard whose id was not above the last id that
    /// client had heard: out of order or twice. Must be 0.
    pub out_of_order: u64,
}

/// What a client task is told to do.
enum Command {
    /// Start phase `id`; send on a ticker when `sending` is set.
    Start { id: u32, sending: Option<Sending> },
    /// Hand over the current phase's results.
    Finish(oneshot::Sender<ClientPhase>),
}

#[derive(Debug, Clone, Copy)]
struct Sending {
    /// When to send the first message: after every client has switched to
    /// the new phase, or early messages would be ignored as an old phase's.
    from: Instant,
    period: Duration,
    until: Instant,
}

#[derive(Debug, Default)]
struct ClientPhase {
    sent: u64,
    latencies_us: Vec<u32>,
    /// Flooders' messages heard.
    flood_heard: u64,
    /// `typing` events heard.
    typing_heard: u64,
    /// Messages heard with the server's id.
    numbered: u64,
    /// Of those, ones whose id was not above the last one heard.
    out_of_order: u64,
    /// Closed by now (the server dropped it, or it never opened).
    closed: bool,
    /// Already closed when the phase started: not part of it.
    absent: bool,
}

/// Connected clients, each run by its own task.
pub struct Crowd {
    commands: Vec<mpsc::UnboundedSender<Command>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    next_phase: u32,
}

impl Crowd {
    /// Opens one connection per identity, all at once, identity `i` to
    /// `urls[i % urls.len()]` (the nodes of one server; callers check they
    /// are loopback addresses). With `enter`, each emits `add user` and the
    /// entry is timed until every client has heard that all of them are in.
    /// Waits at most `timeout` for that.
    pub async fn connect(
        urls: &[String],
        identities: Vec<Identity>,
        enter: bool,
        timeout: Duration,
    ) -> (Self, Entry) {
        let clock = Instant::now();
        let size = identities.len();
        let mut commands = Vec::with_capacity(size);
        let mut tasks = Vec::with_capacity(size);
        let mut handshakes = Vec::with_capacity(size);
        let mut all_in = Vec::with_capacity(size);
        for (i, identity) in identities.into_iter().enumerate() {
            let (command_tx, command_rx) = mpsc::unbounded_channel();
            let (handshake_tx, handshake_rx) = oneshot::channel();
            let (in_tx, in_rx) = oneshot::channel();
            let client = Client {
                url: node_of(urls, i).to_owned(),
                identity,
                enter,
                crowd_size: size,
                clock,
            };
            tasks.push(tokio::spawn(client.run(command_rx, handshake_tx, in_tx)));
            commands.push(command_tx);
            handshakes.push(handshake_rx);
            all_in.push(in_rx);
        }
        let mut entry = Entry::default();
        let deadline = tokio::time::Instant::now() + timeout;
        for result in join_all(
            handshakes
                .into_iter()
                .map(|rx| async move { tokio::time::timeout_at(deadline, rx).await }),
        )
        .await
        {
            match result {
                Ok(Ok(Ok(()))) => entry.connected += 1,
                Ok(Ok(Err(why))) => {
                    entry.errors += 1;
                    if entry.error_samples.len() < 5 {
                        entry.error_samples.push(why);
                    }
                }
                Ok(Err(_)) | Err(_) => entry.errors += 1,
            }
        }
        entry.connect_ms = clock.elapsed().as_secs_f64() * 1e3;
        if enter && entry.errors == 0 {
            // A server that loses joins never gets everyone in: stop waiting.
            let deadline = tokio::time::Instant::now() + ALL_IN_TIMEOUT;
            let heard = join_all(
                all_in
                    .into_iter()
                    .map(|rx| async move { tokio::time::timeout_at(deadline, rx).await }),
            )
            .await;
            entry.all_in_ms = heard
                .into_iter()
                .map(|r| match r {
                    Ok(Ok(at)) => Some(at.duration_since(clock).as_secs_f64() * 1e3),
                    _ => None,
                })
                .try_fold(0.0_f64, |max, at| at.map(|at| max.max(at)));
        }
        let crowd = Self {
            commands,
            tasks,
            next_phase: 1,
        };
        (crowd, entry)
    }

    /// How many clients the crowd has (connected or not).
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether the crowd is empty.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The first `senders` clients send `new message` at `rate` per second
    /// in total for `duration`, evenly spread (sender `i` starts `i/senders`
    /// of a period after the first, so they never send in bursts); everyone
    /// listens `drain` longer. Returns what every client received.
    pub async fn send(
        &mut self,
        senders: usize,
        rate: f64,
        duration: Duration,
        drain: Duration,
    ) -> Phase {
        let id = self.next_phase;
        self.next_phase += 1;
        let senders = senders.min(self.commands.len());
        let period = Duration::from_secs_f64(senders as f64 / rate);
        let from = Instant::now() + PHASE_SWITCH;
        let until = from + duration;
        for (i, commands) in self.commands.iter().enumerate() {
            let sending = (i < senders).then_some(Sending {
                from: from + stagger(period, i, senders),
                period,
                until,
            });
            // A client whose task ended shows up as closed in `finish`.
            let _ = commands.send(Command::Start { id, sending });
        }
        tokio::time::sleep(PHASE_SWITCH + duration + drain).await;
        let results = self.finish().await;

        // Everyone who was there when the phase began should hear every
        // message but their own; whoever the server dropped meanwhile
        // counts as dropped, and what they missed as lost.
        let present = results.iter().filter(|r| !r.absent).count() as u64;
        let sent: u64 = results.iter().map(|r| r.sent).sum();
        let mut latencies: Vec<u32> = results
            .iter()
            .flat_map(|r| r.latencies_us.iter().copied())
            .collect();
        latencies.sort_unstable();
        let received = latencies.len() as u64;
        let expected = sent * present.saturating_sub(1);
        Phase {
            senders,
            target_rate: rate,
            duration_s: duration.as_secs_f64(),
            sent,
            expected,
            received,
            lost: expected.saturating_sub(received),
            deliveries_per_s: received as f64 / duration.as_secs_f64(),
            latency_ms: percentiles(&latencies),
            dropped: results.iter().filter(|r| r.closed && !r.absent).count(),
            flood_deliveries: results.iter().map(|r| r.flood_heard).sum(),
            flood_messages: results.iter().map(|r| r.flood_heard).max().unwrap_or(0),
            typing_deliveries: results.iter().map(|r| r.typing_heard).sum(),
            numbered: results.iter().map(|r| r.numbered).sum(),
            out_of_order: results.iter().map(|r| r.out_of_order).sum(),
        }
    }

    /// How many of the crowd's connections are still open.
    pub async fn open(&self) -> usize {
        self.finish().await.iter().filter(|r| !r.closed).count()
    }

    async fn finish(&self) -> Vec<ClientPhase> {
        join_all(self.commands.iter().map(|commands| async move {
            let (tx, rx) = oneshot::channel();
            if commands.send(Command::Finish(tx)).is_err() {
                return ClientPhase {
                    closed: true,
                    absent: true,
                    ..ClientPhase::default()
                };
            }
            rx.await.unwrap_or(ClientPhase {
                closed: true,
                absent: true,
                ..ClientPhase::default()
            })
        }))
        .await
    }

    /// Closes every connection and waits for the tasks to end.
    pub async fn close(self) {
        drop(self.commands);
        join_all(self.tasks).await;
    }
}

/// One client: its connection and what it knows.
struct Client {
    url: String,
    identity: Identity,
    enter: bool,
    crowd_size: usize,
    clock: Instant,
}

impl Client {
    async fn run(
        self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        handshake: oneshot::Sender<Result<(), String>>,
        all_in: oneshot::Sender<Instant>,
    ) {
        let mut socket = match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.handshake()).await {
            Ok(Ok(socket)) => {
                let _ = handshake.send(Ok(()));
                Some(socket)
            }
            Ok(Err(why)) => {
                let _ = handshake.send(Err(why));
                None
            }
            Err(_) => {
                let _ = handshake.send(Err("handshake timed out".to_owned()));
                None
            }
        };
        let mut all_in = Some(all_in);
        let mut order = Order::default();
        let mut phase = 0_u32;
        let mut results = ClientPhase::default();
        let mut sending: Option<(Sending, tokio::time::Interval)> = None;
        loop {
            let Some(ws) = socket.as_mut() else {
                // Closed: answer the coordinator until it lets go.
                match commands.recv().await {
                    Some(Command::Finish(reply)) => {
                        let _ = reply.send(ClientPhase {
                            closed: true,
                            ..std::mem::take(&mut results)
                        });
                    }
                    Some(Command::Start { .. }) => {
                        results = ClientPhase {
                            absent: true,
                            ..ClientPhase::default()
                        };
                    }
                    None => return,
                }
                continue;
            };
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Start { id, sending: s }) => {
                        phase = id;
                        results = ClientPhase::default();
                        sending = s.map(|s| {
                            let mut ticker =
                                tokio::time::interval_at(s.from.into(), s.period);
                            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                            (s, ticker)
                        });
                    }
                    Some(Command::Finish(reply)) => {
                        let _ = reply.send(std::mem::take(&mut results));
                    }
                    None => {
                        let _ = ws.send(Message::text("41")).await;
                        let _ = ws.close(None).await;
                        return;
                    }
                },
                _ = async {
                    match sending.as_mut() {
                        Some((_, ticker)) => ticker.tick().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let until = sending.as_ref().map(|(s, _)| s.until);
                    if until.is_some_and(|until| Instant::now() >= until) {
                        sending = None;
                        continue;
                    }
                    let sent_us = self.clock.elapsed().as_micros();
                    let text = format!("{TAG} {phase} {sent_us} {}", results.sent);
                    let frame = format!("42{}", json!([event::NEW_MESSAGE, text]));
                    if ws.send(Message::text(frame)).await.is_err() {
                        socket = None;
                        results.closed = true;
                        continue;
                    }
                    results.sent += 1;
                }
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                            socket = None;
                            results.closed = true;
                            continue;
                        }
                        Some(Ok(_)) => continue,
                    };
                    match text.as_bytes().first() {
                        // Engine.IO ping: answer at once (or the connection is gone).
                        Some(b'2') if ws.send(Message::text("3")).await.is_err() => {
                            socket = None;
                            results.closed = true;
                        }
                        Some(b'1') => {
                            socket = None;
                            results.closed = true;
                        }
                        Some(b'4') => {
                            let now = Instant::now();
                            let scanned = scan(&text);
                            if let Scanned::Message { id: Some(id), .. } | Scanned::Flood { id: Some(id) } = scanned {
                                results.numbered += 1;
                                if !order.heard(id) {
                                    results.out_of_order += 1;
                                }
                            }
                            match scanned {
                                Scanned::Message { phase: p, sent_us, .. } if p == phase => {
                                    let latency = self.clock.elapsed().as_micros().saturating_sub(sent_us);
                                    results
                                        .latencies_us
                                        .push(u32::try_from(latency).unwrap_or(u32::MAX));
                                }
                                Scanned::Flood { .. } => results.flood_heard += 1,
                                Scanned::Typing => results.typing_heard += 1,
                                Scanned::NumUsers(n) if n >= self.crowd_size => {
                                    if let Some(tx) = all_in.take() {
                                        let _ = tx.send(now);
                                    }
                                }
                                Scanned::Disconnect => {
                                    socket = None;
                                    results.closed = true;
                                }
                                _ => {}
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// [`open`], then `add user` when entering.
    async fn handshake(&self) -> Result<Socket, String> {
        let mut ws = open(&self.url, &self.identity).await?;
        if self.enter {
            let frame = format!("42{}", json!([event::ADD_USER, self.identity.name()]));
            ws.send(Message::text(frame))
                .await
                .map_err(|e| format!("websocket: {e}"))?;
        }
        Ok(ws)
    }
}

/// WebSocket, Engine.IO open, and Socket.IO connect (with the identity's
/// token): a connection that may now emit.
pub(crate) async fn open(url: &str, identity: &Identity) -> Result<Socket, String> {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let url = format!("ws://{host}/socket.io/?EIO=4&transport=websocket");
    // A small read buffer: the crowd can be tens of thousands strong.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| format!("websocket: {e}"))?;
    let first = next_text(&mut ws).await?;
    if !matches!(EnginePacket::decode(&first), Ok(EnginePacket::Open(_))) {
        return Err(format!("expected an Engine.IO open, got {first:?}"));
    }
    let auth = auth_payload(identity);
    ws.send(Message::text(codec::frame(&SocketPacket::connect(auth))))
        .await
        .map_err(|e| format!("websocket: {e}"))?;
    loop {
        let text = next_text(&mut ws).await?;
        match EnginePacket::decode(&text) {
            Ok(EnginePacket::Ping) => ws
                .send(Message::text("3"))
                .await
                .map_err(|e| format!("websocket: {e}"))?,
            Ok(EnginePacket::Message(payload)) => match SocketPacket::decode(&payload) {
                Ok(SocketPacket::Connect { .. }) => break,
                Ok(SocketPacket::ConnectError { message, .. }) => {
                    return Err(format!("connect_error: {message}"));
                }
                _ => {}
            },
            _ => {}
        }
    }
    Ok(ws)
}

async fn next_text(ws: &mut Socket) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => return Err("closed".to_owned()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("websocket: {e}")),
        }
    }
}

/// What the generator needs from an incoming Engine.IO message.
#[derive(Debug, PartialEq, Eq)]
enum Scanned {
    /// One of the generator's messages: its phase and send time, and the
    /// server's id for it if it gives one.
    Message {
        phase: u32,
        sent_us: u128,
        id: Option<u64>,
    },
    /// A `login`, `user joined` or `user left` with the room's size.
    NumUsers(usize),
    /// A flooder's message, and its id.
    Flood {
        id: Option<u64>,
    },
    /// Someone is typing.
    Typing,
    /// The server disconnected this socket.
    Disconnect,
    Other,
}

/// The order one client hears numbered messages in, over every phase: the
/// server's ids only ever grow, so each must be above the last one heard.
#[derive(Debug, Default)]
struct Order {
    last: u64,
}

impl Order {
    /// Whether `id` came in order (above every id heard before).
    fn heard(&mut self, id: u64) -> bool {
        let in_order = id > self.last;
        self.last = self.last.max(id);
        in_order
    }
}

/// The node client `i` connects to: the crowd is split evenly, in turn.
fn node_of(urls: &[String], i: usize) -> &str {
    match urls.len() {
        0 => "",
        n => &urls[i % n],
    }
}

/// How long after the first sender sender `i` of `senders` starts: the
/// senders share one period evenly, so the total rate arrives as a steady
/// stream, not as a burst of `senders` messages every period.
fn stagger(period: Duration, i: usize, senders: usize) -> Duration {
    period.mul_f64(i as f64 / senders.max(1) as f64)
}

/// Whether the rest of an event frame after `42["` is the event `name`.
pub(crate) fn is_event(rest: &str, name: &str) -> bool {
    rest.strip_prefix(name).is_some_and(|r| r.starts_with('"'))
}

/// Reads the few fields the generator needs without parsing the JSON: the
/// generator's own messages carry `"message":"lg PHASE MICROS SEQ"`,
/// flooders' `"message":"lf …"`, both an `"id":N` where the server numbers
/// messages, room events `"numUsers":N`. (Names and texts
/// are JSON strings, so a quote inside one is escaped and cannot fake any
/// of these keys.)
fn scan(frame: &str) -> Scanned {
    if frame.starts_with("41") {
        return Scanned::Disconnect;
    }
    let Some(rest) = frame.strip_prefix("42[\"") else {
        return Scanned::Other;
    };
    if is_event(rest, event::NEW_MESSAGE) {
        const KEY: &str = "\"message\":\"";
        let Some(text) = rest.find(KEY).map(|at| &rest[at + KEY.len()..]) else {
            return Scanned::Other;
        };
        let tagged = |tag: &str| text.strip_prefix(tag).and_then(|t| t.strip_prefix(' '));
        let Some(ours) = tagged(TAG) else {
            return match tagged(FLOOD_TAG) {
                Some(_) => Scanned::Flood {
                    id: number(rest, "\"id\":"),
                },
                None => Scanned::Other,
            };
        };
        let mut fields = ours.split([' ', '"']);
        let phase = fields.next().and_then(|p| p.parse().ok());
        let sent_us = fields.next().and_then(|t| t.parse().ok());
        return match (phase, sent_us) {
            (Some(phase), Some(sent_us)) => Scanned::Message {
                phase,
                sent_us,
                id: number(rest, "\"id\":"),
            },
            _ => Scanned::Other,
        };
    }
    if is_event(rest, event::TYPING) {
        return Scanned::Typing;
    }
    let counts = [event::LOGIN, event::USER_JOINED, event::USER_LEFT];
    if counts.iter().any(|e| is_event(rest, e))
        && let Some(n) = number(rest, "\"numUsers\":")
    {
        return Scanned::NumUsers(n);
    }
    Scanned::Other
}

/// The unsigned number right after the first `key` in `text`.
fn number<T: std::str::FromStr>(text: &str, key: &str) -> Option<T> {
    let after = &text[text.find(key)? + key.len()..];
    let end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    after[..end].parse().ok()
}

/// The handshake's `auth` for an identity: its token, if it has one.
fn auth_payload(identity: &Identity) -> Option<Value> {
    match identity {
        Identity::Guest(_) => None,
        Identity::Token { token, .. } => Some(json!({ "token": token })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_share_the_period_evenly() {
        let period = Duration::from_secs(10);
        let starts: Vec<Duration> = (0..4).map(|i| stagger(period, i, 4)).collect();
        assert_eq!(
            starts,
            [0, 2500, 5000, 7500].map(Duration::from_millis).to_vec()
        );
        assert_eq!(stagger(period, 0, 0), Duration::ZERO);
    }

    #[test]
    fn scans_what_the_generator_needs() {
        assert_eq!(
            scan(
                r#"42["new message",{"username":"a","message":"lg 3 123456 9","id":7,"timestamp":1}]"#
            ),
            Scanned::Message {
                phase: 3,
                sent_us: 123_456,
                id: Some(7),
            }
        );
        assert_eq!(
            scan(r#"42["new message",{"id":41,"username":"lg","message":"lg 1 5 0"}]"#),
            Scanned::Message {
                phase: 1,
                sent_us: 5,
                id: Some(41),
            }
        );
        // The Node.js reference numbers nothing.
        assert_eq!(
            scan(r#"42["new message",{"username":"lg","message":"lg 1 5 0"}]"#),
            Scanned::Message {
                phase: 1,
                sent_us: 5,
                id: None,
            }
        );
        // A key spelled inside a name or a text is escaped: never read.
        assert_eq!(
            scan(r#"42["new message",{"username":"\"id\":9","message":"lg 1 5 0"}]"#),
            Scanned::Message {
                phase: 1,
                sent_us: 5,
                id: None,
            }
        );
        assert_eq!(
            scan(r#"42["new message",{"username":"x","message":"hello lg 1 5"}]"#),
            Scanned::Other
        );
        assert_eq!(
            scan(r#"42["user joined",{"username":"b","numUsers":1000,"id":3}]"#),
            Scanned::NumUsers(1000)
        );
        assert_eq!(
            scan(r#"42["login",{"numUsers":12}]"#),
            Scanned::NumUsers(12)
        );
        assert_eq!(scan(r#"42["typing",{"username":"b"}]"#), Scanned::Typing);
        assert_eq!(
            scan(r#"42["new message",{"username":"f","message":"lf 2 17","id":12}]"#),
            Scanned::Flood { id: Some(12) }
        );
        assert_eq!(
            scan(r#"42["stop typing",{"username":"b"}]"#),
            Scanned::Other
        );
        assert_eq!(
            scan(r#"42["new messages",{"message":"lg 1 5 0"}]"#),
            Scanned::Other
        );
        assert_eq!(scan("41"), Scanned::Disconnect);
        assert_eq!(scan("43[1]"), Scanned::Other);
    }

    #[test]
    fn ids_must_strictly_increase() {
        let mut order = Order::default();
        let heard: Vec<bool> = [3, 4, 9, 7, 9, 10].map(|id| order.heard(id)).to_vec();
        // 7 came after 9 (out of order), the second 9 twice.
        assert_eq!(heard, [true, true, true, false, false, true]);
    }

    #[test]
    fn the_crowd_is_split_evenly_over_the_nodes() {
        let urls: Vec<String> = ["http://127.0.0.1:1", "http://127.0.0.1:2"]
            .map(str::to_owned)
            .to_vec();
        let nodes: Vec<&str> = (0..5).map(|i| node_of(&urls, i)).collect();
        assert_eq!(
            nodes,
            [&urls[0], &urls[1], &urls[0], &urls[1], &urls[0]].map(String::as_str)
        );
        assert_eq!(node_of(&urls[..1], 7), urls[0]);
        assert_eq!(node_of(&[], 3), "");
    }
}
