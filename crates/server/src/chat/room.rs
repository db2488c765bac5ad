//! The room: who is online under which name, on which connections, and
//! the fan-out of the room's events to those connections. (Ids and times
//! come from the store, which keeps the conversation.)
//!
//! A user is a name plus, when the browser sent one, its client id: several
//! connections with the same name and client id (tabs of one browser) are one
//! user, who joins with the first and leaves with the last. Names are unique
//! among the users online by `protocol::name_key`: no two differ only in
//! letter case, or look alike.
//!
//! Presence and fan-out share one lock, so what a connection hears is
//! consistent with the `login` it gets: it listens from the moment it
//! enters, and its `login` (with who is online) is taken and queued under
//! the lock, so every join or leave after that snapshot reaches it after
//! its `login`, and none before it is missing from it.
//!
//! Each event is serialized once and queued on every listener's send
//! queue. A listener whose queue is full is not skipped silently: it is
//! marked as lagging, hears nothing more, is told `too slow`, and is
//! disconnected, so its client reconnects and catches up from the store.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use protocol::{AckError, ErrorCode, Notice, ServerEvent};
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError};

/// The chat room; cheap to clone, every clone is the same room.
#[derive(Debug, Clone, Default)]
pub struct Room(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    presence: Mutex<Presence>,
}

/// How often the others hear that a user is typing, at most, however often
/// their pages say so. Pages repeat `typing` every 3 s while their user
/// types, and a listener's page forgets a typist it heard nothing from for
/// 6 s: a little under 3 s lets every repeat of a real page through.
pub const TYPING_REPEAT: Duration = Duration::from_millis(2_500);

/// How many `typing` broadcasts of one user may follow each other closely
/// (a message sent and the next one started at once is two), after which
/// one a second: a client alternating `typing`, `stop typing` and messages
/// is told to the others at most about twice a second (a start and its
/// stop). A `stop typing` after a `typing` that was told is always told: the
/// canonical demo's pages show a typist until they hear it.
pub const TYPING_BURST: u32 = 3;

/// How often a `typing` broadcast is earned back, past [`TYPING_BURST`].
pub const TYPING_REFILL: Duration = Duration::from_secs(1);

/// How long a lagging connection's `too slow` notice and disconnect may wait
/// for room in its send queue; a connection that drains nothing for this
/// long is closed by the Engine.IO heartbeat anyway (its ping cannot be
/// queued either).
const LAGGING_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Presence {
    /// Users online, by their name's key (`protocol::name_key`).
    members: HashMap<String, Member>,
    /// Which user each joined connection belongs to, by name key.
    sockets: HashMap<Sid, String>,
    /// Counts arrivals, to list users in the order they came.
    arrivals: u64,
    /// The connections that hear the room's events.
    listeners: HashMap<Sid, SocketRef>,
    /// Listeners whose send queue overflowed: they hear nothing more and
    /// are being disconnected.
    lagging: HashSet<Sid>,
}

#[derive(Debug)]
struct Member {
    /// The name as the user typed it (trimmed), shown to everyone.
    name: String,
    /// The browser's client id, if it sent one: the only way a second
    /// connection can share this name.
    client_id: Option<String>,
    /// The user's open connections; the user leaves when the last one closes.
    connections: usize,
    /// When the user arrived (see `Presence::arrivals`).
    arrival: u64,
    /// When the others were last told this user is typing, until they hear
    /// it stopped (or a message).
    typing_announced: Option<Instant>,
    /// The `typing` broadcasts this user may still make (see
    /// [`TYPING_BURST`]).
    typing_news: governor::DefaultDirectRateLimiter,
}

/// The connection has not entered the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInRoom;

/// A connection entered the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entered {
    /// The name it is in the room under (trimmed; the first tab's spelling).
    pub username: String,
    /// Whether this is the user's first connection, i.e. the others should
    /// hear `user joined`.
    pub first_connection: bool,
    /// How many users are online now, this one included.
    pub num_users: usize,
}

/// A user's last connection left the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// Who left.
    pub username: String,
    /// How many users are online after this.
    pub num_users: usize,
}

