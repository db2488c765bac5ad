//! The fan-out: this node's own connections that hear the room, and the
//! sending of each event to them. Whatever the mode, a node writes only to
//! its own sockets; what reaches it from elsewhere (the feed's committed
//! items, the relay's typing) comes through here.
//!
//! A connection entering the room listens before it reads who is online
//! and the recent history for its `login`; what the room says meanwhile is
//! held for it and sent right after its `login`, so a client always hears
//! `login` first and misses nothing said after it started listening (an
//! item in both its history and what was held shows once: pages keep items
//! by id).
//!
//! Each event is serialized once and queued on every listener's send
//! queue. A listener whose queue is full is not skipped silently: it is
//! marked as lagging, hears nothing more, is told `too slow`, and is
//! disconnected, so its client reconnects and catches up from the store.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use protocol::{HistoryItem, Notice, ServerEvent};
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError};

/// How long a lagging connection's `too slow` notice and disconnect may wait
/// for room in its send queue; a connection that drains nothing for this
/// long is closed by the Engine.IO heartbeat anyway (its ping cannot be
/// queued either).
const LAGGING_GRACE: Duration = Duration::from_secs(30);

/// This node's listening connections; cheap to clone, every clone is the
/// same set.
#[derive(Debug, Clone, Default)]
pub struct Fanout(Arc<Mutex<Listeners>>);

#[derive(Debug, Default)]
struct Listeners {
    /// The connections that hear the room's events.
    sockets: HashMap<Sid, SocketRef>,
    /// Connections entering: what the room said since they started
    /// listening, held until their `login` is sent.
    entering: HashMap<Sid, Held>,
    /// Listeners whose send queue overflowed: they hear nothing more and
    /// are being disconnected.
    lagging: HashSet<Sid>,
}

/// What an entering connection has not heard yet.
#[derive(Debug)]
struct Held {
    socket: SocketRef,
    events: Vec<(&'static str, Arc<RawValue>)>,
}

/// At most this many events are held for one entering connection (an
/// entry takes a commit and a read); past it, it is too slow.
const HELD_MAX: usize = 1024;

impl Fanout {
    /// Connection `socket` listens from now on; what it hears is held until
    /// [`Fanout::entered`].
    pub fn listen(&self, socket: SocketRef) {
        let held = Held {
            socket,
            events: Vec::new(),
        };
        self.listeners().entering.insert(held.socket.id, held);
    }

    /// Connection `sid` entered: `greet` sends it its `login`, and then
    /// everything held for it is sent, in order; from now on it hears the
    /// room as it speaks.
    pub fn entered(&self, sid: Sid, greet: impl FnOnce()) {
        let mut listeners = self.listeners();
        let Some(held) = listeners.entering.remove(&sid) else {
            greet();
            return;
        };
        greet();
        for (name, payload) in &held.events {
            if let Err(error) = held.socket.emit(*name, &**payload) {
                tracing::warn!(socket = %sid, %error, "could not send what was held for an entering connection");
                listeners.lagging.insert(sid);
                tokio::spawn(disconnect_lagging(
                    held.socket.clone(),
                    payload_len(payload),
                ));
                return;
            }
        }
        listeners.sockets.insert(sid, held.socket);
    }

    /// Connection `sid` hears nothing more.
    pub fn forget(&self, sid: Sid) {
        let mut listeners = self.listeners();
        listeners.sockets.remove(&sid);
        listeners.entering.remove(&sid);
        listeners.lagging.remove(&sid);
    }

    /// How many connections listen on this node.
    pub fn len(&self) -> usize {
        self.listeners().sockets.len()
    }

    /// Whether no connection listens on this node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends a committed item to every listener but the one that sent it.
    pub fn deliver(&self, item: &HistoryItem, origin: Option<Sid>) -> usize {
        let event = match item.clone() {
            HistoryItem::Message(message) => ServerEvent::NewMessage(message),
            HistoryItem::Joined(joined) => ServerEvent::UserJoined(joined),
            HistoryItem::Left(left) => ServerEvent::UserLeft(left),
        };
        self.broadcast(origin, &event)
    }

    /// Queues `event` for every listener but `except`. Returns how many
    /// listeners it was queued for.
    pub fn broadcast(&self, except: Option<Sid>, event: &ServerEvent) -> usize {
        let started = std::time::Instant::now();
        let payload: Arc<RawValue> = match serde_json::value::to_raw_value(event) {
            Ok(payload) => payload.into(),
            Err(error) => {
                tracing::error!(%error, event = event.name(), "could not serialize an event");
                return 0;
            }
        };
        let mut queued = 0;
        let mut fell_behind = Vec::new();
        {
            let mut listeners = self.listeners();
            let Listeners {
                sockets,
                entering,
                lagging,
            } = &mut *listeners;
            for (sid, held) in entering.iter_mut() {
                if Some(*sid) == except || lagging.contains(sid) {
                    continue;
                }
                if held.events.len() >= HELD_MAX {
                    lagging.insert(*sid);
                    fell_behind.push(held.socket.clone());
                    continue;
                }
                held.events.push((event.name(), payload.clone()));
                queued += 1;
            }
            for (sid, socket) in sockets.iter() {
                if Some(*sid) == except || lagging.contains(sid) {
                    continue;
                }
                match socket.emit(event.name(), &*payload) {
                    Ok(()) => queued += 1,
                    Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                        lagging.insert(*sid);
                        fell_behind.push(socket.clone());
                    }
                    // Closing: its disconnect handler takes it out.
                    Err(SendError::Socket(SocketError::Closed)) => {}
                    Err(SendError::Serialize(error)) => {
                        tracing::error!(%error, "could not encode an event");
                        return queued;
                    }
                }
            }
        }
        for socket in fell_behind {
            tokio::spawn(disconnect_lagging(socket, payload_len(&payload)));
        }
        crate::metrics::fanned_out(started.elapsed());
        queued
    }

    fn listeners(&self) -> MutexGuard<'_, Listeners> {
        // Every update completes before it can panic, so a poisoned lock
        // still guards consistent data.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn payload_len(payload: &RawValue) -> usize {
    payload.get().len()
}

/// Tells a connection that fell behind why, then disconnects it; both wait
/// for room in its send queue (see [`LAGGING_GRACE`]).
async fn disconnect_lagging(socket: SocketRef, missed_bytes: usize) {
    crate::metrics::too_slow();
    tracing::warn!(
        socket = %socket.id,
        missed_bytes,
        "send queue full: the receiver is too slow; disconnecting it"
    );
    let notice = ServerEvent::TooSlow(Notice {
        message: "too slow: this connection fell behind the room; reconnect to catch up".to_owned(),
    });
    let deadline = tokio::time::Instant::now() + LAGGING_GRACE;
    let mut told = false;
    while tokio::time::Instant::now() < deadline {
        if !told {
            match socket.emit(notice.name(), &notice) {
                Ok(()) => told = true,
                Err(SendError::Socket(SocketError::InternalChannelFull)) => {}
                Err(_) => return,
            }
        }
        if told {
            match socket.clone().disconnect() {
                Ok(()) => return,
                Err(SocketError::InternalChannelFull) => {}
                Err(SocketError::Closed) => return,
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::warn!(socket = %socket.id, "a lagging receiver drained nothing; its heartbeat will close it");
}
