//! The store: the only place with SQL. The conversation (messages, joins and
//! leaves) and the accounts are kept in SQLite, a file in the data directory, or in PostgreSQL
//! when `DATABASE_URL` names one; both behave the same.
//!
//! Appends go through one writer task that commits them in batches (group
//! commit): whatever arrived while the previous batch was being written goes
//! into the next transaction, so the cost of a durable commit is shared by
//! every message in it. An append returns only after its batch committed,
//! with the id and time the database gave it.
//!
//! The store is the conversation's log: each committed batch is handed, in
//! commit order, to its [`Sink`] (the feed, see [`crate::feed`]), which
//! brings it to the listeners. On PostgreSQL, shared by several nodes,
//! commit order is id order (see `sql::Ordering`) and every commit notifies
//! the other nodes' feeds.

#[cfg(any(test, feature = "bench-memory-store"))]
mod memory;
mod name_keys;
mod recent;
mod sessions;
mod sql;

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::{
    ChatMessage, EventId, HISTORY_PAGE, HistoryItem, HistoryPage, Timestamp, UserEvent,
};
use recent::Recent;
pub use sessions::AccountSession;
use sql::Written;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{mpsc, oneshot};

pub use socketioxide::socket::Sid as Origin;

/// Folds SQLite's write-ahead log into the database file and empties it
/// (at open, after a process that did not close the store; and at close).
const FOLD_IN_LOG: &str = "PRAGMA wal_checkpoint(TRUNCATE)";

/// The most appends one transaction takes.
const MAX_BATCH: usize = 512;

/// How many appends may wait for the writer: past that, `append` waits
/// and `submit` is refused ([`StoreError::Busy`]).
const QUEUE: usize = 8_192;

/// How long the database may take before the store gives up on it: a
/// stalled disk or an unreachable PostgreSQL must not leave senders and
/// readers waiting without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The longest one batch may take to commit before every append in it
    /// is answered with [`StoreError::Timeout`] (PostgreSQL's
    /// `statement_timeout` too).
    pub commit: Duration,
    /// The longest a read (a page of history, an account) may take.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            commit: Duration::from_secs(10),
            read: Duration::from_secs(5),
        }
    }
}

/// How long to wait for a pooled connection before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many items retention deletes in one statement: a large backlog is
/// deleted in steps that each hold the write lock briefly.
const PRUNE_CHUNK: i64 = 1_000;

/// What can go wrong in the store. Handlers log it and tell the client only
/// that the server failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data directory could not be created.
    #[error("creating the data directory: {0}")]
    DataDir(#[from] std::io::Error),
    /// A batch failed; every append in it gets this.
    #[error("writing a batch: {0}")]
    Write(String),
    /// The writer task is gone (the server is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The writer's queue is full: refused at once rather than waiting.
    #[error("the store is busy")]
    Busy,
    /// The database took longer than its time limit.
    #[error("the database did not answer in time")]
    Timeout,
}

/// Something to add to the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewItem {
    /// A message; one with a key is stored once per key (see [`ClientKey`]).
    Message {
        username: String,
        message: String,
        key: Option<ClientKey>,
    },
    /// A user entered; `num_users` online after.
    Joined { username: String, num_users: usize },
    /// A user's last connection left; `num_users` online after.
    Left { username: String, num_users: usize },
}

impl NewItem {
    /// The message's key, if it has one.
    pub fn client_key(&self) -> Option<&ClientKey> {
        match self {
            Self::Message { key, .. } => key.as_ref(),
            Self::Joined { .. } | Self::Left { .. } => None,
        }
    }
}

/// Who sent a message and the id their client gave it. A message is stored
/// once per key: appended again (a retry after a lost acknowledgement, a copy
/// from another tab or node), it is answered with the message stored the
/// first time, which nobody hears of again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// "user:<account id>", or "name:<name key>" for a guest.
    pub sender: String,
    /// The client's id for the message (`protocol::validate_client_id`).
    pub client_id: String,
}

