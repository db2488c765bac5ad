//! The browser's client, over gloo-net's WebSocket: Engine.IO open and
//! ping/pong, Socket.IO CONNECT with an auth payload, events, acks with
//! timeouts, a watchdog that notices a dead connection (a laptop that went
//! offline hears no close), and reconnection with backoff. The browser's own
//! `offline` and `online` events cut both short: going offline drops the
//! connection at once, coming back reconnects without waiting out the backoff.
//!
//! The connection loop holds the client's state until [`Client::close`]:
//! dropping the handles does not stop it, since a page keeps its one
//! connection for as long as it is open.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, SinkExt, StreamExt, select};
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use gloo_timers::future::TimeoutFuture;
use protocol::{ClientEvent, ConnectAuth, ServerEvent};
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::spawn_local;

use crate::backoff::Backoff;
use crate::codec::{self, EnginePacket, SocketPacket};
use crate::{ConnectionState, RequestError, decode_reply};

/// How long to wait for the server's `open` packet before giving up on an
/// attempt (ms); after it, the server's ping interval sets the watchdog.
const OPEN_TIMEOUT_MS: f64 = 20_000.0;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The Socket.IO endpoint without query (`ws://host/socket.io/`); the
    /// client adds `?EIO=4&transport=websocket`.
    pub url: String,
    /// How long a request waits for its acknowledgement (ms).
    pub ack_timeout_ms: u32,
    /// The first wait before reconnecting (ms); it doubles each attempt.
    pub reconnect_min_ms: u32,
    /// The longest wait before reconnecting (ms).
    pub reconnect_max_ms: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            url: String::new(),
            ack_timeout_ms: 10_000,
            reconnect_min_ms: 500,
            reconnect_max_ms: 10_000,
        }
    }
}

/// What the client calls back.
pub struct Handlers {
    /// Called before every (re)connection: the CONNECT auth payload.
    pub auth: Rc<dyn Fn() -> ConnectAuth>,
    /// Called on every state change.
    pub on_state: Rc<dyn Fn(ConnectionState)>,
    /// Called for every server event the protocol describes; others are
    /// skipped.
    pub on_event: Rc<dyn Fn(ServerEvent)>,
}

/// A Socket.IO connection that keeps itself up. Clones share it.
#[derive(Clone)]
pub struct Client(Rc<Inner>);

struct Inner {
    options: ClientOptions,
    handlers: Handlers,
    state: RefCell<ConnectionState>,
    /// Frames to send, while a session is online.
    outbox: RefCell<Option<mpsc::UnboundedSender<String>>>,
    /// Requests waiting for their ack, by ack id.
    pending: RefCell<HashMap<u64, oneshot::Sender<Vec<Value>>>>,
    next_ack: Cell<u64>,
    /// Fires once, on `close()`.
    close: RefCell<Option<oneshot::Sender<()>>>,
}

/// How a session ended.
enum End {
    /// The network or the server dropped it: try again.
    Dropped,
    /// The server refused the CONNECT.
    Refused(String),
    /// The app closed the client.
    Closed,
}

impl Client {
    /// Starts connecting at once and keeps the connection up until
    /// [`close`](Self::close).
    pub fn connect(options: ClientOptions, handlers: Handlers) -> Client {
        let (close_tx, close_rx) = oneshot::channel();
        let inner = Rc::new(Inner {
            options,
            handlers,
            state: RefCell::new(ConnectionState::Connecting),
            outbox: RefCell::new(None),
            pending: RefCell::new(HashMap::new()),
            next_ack: Cell::new(0),
            close: RefCell::new(Some(close_tx)),
        });
        spawn_local(run(inner.clone(), close_rx));
        Client(inner)
    }

    /// The connection's state now.
    pub fn state(&self) -> ConnectionState {
        self.0.state.borrow().clone()
    }

    /// Emits an event without waiting for an answer.
    pub fn emit<E: ClientEvent>(&self, event: &E) -> Result<(), RequestError> {
        let args = codec::event_args(event).map_err(|e| RequestError::BadReply(e.to_string()))?;
        self.0.send(&SocketPacket::event(E::NAME, args, None))
    }

