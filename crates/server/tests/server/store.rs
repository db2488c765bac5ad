//! The store, against both databases: SQLite in a fresh temporary directory,
//! and PostgreSQL at 127.0.0.1:5432 (database `test`) in a fresh schema that
//! is dropped afterwards. Every test runs once on each.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use protocol::{EventId, HistoryItem};
use server::store::{ClientKey, NewItem, Origin, Retention, Sink, Store};

use crate::support::PostgresSchema;

/// A store and whatever must be cleaned up after it.
struct TestStore {
    store: Store,
    _sqlite_dir: Option<tempfile::TempDir>,
    _postgres_schema: Option<PostgresSchema>,
}

async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    TestStore {
        store,
        _sqlite_dir: Some(dir),
        _postgres_schema: None,
    }
}

async fn postgres() -> TestStore {
    let schema = PostgresSchema::new().await;
    let store = Store::open(Some(&schema.url), std::path::Path::new("unused"))
        .await
        .unwrap();
    TestStore {
        store,
        _sqlite_dir: None,
        _postgres_schema: Some(schema),
    }
}

/// Runs a test body once on SQLite and once on PostgreSQL.
macro_rules! on_both {
    ($body:ident) => {
        mod $body {
            #[tokio::test]
            async fn sqlite() {
                let t = super::sqlite().await;
                super::$body(&t.store).await;
            }
            #[tokio::test]
            async fn postgres() {
                let t = super::postgres().await;
                super::$body(&t.store).await;
            }
        }
    };
}

fn message(i: usize) -> NewItem {
    NewItem::Message {
        username: "alice".into(),
        message: format!("message {i}"),
        key: None,
    }
}

fn ids(items: &[HistoryItem]) -> Vec<EventId> {
    items.iter().map(HistoryItem::id).collect()
}

on_both!(append_and_read_back);
async fn append_and_read_back(store: &Store) {
    let joined = store
        .append(
            NewItem::Joined {
                username: "alice".into(),
                num_users: 1,
            },
            None,
        )
        .await
        .unwrap();
    let said = store.append(message(1), None).await.unwrap();
    let left = store
        .append(
            NewItem::Left {
                username: "alice".into(),
                num_users: 0,
            },
            None,
        )
        .await
        .unwrap();
    assert!(joined.id() < said.id() && said.id() < left.id());
    let HistoryItem::Message(m) = &said else {
        panic!("a message: {said:?}")
    };
    assert_eq!(
        (m.username.as_str(), m.message.as_str()),
        ("alice", "message 1")
    );
    assert!(m.timestamp > 1_700_000_000_000);
    let page = store.recent(50).await.unwrap();
    assert_eq!(page.items, [joined, said, left]);
    assert!(!page.more);
}

on_both!(pages_have_exact_boundaries);
async fn pages_have_exact_boundaries(store: &Store) {
    let mut all = Vec::new();
    for i in 0..7 {
        all.push(store.append(message(i), None).await.unwrap().id());
    }
    let recent = store.recent(3).await.unwrap();
    assert_eq!((ids(&recent.items), recent.more), (all[4..].to_vec(), true));
    let older = store.before(all[4], 3).await.unwrap();
    assert_eq!((ids(&older.items), older.more), (all[1..4].to_vec(), true));
    let oldest = store.before(all[1], 3).await.unwrap();
    assert_eq!((ids(&oldest.items), oldest.more), (vec![all[0]], false));
    let exact = store.before(all[3], 3).await.unwrap();
    assert_eq!((ids(&exact.items), exact.more), (all[..3].to_vec(), false));

    let after = store.after(all[1], 3).await.unwrap();
    assert_eq!((ids(&after.items), after.more), (all[2..5].to_vec(), true));
    let rest = store.after(all[4], 3).await.unwrap();
    assert_eq!((ids(&rest.items), rest.more), (all[5..].to_vec(), false));
    let nothing = store.after(all[6], 3).await.unwrap();
    assert_eq!((nothing.items.len(), nothing.more), (0, false));
}

