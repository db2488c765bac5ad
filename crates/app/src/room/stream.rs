//! The stream as the reader sees it, as plain data: which items are rendered
//! (a bounded [`Window`] of the room's entries), and the rows they make:
//! messages grouped under one name and time per run, day dividers, runs of
//! joins and leaves collapsed into one line, and the "New messages" marker.
//!
//! The page renders only the window, so what each new message costs the
//! page depends on the window's size, not on the conversation's length.

use std::collections::VecDeque;

use protocol::{ChatMessage, EventId, Timestamp};

use super::{Entry, Piece};
use crate::format::day_label;

/// Messages by one person this close together (ms) go under one name.
pub const GROUP_GAP_MS: Timestamp = 5 * 60 * 1000;

/// How many of the newest items are rendered while the reader follows the
/// conversation: a few screens' worth.
pub const FOLLOW_ITEMS: usize = 200;

/// The most items rendered however far the reader scrolled; past it, the
/// far end of the window is dropped from the page (and comes back from
/// memory when scrolled to).
pub const MAX_ITEMS: usize = 600;

/// How many items a scroll to either end of the window brings back.
pub const STEP_ITEMS: usize = 100;

/// A message is folded behind "Show more" past this many characters...
pub const FOLD_CHARS: usize = 1_000;

/// ...or this many lines.
pub const FOLD_LINES: usize = 12;

/// Which of the room's entries are on the page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// The oldest rendered item; `None` follows the newest
    /// [`FOLLOW_ITEMS`].
    pub start: Option<EventId>,
    /// The first item after the window, if the window stops before the
    /// newest; at most [`MAX_ITEMS`] are rendered either way.
    pub end: Option<EventId>,
}

/// The part of the entries a [`Window`] covers, as indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The first rendered index.
    pub from: usize,
    /// One past the last rendered index.
    pub to: usize,
    /// How many entries there are.
    pub len: usize,
}

impl Span {
    /// Items in memory before the window.
    pub fn hidden_above(&self) -> usize {
        self.from
    }

    /// Items in memory after the window (newer than what is rendered).
    pub fn hidden_below(&self) -> usize {
        self.len - self.to
    }
}

impl Window {
    /// Following the newest.
    pub fn follow() -> Self {
        Self::default()
    }

    /// Whether the window follows the newest items.
    pub fn following(&self) -> bool {
        self.start.is_none()
    }

    /// The indices this window covers in `entries`.
    pub fn span(&self, entries: &VecDeque<Entry>) -> Span {
        let len = entries.len();
        let index = |id: EventId| entries.partition_point(|e| e.id() < id);
        let (from, to) = match self.start {
            None => (len.saturating_sub(FOLLOW_ITEMS), len),
            Some(start) => {
                let from = index(start);
                let to = self.end.map_or(len, index).max(from);
                (from, to.min(from + MAX_ITEMS))
            }
        };
        Span { from, to, len }
    }

    /// The same items, held still: the reader left the bottom, so new
    /// items must not push the ones being read off the top.
    pub fn hold(self, entries: &VecDeque<Entry>) -> Self {
        if !self.following() {
            return self;
        }
        let span = self.span(entries);
        Self::from_span(entries, span.from, span.to)
    }

    /// [`STEP_ITEMS`] more from memory above, dropping from the bottom past
    /// [`MAX_ITEMS`]. Unchanged when nothing is above in memory.
    pub fn earlier(self, entries: &VecDeque<Entry>) -> Self {
        let span = self.span(entries);
        if span.from == 0 {
            return self;
        }
        let from = span.from.saturating_sub(STEP_ITEMS);
        Self::from_span(entries, from, span.to.min(from + MAX_ITEMS))
    }

    /// [`STEP_ITEMS`] more from memory below, dropping from the top; follows
    /// the newest again once it reaches them.
    pub fn later(self, entries: &VecDeque<Entry>) -> Self {
        let span = self.span(entries);
        if span.hidden_below() == 0 {
            return self;
        }
        let to = (span.to + STEP_ITEMS).min(span.len);
        let from = (span.from + STEP_ITEMS).min(to);
        Self::from_span(entries, from, to)
    }

    fn from_span(entries: &VecDeque<Entry>, from: usize, to: usize) -> Self {
        Self {
            start: entries.get(from).map(Entry::id),
            end: entries.get(to).map(Entry::id),
        }
    }
}