    /// Emits an event and waits for the server's acknowledgement.
    pub async fn request<E: ClientEvent>(&self, event: &E) -> Result<E::Reply, RequestError> {
        let args = codec::event_args(event).map_err(|e| RequestError::BadReply(e.to_string()))?;
        let id = self.0.next_ack.get();
        self.0.next_ack.set(id.wrapping_add(1));
        let (tx, rx) = oneshot::channel();
        self.0.pending.borrow_mut().insert(id, tx);
        if let Err(error) = self.0.send(&SocketPacket::event(E::NAME, args, Some(id))) {
            self.0.pending.borrow_mut().remove(&id);
            return Err(error);
        }
        let mut timeout = TimeoutFuture::new(self.0.options.ack_timeout_ms).fuse();
        let mut answer = rx.fuse();
        select! {
            answer = answer => match answer {
                Ok(args) => decode_reply(args),
                // The session ended and dropped every waiting request.
                Err(oneshot::Canceled) => Err(RequestError::Disconnected),
            },
            () = timeout => {
                self.0.pending.borrow_mut().remove(&id);
                Err(RequestError::Timeout)
            }
        }
    }

    /// Closes the connection for good.
    pub fn close(&self) {
        if let Some(close) = self.0.close.borrow_mut().take() {
            // The loop may already have ended; then there is nothing to stop.
            let _ = close.send(());
        }
    }
}

impl Inner {
    fn send(&self, packet: &SocketPacket) -> Result<(), RequestError> {
        let outbox = self.outbox.borrow();
        let outbox = outbox.as_ref().ok_or(RequestError::NotConnected)?;
        outbox
            .unbounded_send(codec::frame(packet))
            .map_err(|_| RequestError::NotConnected)
    }

    fn set_state(&self, state: ConnectionState) {
        *self.state.borrow_mut() = state.clone();
        (self.handlers.on_state)(state);
    }

    /// The session is over: nothing more can be sent on it, and every request
    /// still waiting hears `Disconnected`.
    fn end_session(&self) {
        self.outbox.borrow_mut().take();
        let waiting: Vec<_> = self.pending.borrow_mut().drain().collect();
        drop(waiting);
    }
}

/// A listener on a window event, by the event's name.
type Listener = (&'static str, Closure<dyn FnMut()>);

/// The browser's `online`/`offline` events, as a stream of "online?" for as
/// long as it lives; the listeners go with it.
struct NetworkWatch {
    changes: mpsc::UnboundedReceiver<bool>,
    listeners: Vec<Listener>,
}

impl NetworkWatch {
    fn new() -> Self {
        let (tx, changes) = mpsc::unbounded();
        let mut listeners = Vec::new();
        if let Some(window) = web_sys::window() {
            for (event, online) in [("online", true), ("offline", false)] {
                let tx = tx.clone();
                let listener = Closure::<dyn FnMut()>::new(move || {
                    // The receiver lives as long as the listener.
                    let _ = tx.unbounded_send(online);
                });
                if window
                    .add_event_listener_with_callback(event, listener.as_ref().unchecked_ref())
                    .is_ok()
                {
                    listeners.push((event, listener));
                }
            }
        }
        Self { changes, listeners }
    }
}

impl Drop for NetworkWatch {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            for (event, listener) in &self.listeners {
                // Nothing to do if it fails: the page is going away.
                let _ = window
                    .remove_event_listener_with_callback(event, listener.as_ref().unchecked_ref());
            }
        }
    }
}

/// Connects, and reconnects after every drop, until closed or refused.
async fn run(inner: Rc<Inner>, close: oneshot::Receiver<()>) {
    let mut close = close.fuse();
    let mut network = NetworkWatch::new();
    let mut backoff = Backoff::new(
        inner.options.reconnect_min_ms,
        inner.options.reconnect_max_ms,
    );
    loop {
        let end = session(&inner, &mut backoff, &mut close, &mut network).await;
        inner.end_session();
        match end {
            End::Closed => return inner.set_state(ConnectionState::Closed),
            End::Refused(reason) => return inner.set_state(ConnectionState::Refused { reason }),
            End::Dropped => {}
        }
        let delay_ms = backoff.next_delay(js_sys::Math::random());
        inner.set_state(ConnectionState::Reconnecting {
            attempt: backoff.attempt(),
            delay_ms,
        });
        let mut wait = TimeoutFuture::new(delay_ms).fuse();
        loop {
            select! {
                () = wait => break,
                // Back online: no point waiting out the backoff.
                online = network.changes.next() => if online == Some(true) { break },
                _ = close => return inner.set_state(ConnectionState::Closed),
            }
        }
    }
}

