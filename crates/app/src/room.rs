//! What the page knows about the room, as plain data: the stream of messages
//! and joins/leaves, who is online, who is typing. Server events and the
//! user's own actions update it; the components only render it. Being plain
//! data, it is unit-tested natively.

use protocol::{ChatMessage, EventId, HistoryItem, HistoryPage, Login, ServerEvent};

/// How long a "typing" lasts without news before it is dropped, in ms.
pub const TYPING_TIMEOUT_MS: f64 = 6_000.0;

/// One item of the stream: a message, a join or a leave, as stored.
pub type Entry = HistoryItem;

/// "alice joined" / "alice left" for activity; `None` for messages.
pub fn activity_text(entry: &Entry) -> Option<String> {
    match entry {
        Entry::Message(_) => None,
        Entry::Joined(e) => Some(format!("{} joined", e.username)),
        Entry::Left(e) => Some(format!("{} left", e.username)),
    }
}

/// The room as this page sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomView {
    /// The name this page is in the room under; `None` on the entry form.
    pub me: Option<String>,
    /// Messages and activity, in id order, each once.
    pub entries: Vec<Entry>,
    /// Whether `entries` reaches back to the beginning of the conversation.
    pub complete: bool,
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
                self.push(Entry::Message(message));
            }
            ServerEvent::Typing(t) => {
                if self.is_me(&t.username) {
                    return; // another tab of ours
                }
                match self.typing.iter_mut().find(|(name, _)| *name == t.username) {
                    Some((_, seen)) => *seen = now,
                    None => self.typing.push((t.username, now)),
                }
            }
            ServerEvent::StopTyping(t) => self.stop_typing(&t.username),
            // The page's connection handling deals with these, not the room.
            ServerEvent::SessionExpired(_) | ServerEvent::TooSlow(_) | ServerEvent::Flooding(_) => {
            }
        }
    }

    /// This page entered (or re-entered) the room: who is online, and the
    /// recent conversation merged into what the page already shows.
    pub fn logged_in(&mut self, login: Login) {
        self.me = Some(login.username);
        self.users = login.users;
        self.older(login.history);
    }

    /// A page of older items (scrollback, or the recent history at entry).
    pub fn older(&mut self, page: HistoryPage) {
        let reaches_back = match (page.items.first(), self.entries.first()) {
            (Some(oldest), Some(first)) => oldest.id() <= first.id(),
            _ => true,
        };
        if reaches_back {
            self.complete = !page.more;
        }
        self.merge(page.items);
    }

    /// Items missed while away, or any others: each shown once, in order.
    pub fn merge(&mut self, items: Vec<Entry>) {
        for item in items {
            self.push(item);
        }
    }

    /// This page's own message, as the server's acknowledgement returned it.
    pub fn sent(&mut self, message: ChatMessage) {
        self.push(Entry::Message(message));
    }

    /// Whether `username` is this page's user.
    pub fn is_me(&self, username: &str) -> bool {
        self.me.as_deref() == Some(username)
    }

    /// The newest id shown, to catch up from after a reconnection.
    pub fn last_id(&self) -> Option<EventId> {
        self.entries.last().map(Entry::id)
    }

    /// The oldest id shown, to scroll back from.
    pub fn first_id(&self) -> Option<EventId> {
        self.entries.first().map(Entry::id)
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

    /// Joins and leaves only, oldest first.
    pub fn activity(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| !matches!(e, Entry::Message(_)))
    }

    /// Inserts in id order, once: the same item can arrive twice (an ack and
    /// a login's history, a live message and a catch-up page), but shows once.
    fn push(&mut self, entry: Entry) {
        let id = entry.id();
        if self.entries.last().is_none_or(|last| last.id() < id) {
            self.entries.push(entry);
            return;
        }
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
    use protocol::{UserEvent, UserTyping};

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

    fn ids(view: &RoomView) -> Vec<EventId> {
        view.entries.iter().map(Entry::id).collect()
    }

    fn alice_in() -> RoomView {
        let mut view = RoomView::default();
        view.logged_in(Login {
            num_users: 2,
            username: "alice".into(),
            users: vec!["bob".into(), "alice".into()],
            history: HistoryPage {
                items: vec![
                    Entry::Message(message(8, "bob", "before you came")),
                    Entry::Joined(user_event(10, "alice", 2)),
                ],
                more: true,
            },
        });
        view
    }

    #[test]
    fn login_sets_me_users_and_the_recent_history() {
        let view = alice_in();
        assert!(view.is_me("alice"));
        assert_eq!(view.online_text(), "2 people online");
        assert_eq!(ids(&view), [8, 10]);
        assert_eq!(
            activity_text(&view.entries[1]).as_deref(),
            Some("alice joined")
        );
        assert!(!view.complete, "older history exists");
    }

    #[test]
    fn joins_and_leaves_update_the_online_list_and_the_log() {
        let mut view = alice_in();
        view.apply(ServerEvent::UserJoined(user_event(11, "carol", 3)), 0.0);
        assert_eq!(view.users, ["bob", "alice", "carol"]);
        view.apply(ServerEvent::UserLeft(user_event(12, "bob", 2)), 0.0);
        assert_eq!(view.users, ["alice", "carol"]);
        let log: Vec<String> = view.activity().filter_map(activity_text).collect();
        assert_eq!(log, ["alice joined", "carol joined", "bob left"]);
        view.apply(ServerEvent::UserLeft(user_event(13, "carol", 1)), 0.0);
        assert_eq!(view.online_text(), "1 person online");
    }

    #[test]
    fn items_are_shown_once_in_id_order() {
        let mut view = alice_in();
        view.apply(ServerEvent::NewMessage(message(14, "bob", "later")), 0.0);
        view.sent(message(12, "alice", "mine"));
        view.sent(message(12, "alice", "mine"));
        assert_eq!(ids(&view), [8, 10, 12, 14]);
        assert_eq!((view.first_id(), view.last_id()), (Some(8), Some(14)));
    }

    #[test]
    fn scrollback_prepends_and_learns_the_beginning() {
        let mut view = alice_in();
        view.older(HistoryPage {
            items: vec![
                Entry::Message(message(3, "bob", "first")),
                Entry::Message(message(5, "bob", "second")),
            ],
            more: true,
        });
        assert_eq!(ids(&view), [3, 5, 8, 10]);
        assert!(!view.complete);
        view.older(HistoryPage {
            items: vec![Entry::Joined(user_event(1, "bob", 1))],
            more: false,
        });
        assert_eq!(ids(&view), [1, 3, 5, 8, 10]);
        assert!(view.complete);
    }

    #[test]
    fn catching_up_fills_the_gap_without_duplicates() {
        let mut view = alice_in();
        // While away, 11..=15 happened; 15 also arrived live after the reconnection.
        view.apply(ServerEvent::NewMessage(message(15, "bob", "live")), 0.0);
        view.merge(
            (11..=15)
                .map(|id| Entry::Message(message(id, "bob", "missed")))
                .collect(),
        );
        assert_eq!(ids(&view), [8, 10, 11, 12, 13, 14, 15]);
        // A re-entry's login page (newer than what is shown) does not claim the beginning.
        let page = HistoryPage {
            items: vec![Entry::Joined(user_event(16, "alice", 2))],
            more: true,
        };
        view.older(page);
        assert_eq!(view.last_id(), Some(16));
        assert!(!view.complete);
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
