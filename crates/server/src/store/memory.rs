//! The conversation kept in memory only, for the benchmark that prices
//! storage (`--features bench-memory-store`; see BENCHMARKS.md). It answers
//! like the database (same ids, pages and order) but forgets everything when
//! the process stops, so no product build includes it. Accounts stay in the
//! database.

use std::sync::{Arc, Mutex, PoisonError};

use protocol::{EventId, HistoryItem};

use super::{NewItem, stored_item};

/// The items, oldest first; cheap to clone, every clone is the same log.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog(Arc<Mutex<Vec<HistoryItem>>>);

impl MemoryLog {
    /// Appends `items`, all stamped `ts`; their ids in order.
    pub fn insert(&self, items: &[&NewItem], ts: i64) -> Vec<EventId> {
        let mut log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let first = log.last().map_or(1, |item| item.id() + 1);
        let ids: Vec<EventId> = (first..).take(items.len()).collect();
        for (item, id) in items.iter().zip(&ids) {
            log.push(stored_item((*item).clone(), *id, ts));
        }
        ids
    }

    /// Up to `limit` items before `id`, newest first.
    pub fn before(&self, id: EventId, limit: usize) -> Vec<HistoryItem> {
        let log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let end = log.partition_point(|item| item.id() < id);
        log[..end].iter().rev().take(limit).cloned().collect()
    }

    /// Up to `limit` items after `id`, oldest first.
    pub fn after(&self, id: EventId, limit: usize) -> Vec<HistoryItem> {
        let log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
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
            })
            .collect();
        let refs: Vec<&NewItem> = items.iter().collect();
        assert_eq!(log.insert(&refs, 7), [1, 2, 3, 4, 5]);
        let ids = |items: Vec<HistoryItem>| items.iter().map(HistoryItem::id).collect::<Vec<_>>();
        assert_eq!(ids(log.before(4, 2)), [3, 2]);
        assert_eq!(ids(log.before(EventId::MAX, 10)), [5, 4, 3, 2, 1]);
        assert_eq!(ids(log.after(2, 2)), [3, 4]);
        assert_eq!(ids(log.after(5, 2)), Vec::<EventId>::new());
    }
}
