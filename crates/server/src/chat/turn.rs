//! One connection's events, handled in the order it sent them, within its
//! limits.
//!
//! socketioxide runs every received event as a task of its own, so two
//! events of one connection can be handled in either order: a burst of
//! messages would be stored, and delivered, shuffled. But it extracts a
//! handler's arguments before it spawns that task, in the order the events
//! arrived. So [`Turn`], an extractor, takes the event's place in its
//! connection's queue there: a chain of one-shot channels, each event
//! waiting for the one before it to finish its ordered part (or give up its
//! turn, see [`Admitted::pass`]). The same step checks the limits, so an
//! event over them is refused before it takes a place, and counts the
//! events in flight, which bounds the tasks one connection can have waiting.
//! In cluster mode the account's bucket is in Redis, which an extractor
//! cannot await: that check is made when the handler takes its turn
//! ([`Turn::admitted`]), in the order the events arrived.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use protocol::AckError;
use socketioxide::adapter::Adapter;
use socketioxide::handler::FromMessageParts;
use socketioxide::handler::Value;
use socketioxide::socket::Socket;
use tokio::sync::oneshot;

use super::limits::{Class, ConnectionLimits, Limits, SocketSlot, slow_down};

/// How long an event refused for too many in flight should wait: about
/// what one commit takes, by when some of them will be done.
const IN_FLIGHT_RETRY: Duration = Duration::from_millis(200);

/// A connection's place in the room's limits and its queue of events; kept
/// in the socket's extensions from its handshake on.
#[derive(Clone)]
pub struct Connection(Arc<Inner>);

struct Inner {
    /// Whose account's buckets its events spend from ("user:7", or the
    /// address for a guest).
    account: String,
    limits: Limits,
    own: ConnectionLimits,
    /// Events extracted and not yet finished.
    in_flight: AtomicUsize,
    /// Whether it has been found flooding (it is told, and disconnected,
    /// once).
    flooding: AtomicBool,
    /// Finishes when the last event that took a turn is done with it.
    last: Mutex<Option<oneshot::Receiver<()>>>,
    /// The account's socket this connection holds, given back when the last
    /// handle on the connection goes.
    _slot: SocketSlot,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("account", &self.0.account)
            .field("in_flight", &self.0.in_flight.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A new connection of `account`, holding one of its sockets, under
    /// `limits`.
    pub fn new(account: String, slot: SocketSlot, limits: Limits) -> Self {
        Self(Arc::new(Inner {
            own: limits.for_connection(),
            account,
            limits,
            in_flight: AtomicUsize::new(0),
            flooding: AtomicBool::new(false),
            last: Mutex::new(None),
            _slot: slot,
        }))
    }

    /// Waits until every event that took a turn so far is done with it (so
    /// that a disconnect is handled after what came before it).
    pub async fn settled(&self) {
        let last = self
            .0
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(last) = last {
            // An error means the event dropped its turn: done all the same.
            let _ = last.await;
        }
    }

    /// Counts a refusal; `true` the first time the connection has had more
    /// than it is forgiven.
    fn found_flooding(&self) -> bool {
        let first = !self.0.own.tolerate_refusal() && !self.0.flooding.swap(true, Ordering::AcqRel);
        if first {
            self.0.limits.cool_down(&self.0.account);
        }
        first
    }

    fn admit(&self, class: Class) -> Result<Admitted, AckError> {
        let limit = self.0.limits.settings().in_flight;
        if self.0.in_flight.load(Ordering::Acquire) >= limit {
            return Err(slow_down(IN_FLIGHT_RETRY));
        }
        self.0.own.check_event()?;
        if !self.0.limits.is_shared() {
            self.0.limits.check(&self.0.account, class)?;
        }
        let (done, next) = oneshot::channel();
        let previous = self
            .0
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(next);
        self.0.in_flight.fetch_add(1, Ordering::AcqRel);
        Ok(Admitted {
            connection: self.clone(),
            previous,
            done: Some(done),
        })
    }
}

/// The extractor: an event of class `C` admitted in its connection's order,
/// or refused for a limit.
pub struct Turn<C: EventClass>(Result<Admitted, Refused>, std::marker::PhantomData<C>);

/// Why an event was refused before it took a turn.
#[derive(Debug)]
pub struct Refused {
    /// The refusal, for the client.
    pub error: AckError,
    /// The connection has just had more refusals than it is forgiven: it
    /// should be told and disconnected (set once per connection).
    pub flooding: bool,
}

impl<C: EventClass> Turn<C> {
    /// The admitted event, or why it was refused. In cluster mode this is
    /// where the event spends from its account's shared bucket, in its turn
    /// (so of a burst, the events refused are the last ones, as on a single
    /// node).
    pub async fn admitted(self) -> Result<Admitted, Refused> {
        let mut admitted = self.0?;
        let connection = admitted.connection.clone();
        let limits = &connection.0.limits;
        if !limits.is_shared() {
            return Ok(admitted);
        }
        admitted.wait().await;
        if let Err(error) = limits.check_anywhere(&connection.0.account, C::CLASS).await {
            // Its turn passes to the next event.
            drop(admitted);
            return Err(Refused {
                error,
                flooding: connection.found_flooding(),
            });
        }
        Ok(admitted)
    }
}

/// An event with a place in its connection's order.
pub struct Admitted {
    connection: Connection,
    previous: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Sender<()>>,
}

impl Admitted {
    /// Waits for the events before this one to be done with their turns.
    pub async fn wait(&mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = previous.await;
        }
    }

    /// Gives up the turn: the next event may go, while this one finishes
    /// (awaits a commit, say). Waits for its own turn first, so the order
    /// holds whatever this event did.
    pub async fn pass(&mut self) {
        self.wait().await;
        self.done.take();
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connection.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        // A turn dropped while an earlier event still runs (the handler gave
        // up early) must not let the next event overtake that one.
        if let (Some(previous), Some(done)) = (self.previous.take(), self.done.take())
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = previous.await;
                drop(done);
            });
        }
    }
}

/// Which account bucket an event spends from, as a type, so each handler
/// names it in its signature.
pub trait EventClass: Send + 'static {
    /// The bucket.
    const CLASS: Class;
}

/// `new message`.
#[derive(Debug)]
pub struct MessageEvent;
/// `history`, `catch up`.
#[derive(Debug)]
pub struct ReadEvent;
/// `add user`.
#[derive(Debug)]
pub struct EntryEvent;
/// Anything else.
#[derive(Debug)]
pub struct OtherEvent;

impl EventClass for MessageEvent {
    const CLASS: Class = Class::Message;
}
impl EventClass for ReadEvent {
    const CLASS: Class = Class::Read;
}
impl EventClass for EntryEvent {
    const CLASS: Class = Class::Entry;
}
impl EventClass for OtherEvent {
    const CLASS: Class = Class::Other;
}

impl<A: Adapter, C: EventClass> FromMessageParts<A> for Turn<C> {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<Socket<A>>,
        _: &mut Value,
        _: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let Some(connection) = s.extensions.get::<Connection>() else {
            // Every socket gets one at its handshake; without it, nothing
            // limits the socket, so nothing is let through.
            tracing::error!(socket = %s.id, "a socket without its connection limits");
            let error = AckError::new(protocol::ErrorCode::Internal, "internal error");
            return Ok(Self(
                Err(Refused {
                    error,
                    flooding: true,
                }),
                std::marker::PhantomData,
            ));
        };
        let admitted = connection.admit(C::CLASS).map_err(|error| Refused {
            error,
            flooding: connection.found_flooding(),
        });
        Ok(Self(admitted, std::marker::PhantomData))
    }
}
