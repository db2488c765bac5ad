//! What the page knows about the room, as plain data: the stream of messages
//! and joins/leaves, who is online, who is typing. Server events and the
//! user's own actions update it; the components only render it. Being plain
//! data, it is unit-tested natively. How the stream is laid out on screen
//! (groups, days, the rendered window) is in [`stream`].

pub mod stream;

use std::collections::VecDeque;

use protocol::{ChatMessage, EventId, HistoryItem, HistoryPage, Login, ServerEvent};

/// How long a "typing" lasts without news before it is dropped, in ms.
pub const TYPING_TIMEOUT_MS: f64 = 6_000.0;

/// How many items the page keeps in memory. Past it, the oldest are
/// forgotten (scrollback fetches them again from the server), so a page left
/// open in a busy room does not grow without end: 5,000 messages of a few
/// hundred bytes are a few MB.
pub const MAX_ENTRIES: usize = 5_000;

/// One item of the stream: a message, a join or a leave, as stored.
pub type Entry = HistoryItem;

/// A piece of a line of the page that mentions users: their names are kept
/// apart from the words around them, so the page can isolate each (a
/// right-to-left name must not reorder "joined" or the next name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A user's name.
    Name(String),
    /// The words between names.
    Text(String),
}

/// "alice joined" / "alice left" for activity; `None` for messages.
pub fn activity_line(entry: &Entry) -> Option<Vec<Piece>> {
    let (event, verb) = match entry {
        Entry::Message(_) => return None,
        Entry::Joined(e) => (e, " joined"),
        Entry::Left(e) => (e, " left"),
    };
    Some(vec![
        Piece::Name(event.username.clone()),
        Piece::Text(verb.to_owned()),
    ])
}