/// One connection, from opening the WebSocket to its end.
async fn session(
    inner: &Rc<Inner>,
    backoff: &mut Backoff,
    close: &mut futures::future::Fuse<oneshot::Receiver<()>>,
    network: &mut NetworkWatch,
) -> End {
    let url = format!("{}?EIO=4&transport=websocket", inner.options.url);
    let Ok(socket) = WebSocket::open(&url) else {
        return End::Dropped;
    };
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queued) = mpsc::unbounded::<String>();
    let mut deadline = js_sys::Date::now() + OPEN_TIMEOUT_MS;
    let mut watchdog_ms = OPEN_TIMEOUT_MS;

    loop {
        let remaining = (deadline - js_sys::Date::now()).max(0.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mut timer = TimeoutFuture::new(remaining as u32).fuse();
        let mut incoming = stream.next().fuse();
        let frame = select! {
            frame = incoming => frame,
            text = queued.next() => {
                if let Some(text) = text
                    && sink.send(Message::Text(text)).await.is_err()
                {
                    return End::Dropped;
                }
                continue;
            }
            // No ping for longer than the server promised: the connection
            // is dead even if the browser has not noticed.
            () = timer => return End::Dropped,
            online = network.changes.next() => {
                if online == Some(false) {
                    return End::Dropped;
                }
                continue;
            }
            _ = &mut *close => {
                // Polite, best effort: the socket closes on drop anyway.
                let _ = sink.send(Message::Text(codec::frame(&SocketPacket::Disconnect {
                    ns: codec::DEFAULT_NS.to_owned(),
                }))).await;
                return End::Closed;
            }
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Bytes(_))) => continue,
            Some(Err(_)) | None => return End::Dropped,
        };
        let Ok(packet) = EnginePacket::decode(&text) else {
            continue;
        };
        match packet {
            EnginePacket::Open(info) => {
                watchdog_ms = f64::from(info.ping_interval) + f64::from(info.ping_timeout);
                deadline = js_sys::Date::now() + watchdog_ms;
                let auth = serde_json::to_value((inner.handlers.auth)()).ok();
                let connect = codec::frame(&SocketPacket::connect(auth));
                if sink.send(Message::Text(connect)).await.is_err() {
                    return End::Dropped;
                }
            }
            EnginePacket::Ping => {
                deadline = js_sys::Date::now() + watchdog_ms;
                if sink
                    .send(Message::Text(EnginePacket::Pong.encode()))
                    .await
                    .is_err()
                {
                    return End::Dropped;
                }
            }
            EnginePacket::Message(payload) => {
                let Ok(packet) = SocketPacket::decode(&payload) else {
                    continue;
                };
                if !packet.is_default_ns() {
                    continue;
                }
                match packet {
                    SocketPacket::Connect { .. } => {
                        backoff.reset();
                        *inner.outbox.borrow_mut() = Some(outbox.clone());
                        inner.set_state(ConnectionState::Online);
                    }
                    SocketPacket::ConnectError { message, .. } => return End::Refused(message),
                    SocketPacket::Event { name, args, .. } => {
                        let data = args.into_iter().next().unwrap_or(Value::Null);
                        if let Ok(event) = ServerEvent::decode(&name, data) {
                            (inner.handlers.on_event)(event);
                        }
                    }
                    SocketPacket::Ack { id, args, .. } => {
                        let waiting = inner.pending.borrow_mut().remove(&id);
                        if let Some(waiting) = waiting {
                            // The requester may have timed out and left.
                            let _ = waiting.send(args);
                        }
                    }
                    SocketPacket::Disconnect { .. } => return End::Dropped,
                }
            }
            EnginePacket::Close => return End::Dropped,
            EnginePacket::Pong | EnginePacket::Upgrade | EnginePacket::Noop => {}
        }
    }
}