impl Room {
    /// Enters connection `sid` into the room as `username` (already
    /// validated). Refused when the connection is already in, or someone else
    /// online has the name.
    pub fn enter(
        &self,
        sid: Sid,
        username: &str,
        client_id: Option<&str>,
    ) -> Result<Entered, AckError> {
        // Made before taking the lock that every broadcast waits for.
        let key = protocol::name_key(username);
        let mut presence = self.presence();
        if let Some(key) = presence.sockets.get(&sid) {
            let name = presence.members.get(key).map_or("", |m| m.name.as_str());
            return Err(AckError::new(
                ErrorCode::AlreadyJoined,
                format!("this connection is already in the room as “{name}”"),
            ));
        }
        presence.arrivals += 1;
        let arrival = presence.arrivals;
        let first_connection = match presence.members.get_mut(&key) {
            Some(member) if client_id.is_some() && member.client_id.as_deref() == client_id => {
                member.connections += 1;
                false
            }
            Some(member) if protocol::looks_alike(username, &member.name) => {
                return Err(AckError::new(
                    ErrorCode::NameTaken,
                    protocol::too_similar(username),
                ));
            }
            Some(member) => {
                return Err(AckError::new(
                    ErrorCode::NameTaken,
                    format!("“{}” is already taken by someone online", member.name),
                ));
            }
            None => {
                presence.members.insert(
                    key.clone(),
                    Member {
                        name: username.to_owned(),
                        client_id: client_id.map(str::to_owned),
                        connections: 1,
                        arrival,
                        typing_announced: None,
                        typing_news: typing_news(),
                    },
                );
                true
            }
        };
        presence.sockets.insert(sid, key.clone());
        let num_users = presence.members.len();
        let username = presence
            .members
            .get(&key)
            .map_or_else(|| username.to_owned(), |m| m.name.clone());
        Ok(Entered {
            username,
            first_connection,
            num_users,
        })
    }

    /// Connection `socket` (which entered) hears the room's events from now on.
    pub fn listen(&self, socket: SocketRef) {
        self.presence().listeners.insert(socket.id, socket);
    }

    /// Who is online, in the order they came, given to `send` under the
    /// room's lock: what `send` queues on a listener's connection arrives
    /// before any later join or leave. (See the module's notes.)
    pub fn with_users<T>(&self, send: impl FnOnce(Vec<String>) -> T) -> T {
        let presence = self.presence();
        send(presence.names())
    }

