//! What the page knows about the room, as plain data: the stream of messages
//! and joins/leaves, who is online, who is typing. Server events and the
//! user's own actions update it; the components only render it. Being plain
//! data, it is unit-tested natively.

use protocol::{ChatMessage, EventId, Login, ServerEvent, Timestamp, UserEvent};

/// How long a "typing" lasts without news before it is dropped, in ms.
pub const TYPING_TIMEOUT_MS: f64 = 6_000.0;

/// One item of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Someone said something; `own` when it was this page's user.
    Message { message: ChatMessage, own: bool },
    /// Someone entered the room.
    Joined(UserEvent),
    /// Someone's last connection left the room.
    Left(UserEvent),
}

impl Entry {
    /// The server-assigned id, unique across messages and activity.
    pub fn id(&self) -> EventId {
        match self {
            Self::Message { message, .. } => message.id,
            Self::Joined(e) | Self::Left(e) => e.id,
        }
    }

    /// When it happened.
    pub fn timestamp(&self) -> Timestamp {
        match self {
            Self::Message { message, .. } => message.timestamp,
            Self::Joined(e) | Self::Left(e) => e.timestamp,
        }
    }

    /// "alice joined" / "alice left" for activity; `None` for messages.
    pub fn activity_text(&self) -> Option<String> {
        match self {
            Self::Message { .. } => None,
            Self::Joined(e) => Some(format!("{} joined", e.username)),
            Self::Left(e) => Some(format!("{} left", e.username)),
        }
    }
}

/// The room as this page sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomView {
    /// The name this page is in the room under; `None` on the entry form.
    pub me: Option<String>,
    /// Messages and activity, oldest first.
    pub entries: Vec<Entry>,
    /// Who is online, in the order they came.
    pub users: Vec<String>,
    /// Who is typing, with when we last heard so (ms, the page's clock).
    pub typing: Vec<(String, f64)>,
}

impl RoomView {
    /// Applies an event from the server, received at `now` (ms).
    pub fn apply(&mut self, event: ServerEvent, now: f64) {
        match event {
            ServerEvent::Login(login) => self.logged_in(login),
            ServerEvent::UserJoined(joined) => {
                if !self
                    .users
                    .iter()
                    .any(|u| u.eq_ignore_ascii_case(&joined.username))
                {
                    self.users.push(joined.username.clone());
                }
                self.push(Entry::Joined(joined));
            }
            ServerEvent::UserLeft(left) => {
                self.users.retain(|u| u != &left.username);
                self.stop_typing(&left.username);
                self.push(Entry::Left(left));
            }
            ServerEvent::NewMessage(message) => {
                self.stop_typing(&message.username);
                let own = self.me.as_deref() == Some(message.username.as_str());
                self.push(Entry::Message { message, own });
            }
            ServerEvent::Typing(t) => {
                if self.me.as_deref() == Some(t.username.as_str()) {
                    return; // another tab of ours
                }
                match self.typing.iter_mut().find(|(name, _)| *name == t.username) {
                    Some((_, seen)) => *seen = now,
                    None => self.typing.push((t.username, now)),
                }
            }
            ServerEvent::StopTyping(t) => self.stop_typing(&t.username),
        }
    }

    /// This page entered (or re-entered) the room.
    pub fn logged_in(&mut self, login: Login) {
        let joined = login.joined();
        self.me = Some(login.username);
        self.users = login.users;
        self.push(Entry::Joined(joined));
    }

    /// This page's own message, as the server's acknowledgement returned it.
    pub fn sent(&mut self, message: ChatMessage) {
        self.push(Entry::Message { message, own: true });
    }

    /// Drops "typing" marks older than [`TYPING_TIMEOUT_MS`]; true if any went.
    pub fn expire_typing(&mut self, now: f64) -> bool {
        let before = self.typing.len();
        self.typing
            .retain(|(_, seen)| now - seen < TYPING_TIMEOUT_MS);
        self.typing.len() != before
    }

    /// "alice is typing…", "alice and bob are typing…", or `None`.
    pub fn typing_text(&self) -> Option<String> {
        let names: Vec<&str> = self.typing.iter().map(|(n, _)| n.as_str()).collect();
        match names.as_slice() {
            [] => None,
            [one] => Some(format!("{one} is typing…")),
            [first, second] => Some(format!("{first} and {second} are typing…")),
            [first, second, rest @ ..] => Some(format!(
                "{first}, {second} and {} more are typing…",
                rest.len()
            )),
        }
    }

