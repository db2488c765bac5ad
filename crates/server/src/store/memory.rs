//! The conversation kept in memory only, for the benchmark that prices
//! storage (`--features bench-memory-store`; see BENCHMARKS.md). It answers
//! like the database (same ids, pages and order) but forgets everything when
//! the process stops, so no product build includes it. Accounts stay in the
//! database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use protocol::{EventId, HistoryItem};

use super::sql::Written;
use super::{ClientKey, NewItem, stored_item};

/// The items, oldest first; cheap to clone, every clone is the same log.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog(Arc<Mutex<Log>>);

#[derive(Debug, Default)]
struct Log {
    items: Vec<HistoryItem>,
    /// Where each keyed message is in `items`.
    keys: HashMap<ClientKey, usize>,
}

impl MemoryLog {
    /// Appends `items`, all stamped `ts`, but for messages whose key is
    /// stored already: what became of each, in order.
    pub fn insert(&self, items: &[&NewItem], ts: i64) -> Vec<Written> {
        let mut log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let log = &mut *log;
        let mut next = log.items.last().map_or(1, |item| item.id() + 1);
        let mut written = Vec::with_capacity(items.len());
        for item in items {
            if let Some(at) = item.client_key().and_then(|key| log.keys.get(key))
                && let Some(stored) = log.items.get(*at)
            {
                written.push(Written::Found(stored.clone()));
                continue;
            }
            if let Some(key) = item.client_key() {
                log.keys.insert(key.clone(), log.items.len());
            }
            log.items.push(stored_item((*item).clone(), next, ts));
            written.push(Written::Inserted(next));
            next += 1;
        }
        written
    }

    /// Up to `limit` items before `id`, newest first.
    pub fn before(&self, id: EventId, limit: usize) -> Vec<HistoryItem> {
        let log = &self.0.lock().unwrap_or_else(PoisonError::into_inner).items;
        let end = log.partition_point(|item| item.id() < id);
        log[..end].iter().rev().take(limit).cloned().collect()
    }

    /// Up to `limit` items after `id`, oldest first.
    pub fn after(&self, id: EventId, limit: usize) -> Vec<HistoryItem> {
        let log = &self.0.lock().unwrap_or_else(PoisonError::into_inner).items;
        let start = log.partition_point(|item| item.id() <= id);
        log[start..].iter().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_like_the_database() {
        let log = MemoryLog::default();
        let items: Vec<NewItem> = (0..5)
            .map(|i| NewItem::Message {
                username: "a".into(),
                message: format!("m{i}"),
                key: None,
            })
            .collect();
        let refs: Vec<&NewItem> = items.iter().collect();
        let inserted = |written: Vec<Written>| {
            written
                .iter()
                .map(|w| w.inserted().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(inserted(log.insert(&refs, 7)), [1, 2, 3, 4, 5]);
        let ids = |items: Vec<HistoryItem>| items.iter().map(HistoryItem::id).collect::<Vec<_>>();
        assert_eq!(ids(log.before(4, 2)), [3, 2]);
        assert_eq!(ids(log.before(EventId::MAX, 10)), [5, 4, 3, 2, 1]);
        assert_eq!(ids(log.after(2, 2)), [3, 4]);
        assert_eq!(ids(log.after(5, 2)), Vec::<EventId>::new());
    }

    #[test]
    fn a_keyed_message_is_stored_once() {
        let log = MemoryLog::default();
        let keyed = NewItem::Message {
            username: "a".into(),
            message: "hi".into(),
            key: Some(ClientKey {
                sender: "name:a".into(),
                client_id: "c1".into(),
            }),
        };
        let first = log.insert(&[&keyed], 7);
        assert_eq!(first, [Written::Inserted(1)]);
        let again = log.insert(&[&keyed], 8);
        let [Written::Found(HistoryItem::Message(stored))] = again.as_slice() else {
            panic!("expected the stored message, got {again:?}");
        };
        assert_eq!((stored.id, stored.timestamp), (1, 7));
        assert_eq!(log.after(0, 10).len(), 1);
    }
}
