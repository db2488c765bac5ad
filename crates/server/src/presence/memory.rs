//! Who is online on a single node: kept in this process's memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Entry, Left, Refusal};

/// The users online; one per name key.
#[derive(Debug, Default)]
pub struct Members(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    members: HashMap<String, Member>,
    /// Counts arrivals, to list users in the order they came.
    arrivals: u64,
}

#[derive(Debug)]
struct Member {
    /// The name as the first connection typed it, shown to everyone.
    name: String,
    /// The browser's client id (or the account), if it sent one.
    client_id: Option<String>,
    /// Open connections.
    connections: usize,
    /// When the user arrived.
    arrival: u64,
    /// With no connection left: when the grace period ends.
    grace_until: Option<Instant>,
}

impl Members {
    /// A connection of the user with name key `key` enters.
    pub fn enter(&self, key: &str, name: &str, client_id: Option<&str>) -> Result<Entry, Refusal> {
        let mut state = self.state();
        state.arrivals += 1;
        let arrival = state.arrivals;
        let first = match state.members.get_mut(key) {
            Some(member)
                if super::same_user(member.client_id.as_deref(), client_id, member.connections) =>
            {
                member.connections += 1;
                member.grace_until = None;
                false
            }
            Some(member) => return Err(Refusal::Taken(member.name.clone())),
            None => {
                state.members.insert(
                    key.to_owned(),
                    Member {
                        name: name.to_owned(),
                        client_id: client_id.map(str::to_owned),
                        connections: 1,
                        arrival,
                        grace_until: None,
                    },
                );
                true
            }
        };
        let name = state
            .members
            .get(key)
            .map_or_else(|| name.to_owned(), |m| m.name.clone());
        Ok(Entry {
            first,
            num_users: state.members.len(),
            name,
        })
    }

    /// A connection of user `key` closed: the user leaves now when `at_once`
    /// and it was their last; otherwise after `grace`, unless back.
    pub fn leave(&self, key: &str, at_once: bool, grace: Duration) -> Option<Left> {
        let mut state = self.state();
        let member = state.members.get_mut(key)?;
        member.connections = member.connections.saturating_sub(1);
        if member.connections > 0 {
            return None;
        }
        if !at_once {
            member.grace_until = Some(Instant::now() + grace);
            return None;
        }
        let member = state.members.remove(key)?;
        Some(Left {
            username: member.name,
            num_users: state.members.len(),
        })
    }

    /// The users whose grace period is over by `now` (all those in their
    /// grace period, with `None`): they leave now.
    pub fn sweep(&self, now: Option<Instant>) -> Vec<Left> {
        let mut state = self.state();
        let over = |at: Instant| now.is_none_or(|now| at <= now);
        let mut due: Vec<(u64, String)> = state
            .members
            .iter()
            .filter(|(_, m)| m.connections == 0 && m.grace_until.is_some_and(over))
            .map(|(key, m)| (m.arrival, key.clone()))
            .collect();
        due.sort_unstable();
        due.into_iter()
            .filter_map(|(_, key)| {
                let member = state.members.remove(&key)?;
                Some(Left {
                    username: member.name,
                    num_users: state.members.len(),
                })
            })
            .collect()
    }

    /// Who is online, in the order they came.
    pub fn users(&self) -> Vec<String> {
        let state = self.state();
        let mut members: Vec<&Member> = state.members.values().collect();
        members.sort_by_key(|m| m.arrival);
        members.into_iter().map(|m| m.name.clone()).collect()
    }

    /// How many users are online.
    pub fn count(&self) -> usize {
        self.state().members.len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update completes before it can panic.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