    /// "1 person online", "3 people online".
    pub fn online_text(&self) -> String {
        match self.users.len() {
            1 => "1 person online".to_owned(),
            n => format!("{n} people online"),
        }
    }

    /// Joins and leaves only, newest last.
    pub fn activity(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| !matches!(e, Entry::Message { .. }))
    }

    /// Appends in id order, once: the same item can arrive twice (an ack and
    /// an echo from another tab, a re-sent login), but is shown once.
    fn push(&mut self, entry: Entry) {
        let id = entry.id();
        let pos = self.entries.partition_point(|e| e.id() < id);
        if self.entries.get(pos).is_some_and(|e| e.id() == id) {
            return;
        }
        self.entries.insert(pos, entry);
    }

    fn stop_typing(&mut self, username: &str) {
        self.typing.retain(|(name, _)| name != username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::UserTyping;

    fn message(id: EventId, username: &str, text: &str) -> ChatMessage {
        ChatMessage {
            username: username.into(),
            message: text.into(),
            id,
            timestamp: 1_700_000_000_000,
        }
    }

    fn user_event(id: EventId, username: &str, num_users: usize) -> UserEvent {
        UserEvent {
            username: username.into(),
            num_users,
            id,
            timestamp: 1_700_000_000_000,
        }
    }

    fn alice_in() -> RoomView {
        let mut view = RoomView::default();
        view.logged_in(Login {
            num_users: 2,
            username: "alice".into(),
            users: vec!["bob".into(), "alice".into()],
            id: 10,
            timestamp: 1,
        });
        view
    }

    #[test]
    fn login_sets_me_users_and_logs_the_join() {
        let view = alice_in();
        assert_eq!(view.me.as_deref(), Some("alice"));
        assert_eq!(view.online_text(), "2 people online");
        assert_eq!(view.entries.len(), 1);
        assert_eq!(
            view.entries[0].activity_text().as_deref(),
            Some("alice joined")
        );
    }

    #[test]
    fn joins_and_leaves_update_the_online_list_and_the_log() {
        let mut view = alice_in();
        view.apply(ServerEvent::UserJoined(user_event(11, "carol", 3)), 0.0);
        assert_eq!(view.users, ["bob", "alice", "carol"]);
        view.apply(ServerEvent::UserLeft(user_event(12, "bob", 2)), 0.0);
        assert_eq!(view.users, ["alice", "carol"]);
        let log: Vec<String> = view.activity().filter_map(Entry::activity_text).collect();
        assert_eq!(log, ["alice joined", "carol joined", "bob left"]);
        view.apply(ServerEvent::UserLeft(user_event(13, "carol", 1)), 0.0);
        assert_eq!(view.online_text(), "1 person online");
    }

    #[test]
    fn messages_are_shown_once_in_id_order() {
        let mut view = alice_in();
        view.apply(ServerEvent::NewMessage(message(14, "bob", "later")), 0.0);
        view.sent(message(12, "alice", "mine"));
        view.sent(message(12, "alice", "mine"));
        let ids: Vec<EventId> = view.entries.iter().map(Entry::id).collect();
        assert_eq!(ids, [10, 12, 14]);
        assert!(matches!(&view.entries[1], Entry::Message { own: true, .. }));
        assert!(matches!(
            &view.entries[2],
            Entry::Message { own: false, .. }
        ));
    }

    #[test]
    fn typing_shows_clears_and_expires() {
        let mut view = alice_in();
        let typing = |name: &str| {
            ServerEvent::Typing(UserTyping {
                username: name.into(),
            })
        };
        view.apply(typing("alice"), 0.0);
        assert_eq!(view.typing_text(), None, "own typing is never shown");
        view.apply(typing("bob"), 0.0);
        assert_eq!(view.typing_text().as_deref(), Some("bob is typing…"));
        view.apply(typing("carol"), 1_000.0);
        assert_eq!(
            view.typing_text().as_deref(),
            Some("bob and carol are typing…")
        );
        view.apply(ServerEvent::NewMessage(message(20, "bob", "done")), 1_500.0);
        assert_eq!(view.typing_text().as_deref(), Some("carol is typing…"));
        assert!(!view.expire_typing(2_000.0));
        assert!(view.expire_typing(1_000.0 + TYPING_TIMEOUT_MS));
        assert_eq!(view.typing_text(), None);
        view.apply(typing("dave"), 0.0);
        view.apply(
            ServerEvent::StopTyping(UserTyping {
                username: "dave".into(),
            }),
            0.0,
        );
        assert_eq!(view.typing_text(), None);
    }
}
