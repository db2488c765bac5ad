//! A tokio Socket.IO client over tokio-tungstenite, for the server's
//! integration tests (many clients at once, raw and malformed input) and for
//! load generation. It speaks the same [`codec`](crate::codec) as the
//! browser's client. No reconnection: a test wants to see the drop.
//!
//! A reader task owns the socket's read half: it answers pings, hands acks
//! to the requests waiting for them, and queues events for
//! [`NativeClient::next_raw`]. Writes go through a writer task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use protocol::{Ack, ClientEvent, ServerEvent};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::codec::{self, EnginePacket, SocketPacket};

/// How long a request waits for its acknowledgement.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<Value>>>>>;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// The WebSocket failed.
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server refused the connection, with this reason.
    #[error("connect_error: {0}")]
    ConnectError(String),
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// Nothing came in time.
    #[error("timed out")]
    Timeout,
    /// The server sent something this client cannot read.
    #[error("decoding: {0}")]
    Decode(String),
}

/// One Socket.IO connection to the default namespace.
#[derive(Debug)]
pub struct NativeClient {
    sid: String,
    writer: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_ack: AtomicU64,
    events: mpsc::UnboundedReceiver<(String, Vec<Value>)>,
    open: Arc<AtomicBool>,
    tasks: [JoinHandle<()>; 2],
}