/// How long to keep the conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Delete items older than this; `None` keeps them.
    pub max_age: Option<Duration>,
    /// Keep at most this many of the newest items; `None` keeps all.
    pub max_items: Option<u64>,
}

/// The conversation's storage; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// The writer task's own connection (see [`Store::open`]), kept here to
    /// close it.
    writer_db: Db,
    appends: mpsc::Sender<Job>,
    /// The newest page, for entries (SQLite only; see `recent.rs`).
    recent: Option<Recent>,
    /// How long the database may take.
    timeouts: Timeouts,
    /// Where committed batches go (see [`Store::deliver_to`]).
    sink: SinkSlot,
    /// The channel PostgreSQL commits notify (see [`Store::channel`]).
    channel: Option<String>,
    /// The conversation in memory instead of the database: only in the
    /// benchmark's build (see `memory.rs`).
    #[cfg(feature = "bench-memory-store")]
    memory: memory::MemoryLog,
}

/// Where committed items go, once one is set.
type SinkSlot = Arc<OnceLock<Arc<dyn Sink>>>;

/// What hears of every committed batch, in commit order (the feed: see
/// [`crate::feed`]). Called by the writer task: it must not block.
pub trait Sink: Send + Sync + std::fmt::Debug + 'static {
    /// A batch has its ids and is about to commit; `origins` says which
    /// connection sent which of its items (those do not hear them again).
    /// Anyone who reads the batch from the database reads it after this.
    fn committing(&self, origins: &[(EventId, Origin)]) {
        let _ = origins;
    }

    /// The batch committed: its items in id order, each with who sent it.
    fn committed(&self, batch: &[(HistoryItem, Option<Origin>)]);

    /// The batch told to [`Sink::committing`] did not commit.
    fn aborted(&self, ids: &[EventId]) {
        let _ = ids;
    }
}

/// What the writer task writes to.
struct Writer {
    db: Db,
    recent: Option<Recent>,
    /// The longest a batch may take to commit.
    commit_timeout: Duration,
    sink: SinkSlot,
    /// PostgreSQL's notification channel.
    channel: Option<String>,
    #[cfg(feature = "bench-memory-store")]
    memory: memory::MemoryLog,
}

impl Writer {
    /// Inserts a batch in one transaction, but for messages whose key is
    /// stored already (the appends' keys differ): what became of each, in
    /// order. The sink hears who sent what before the commit. `told` gets
    /// the ids the sink was told about.
    async fn insert(
        &self,
        batch: &[&Append],
        timestamp: Timestamp,
        told: &std::sync::Mutex<Vec<EventId>>,
    ) -> Result<Vec<Written>, sqlx::Error> {
        let items: Vec<&NewItem> = batch.iter().map(|a| &a.item).collect();
        let before_commit = |written: &[Written]| {
            let Some(sink) = self.sink.get() else { return };
            let origins: Vec<(EventId, Origin)> = written
                .iter()
                .zip(batch)
                .filter_map(|(written, append)| Some((written.inserted()?, append.origin?)))
                .collect();
            if !origins.is_empty() {
                sink.committing(&origins);
                if let Ok(mut told) = told.lock() {
                    told.extend(origins.iter().map(|(id, _)| *id));
                }
            }
        };
        #[cfg(feature = "bench-memory-store")]
        {
            let written = self.memory.insert(&items, timestamp);
            before_commit(&written);
            return Ok(written);
        }
        #[allow(unreachable_code)]
        match &self.db {
            Db::Sqlite(pool) => {
                sql::sqlite::insert_batch(pool, &items, timestamp, None, before_commit).await
            }
            Db::Postgres(pool) => {
                let order = self.channel.as_deref().map(|channel| sql::Ordering {
                    lock: sql::ORDER_LOCK,
                    channel,
                });
                sql::postgres::insert_batch(pool, &items, timestamp, order.as_ref(), before_commit)
                    .await
            }
        }
    }
}

/// The database underneath.
#[derive(Debug, Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An item submitted for the next commit (see [`Store::submit`]).
#[derive(Debug)]
pub struct Pending(oneshot::Receiver<Result<HistoryItem, StoreError>>);