on_both!(concurrent_writers_get_unique_increasing_ids);
async fn concurrent_writers_get_unique_increasing_ids(store: &Store) {
    const WRITERS: usize = 20;
    const EACH: usize = 50;
    let writers = (0..WRITERS).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..EACH {
                mine.push(
                    store
                        .append(message(w * EACH + i), None)
                        .await
                        .unwrap()
                        .id(),
                );
            }
            mine
        })
    });
    let per_writer: Vec<Vec<EventId>> = join_all(writers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for mine in &per_writer {
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "each writer's ids grow"
        );
    }
    let unique: HashSet<EventId> = per_writer.iter().flatten().copied().collect();
    assert_eq!(unique.len(), WRITERS * EACH);
    // Read back in id order, everything is there once.
    let mut read = Vec::new();
    let mut after = 0;
    loop {
        let page = store.after(after, 100).await.unwrap();
        read.extend(ids(&page.items));
        match page.items.last() {
            Some(last) if page.more => after = last.id(),
            _ => break,
        }
    }
    assert_eq!(read.len(), WRITERS * EACH);
    assert!(read.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(read.into_iter().collect::<HashSet<_>>(), unique);
}

on_both!(committed_items_are_published_in_order_before_their_appends_return);
async fn committed_items_are_published_in_order_before_their_appends_return(store: &Store) {
    const WRITERS: usize = 20;
    const EACH: usize = 10;
    /// Records what it hears: who sent what before each commit, and the
    /// committed ids.
    #[derive(Debug, Default)]
    struct Recorder {
        origins: Mutex<Vec<(EventId, Origin)>>,
        committed: Mutex<Vec<(EventId, Option<Origin>)>>,
    }
    impl Sink for Recorder {
        fn committing(&self, origins: &[(EventId, Origin)]) {
            self.origins.lock().unwrap().extend_from_slice(origins);
        }
        fn committed(&self, batch: &[(HistoryItem, Option<Origin>)]) {
            let mut committed = self.committed.lock().unwrap();
            committed.extend(batch.iter().map(|(item, origin)| (item.id(), *origin)));
        }
    }
    let recorder = Arc::new(Recorder::default());
    assert!(store.deliver_to(recorder.clone()).is_ok());
    assert!(store.deliver_to(recorder.clone()).is_err(), "one sink");
    let writers = (0..WRITERS).map(|w| {
        let (store, recorder) = (store.clone(), recorder.clone());
        tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..EACH {
                // Every other writer's items have a sender.
                let origin = (w % 2 == 0).then(socketioxide::socket::Sid::new);
                let stored = store.append(message(w * EACH + i), origin).await.unwrap();
                let committed = recorder.committed.lock().unwrap().clone();
                assert!(
                    committed.contains(&(stored.id(), origin)),
                    "handed over, with its sender, before the append returned"
                );
                if let Some(origin) = origin {
                    assert!(
                        recorder
                            .origins
                            .lock()
                            .unwrap()
                            .contains(&(stored.id(), origin)),
                        "its sender told before the commit"
                    );
                }
                mine.push(stored.id());
            }
            mine
        })
    });
    let mut expected: Vec<EventId> = join_all(writers)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    expected.sort_unstable();
    assert_eq!(expected.len(), WRITERS * EACH);
    let committed: Vec<EventId> = recorder
        .committed
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(committed, expected, "each once, in id order");
}

fn keyed(sender: &str, client_id: &str, text: &str) -> NewItem {
    NewItem::Message {
        username: "alice".into(),
        message: text.into(),
        key: Some(ClientKey {
            sender: sender.into(),
            client_id: client_id.into(),
        }),
    }
}