impl NativeClient {
    /// Connects to the server at `base` (`http://127.0.0.1:4000`) over
    /// WebSocket and completes the Socket.IO CONNECT, with `auth` as its
    /// payload. Returns once the server acknowledged it.
    pub async fn connect(base: &str, auth: Option<Value>) -> Result<Self, NativeError> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::handshake(base, auth))
            .await
            .map_err(|_| NativeError::Timeout)?
    }

    async fn handshake(base: &str, auth: Option<Value>) -> Result<Self, NativeError> {
        let host = base
            .trim_start_matches("http://")
            .trim_start_matches("ws://")
            .trim_end_matches('/');
        let url = format!("ws://{host}/socket.io/?EIO=4&transport=websocket");
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;

        match next_packet(&mut socket).await? {
            EnginePacket::Open(_) => {}
            other => return Err(NativeError::Decode(format!("expected open, got {other:?}"))),
        }
        socket
            .send(Message::text(codec::frame(&SocketPacket::connect(auth))))
            .await?;
        let sid = loop {
            match next_packet(&mut socket).await? {
                EnginePacket::Ping => {
                    socket
                        .send(Message::text(EnginePacket::Pong.encode()))
                        .await?
                }
                EnginePacket::Message(payload) => match decode(&payload)? {
                    SocketPacket::Connect { data, .. } => {
                        break data
                            .as_ref()
                            .and_then(|d| d.get("sid"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                    }
                    SocketPacket::ConnectError { message, .. } => {
                        return Err(NativeError::ConnectError(message));
                    }
                    other => {
                        return Err(NativeError::Decode(format!(
                            "expected connect, got {other:?}"
                        )));
                    }
                },
                EnginePacket::Close => return Err(NativeError::Closed),
                _ => {}
            }
        };

        let (mut sink, mut stream) = socket.split();
        let (writer, mut outbox) = mpsc::unbounded_channel::<Message>();
        let writer_task = tokio::spawn(async move {
            while let Some(message) = outbox.recv().await {
                let closing = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || closing {
                    break;
                }
            }
        });

        let pending: Pending = Arc::default();
        let open = Arc::new(AtomicBool::new(true));
        let (events_tx, events) = mpsc::unbounded_channel();
        let reader_task = tokio::spawn({
            let (pending, open, writer) = (pending.clone(), open.clone(), writer.clone());
            async move {
                while let Some(Ok(message)) = stream.next().await {
                    let Message::Text(text) = message else {
                        if matches!(message, Message::Close(_)) {
                            break;
                        }
                        continue;
                    };
                    match EnginePacket::decode(text.as_str()) {
                        Ok(EnginePacket::Ping) => {
                            if writer
                                .send(Message::text(EnginePacket::Pong.encode()))
                                .is_err()
                            {
                                break;
                            }
                        }
                        Ok(EnginePacket::Message(payload)) => {
                            match SocketPacket::decode(&payload) {
                                Ok(SocketPacket::Event { name, args, .. }) => {
                                    if events_tx.send((name, args)).is_err() {
                                        break;
                                    }
                                }
                                Ok(SocketPacket::Ack { id, args, .. }) => {
                                    let waiting = pending
                                        .lock()
                                        .unwrap_or_else(PoisonError::into_inner)
                                        .remove(&id);
                                    if let Some(waiting) = waiting {
                                        // The requester may have timed out and left.
                                        let _ = waiting.send(args);
                                    }
                                }
                                Ok(SocketPacket::Disconnect { .. }) => break,
                                Ok(_) | Err(_) => {}
                            }
                        }
                        Ok(EnginePacket::Close) => break,
                        Ok(_) | Err(_) => {}
                    }
                }
                open.store(false, Ordering::SeqCst);
                // Waiting requests see their sender dropped: `Closed`.
                pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
            }
        });

        Ok(Self {
            sid,
            writer,
            pending,
            next_ack: AtomicU64::new(0),
            events,
            open,
            tasks: [reader_task, writer_task],
        })
    }

    /// The Socket.IO session id the server gave.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// Emits a protocol event without asking for an answer.
    pub async fn emit<E: ClientEvent>(&self, event: &E) -> Result<(), NativeError> {
        let args = codec::event_args(event).map_err(|e| NativeError::Decode(e.to_string()))?;
        self.emit_raw(E::NAME, args).await
    }

    /// Emits a protocol event and waits for its acknowledgement.
    pub async fn request<E: ClientEvent>(&self, event: &E) -> Result<Ack<E::Reply>, NativeError> {
        let args = codec::event_args(event).map_err(|e| NativeError::Decode(e.to_string()))?;
        let reply = self.request_raw(E::NAME, args).await?;
        let first = reply.into_iter().next().unwrap_or(Value::Null);
        serde_json::from_value(first).map_err(|e| NativeError::Decode(e.to_string()))
    }

    /// Emits any event with any arguments, without asking for an answer.
    pub async fn emit_raw(&self, event: &str, args: Vec<Value>) -> Result<(), NativeError> {
        self.send_frame(codec::frame(&SocketPacket::event(event, args, None)))
            .await
    }

    /// Emits any event with any arguments and returns the ack's arguments.
    pub async fn request_raw(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<Vec<Value>, NativeError> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        let sent = self
            .send_frame(codec::frame(&SocketPacket::event(event, args, Some(id))))
            .await;
        let answer = match sent {
            Ok(()) => tokio::time::timeout(REQUEST_TIMEOUT, rx).await,
            Err(error) => {
                self.forget(id);
                return Err(error);
            }
        };
        match answer {
            Ok(Ok(args)) => Ok(args),
            Ok(Err(_)) => Err(NativeError::Closed),
            Err(_) => {
                self.forget(id);
                Err(NativeError::Timeout)
            }
        }
    }

    /// Sends one raw WebSocket text frame.
    pub async fn send_frame(&self, text: String) -> Result<(), NativeError> {
        if !self.is_open() {
            return Err(NativeError::Closed);
        }
        self.writer
            .send(Message::text(text))
            .map_err(|_| NativeError::Closed)
    }

    /// The next event from the server, raw: its name and first argument
    /// (`Null` if none), within `timeout`.
    pub async fn next_raw(&mut self, timeout: Duration) -> Result<(String, Value), NativeError> {
        match tokio::time::timeout(timeout, self.events.recv()).await {
            Ok(Some((name, args))) => Ok((name, args.into_iter().next().unwrap_or(Value::Null))),
            Ok(None) => Err(NativeError::Closed),
            Err(_) => Err(NativeError::Timeout),
        }
    }

    /// The next event from the server, as a protocol event.
    pub async fn next_event(&mut self, timeout: Duration) -> Result<ServerEvent, NativeError> {
        let (name, data) = self.next_raw(timeout).await?;
        ServerEvent::decode(&name, data).map_err(|e| NativeError::Decode(e.to_string()))
    }

    /// Leaves: sends the Socket.IO DISCONNECT and closes the WebSocket.
    pub async fn close(self) -> Result<(), NativeError> {
        let disconnect = codec::frame(&SocketPacket::Disconnect {
            ns: codec::DEFAULT_NS.to_owned(),
        });
        self.writer
            .send(Message::text(disconnect))
            .map_err(|_| NativeError::Closed)?;
        self.writer
            .send(Message::Close(None))
            .map_err(|_| NativeError::Closed)?;
        Ok(())
    }

    fn forget(&self, id: u64) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }
}

impl Drop for NativeClient {
    fn drop(&mut self) {
        // `close` queued its frames; the writer sends them before it stops,
        // because it ends on the Close frame. Only the reader is cut short.
        self.tasks[0].abort();
    }
}

async fn next_packet(socket: &mut Socket) -> Result<EnginePacket, NativeError> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                return EnginePacket::decode(text.as_str())
                    .map_err(|e| NativeError::Decode(e.to_string()));
            }
            Some(Ok(Message::Close(_))) | None => return Err(NativeError::Closed),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
        }
    }
}

fn decode(payload: &str) -> Result<SocketPacket, NativeError> {
    SocketPacket::decode(payload).map_err(|e| NativeError::Decode(e.to_string()))
}