impl Pending {
    /// The item as stored, once its batch is durable.
    pub async fn stored(self) -> Result<HistoryItem, StoreError> {
        self.0.await.map_err(|_| StoreError::Closed)?
    }
}

/// Runs a database call within `limit`.
async fn timed<T>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout),
    }
}

/// What the writer task is asked to do.
#[derive(Debug)]
enum Job {
    /// Store an item.
    Append(Append),
    /// Answer once everything queued before is committed.
    Flush(oneshot::Sender<()>),
}

struct Append {
    item: NewItem,
    /// The connection that sent it.
    origin: Option<Origin>,
    done: oneshot::Sender<Result<HistoryItem, StoreError>>,
}

impl std::fmt::Debug for Append {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Append")
            .field("item", &self.item)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store: PostgreSQL or SQLite as `database_url` says, or else
    /// SQLite in `data_dir/chatroom.db` (created, with the directory, on first
    /// start). Brings the schema up to date.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(database_url, data_dir, Timeouts::default()).await
    }

    /// [`Store::open`], with the database's time limits.
    pub async fn open_with(
        database_url: Option<&str>,
        data_dir: &Path,
        timeouts: Timeouts,
    ) -> Result<Self, StoreError> {
        // Reads share a pool; the writer has a connection of its own, so
        // a burst of reads (a thousand logins checked at once) never holds
        // up the commits everyone is waiting for.
        let mut channel = None;
        let (db, writer_db) = match database_url {
            Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
                // The server gives up on a statement that runs past the
                // commit timeout too, so a stuck query frees its connection.
                let timeout = format!("{}ms", timeouts.commit.as_millis());
                let options =
                    PgConnectOptions::from_str(url)?.options([("statement_timeout", timeout)]);
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options.clone())
                    .await?;
                sqlx::migrate!("./migrations/postgres").run(&pool).await?;
                let writer = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?;
                let schema: String = sqlx::query_scalar(sql::CURRENT_SCHEMA)
                    .fetch_one(&pool)
                    .await?;
                channel = Some(format!("chatroom_events_{schema}"));
                (Db::Postgres(pool), Db::Postgres(writer))
            }
            _ => {
                let options = match database_url {
                    Some(url) => SqliteConnectOptions::from_str(url)?,
                    None => {
                        std::fs::create_dir_all(data_dir)?;
                        SqliteConnectOptions::new().filename(data_dir.join("chatroom.db"))
                    }
                };
                let pool = sqlite_pool(options.clone(), 4).await?;
                sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
                // A process that stopped without closing the store (a crash,
                // a kill) leaves its write-ahead log behind; bring it into
                // the database now, so it is neither replayed nor searched on
                // every read from here on.
                sqlx::query(FOLD_IN_LOG).execute(&pool).await?;
                let writer = sqlite_pool(options, 1).await?;
                (Db::Sqlite(pool), Db::Sqlite(writer))
            }
        };
        remake_name_keys(&db).await?;
        let (appends, queue) = mpsc::channel(QUEUE);
        #[cfg(feature = "bench-memory-store")]
        tracing::warn!(
            "built with bench-memory-store: the conversation is kept in memory only and lost at exit"
        );
        let mut store = Self {
            db,
            writer_db: writer_db.clone(),
            appends,
            recent: None,
            timeouts,
            sink: SinkSlot::default(),
            channel,
            #[cfg(feature = "bench-memory-store")]
            memory: memory::MemoryLog::default(),
        };
        if let Db::Sqlite(_) = store.db {
            let newest = store.before(EventId::MAX, HISTORY_PAGE).await?;
            store.recent = Some(Recent::new(HISTORY_PAGE, newest));
        }
        let writer = Writer {
            db: writer_db,
            recent: store.recent.clone(),
            commit_timeout: timeouts.commit,
            sink: store.sink.clone(),
            channel: store.channel.clone(),
            #[cfg(feature = "bench-memory-store")]
            memory: store.memory.clone(),
        };
        tokio::spawn(write_batches(writer, queue));
        Ok(store)
    }

    /// Closes the database connections, once the appends queued so far are
    /// written. With SQLite the write-ahead log is folded into the database
    /// file and emptied first; the last connection to close then removes
    /// it. Appends after this fail with [`StoreError::Write`] (the pool is
    /// closed).
    pub async fn close(&self) {
        // A flush goes through the writer's queue after every earlier
        // append: once it is answered, they are committed.
        let (done, flushed) = oneshot::channel();
        if self.appends.send(Job::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
        // The checkpoint is explicit because sqlx's `Pool::close` can return
        // while a connection is still on its way back to the pool
        // (launchbadge/sqlx#3217): the file's removal by the last connection
        // may then come a moment later, but its content is in already.
        if let Db::Sqlite(pool) = &self.writer_db
            && let Err(error) = sqlx::query(FOLD_IN_LOG).execute(pool).await
        {
            tracing::warn!(%error, "could not fold the SQLite log in at close");
        }
        for db in [&self.writer_db, &self.db] {
            match db {
                Db::Sqlite(pool) => pool.close().await,
                Db::Postgres(pool) => pool.close().await,
            }
        }
    }

    /// Which database this is, for the log: "sqlite" or "postgres".
    pub fn kind(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Sends every committed batch to `sink` from now on (once: a second
    /// sink is refused and returned).
    pub fn deliver_to(&self, sink: Arc<dyn Sink>) -> Result<(), Arc<dyn Sink>> {
        self.sink.set(sink)
    }

    /// The PostgreSQL channel every commit notifies with its last id (`None`
    /// on SQLite).
    pub fn channel(&self) -> Option<&str> {
        self.channel.as_deref()
    }

    /// The connections to PostgreSQL are made with (`None` on SQLite): the
    /// feed listens on one of its own.
    pub fn postgres_options(&self) -> Option<PgConnectOptions> {
        match &self.db {
            Db::Postgres(pool) => Some(pool.connect_options().as_ref().clone()),
            Db::Sqlite(_) => None,
        }
    }

    /// Appends an item; returns it with its id and time once it is durable
    /// (and, on a single node, delivered: see [`Sink`]).
    pub async fn append(
        &self,
        item: NewItem,
        origin: Option<Origin>,
    ) -> Result<HistoryItem, StoreError> {
        let (done, stored) = oneshot::channel();
        self.appends
            .send(Job::Append(Append { item, origin, done }))
            .await
            .map_err(|_| StoreError::Closed)?;
        stored.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues an item for the next commit without waiting for room in the
    /// queue ([`StoreError::Busy`] when it is full), and returns what to
    /// await for the stored item. Items submitted one after another are
    /// committed, and delivered, in that order.
    pub fn submit(&self, item: NewItem, origin: Option<Origin>) -> Result<Pending, StoreError> {
        let (done, stored) = oneshot::channel();
        let job = Job::Append(Append { item, origin, done });
        self.appends.try_send(job).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => StoreError::Busy,
            mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
        })?;
        Ok(Pending(stored))
    }

    /// The newest item's id (0 when the conversation is empty): where a feed
    /// starts.
    pub async fn newest_id(&self) -> Result<EventId, StoreError> {
        Ok(self
            .before(EventId::MAX, 1)
            .await?
            .items
            .last()
            .map_or(0, HistoryItem::id))
    }

    /// Whether the database answers, within the read timeout.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let ping = async {
            match &self.db {
                Db::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
                Db::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            }
        };
        timed(self.timeouts.read, ping).await
    }

    /// The newest `limit` items, oldest first; `more` if older ones exist.
    pub async fn recent(&self, limit: usize) -> Result<HistoryPage, StoreError> {
        if let Some(page) = self.recent.as_ref().and_then(|r| r.page(limit)) {
            return Ok(page);
        }
        self.before(EventId::MAX, limit).await
    }

    /// The `limit` items just before `id`, oldest first; `more` if older ones
    /// exist.
    pub async fn before(&self, id: EventId, limit: usize) -> Result<HistoryPage, StoreError> {
        #[cfg(feature = "bench-memory-store")]
        {
            let mut items = self.memory.before(id, limit + 1);
            let more = items.len() > limit;
            items.truncate(limit);
            items.reverse();
            return Ok(HistoryPage { items, more });
        }
        #[allow(unreachable_code)]
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        let mut items = timed(self.timeouts.read, async {
            match &self.db {
                Db::Sqlite(pool) => sql::sqlite::before(pool, id, fetch_limit(limit)).await,
                Db::Postgres(pool) => sql::postgres::before(pool, id, fetch_limit(limit)).await,
            }
        })
        .await?;
        let more = items.len() > limit;
        items.truncate(limit);
        items.reverse();
        Ok(HistoryPage { items, more })
    }

    /// The `limit` items just after `id`, oldest first; `more` if newer ones
    /// exist.
    pub async fn after(&self, id: EventId, limit: usize) -> Result<HistoryPage, StoreError> {
        #[cfg(feature = "bench-memory-store")]
        {
            let mut items = self.memory.after(id, limit + 1);
            let more = items.len() > limit;
            items.truncate(limit);
            return Ok(HistoryPage { items, more });
        }
        #[allow(unreachable_code)]
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        let mut items = timed(self.timeouts.read, async {
            match &self.db {
                Db::Sqlite(pool) => sql::sqlite::after(pool, id, fetch_limit(limit)).await,
                Db::Postgres(pool) => sql::postgres::after(pool, id, fetch_limit(limit)).await,
            }
        })
        .await?;
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(HistoryPage { items, more })
    }

    /// Deletes what the retention settings no longer keep; returns how many
    /// items went.
    pub async fn prune(&self, retention: Retention) -> Result<u64, StoreError> {
        let mut deleted = 0;
        if let Some(max_age) = retention.max_age {
            let cutoff = now_millis() - i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
            deleted += match &self.db {
                Db::Sqlite(pool) => {
                    sql::sqlite::delete_older_than(pool, cutoff, PRUNE_CHUNK).await?
                }
                Db::Postgres(pool) => {
                    sql::postgres::delete_older_than(pool, cutoff, PRUNE_CHUNK).await?
                }
            };
            if let Some(recent) = &self.recent {
                recent.deleted_older_than(cutoff);
            }
        }
        if let Some(max_items) = retention.max_items {
            let keep = i64::try_from(max_items).unwrap_or(i64::MAX);
            deleted += match &self.db {
                Db::Sqlite(pool) => sql::sqlite::keep_newest(pool, keep, PRUNE_CHUNK).await?,
                Db::Postgres(pool) => sql::postgres::keep_newest(pool, keep, PRUNE_CHUNK).await?,
            };
            if let Some(recent) = &self.recent {
                recent.kept_newest(usize::try_from(max_items).unwrap_or(usize::MAX));
            }
        }
        Ok(deleted)
    }
}

