//! Presence: who is online, under which name, and when they join and leave.
//!
//! A user is a name plus, when the client sent one, its client id (a
//! logged-in user's is their account): several connections with the same
//! name and client id (tabs, or a browser on two nodes) are one user, who
//! joins with the first connection anywhere and leaves with the last. Names
//! are unique among the users online by `protocol::name_key`.
//!
//! A connection that drops (a reload, a network blip, a node's crash) does
//! not make its user leave at once: they stay online for a grace period
//! (`--presence-grace-secs`), and a user back within it never left: nobody
//! hears `user left` or `user joined`. A client that disconnects on purpose
//! leaves at once.
//!
//! Where the users are kept is the one difference between the modes:
//! [`memory`] on a single node, [`redis`] in a cluster, where each node
//! registers its connections under a heartbeat, so that a dead node's users
//! leave (once, whichever node notices) after its heartbeat stops plus the
//! grace period. This node's own connections (which socket entered under
//! which name) are kept here, in memory, in both modes.

pub mod memory;
pub mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use protocol::{AckError, ErrorCode};
use socketioxide::socket::Sid;

/// How long a sender refused while presence is unreachable should wait.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(2);

/// A connection entered the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entered {
    /// The name it is in the room under (trimmed; the first connection's
    /// spelling).
    pub username: String,
    /// Whether this is the user's first connection, i.e. the others should
    /// hear `user joined`.
    pub first_connection: bool,
    /// How many users are online now, this one included.
    pub num_users: usize,
}

/// A user left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// Who left.
    pub username: String,
    /// How many users are online after this.
    pub num_users: usize,
}

/// How a connection went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    /// On purpose (the client's disconnect, a logout, a refusal): its user
    /// leaves now if it was their last connection.
    AtOnce,
    /// Dropped (the transport closed, the heartbeat timed out): its user
    /// stays for the grace period.
    Dropped,
    /// This node is stopping: on a single node its users leave now (nobody
    /// else would tell); in a cluster they may come back on another node.
    NodeStopping,
}

/// What the shared part said to an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The user's first connection anywhere.
    pub first: bool,
    /// Users online after it.
    pub num_users: usize,
    /// The name the user is online under.
    pub name: String,
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Someone else online has the name (or one like it): theirs.
    Taken(String),
    /// The shared presence does not answer.
    Unavailable,
}

/// Whether a connection with `client_id` is the user online (or in their
/// grace period, with no connection) whose client id is `member`.
pub(crate) fn same_user(member: Option<&str>, client_id: Option<&str>, connections: usize) -> bool {
    match (member, client_id) {
        (Some(member), Some(client)) => member == client,
        // Without client ids (the demo's clients) the name is the identity,
        // but only while nobody holds it: a reload comes back to its name.
        (None, None) => connections == 0,
        _ => false,
    }
}

/// The connection has not entered the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInRoom;

/// Who is online; cheap to clone.
#[derive(Debug, Clone)]
pub struct Presence {
    /// This node's connections in the room.
    seats: Arc<Mutex<HashMap<Sid, Seat>>>,
    shared: Shared,
    grace: Duration,
}

/// Who a connection of this node is in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// The user's name key.
    pub key: String,
    /// The name they are online under.
    pub name: String,
    /// Their client id.
    pub client_id: Option<String>,
}

/// Where the users are kept.
#[derive(Debug, Clone)]
enum Shared {
    Memory(Arc<memory::Members>),
    Redis(Arc<redis::Members>),
}

impl Presence {
    /// Presence in this process's memory (a single node).
    pub fn in_memory(grace: Duration) -> Self {
        Self {
            seats: Arc::default(),
            shared: Shared::Memory(Arc::default()),
            grace,
        }
    }

    /// Presence shared through Redis (a cluster).
    pub fn in_redis(members: redis::Members, grace: Duration) -> Self {
        Self {
            seats: Arc::default(),
            shared: Shared::Redis(Arc::new(members)),
            grace,
        }
    }