/// What the rows depend on besides the entries. (Not `Debug`: it holds a
/// function.)
#[derive(Clone, Copy)]
#[allow(missing_debug_implementations)]
pub struct Layout<'a> {
    /// The reader's name: their messages are marked as their own.
    pub me: Option<&'a str>,
    /// The first item that came while the reader was not looking: the "New
    /// messages" divider goes above it.
    pub unread_from: Option<EventId>,
    /// Today, in days since 1970-01-01 on the reader's calendar.
    pub today: i64,
    /// The day of a timestamp on the reader's calendar.
    pub day_of: &'a dyn Fn(Timestamp) -> i64,
}

/// One row of the rendered stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// A day begins: "Today", "Yesterday", "Friday 4 December 2026".
    Day {
        /// Days since 1970-01-01.
        day: i64,
        /// What the divider says.
        label: String,
    },
    /// "New messages": what follows came while the reader was away.
    Unread {
        /// The first item after it.
        before: EventId,
    },
    /// A message.
    Message {
        /// As stored.
        message: ChatMessage,
        /// The first of its run: it shows the name and time.
        head: bool,
        /// The reader's own.
        own: bool,
        /// Long: shown folded behind "Show more".
        long: bool,
    },
    /// Consecutive joins and leaves, as one line.
    Activity {
        /// Oldest first; never empty.
        events: Vec<Entry>,
    },
}

/// What identifies a row for keyed rendering: a row is re-rendered only when
/// its key changes (a message becoming the head of its run, a run of joins
/// growing, a divider's words changing at midnight).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowKey {
    /// A day divider and its words.
    Day(i64, String),
    /// The unread divider, by the item after it.
    Unread(EventId),
    /// A message and whether it heads its run.
    Message(EventId, bool),
    /// A run of joins and leaves, by its first and last ids.
    Activity(EventId, EventId),
}

impl Row {
    /// The row's key (see [`RowKey`]).
    pub fn key(&self) -> RowKey {
        match self {
            Row::Day { day, label } => RowKey::Day(*day, label.clone()),
            Row::Unread { before } => RowKey::Unread(*before),
            Row::Message { message, head, .. } => RowKey::Message(message.id, *head),
            Row::Activity { events } => RowKey::Activity(
                events.first().map_or(0, Entry::id),
                events.last().map_or(0, Entry::id),
            ),
        }
    }
}

/// Whether a message is long enough to fold behind "Show more".
pub fn is_long(text: &str) -> bool {
    (text.len() > FOLD_CHARS && text.chars().count() > FOLD_CHARS)
        || text.lines().count() > FOLD_LINES
}

/// The rows for `entries` (the window's items, oldest first).
pub fn rows<'e>(entries: impl IntoIterator<Item = &'e Entry>, layout: &Layout<'_>) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut day = None;
    for entry in entries {
        let this_day = (layout.day_of)(entry.timestamp());
        let mut fresh = false;
        if day != Some(this_day) {
            day = Some(this_day);
            rows.push(Row::Day {
                day: this_day,
                label: day_label(this_day, layout.today),
            });
            fresh = true;
        }
        if layout.unread_from == Some(entry.id()) {
            rows.push(Row::Unread { before: entry.id() });
            fresh = true;
        }
        match entry {
            Entry::Message(message) => {
                let head = fresh
                    || !matches!(rows.last(), Some(Row::Message { message: prev, .. })
                        if prev.username == message.username
                            && message.timestamp - prev.timestamp <= GROUP_GAP_MS);
                rows.push(Row::Message {
                    own: layout.me == Some(message.username.as_str()),
                    long: is_long(&message.message),
                    message: message.clone(),
                    head,
                });
            }
            activity => {
                if !fresh && let Some(Row::Activity { events }) = rows.last_mut() {
                    events.push(activity.clone());
                } else {
                    rows.push(Row::Activity {
                        events: vec![activity.clone()],
                    });
                }
            }
        }
    }
    rows
}