/// One more than asked, to know whether there is more.
fn fetch_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)
}

async fn sqlite_pool(
    options: SqliteConnectOptions,
    connections: u32,
) -> Result<SqlitePool, sqlx::Error> {
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // An acknowledged message must survive a power cut, not just a crash.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // sqlx pings a connection before lending it, by default, in case the
        // server hung up; an SQLite connection is a file in this process,
        // and the ping is a round trip to its thread on every query.
        .test_before_acquire(false)
        .connect_with(options)
        .await
}

/// The writer: takes whatever is queued (up to [`MAX_BATCH`]), commits it in
/// one transaction, answers every append, and goes again.
async fn write_batches(writer: Writer, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        for job in jobs.drain(..) {
            match job {
                Job::Append(append) => batch.push(append),
                Job::Flush(done) => flushes.push(done),
            }
        }
        if !batch.is_empty() {
            write_batch(&writer, &mut batch).await;
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Commits a batch in one transaction and answers every append in it.
async fn write_batch(writer: &Writer, batch: &mut Vec<Append>) {
    let timestamp = now_millis();
    // A message twice in one batch (two tabs sent it, a client retried at
    // once) is written once; its copies are answered with what it got.
    let copies = copies(batch);
    let unique: Vec<&Append> = batch
        .iter()
        .zip(&copies)
        .filter_map(|(append, copy_of)| copy_of.is_none().then_some(append))
        .collect();
    let started = std::time::Instant::now();
    let inserted = insert_in_time(writer, &unique, timestamp).await;
    if inserted.is_ok() {
        crate::metrics::committed(started.elapsed(), unique.iter().map(|a| &a.item));
    }
    drop(unique);
    match inserted {
        Ok(written) => committed(writer, batch, &copies, written, timestamp),
        Err(error) => {
            tracing::error!(%error, items = batch.len(), "could not store a batch");
            for append in batch.drain(..) {
                let _ = append.done.send(Err(StoreError::Write(error.to_string())));
            }
        }
    }
}

/// For each append, the index of an earlier one in the batch with the same
/// key, if there is one.
fn copies(batch: &[Append]) -> Vec<Option<usize>> {
    if batch
        .iter()
        .all(|append| append.item.client_key().is_none())
    {
        return vec![None; batch.len()];
    }
    let mut first = std::collections::HashMap::new();
    batch
        .iter()
        .enumerate()
        .map(|(i, append)| {
            let key = append.item.client_key()?;
            let first = *first.entry(key).or_insert(i);
            (first != i).then_some(first)
        })
        .collect()
}

/// Writes a batch within the commit timeout; on failure the sink hears that
/// the ids it was told of did not commit.
async fn insert_in_time(
    writer: &Writer,
    batch: &[&Append],
    timestamp: Timestamp,
) -> Result<Vec<Written>, StoreError> {
    let told = std::sync::Mutex::new(Vec::new());
    let insert = writer.insert(batch, timestamp, &told);
    let inserted = match tokio::time::timeout(writer.commit_timeout, insert).await {
        Ok(inserted) => inserted.map_err(StoreError::from),
        // Dropping the insert rolls its transaction back.
        Err(_) => Err(StoreError::Timeout),
    };
    if inserted.is_err() {
        let told = told.into_inner().unwrap_or_else(PoisonError::into_inner);
        if let Some(sink) = writer.sink.get()
            && !told.is_empty()
        {
            sink.aborted(&told);
        }
    }
    inserted
}

/// What an append is answered with, once its batch committed.
enum Answer {
    /// The item inserted at this index of the batch handed to the sink.
    Inserted(usize),
    /// The message stored before under its key.
    Found(HistoryItem),
    /// The answer of the earlier append with the same key.
    CopyOf(usize),
    /// Nothing: the database's answer did not cover it.
    Missing,
}

/// A batch is durable: hands what it inserted to the sink in order and
/// answers every appender.
fn committed(
    writer: &Writer,
    batch: &mut Vec<Append>,
    copies: &[Option<usize>],
    written: Vec<Written>,
    timestamp: Timestamp,
) {
    let mut written = written.into_iter().peekable();
    let mut done = Vec::with_capacity(batch.len());
    let mut answers = Vec::with_capacity(batch.len());
    let mut stored = Vec::with_capacity(batch.len());
    for (append, copy_of) in batch.drain(..).zip(copies) {
        let answer = match (copy_of, written.next_if(|_| copy_of.is_none())) {
            (Some(first), _) => Answer::CopyOf(*first),
            (None, Some(Written::Found(item))) => Answer::Found(item),
            (None, Some(Written::Inserted(id))) => {
                let item = stored_item(append.item, id, timestamp);
                if let Some(recent) = &writer.recent {
                    recent.push(&item);
                }
                stored.push((item, append.origin));
                Answer::Inserted(stored.len() - 1)
            }
            (None, None) => {
                tracing::error!("the database answered fewer items than the batch held");
                Answer::Missing
            }
        };
        answers.push(answer);
        done.push(append.done);
    }
    if let Some(sink) = writer.sink.get()
        && !stored.is_empty()
    {
        sink.committed(&stored);
    }
    let mut stored: Vec<Option<HistoryItem>> =
        stored.into_iter().map(|(item, _)| Some(item)).collect();
    let mut items: Vec<Option<HistoryItem>> = Vec::with_capacity(answers.len());
    for answer in answers {
        let item = match answer {
            Answer::Inserted(at) => stored.get_mut(at).and_then(Option::take),
            Answer::Found(item) => Some(item),
            Answer::CopyOf(first) => items.get(first).cloned().flatten(),
            Answer::Missing => None,
        };
        items.push(item);
    }
    for (item, done) in items.into_iter().zip(done) {
        // The appender may have gone (its client left); the item is stored
        // all the same.
        let answer = item.ok_or_else(|| StoreError::Write("not in the batch written".into()));
        let _ = done.send(answer);
    }
}

fn stored_item(item: NewItem, id: EventId, timestamp: Timestamp) -> HistoryItem {
    match item {
        NewItem::Message {
            username, message, ..
        } => HistoryItem::Message(ChatMessage {
            username,
            message,
            id,
            timestamp,
        }),
        NewItem::Joined {
            username,
            num_users,
        } => HistoryItem::Joined(UserEvent {
            username,
            num_users,
            id,
            timestamp,
        }),
        NewItem::Left {
            username,
            num_users,
        } => HistoryItem::Left(UserEvent {
            username,
            num_users,
            id,
            timestamp,
        }),
    }
}

/// An account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id, the tokens' subject.
    pub id: i64,
    /// The name, as registered.
    pub username: String,
    /// The argon2id hash of its password (PHC string).
    pub password_hash: String,
}

impl From<sql::UserRow> for User {
    fn from(row: sql::UserRow) -> Self {
        Self {
            id: row.id,
            username: row.username,
            password_hash: row.password_hash,
        }
    }
}

impl Store {
    /// Adds an account; `None` when the name, or one that looks like it
    /// (`protocol::name_key`), is taken.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError> {
        let (key, rule) = (protocol::name_key(username), protocol::name_key_rule());
        let key = (key.as_str(), rule.as_str());
        let now = now_millis();
        let id = match &self.db {
            Db::Sqlite(pool) => {
                sql::sqlite::insert_user(pool, username, key, password_hash, now).await?
            }
            Db::Postgres(pool) => {
                sql::postgres::insert_user(pool, username, key, password_hash, now).await?
            }
        };
        Ok(id.map(|id| User {
            id,
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
        }))
    }

    /// The account with this name or one that looks like it
    /// (`protocol::name_key`); an account set aside for looking like an
    /// older one (see `name_keys.rs`) when this is its exact name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let key = protocol::name_key(username);
        let set_aside = name_keys::set_aside_key(username.trim());
        let row = timed(self.timeouts.read, async {
            match &self.db {
                Db::Sqlite(pool) => sql::sqlite::user_by_key(pool, &key, &set_aside).await,
                Db::Postgres(pool) => sql::postgres::user_by_key(pool, &key, &set_aside).await,
            }
        })
        .await?;
        Ok(row.map(User::from))
    }

    /// The account with this id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        let row = timed(self.timeouts.read, async {
            match &self.db {
                Db::Sqlite(pool) => sql::sqlite::user_by_id(pool, id).await,
                Db::Postgres(pool) => sql::postgres::user_by_id(pool, id).await,
            }
        })
        .await?;
        Ok(row.map(User::from))
    }
}

/// Brings every account's name key to the current rule (see `name_keys.rs`).
async fn remake_name_keys(db: &Db) -> Result<(), StoreError> {
    let rule = protocol::name_key_rule();
    let remade = match db {
        Db::Sqlite(pool) => sql::sqlite::remake_keys(pool, &rule, name_keys::plan).await?,
        Db::Postgres(pool) => sql::postgres::remake_keys(pool, &rule, name_keys::plan).await?,
    };
    if remade > 0 {
        tracing::info!(accounts = remade, %rule, "remade the name keys of accounts");
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        Timestamp::try_from(d.as_millis()).unwrap_or(Timestamp::MAX)
    })
}