    /// Enters connection `sid` as `username` (already validated). Refused
    /// when the connection is already in, or someone else online has the
    /// name.
    pub async fn enter(
        &self,
        sid: Sid,
        username: &str,
        client_id: Option<&str>,
    ) -> Result<Entered, AckError> {
        if let Some(seat) = self.seats().get(&sid) {
            return Err(AckError::new(
                ErrorCode::AlreadyJoined,
                format!("this connection is already in the room as “{}”", seat.name),
            ));
        }
        let key = protocol::name_key(username);
        let entry = match &self.shared {
            Shared::Memory(members) => members.enter(&key, username, client_id),
            Shared::Redis(members) => members.enter(&key, username, client_id, sid).await,
        };
        let entry = entry.map_err(|refusal| match refusal {
            Refusal::Taken(holder) if protocol::looks_alike(username, &holder) => {
                AckError::new(ErrorCode::NameTaken, protocol::too_similar(username))
            }
            Refusal::Taken(holder) => AckError::new(
                ErrorCode::NameTaken,
                format!("“{holder}” is already taken by someone online"),
            ),
            Refusal::Unavailable => AckError::retry_after(
                ErrorCode::Busy,
                "the server cannot reach the room's presence right now; try again",
                UNAVAILABLE_RETRY,
            ),
        })?;
        self.seats().insert(
            sid,
            Seat {
                key,
                name: entry.name.clone(),
                client_id: client_id.map(str::to_owned),
            },
        );
        Ok(Entered {
            username: entry.name,
            first_connection: entry.first,
            num_users: entry.num_users,
        })
    }

    /// Takes connection `sid` out. Returns who left when it was its user's
    /// last connection and they leave now (see [`Leaving`]).
    pub async fn leave(&self, sid: Sid, how: Leaving) -> Option<Left> {
        let seat = self.seats().remove(&sid)?;
        // A grace period of 0 turns it off.
        let no_grace = self.grace.is_zero();
        match &self.shared {
            Shared::Memory(members) => {
                let at_once = no_grace || matches!(how, Leaving::AtOnce | Leaving::NodeStopping);
                members.leave(&seat.key, at_once, self.grace)
            }
            Shared::Redis(members) => {
                let at_once = no_grace || matches!(how, Leaving::AtOnce);
                members.leave(&seat.key, sid, at_once, self.grace).await
            }
        }
    }

    /// The users whose grace period is over (and, in a cluster, dead nodes'
    /// users'): they leave now, each told by one node only.
    pub async fn sweep(&self) -> Vec<Left> {
        match &self.shared {
            Shared::Memory(members) => members.sweep(Some(Instant::now())),
            Shared::Redis(members) => members.sweep(self.grace).await,
        }
    }

    /// Keeps this node's registration alive (a cluster); registers its
    /// connections again if Redis lost them (a restart). Returns the leaves
    /// that waited for Redis to come back.
    pub async fn heartbeat(&self) -> Vec<Left> {
        match &self.shared {
            Shared::Memory(_) => Vec::new(),
            Shared::Redis(members) => {
                let seats: Vec<(Sid, Seat)> = self
                    .seats()
                    .iter()
                    .map(|(sid, seat)| (*sid, seat.clone()))
                    .collect();
                members.heartbeat(&seats, self.grace).await
            }
        }
    }

    /// This node stops (its connections already left with
    /// [`Leaving::NodeStopping`]). On a single node, the users still in
    /// their grace period leave now: nobody would tell after the process is
    /// gone. In a cluster, the node's registration goes now, so another
    /// node takes over at once.
    pub async fn stop(&self) -> Vec<Left> {
        match &self.shared {
            Shared::Memory(members) => members.sweep(None),
            Shared::Redis(members) => {
                members.stop().await;
                Vec::new()
            }
        }
    }

    /// Who is online, in the order they came.
    pub async fn users(&self) -> Vec<String> {
        match &self.shared {
            Shared::Memory(members) => members.users(),
            Shared::Redis(members) => members.users().await,
        }
    }