/// A run of joins and leaves in a line: "alice joined", "alice and bob
/// joined, carol left", "alice, bob and 3 others joined". Each name is
/// named once per verb, in the order they came.
pub fn activity_summary(events: &[Entry]) -> Vec<Piece> {
    // (verb, names) in the order each verb first appears.
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for event in events {
        let (verb, name) = match event {
            Entry::Joined(e) => (" joined", e.username.as_str()),
            Entry::Left(e) => (" left", e.username.as_str()),
            Entry::Message(_) => continue,
        };
        match groups.iter_mut().find(|(v, _)| *v == verb) {
            Some((_, names)) if names.contains(&name) => {}
            Some((_, names)) => names.push(name),
            None => groups.push((verb, vec![name])),
        }
    }
    let mut pieces = Vec::new();
    for (i, (verb, names)) in groups.iter().enumerate() {
        if i > 0 {
            pieces.push(Piece::Text(", ".to_owned()));
        }
        let name = |n: &str| Piece::Name(n.to_owned());
        let text = |t: &str| Piece::Text(t.to_owned());
        match names.as_slice() {
            [] => {}
            [one] => pieces.push(name(one)),
            [init @ .., last] if names.len() <= 3 => {
                for (j, n) in init.iter().enumerate() {
                    if j > 0 {
                        pieces.push(text(", "));
                    }
                    pieces.push(name(n));
                }
                pieces.push(text(" and "));
                pieces.push(name(last));
            }
            [first, second, rest @ ..] => {
                pieces.push(name(first));
                pieces.push(text(", "));
                pieces.push(name(second));
                pieces.push(Piece::Text(format!(" and {} others", rest.len())));
            }
        }
        pieces.push(text(verb));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::UserEvent;

    const DAY_MS: Timestamp = 86_400_000;
    /// 2026-12-04T00:00:00Z.
    const DEC4: Timestamp = 1_796_342_400_000;

    fn message(id: EventId, username: &str, at: Timestamp) -> Entry {
        Entry::Message(ChatMessage {
            username: username.into(),
            message: format!("message {id}"),
            id,
            timestamp: at,
        })
    }

    fn user(id: EventId, username: &str, at: Timestamp) -> UserEvent {
        UserEvent {
            username: username.into(),
            num_users: 1,
            id,
            timestamp: at,
        }
    }

    fn joined(id: EventId, username: &str) -> Entry {
        Entry::Joined(user(id, username, DEC4 + id as Timestamp))
    }

    fn left(id: EventId, username: &str) -> Entry {
        Entry::Left(user(id, username, DEC4 + id as Timestamp))
    }

    fn utc_day(ms: Timestamp) -> i64 {
        ms.div_euclid(DAY_MS)
    }

    fn layout(unread_from: Option<EventId>) -> Layout<'static> {
        Layout {
            me: Some("alice"),
            unread_from,
            today: utc_day(DEC4),
            day_of: &utc_day,
        }
    }

    /// The rows as short words: "day:Today", "unread", "alice*" (a head),
    /// "+" (a message under the name above), "activity:alice joined".
    fn shape(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|row| match row {
                Row::Day { label, .. } => format!("day:{label}"),
                Row::Unread { .. } => "unread".to_owned(),
                Row::Message { message, head, .. } => {
                    if *head {
                        format!("{}*", message.username)
                    } else {
                        "+".to_owned()
                    }
                }
                Row::Activity { events } => format!("activity:{}", line(activity_summary(events))),
            })
            .collect()
    }

    fn line(pieces: Vec<Piece>) -> String {
        pieces
            .into_iter()
            .map(|p| match p {
                Piece::Name(s) | Piece::Text(s) => s,
            })
            .collect()
    }

    const MIN: Timestamp = 60_000;

    #[test]
    fn a_run_of_messages_shows_one_name_and_time() {
        let entries = [
            message(1, "bob", DEC4 + 10 * MIN),
            message(2, "bob", DEC4 + 11 * MIN),
            message(3, "bob", DEC4 + 16 * MIN),
            message(4, "bob", DEC4 + 21 * MIN + 1), // over 5 minutes after the last
            message(5, "alice", DEC4 + 22 * MIN),
            message(6, "bob", DEC4 + 23 * MIN),
        ];
        let rows = rows(&entries, &layout(None));
        assert_eq!(
            shape(&rows),
            ["day:Today", "bob*", "+", "+", "bob*", "alice*", "bob*"]
        );
        assert!(matches!(rows[5], Row::Message { own: true, .. }));
        assert!(matches!(rows[6], Row::Message { own: false, .. }));
    }

    #[test]
    fn days_are_divided_and_named() {
        let entries = [
            message(1, "bob", DEC4 - 3 * DAY_MS),
            message(2, "bob", DEC4 - DAY_MS + 1),
            message(3, "bob", DEC4 - 1),
            message(4, "bob", DEC4),
        ];
        assert_eq!(
            shape(&rows(&entries, &layout(None))),
            [
                "day:Tuesday 1 December 2026",
                "bob*",
                "day:Yesterday",
                "bob*",
                "bob*",
                "day:Today",
                "bob*"
            ]
        );
    }

    #[test]
    fn joins_and_leaves_in_a_row_make_one_line() {
        let entries = [
            joined(1, "alice"),
            joined(2, "bob"),
            left(3, "carol"),
            message(4, "bob", DEC4 + 4),
            joined(5, "dave"),
            joined(6, "erin"),
            joined(7, "frank"),
            joined(8, "gus"),
            joined(9, "hal"),
            left(10, "erin"),
            joined(11, "dave"),
        ];
        assert_eq!(
            shape(&rows(&entries, &layout(None))),
            [
                "day:Today",
                "activity:alice and bob joined, carol left",
                "bob*",
                "activity:dave, erin and 3 others joined, erin left",
            ]
        );
        assert_eq!(
            line(activity_summary(&[
                joined(1, "a"),
                joined(2, "b"),
                joined(3, "c")
            ])),
            "a, b and c joined"
        );
        assert_eq!(line(activity_summary(&[left(1, "a")])), "a left");
    }

    #[test]
    fn the_unread_divider_starts_a_new_run() {
        let entries = [
            message(1, "bob", DEC4 + 1),
            message(2, "bob", DEC4 + 2),
            message(3, "bob", DEC4 + 3),
        ];
        let rows = rows(&entries, &layout(Some(2)));
        assert_eq!(shape(&rows), ["day:Today", "bob*", "unread", "bob*", "+"]);
        assert_eq!(rows[2].key(), RowKey::Unread(2));
        assert_eq!(rows[3].key(), RowKey::Message(2, true));
        assert_eq!(rows[4].key(), RowKey::Message(3, false));
    }

    #[test]
    fn long_messages_fold() {
        assert!(!is_long("short"));
        assert!(is_long(&"x".repeat(FOLD_CHARS + 1)));
        assert!(
            !is_long(&"é".repeat(FOLD_CHARS / 2 + 1)),
            "characters, not bytes"
        );
        assert!(is_long(&"line\n".repeat(FOLD_LINES + 1)));
        assert!(!is_long(&"line\n".repeat(FOLD_LINES)));
        let entries = [Entry::Message(ChatMessage {
            username: "bob".into(),
            message: "\n".repeat(50),
            id: 1,
            timestamp: DEC4,
        })];
        assert!(matches!(
            rows(&entries, &layout(None))[1],
            Row::Message { long: true, .. }
        ));
    }

    fn many(n: EventId) -> VecDeque<Entry> {
        (1..=n).map(|id| message(id, "bob", DEC4)).collect()
    }

    #[test]
    fn following_renders_the_newest_only() {
        let mut entries = many(1_000);
        let window = Window::follow();
        let span = window.span(&entries);
        assert_eq!((span.from, span.to), (800, 1_000));
        entries.push_back(message(1_001, "bob", DEC4));
        let span = window.span(&entries);
        assert_eq!(
            span.to - span.from,
            FOLLOW_ITEMS,
            "an append renders one more, drops one"
        );
        assert_eq!(entries[span.from].id(), 802);
    }

    #[test]
    fn a_held_window_stays_put_and_stays_bounded() {
        let mut entries = many(1_000);
        let held = Window::follow().hold(&entries);
        assert_eq!(held.start, Some(801));
        entries.extend((1_001..=2_000).map(|id| message(id, "bob", DEC4)));
        let span = held.span(&entries);
        assert_eq!(
            entries[span.from].id(),
            801,
            "new items do not move the top"
        );
        assert_eq!(
            span.to - span.from,
            MAX_ITEMS,
            "nor grow the page without end"
        );
        assert_eq!(span.hidden_below(), 2_000 - 800 - MAX_ITEMS);
    }

    #[test]
    fn scrolling_brings_back_items_from_memory() {
        let entries = many(1_000);
        let mut window = Window::follow().hold(&entries);
        for _ in 0..4 {
            window = window.earlier(&entries);
        }
        let span = window.span(&entries);
        assert_eq!((span.from, span.to), (400, 1_000));
        window = window.earlier(&entries);
        let span = window.span(&entries);
        assert_eq!(
            (span.from, span.to),
            (300, 900),
            "the bottom is dropped past MAX_ITEMS"
        );
        for _ in 0..9 {
            window = window.earlier(&entries);
        }
        assert_eq!(window.span(&entries).from, 0);
        assert_eq!(window.earlier(&entries), window, "nothing more in memory");
        for _ in 0..20 {
            window = window.later(&entries);
        }
        let span = window.span(&entries);
        assert_eq!((span.hidden_above(), span.hidden_below()), (400, 0));
        assert_eq!(window.end, None, "back at the newest");
    }
}
