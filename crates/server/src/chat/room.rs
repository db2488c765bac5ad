//! The room's presence: who is online under which name, on which
//! connections. (Ids and times come from the store, which keeps the
//! conversation.)
//!
//! A user is a name plus, when the browser sent one, its client id: several
//! connections with the same name and client id (tabs of one browser) are one
//! user, who joins with the first and leaves with the last. Names are unique
//! among the users online, compared case-insensitively.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use protocol::{AckError, ErrorCode};
use socketioxide::socket::Sid;

/// The chat room; cheap to clone, every clone is the same room.
#[derive(Debug, Clone, Default)]
pub struct Room(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    presence: Mutex<Presence>,
}

#[derive(Debug, Default)]
struct Presence {
    /// Users online, by their name's key (see [`name_key`]).
    members: HashMap<String, Member>,
    /// Which user each joined connection belongs to, by name key.
    sockets: HashMap<Sid, String>,
    /// Counts arrivals, to list users in the order they came.
    arrivals: u64,
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
}

/// A connection entered the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entered {
    /// The name it is in the room under (trimmed; the first tab's spelling).
    pub username: String,
    /// Whether this is the user's first connection, i.e. the others should
    /// hear `user joined`.
    pub first_connection: bool,
    /// Everyone online now, this user included, in the order they came.
    pub users: Vec<String>,
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
        let mut presence = self.presence();
        if let Some(key) = presence.sockets.get(&sid) {
            let name = presence.members.get(key).map_or("", |m| m.name.as_str());
            return Err(AckError::new(
                ErrorCode::AlreadyJoined,
                format!("this connection is already in the room as “{name}”"),
            ));
        }
        let key = name_key(username);
        presence.arrivals += 1;
        let arrival = presence.arrivals;
        let first_connection = match presence.members.get_mut(&key) {
            Some(member) if client_id.is_some() && member.client_id.as_deref() == client_id => {
                member.connections += 1;
                false
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
                    },
                );
                true
            }
        };
        presence.sockets.insert(sid, key.clone());
        let users = presence.names();
        let username = presence
            .members
            .get(&key)
            .map_or_else(|| username.to_owned(), |m| m.name.clone());
        Ok(Entered {
            username,
            first_connection,
            users,
        })
    }

    /// Takes connection `sid` out of the room. Returns who left when it was
    /// its user's last connection; `None` when the connection had not entered
    /// or the user still has others.
    pub fn leave(&self, sid: Sid) -> Option<Left> {
        let mut presence = self.presence();
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

impl Presence {
    fn names(&self) -> Vec<String> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.arrival);
        members.into_iter().map(|m| m.name.clone()).collect()
    }
}

/// Names are compared case-insensitively: "Alice" and "alice" are one name.
fn name_key(name: &str) -> String {
    name.to_lowercase()
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
        assert_eq!(alice.users, ["Alice"]);
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
        assert_eq!(with_bob.users, ["alice", "bob"]);
        assert_eq!(room.leave(tab1), None, "alice still has a tab open");
        let left = room.leave(tab2).unwrap();
        assert_eq!((left.username.as_str(), left.num_users), ("alice", 1));
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
    fn unknown_connections_leave_nothing() {
        let room = Room::default();
        room.enter(Sid::new(), "alice", None).unwrap();
        assert_eq!(room.leave(Sid::new()), None);
        assert_eq!(room.num_users(), 1);
    }
}