    /// How many users are online (`None` when the shared presence does not
    /// answer).
    pub async fn num_users(&self) -> Option<usize> {
        match &self.shared {
            Shared::Memory(members) => Some(members.count()),
            Shared::Redis(members) => members.count().await,
        }
    }

    /// Who connection `sid` is in the room, if it entered.
    pub fn seat(&self, sid: Sid) -> Result<Seat, NotInRoom> {
        self.seats().get(&sid).cloned().ok_or(NotInRoom)
    }

    /// The name connection `sid` is in the room under, if it entered.
    pub fn username(&self, sid: Sid) -> Option<String> {
        self.seats().get(&sid).map(|seat| seat.name.clone())
    }

    /// Whether this node has a connection of user `key` in the room.
    pub fn has_user(&self, key: &str) -> bool {
        self.seats().values().any(|seat| seat.key == key)
    }

    fn seats(&self) -> MutexGuard<'_, HashMap<Sid, Seat>> {
        self.seats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence() -> Presence {
        Presence::in_memory(Duration::from_millis(200))
    }

    #[tokio::test]
    async fn names_are_unique_case_insensitively() {
        let presence = presence();
        let (a, b) = (Sid::new(), Sid::new());
        let alice = presence.enter(a, "Alice", None).await.unwrap();
        assert!(alice.first_connection);
        assert_eq!(alice.num_users, 1);
        assert_eq!(presence.users().await, ["Alice"]);
        let err = presence.enter(b, "alice", None).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::NameTaken);
        assert_eq!(err.message, "“Alice” is already taken by someone online");
        assert_eq!(presence.num_users().await, Some(1));
        assert_eq!(presence.username(b), None);
    }

    #[tokio::test]
    async fn tabs_with_one_client_id_are_one_user() {
        let presence = presence();
        let (tab1, tab2, bob) = (Sid::new(), Sid::new(), Sid::new());
        presence.enter(tab1, "alice", Some("c1")).await.unwrap();
        let second = presence.enter(tab2, "ALICE", Some("c1")).await.unwrap();
        assert!(!second.first_connection);
        assert_eq!(second.username, "alice", "the first tab's spelling wins");
        let with_bob = presence.enter(bob, "bob", Some("c2")).await.unwrap();
        assert_eq!(with_bob.num_users, 2);
        assert_eq!(presence.users().await, ["alice", "bob"]);
        assert_eq!(
            presence.leave(tab1, Leaving::AtOnce).await,
            None,
            "a tab is left"
        );
        let left = presence.leave(tab2, Leaving::AtOnce).await.unwrap();
        assert_eq!((left.username.as_str(), left.num_users), ("alice", 1));
    }

    #[tokio::test]
    async fn look_alikes_of_a_name_online_are_refused() {
        let presence = presence();
        presence
            .enter(Sid::new(), "alice", Some("c1"))
            .await
            .unwrap();
        // A Cyrillic а; fullwidth capitals.
        for other in ["\u{430}lice", "ＡＬＩＣＥ"] {
            let err = presence
                .enter(Sid::new(), other, Some("c2"))
                .await
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::NameTaken, "{other:?}");
        }
        let err = presence
            .enter(Sid::new(), "\u{430}lice", None)
            .await
            .unwrap_err();
        assert_eq!(
            err.message,
            "“\u{430}lice” is too similar to an existing name"
        );
        // The same browser's tab under a look-alike spelling is the same user.
        let tab = presence
            .enter(Sid::new(), "\u{430}lice", Some("c1"))
            .await
            .unwrap();
        assert_eq!(
            (tab.username.as_str(), tab.first_connection),
            ("alice", false)
        );
        assert_eq!(presence.num_users().await, Some(1));
    }

    #[tokio::test]
    async fn another_client_id_cannot_share_a_name() {
        let presence = presence();
        presence
            .enter(Sid::new(), "alice", Some("c1"))
            .await
            .unwrap();
        for other in [Some("c2"), None] {
            let err = presence
                .enter(Sid::new(), "alice", other)
                .await
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::NameTaken);
        }
    }

    #[tokio::test]
    async fn a_connection_enters_once() {
        let presence = presence();
        let sid = Sid::new();
        presence.enter(sid, "alice", None).await.unwrap();
        let err = presence.enter(sid, "bob", None).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::AlreadyJoined);
        assert_eq!(presence.username(sid).as_deref(), Some("alice"));
        assert_eq!(presence.num_users().await, Some(1));
    }

    #[tokio::test]
    async fn a_dropped_user_back_within_the_grace_period_never_left() {
        let presence = presence();
        let (first, again, bob) = (Sid::new(), Sid::new(), Sid::new());
        presence.enter(bob, "bob", None).await.unwrap();
        presence.enter(first, "alice", Some("c1")).await.unwrap();
        assert_eq!(presence.leave(first, Leaving::Dropped).await, None);
        assert_eq!(presence.users().await, ["bob", "alice"], "still online");
        // Nobody else may take the name meanwhile.
        let err = presence
            .enter(Sid::new(), "alice", Some("c2"))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::NameTaken);
        let back = presence.enter(again, "alice", Some("c1")).await.unwrap();
        assert!(!back.first_connection, "no second join");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(presence.sweep().await, [], "no leave: she is back");
        // Dropped and not back: she leaves when the grace period is over,
        // once.
        assert_eq!(presence.leave(again, Leaving::Dropped).await, None);
        assert_eq!(
            presence.sweep().await,
            [],
            "not before the grace period ends"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let left = presence.sweep().await;
        assert_eq!(
            left,
            [Left {
                username: "alice".into(),
                num_users: 1
            }]
        );
        assert_eq!(presence.sweep().await, [], "once");
        assert_eq!(presence.users().await, ["bob"]);
    }

    #[tokio::test]
    async fn a_guest_without_a_client_id_comes_back_to_their_name() {
        let presence = presence();
        let (first, again) = (Sid::new(), Sid::new());
        presence.enter(first, "carol", None).await.unwrap();
        presence.leave(first, Leaving::Dropped).await;
        let back = presence.enter(again, "carol", None).await.unwrap();
        assert!(!back.first_connection);
        let left = presence.leave(again, Leaving::AtOnce).await;
        assert_eq!(
            left.map(|l| l.username).as_deref(),
            Some("carol"),
            "on purpose: at once"
        );
    }

    #[tokio::test]
    async fn a_stopping_single_node_lets_its_users_leave_at_once() {
        let presence = presence();
        let sid = Sid::new();
        presence.enter(sid, "alice", None).await.unwrap();
        let left = presence.leave(sid, Leaving::NodeStopping).await;
        assert_eq!(left.map(|l| l.num_users), Some(0));
    }

    #[tokio::test]
    async fn a_single_node_that_stops_lets_the_users_in_their_grace_period_leave() {
        let presence = Presence::in_memory(Duration::from_secs(60));
        let (alice, bob) = (Sid::new(), Sid::new());
        presence.enter(alice, "alice", None).await.unwrap();
        presence.enter(bob, "bob", None).await.unwrap();
        assert_eq!(presence.leave(bob, Leaving::Dropped).await, None);
        let left = presence.leave(alice, Leaving::NodeStopping).await;
        assert_eq!(left.map(|l| l.username).as_deref(), Some("alice"));
        let stopped = presence.stop().await;
        assert_eq!(
            stopped,
            [Left {
                username: "bob".into(),
                num_users: 0
            }]
        );
    }

    #[tokio::test]
    async fn unknown_connections_leave_nothing() {
        let presence = presence();
        presence.enter(Sid::new(), "alice", None).await.unwrap();
        assert_eq!(presence.leave(Sid::new(), Leaving::AtOnce).await, None);
        assert_eq!(presence.num_users().await, Some(1));
    }
}