on_both!(a_keyed_message_is_stored_and_published_once);
async fn a_keyed_message_is_stored_and_published_once(store: &Store) {
    /// The ids of the committed items, as the sink hears them.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<EventId>>);
    impl Sink for Recorder {
        fn committed(&self, batch: &[(HistoryItem, Option<Origin>)]) {
            let mut heard = self.0.lock().unwrap();
            heard.extend(batch.iter().map(|(item, _)| item.id()));
        }
    }
    let recorder = Arc::new(Recorder::default());
    assert!(store.deliver_to(recorder.clone()).is_ok());
    // Submitted without a wait between them, so the writer takes them as
    // one batch: two copies of one key, a plain message, the same client id
    // from another sender, and a copy whose text differs (the key decides).
    let batch = [
        keyed("user:1", "k1", "hello"),
        message(1),
        keyed("user:1", "k1", "hello"),
        keyed("name:bob", "k1", "hello from bob"),
        keyed("user:1", "k1", "edited"),
    ];
    let pending: Vec<_> = batch
        .into_iter()
        .map(|item| store.submit(item, None).unwrap())
        .collect();
    let mut stored = Vec::new();
    for pending in pending {
        stored.push(pending.stored().await.unwrap());
    }
    assert_eq!(stored[0], stored[2]);
    assert_eq!(stored[0], stored[4], "the first text stays");
    let HistoryItem::Message(first) = &stored[0] else {
        panic!("not a message: {stored:?}");
    };
    assert_eq!(first.message, "hello");
    let distinct: HashSet<EventId> = stored.iter().map(HistoryItem::id).collect();
    assert_eq!(distinct.len(), 3);

    // A later batch: the copy is found in the database.
    let again = store
        .append(keyed("user:1", "k1", "hello"), None)
        .await
        .unwrap();
    assert_eq!(again, stored[0], "the same id and time");
    let page = store.after(0, 10).await.unwrap();
    assert_eq!(page.items.len(), 3, "{page:?}");
    assert_eq!(
        ids(&page.items),
        [stored[0].id(), stored[1].id(), stored[3].id()]
    );
    assert_eq!(
        *recorder.0.lock().unwrap(),
        ids(&page.items),
        "the sink heard each once"
    );
}

on_both!(retention_keeps_the_newest);

/// Retention deletes a large backlog in chunks (of 1,000), all of it.
async fn retention_deletes_a_backlog_in_chunks(store: &Store) {
    join_all((0..2_600).map(|i| store.append(message(i), None)))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let newest = store.recent(100).await.unwrap();
    let keep_100 = Retention {
        max_age: None,
        max_items: Some(100),
    };
    assert_eq!(store.prune(keep_100).await.unwrap(), 2_500);
    let kept = store.after(0, 200).await.unwrap();
    assert_eq!(kept.items, newest.items, "exactly the newest 100 are kept");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let everything = Retention {
        max_age: Some(Duration::from_millis(1)),
        max_items: None,
    };
    assert_eq!(store.prune(everything).await.unwrap(), 100);
}

