//! The newest page of the conversation, kept in memory so that a connection
//! entering the room (which gets that page in its `login`) costs no query.
//! The store's writer adds each item as it is committed, in order; a prune
//! reloads it. Only for SQLite: one server process owns that file, so no
//! other writer can change the conversation behind the cache's back (with
//! PostgreSQL, several servers may share one database).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use protocol::{HistoryItem, HistoryPage, Timestamp};

/// The newest items; cheap to clone, every clone is the same cache.
#[derive(Debug, Clone)]
pub struct Recent(Arc<Mutex<Inner>>);

#[derive(Debug)]
struct Inner {
    /// Oldest first, at most `capacity`.
    items: VecDeque<HistoryItem>,
    capacity: usize,
    /// Whether older items exist than the oldest here.
    more: bool,
}

impl Recent {
    /// A cache of the newest `capacity` items, starting from `page` (the
    /// newest page as the database has it).
    pub fn new(capacity: usize, page: HistoryPage) -> Self {
        let recent = Self(Arc::new(Mutex::new(Inner {
            items: VecDeque::with_capacity(capacity + 1),
            capacity,
            more: false,
        })));
        recent.reset(page);
        recent
    }

    /// Items older than `cutoff` (ms) were deleted.
    pub fn deleted_older_than(&self, cutoff: Timestamp) {
        let mut inner = self.lock();
        let before = inner.items.len();
        inner.items.retain(|item| item.timestamp() >= cutoff);
        if inner.items.len() < before {
            // Everything older than what is left went too.
            inner.more = false;
        }
    }

    /// All but the newest `keep` items were deleted.
    pub fn kept_newest(&self, keep: usize) {
        let mut inner = self.lock();
        if keep <= inner.items.len() {
            let drop = inner.items.len() - keep;
            inner.items.drain(..drop);
            inner.more = false;
        }
    }

    fn reset(&self, page: HistoryPage) {
        let mut inner = self.lock();
        inner.items = page.items.into();
        inner.more = page.more;
        while inner.items.len() > inner.capacity {
            inner.items.pop_front();
            inner.more = true;
        }
    }

    /// A newly committed item (items come in id order).
    pub fn push(&self, item: &HistoryItem) {
        let mut inner = self.lock();
        inner.items.push_back(item.clone());
        if inner.items.len() > inner.capacity {
            inner.items.pop_front();
            inner.more = true;
        }
    }

    /// The newest `limit` items, if the cache can tell.
    pub fn page(&self, limit: usize) -> Option<HistoryPage> {
        let inner = self.lock();
        let len = inner.items.len();
        if limit > len && inner.more {
            return None;
        }
        let skip = len.saturating_sub(limit);
        Some(HistoryPage {
            items: inner.items.iter().skip(skip).cloned().collect(),
            more: skip > 0 || inner.more,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update completes before it can panic.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use protocol::ChatMessage;

    use super::*;

    fn message(id: u64) -> HistoryItem {
        HistoryItem::Message(ChatMessage {
            username: "a".into(),
            message: format!("m{id}"),
            id,
            timestamp: 0,
        })
    }

    fn ids(page: &HistoryPage) -> Vec<u64> {
        page.items.iter().map(HistoryItem::id).collect()
    }

    #[test]
    fn keeps_the_newest_and_knows_what_it_does_not_know() {
        let empty = HistoryPage {
            items: vec![],
            more: false,
        };
        let recent = Recent::new(3, empty);
        assert_eq!(ids(&recent.page(3).unwrap()), Vec::<u64>::new());
        for id in 1..=2 {
            recent.push(&message(id));
        }
        let page = recent.page(3).unwrap();
        assert_eq!((ids(&page), page.more), (vec![1, 2], false));
        for id in 3..=5 {
            recent.push(&message(id));
        }
        let page = recent.page(3).unwrap();
        assert_eq!((ids(&page), page.more), (vec![3, 4, 5], true));
        let page = recent.page(2).unwrap();
        assert_eq!((ids(&page), page.more), (vec![4, 5], true));
        assert!(
            recent.page(4).is_none(),
            "older items are only in the database"
        );
        recent.kept_newest(2);
        let page = recent.page(3).unwrap();
        assert_eq!((ids(&page), page.more), (vec![4, 5], false));
    }

    #[test]
    fn starts_from_the_database_page() {
        let recent = Recent::new(
            2,
            HistoryPage {
                items: vec![message(7), message(8), message(9)],
                more: false,
            },
        );
        let page = recent.page(2).unwrap();
        assert_eq!((ids(&page), page.more), (vec![8, 9], true));
    }
}
