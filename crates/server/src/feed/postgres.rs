//! The feed of a cluster: each node reads what any node committed from
//! PostgreSQL, past its cursor, when it is told something was committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use protocol::{EventId, HistoryItem};
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::Notify;

use crate::fanout::Fanout;
use crate::store::{Origin, Sink, Store, StoreError};

/// How often the feed reads past its cursor without being told to: a
/// notification lost with the listening connection costs at most this.
const SAFETY_READ: Duration = Duration::from_secs(1);

/// How many items one read takes.
const PAGE: usize = 512;

/// How long to wait before listening again after the connection failed.
const RELISTEN: Duration = Duration::from_secs(1);

/// The cluster's feed; cheap to clone.
#[derive(Debug, Clone)]
pub struct PostgresFeed(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    /// Who sent the items this node is committing, by id: they do not hear
    /// them again.
    origins: Mutex<HashMap<EventId, Origin>>,
    /// Wakes the reader.
    wake: Notify,
}

impl PostgresFeed {
    /// Starts reading `store`'s conversation into `fanout` from its newest
    /// item on, listening on the store's channel. The returned tasks run
    /// until aborted.
    pub async fn start(
        store: Store,
        fanout: Fanout,
    ) -> Result<(Self, Vec<tokio::task::JoinHandle<()>>), StoreError> {
        let (Some(options), Some(channel)) = (store.postgres_options(), store.channel()) else {
            return Err(StoreError::Write(
                "the cluster's feed needs PostgreSQL".to_owned(),
            ));
        };
        let feed = Self(Arc::default());
        // The cursor is taken before listening: whatever commits from here
        // on is past it, and the first read happens at once.
        let cursor = store.newest_id().await?;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options);
        let listening = tokio::spawn(listen(pool, channel.to_owned(), feed.clone()));
        let reading = tokio::spawn(read(store, fanout, cursor, feed.clone()));
        Ok((feed, vec![listening, reading]))
    }

    fn origins(&self) -> MutexGuard<'_, HashMap<EventId, Origin>> {
        self.0
            .origins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for PostgresFeed {
    fn committing(&self, origins: &[(EventId, Origin)]) {
        self.origins().extend(origins.iter().copied());
    }

    fn committed(&self, _batch: &[(HistoryItem, Option<Origin>)]) {
        // Read it (and whatever other nodes committed before it) at once,
        // without waiting for the notification's round trip.
        self.0.wake.notify_one();
    }

    fn aborted(&self, ids: &[EventId]) {
        let mut origins = self.origins();
        for id in ids {
            origins.remove(id);
        }
    }
}

/// Listens for the channel's notifications and wakes the reader on each,
/// and whenever the listening connection comes back.
async fn listen(pool: sqlx::PgPool, channel: String, feed: PostgresFeed) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "feed: cannot connect to listen; reading on the timer meanwhile");
                tokio::time::sleep(RELISTEN).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(&channel).await {
            tracing::warn!(%error, "feed: cannot listen; reading on the timer meanwhile");
            tokio::time::sleep(RELISTEN).await;
            continue;
        }
        tracing::info!(%channel, "feed: listening");
        // Whatever was committed while nobody listened.
        feed.0.wake.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => feed.0.wake.notify_one(),
                Ok(None) => {
                    // The connection was lost; the next call reconnects and
                    // listens again. Notifications sent meanwhile are lost:
                    // read past the cursor.
                    tracing::warn!("feed: the listening connection was lost; reconnecting");
                    feed.0.wake.notify_one();
                }
                Err(error) => {
                    tracing::warn!(%error, "feed: listening failed; starting again");
                    tokio::time::sleep(RELISTEN).await;
                    break;
                }
            }
        }
    }
}

/// Reads past the cursor whenever woken (and on the safety timer), and
/// delivers each item once, in id order.
async fn read(store: Store, fanout: Fanout, mut cursor: EventId, feed: PostgresFeed) {
    let mut timer = tokio::time::interval(SAFETY_READ);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = feed.0.wake.notified() => {}
            _ = timer.tick() => {}
        }
        loop {
            let page = match store.after(cursor, PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, cursor, "feed: cannot read the conversation; trying again");
                    break;
                }
            };
            for item in &page.items {
                let origin = feed.origins().remove(&item.id());
                fanout.deliver(item, origin);
                cursor = item.id();
            }
            if !page.more {
                break;
            }
        }
        // Origins of items this node will never read (deleted before it
        // could) do not pile up.
        feed.origins().retain(|id, _| *id > cursor);
    }
}