on_both!(retention_deletes_a_backlog_in_chunks);
async fn retention_keeps_the_newest(store: &Store) {
    for i in 0..10 {
        store.append(message(i), None).await.unwrap();
    }
    let before = store.recent(100).await.unwrap();
    let deleted = store
        .prune(Retention {
            max_age: None,
            max_items: Some(4),
        })
        .await
        .unwrap();
    assert_eq!(deleted, 6);
    let after = store.recent(100).await.unwrap();
    assert_eq!(after.items, before.items[6..]);
    assert!(!after.more, "nothing older is left");
    assert_eq!(store.recent(3).await.unwrap().items, before.items[7..]);
    // Nothing is older than a day; everything is older than "now".
    let day = Retention {
        max_age: Some(Duration::from_secs(86_400)),
        max_items: None,
    };
    assert_eq!(store.prune(day).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let none = Retention {
        max_age: Some(Duration::from_millis(1)),
        max_items: None,
    };
    assert_eq!(store.prune(none).await.unwrap(), 4);
    assert!(store.recent(10).await.unwrap().items.is_empty());
    // Ids are never reused after a purge.
    let next = store.append(message(99), None).await.unwrap();
    assert!(next.id() > after.items.last().unwrap().id());
}

/// The size of SQLite's write-ahead log in `dir` (0 when there is none).
fn wal_len(dir: &std::path::Path) -> u64 {
    std::fs::metadata(dir.join("chatroom.db-wal")).map_or(0, |m| m.len())
}

/// SQLite's write-ahead log is folded into the database file when the store
/// closes, and when a store opens on a log that a stopped process left.
#[tokio::test]
async fn sqlite_log_is_folded_in_on_open_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    for i in 0..50 {
        store.append(message(i), None).await.unwrap();
    }
    assert!(wal_len(dir.path()) > 0, "commits go to the log first");

    // A second process, as after a crash of the first.
    let reopened = Store::open(None, dir.path()).await.unwrap();
    assert_eq!(wal_len(dir.path()), 0, "opening folds a leftover log in");
    assert_eq!(reopened.recent(100).await.unwrap().items.len(), 50);
    reopened.append(message(50), None).await.unwrap();

    store.close().await;
    assert_eq!(wal_len(dir.path()), 0, "closing folds the log in");
    reopened.append(message(51), None).await.unwrap();
    assert!(wal_len(dir.path()) > 0, "the other store still writes");
    reopened.close().await;
    assert_eq!(wal_len(dir.path()), 0, "closing the last store folds it in");
    let again = Store::open(None, dir.path()).await.unwrap();
    assert_eq!(again.recent(100).await.unwrap().items.len(), 52);
    again.close().await;
}

/// Creating many accounts keeps the log short: each insert runs SQLite's
/// automatic checkpoint (every 1,000 pages, about 4 MB), which a statement
/// reset before its end would skip.
#[tokio::test]
async fn sqlite_log_stays_short_while_accounts_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(None, dir.path()).await.unwrap();
    let mut longest = 0;
    for i in 0..1_500 {
        let created = store
            .create_user(&format!("user{i}"), "$argon2id$not-checked-here")
            .await
            .unwrap();
        assert!(created.is_some());
        longest = longest.max(wal_len(dir.path()));
    }
    assert!(
        longest < 8 << 20,
        "the log grew to {longest} bytes: no checkpoint ran"
    );
    store.close().await;
}

/// Whether the session `jti` of account `id` is revoked.
async fn revoked(store: &Store, id: i64, jti: &str) -> bool {
    store.session(id, jti).await.unwrap().unwrap().revoked
}

on_both!(sessions_are_revoked_and_ended);
async fn sessions_are_revoked_and_ended(store: &Store) {
    let alice = store.create_user("alice", "hash").await.unwrap().unwrap();
    let fresh = store.session(alice.id, "one").await.unwrap().unwrap();
    assert_eq!((fresh.generation, fresh.revoked), (0, false));
    assert_eq!(fresh.user, alice);
    let later = server::store::now_millis() + 60_000;
    store.revoke_session("one", later).await.unwrap();
    // Twice is harmless; an expired revocation is pruned by the next one.
    store.revoke_session("one", later).await.unwrap();
    store.revoke_session("old", 1).await.unwrap();
    store.revoke_session("two", later).await.unwrap();
    assert!(revoked(store, alice.id, "one").await);
    assert!(!revoked(store, alice.id, "three").await);
    // The expired one is gone (its token is refused as expired anyway).
    assert!(!revoked(store, alice.id, "old").await);
    assert_eq!(store.end_all_sessions(alice.id).await.unwrap(), Some(1));
    assert_eq!(store.session_generation(alice.id).await.unwrap(), 1);
    assert_eq!(store.end_all_sessions(alice.id + 1).await.unwrap(), None);
    assert_eq!(store.session(alice.id + 1, "one").await.unwrap(), None);
}