    /// Queues `event` for every listener but `except`. Returns how many
    /// listeners it was queued for.
    pub fn broadcast(&self, except: Option<Sid>, event: &ServerEvent) -> usize {
        let payload = match serde_json::value::to_raw_value(event) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(%error, event = event.name(), "could not serialize an event");
                return 0;
            }
        };
        let mut queued = 0;
        let mut fell_behind = Vec::new();
        {
            let mut presence = self.presence();
            let Presence {
                listeners, lagging, ..
            } = &mut *presence;
            for (sid, socket) in listeners.iter() {
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
        queued
    }

    /// Takes connection `sid` out of the room. Returns who left when it was
    /// its user's last connection; `None` when the connection had not entered
    /// or the user still has others.
    pub fn leave(&self, sid: Sid) -> Option<Left> {
        let mut presence = self.presence();
        presence.listeners.remove(&sid);
        presence.lagging.remove(&sid);
        let key = presence.sockets.remove(&sid)?;
        let member = presence.members.get_mut(&key)?;
        member.connections -= 1;
        if member.connections > 0 {
            return None;
        }
        let member = presence.members.remove(&key)?;
        Some(Left {
            username: member.name,
            num_users: presence.members.len(),
        })
    }

    /// Connection `sid`'s user is typing: their name if the others should
    /// hear it now, `None` if they heard it less than [`TYPING_REPEAT`] ago.
    pub fn typing(&self, sid: Sid) -> Result<Option<String>, NotInRoom> {
        let now = Instant::now();
        self.with_member(sid, |member| {
            let recent =
                |at: Option<Instant>, within| at.is_some_and(|at| now.duration_since(at) < within);
            if recent(member.typing_announced, TYPING_REPEAT) || member.typing_news.check().is_err()
            {
                return None;
            }
            member.typing_announced = Some(now);
            Some(member.name.clone())
        })
    }

    /// Connection `sid`'s user stopped typing: their name if the others were
    /// told they started.
    pub fn stop_typing(&self, sid: Sid) -> Result<Option<String>, NotInRoom> {
        self.with_member(sid, |member| {
            member.typing_announced.take()?;
            Some(member.name.clone())
        })
    }

    /// Connection `sid`'s user sent a message, which ends their typing line
    /// on every page: their next `typing` is news again (within
    /// [`TYPING_BURST`]).
    pub fn sent_message(&self, sid: Sid) {
        let _ = self.with_member(sid, |member| member.typing_announced = None);
    }

    fn with_member<T>(&self, sid: Sid, f: impl FnOnce(&mut Member) -> T) -> Result<T, NotInRoom> {
        let mut presence = self.presence();
        let Presence {
            members, sockets, ..
        } = &mut *presence;
        let member = sockets
            .get(&sid)
            .and_then(|key| members.get_mut(key))
            .ok_or(NotInRoom)?;
        Ok(f(member))
    }

    /// The name connection `sid` is in the room under, if it has entered.
    pub fn username(&self, sid: Sid) -> Option<String> {
        let presence = self.presence();
        let key = presence.sockets.get(&sid)?;
        presence.members.get(key).map(|m| m.name.clone())
    }

    /// How many users are online.
    pub fn num_users(&self) -> usize {
        self.presence().members.len()
    }

    fn presence(&self) -> MutexGuard<'_, Presence> {
        // Every update completes before it can panic, so a poisoned lock
        // still guards consistent data.
        self.0
            .presence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A user's allowance of `typing` broadcasts, full.
fn typing_news() -> governor::DefaultDirectRateLimiter {
    let burst = std::num::NonZeroU32::new(TYPING_BURST).unwrap_or(std::num::NonZeroU32::MIN);
    let quota = governor::Quota::with_period(TYPING_REFILL)
        .unwrap_or_else(|| governor::Quota::per_second(std::num::NonZeroU32::MIN))
        .allow_burst(burst);
    governor::DefaultDirectRateLimiter::direct(quota)
}

impl Presence {
    fn names(&self) -> Vec<String> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.arrival);
        members.into_iter().map(|m| m.name.clone()).collect()
    }
}

fn payload_len(payload: &RawValue) -> usize {
    payload.get().len()
}