/// The room as this page sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomView {
    /// The name this page is in the room under; `None` on the entry form.
    pub me: Option<String>,
    /// Messages and activity, in id order, each once; at most
    /// [`MAX_ENTRIES`], the newest. A deque: appending and forgetting the
    /// oldest are O(1) however long the conversation.
    pub entries: VecDeque<Entry>,
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
                // The server names each user online by one spelling (the
                // room is keyed by `protocol::name_key`), so spellings are
                // compared as they are, here and on leaving; calling
                // `name_key` would bring its confusables table (some 43 kB
                // gzipped) into the page for nothing.
                if !self.users.contains(&joined.username) {
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
        let reaches_back = match (page.items.first(), self.entries.front()) {
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
        self.entries.back().map(Entry::id)
    }

    /// The oldest id shown, to scroll back from.
    pub fn first_id(&self) -> Option<EventId> {
        self.entries.front().map(Entry::id)
    }

    /// Drops "typing" marks older than [`TYPING_TIMEOUT_MS`]; true if any went.
    pub fn expire_typing(&mut self, now: f64) -> bool {
        let before = self.typing.len();
        self.typing
            .retain(|(_, seen)| now - seen < TYPING_TIMEOUT_MS);
        self.typing.len() != before
    }

    /// "alice is typing…", "alice and bob are typing…", or `None`.
    pub fn typing_line(&self) -> Option<Vec<Piece>> {
        let name = |n: &String| Piece::Name(n.clone());
        let text = |t: &str| Piece::Text(t.to_owned());
        match self.typing.as_slice() {
            [] => None,
            [(one, _)] => Some(vec![name(one), text(" is typing…")]),
            [(first, _), (second, _)] => Some(vec![
                name(first),
                text(" and "),
                name(second),
                text(" are typing…"),
            ]),
            [(first, _), (second, _), rest @ ..] => Some(vec![
                name(first),
                text(", "),
                name(second),
                Piece::Text(format!(" and {} more are typing…", rest.len())),
            ]),
        }
    }

    /// "1 person online", "3 people online".
    pub fn online_text(&self) -> String {
        match self.users.len() {
            1 => "1 person online".to_owned(),
            n => format!("{n} people online"),
        }
    }

    /// The newest `count` joins and leaves, oldest first: read from the
    /// newest end, so the cost is the stretch they span, not the history.
    pub fn recent_activity(&self, count: usize) -> Vec<Entry> {
        let mut recent: Vec<Entry> = self
            .entries
            .iter()
            .rev()
            .filter(|e| !matches!(e, Entry::Message(_)))
            .take(count)
            .cloned()
            .collect();
        recent.reverse();
        recent
    }

    /// Inserts in id order, once: the same item can arrive twice (an ack and
    /// a login's history, a live message and a catch-up page), but shows once.
    fn push(&mut self, entry: Entry) {
        let id = entry.id();
        if self.entries.back().is_none_or(|last| last.id() < id) {
            self.entries.push_back(entry);
            if self.entries.len() > MAX_ENTRIES {
                self.entries.pop_front();
                self.complete = false;
            }
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

    /// A line as the reader sees it.
    fn text(line: Option<Vec<Piece>>) -> Option<String> {
        line.map(|pieces| {
            pieces
                .into_iter()
                .map(|piece| match piece {
                    Piece::Name(s) | Piece::Text(s) => s,
                })
                .collect()
        })
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
            text(activity_line(&view.entries[1])).as_deref(),
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
        let log = |count| -> Vec<String> {
            view.recent_activity(count)
                .iter()
                .filter_map(|e| text(activity_line(e)))
                .collect()
        };
        assert_eq!(log(30), ["alice joined", "carol joined", "bob left"]);
        assert_eq!(log(2), ["carol joined", "bob left"], "the newest, in order");
        assert_eq!(log(0), Vec::<String>::new());
        view.apply(ServerEvent::UserLeft(user_event(13, "carol", 1)), 0.0);
        assert_eq!(view.online_text(), "1 person online");
    }

    #[test]
    fn names_stay_apart_from_the_words_around_them() {
        let mut view = alice_in();
        view.apply(ServerEvent::UserJoined(user_event(11, "سارا", 3)), 0.0);
        assert_eq!(
            activity_line(view.entries.back().unwrap()),
            Some(vec![
                Piece::Name("سارا".into()),
                Piece::Text(" joined".into())
            ])
        );
        for name in ["bob", "سارا", "dave"] {
            view.apply(
                ServerEvent::Typing(UserTyping {
                    username: name.into(),
                }),
                0.0,
            );
        }
        let line = view.typing_line().unwrap();
        assert_eq!(line[0], Piece::Name("bob".into()));
        assert_eq!(line[2], Piece::Name("سارا".into()));
        assert_eq!(
            text(Some(line)).as_deref(),
            Some("bob, سارا and 1 more are typing…")
        );
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
    fn memory_keeps_the_newest_items_only() {
        let mut view = alice_in();
        view.complete = true;
        for id in 11..11 + MAX_ENTRIES as EventId {
            view.apply(ServerEvent::NewMessage(message(id, "bob", "flood")), 0.0);
        }
        assert_eq!(view.entries.len(), MAX_ENTRIES);
        assert_eq!(view.first_id(), Some(11));
        assert_eq!(view.last_id(), Some(10 + MAX_ENTRIES as EventId));
        assert!(!view.complete, "the forgotten ones come back by scrollback");
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
        assert_eq!(text(view.typing_line()), None, "own typing is never shown");
        view.apply(typing("bob"), 0.0);
        assert_eq!(text(view.typing_line()).as_deref(), Some("bob is typing…"));
        view.apply(typing("carol"), 1_000.0);
        assert_eq!(
            text(view.typing_line()).as_deref(),
            Some("bob and carol are typing…")
        );
        view.apply(ServerEvent::NewMessage(message(20, "bob", "done")), 1_500.0);
        assert_eq!(
            text(view.typing_line()).as_deref(),
            Some("carol is typing…")
        );
        assert!(!view.expire_typing(2_000.0));
        assert!(view.expire_typing(1_000.0 + TYPING_TIMEOUT_MS));
        assert_eq!(text(view.typing_line()), None);
        view.apply(typing("dave"), 0.0);
        view.apply(
            ServerEvent::StopTyping(UserTyping {
                username: "dave".into(),
            }),
            0.0,
        );
        assert_eq!(text(view.typing_line()), None);
    }
}