/// Tells a connection that fell behind why, then disconnects it; both wait
/// for room in its send queue (see [`LAGGING_GRACE`]).
async fn disconnect_lagging(socket: SocketRef, missed_bytes: usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_case_insensitively() {
        let room = Room::default();
        let (a, b) = (Sid::new(), Sid::new());
        let alice = room.enter(a, "Alice", None).unwrap();
        assert!(alice.first_connection);
        assert_eq!(alice.num_users, 1);
        assert_eq!(room.with_users(|users| users), ["Alice"]);
        let err = room.enter(b, "alice", None).unwrap_err();
        assert_eq!(err.code, ErrorCode::NameTaken);
        assert_eq!(err.message, "“Alice” is already taken by someone online");
        assert_eq!(room.num_users(), 1);
        assert_eq!(room.username(b), None);
    }

    #[test]
    fn tabs_with_one_client_id_are_one_user() {
        let room = Room::default();
        let (tab1, tab2, bob) = (Sid::new(), Sid::new(), Sid::new());
        room.enter(tab1, "alice", Some("c1")).unwrap();
        let second = room.enter(tab2, "ALICE", Some("c1")).unwrap();
        assert!(!second.first_connection);
        assert_eq!(second.username, "alice", "the first tab's spelling wins");
        let with_bob = room.enter(bob, "bob", Some("c2")).unwrap();
        assert_eq!(with_bob.num_users, 2);
        assert_eq!(room.with_users(|users| users), ["alice", "bob"]);
        assert_eq!(room.leave(tab1), None, "alice still has a tab open");
        let left = room.leave(tab2).unwrap();
        assert_eq!((left.username.as_str(), left.num_users), ("alice", 1));
    }

    #[test]
    fn look_alikes_of_a_name_online_are_refused() {
        let room = Room::default();
        room.enter(Sid::new(), "alice", Some("c1")).unwrap();
        // A Cyrillic а; fullwidth capitals.
        for other in ["\u{430}lice", "ＡＬＩＣＥ"] {
            let err = room.enter(Sid::new(), other, Some("c2")).unwrap_err();
            assert_eq!(err.code, ErrorCode::NameTaken, "{other:?}");
        }
        let err = room.enter(Sid::new(), "\u{430}lice", None).unwrap_err();
        assert_eq!(
            err.message,
            "“\u{430}lice” is too similar to an existing name"
        );
        // The same browser's tab under a look-alike spelling is the same user.
        let tab = room.enter(Sid::new(), "\u{430}lice", Some("c1")).unwrap();
        assert_eq!(
            (tab.username.as_str(), tab.first_connection),
            ("alice", false)
        );
        assert_eq!(room.num_users(), 1);
    }

    #[test]
    fn another_client_id_cannot_share_a_name() {
        let room = Room::default();
        room.enter(Sid::new(), "alice", Some("c1")).unwrap();
        for other in [Some("c2"), None] {
            let err = room.enter(Sid::new(), "alice", other).unwrap_err();
            assert_eq!(err.code, ErrorCode::NameTaken);
        }
    }

    #[test]
    fn a_connection_enters_once() {
        let room = Room::default();
        let sid = Sid::new();
        room.enter(sid, "alice", None).unwrap();
        let err = room.enter(sid, "bob", None).unwrap_err();
        assert_eq!(err.code, ErrorCode::AlreadyJoined);
        assert_eq!(room.username(sid).as_deref(), Some("alice"));
        assert_eq!(room.num_users(), 1);
    }

    #[test]
    fn typing_is_told_once_every_few_seconds_and_stopping_once() {
        let room = Room::default();
        let (tab1, tab2, stranger) = (Sid::new(), Sid::new(), Sid::new());
        room.enter(tab1, "alice", Some("c1")).unwrap();
        room.enter(tab2, "alice", Some("c1")).unwrap();
        assert_eq!(room.typing(tab1), Ok(Some("alice".to_owned())));
        // However many times, from whichever tab: once per TYPING_REPEAT.
        for _ in 0..100 {
            assert_eq!(room.typing(tab1), Ok(None));
            assert_eq!(room.typing(tab2), Ok(None));
        }
        let news = || Ok(Some("alice".to_owned()));
        assert_eq!(room.stop_typing(tab2), news());
        assert_eq!(room.stop_typing(tab1), Ok(None), "they were told already");
        // A message sent and the next one started at once: news again.
        assert_eq!(room.typing(tab1), news());
        room.sent_message(tab1);
        assert_eq!(room.typing(tab1), news(), "news again after a message");
        assert_eq!(room.stop_typing(tab1), news());
        // Past its burst, a user's typing is news once a second (and so is
        // its stop).
        assert_eq!(room.typing(tab1), Ok(None));
        assert_eq!(room.stop_typing(tab1), Ok(None));
        std::thread::sleep(TYPING_REFILL);
        assert_eq!(room.typing(tab1), news());
        let mut told = 0;
        for _ in 0..200 {
            told += usize::from(matches!(room.typing(tab2), Ok(Some(_))));
            told += usize::from(matches!(room.stop_typing(tab1), Ok(Some(_))));
            room.sent_message(tab1);
        }
        assert_eq!(told, 1, "only the stop of the one start told");
        assert_eq!(room.typing(stranger), Err(NotInRoom));
        assert_eq!(room.stop_typing(stranger), Err(NotInRoom));
    }

    #[test]
    fn unknown_connections_leave_nothing() {
        let room = Room::default();
        room.enter(Sid::new(), "alice", None).unwrap();
        assert_eq!(room.leave(Sid::new()), None);
        assert_eq!(room.num_users(), 1);
    }
}
