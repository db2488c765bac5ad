//! The SQL itself. SQLite and PostgreSQL run the very same statements (sqlx
//! binds `$1` on both); [`backend!`] writes the functions once per pool type.

use protocol::{ChatMessage, EventId, HistoryItem, UserEvent};

use super::{ClientKey, NewItem};

const INSERT_INTO: &str =
    "INSERT INTO events (ts, kind, username, message, num_users, sender, client_id) ";
/// A message whose key is stored already is not inserted again; the rows
/// inserted come back with their keys, so those that did not are known.
const ON_CONFLICT: &str = " ON CONFLICT (client_id, sender) WHERE client_id IS NOT NULL \
                           DO NOTHING RETURNING id, sender, client_id";
/// The message stored under a key (the unique index finds it).
const BY_CLIENT_KEY: &str = "SELECT id, ts, kind, username, message, num_users FROM events \
                             WHERE client_id = $1 AND sender = $2";
const BEFORE: &str = "SELECT id, ts, kind, username, message, num_users FROM events \
                      WHERE id < $1 ORDER BY id DESC LIMIT $2";
const AFTER: &str = "SELECT id, ts, kind, username, message, num_users FROM events \
                     WHERE id > $1 ORDER BY id ASC LIMIT $2";
const DELETE_OLDER_THAN: &str = "DELETE FROM events WHERE id IN \
                                 (SELECT id FROM events WHERE ts < $1 ORDER BY id LIMIT $2)";
const NEWEST_TO_DROP: &str = "SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET $1";
const DELETE_UP_TO: &str = "DELETE FROM events WHERE id IN \
                            (SELECT id FROM events WHERE id <= $1 ORDER BY id LIMIT $2)";

const INSERT_USER: &str = "INSERT INTO users \
                           (username, name_key, name_key_rule, password_hash, created_at) \
                           VALUES ($1, $2, $3, $4, $5) RETURNING id";
/// By key, or by the exact name of an account whose key was given to an
/// older one (see `name_keys.rs`); that one first, as its name was typed.
const USER_BY_KEY: &str = "SELECT id, username, password_hash FROM users \
                           WHERE name_key = $1 OR name_key = $2 \
                           ORDER BY name_key = $2 DESC LIMIT 1";
const KEYED_BY_OTHER_RULES: &str =
    "SELECT id, username FROM users WHERE name_key_rule <> $1 ORDER BY id";
const KEYS_BY_RULE: &str = "SELECT name_key FROM users WHERE name_key_rule = $1";
const SET_KEY: &str = "UPDATE users SET name_key = $1, name_key_rule = $2 WHERE id = $3";
const USER_BY_ID: &str = "SELECT id, username, password_hash FROM users WHERE id = $1";

/// A row of `users`.
#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
}

/// A row of `events`.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: i64,
    ts: i64,
    kind: String,
    username: String,
    message: Option<String>,
    num_users: Option<i64>,
}

/// What became of one item of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// It was inserted under this id.
    Inserted(EventId),
    /// A message with its key was stored before: this one.
    Found(HistoryItem),
}

impl Written {
    /// The id it was inserted under, if it was.
    pub fn inserted(&self) -> Option<EventId> {
        match self {
            Self::Inserted(id) => Some(*id),
            Self::Found(_) => None,
        }
    }
}

impl Row {
    fn into_item(self) -> Result<HistoryItem, sqlx::Error> {
        let id = EventId::try_from(self.id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let user_event = |num_users: Option<i64>| UserEvent {
            username: self.username.clone(),
            num_users: num_users.and_then(|n| usize::try_from(n).ok()).unwrap_or(0),
            id,
            timestamp: self.ts,
        };
        Ok(match self.kind.as_str() {
            "message" => HistoryItem::Message(ChatMessage {
                username: self.username.clone(),
                message: self.message.clone().unwrap_or_default(),
                id,
                timestamp: self.ts,
            }),
            "joined" => HistoryItem::Joined(user_event(self.num_users)),
            "left" => HistoryItem::Left(user_event(self.num_users)),
            other => {
                return Err(sqlx::Error::Decode(
                    format!("unknown event kind {other:?}").into(),
                ));
            }
        })
    }
}

/// The columns of a new item.
struct Columns<'a> {
    kind: &'static str,
    username: &'a str,
    message: Option<&'a str>,
    num_users: Option<i64>,
    key: Option<&'a ClientKey>,
}

fn columns(item: &NewItem) -> Columns<'_> {
    let count = |n: usize| Some(i64::try_from(n).unwrap_or(i64::MAX));
    let (kind, username, message, num_users) = match item {
        NewItem::Message {
            username, message, ..
        } => ("message", username, Some(message.as_str()), None),
        NewItem::Joined {
            username,
            num_users,
        } => ("joined", username, None, count(*num_users)),
        NewItem::Left {
            username,
            num_users,
        } => ("left", username, None, count(*num_users)),
    };
    Columns {
        kind,
        username,
        message,
        num_users,
        key: item.client_key(),
    }
}

/// How PostgreSQL keeps commit order equal to id order across nodes.
///
/// A sequence hands out ids in the order they are asked for, but
/// transactions commit in any order: node 1 takes 41, node 2 takes 42, and
/// 42 commits first. A node that read 42 and moved its cursor past it would
/// never see 41. So every batch takes one transaction-scoped advisory lock
/// before it draws its ids: the next batch draws only after this one has
/// committed (or rolled back, leaving a gap nobody waits for), and anyone
/// reading `id > cursor` sees the conversation without holes.
#[derive(Debug, Clone, Copy)]
pub struct Ordering<'a> {
    /// The statement that takes the lock (`SELECT pg_advisory_xact_lock(…)`).
    pub lock: &'a str,
    /// The channel each commit notifies, with its last id.
    pub channel: &'a str,
}

/// The ordering lock of the `events` table in the connection's schema:
/// tests' schemas in one database do not wait for each other.
pub const ORDER_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtext('chatroom.events:' || current_schema()))";

/// The connection's schema (the notification channel is named after it).
pub const CURRENT_SCHEMA: &str = "SELECT current_schema()::text";

fn sorted_ids(ids: Vec<i64>) -> Result<Vec<EventId>, sqlx::Error> {
    let mut ids = ids
        .into_iter()
        .map(|id| EventId::try_from(id).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    Ok(ids)
}

fn rows_to_items(rows: Vec<Row>) -> Result<Vec<HistoryItem>, sqlx::Error> {
    rows.into_iter().map(Row::into_item).collect()
}

macro_rules! backend {
    ($name:ident, $pool:ty, $db:ty) => {
        /// The statements on this database.
        pub mod $name {
            use super::*;

            /// Inserts `items` with one statement in one transaction, all
            /// stamped `ts`, but for messages whose key (sender and client
            /// id) is stored already: what became of each, in order. (Ids
            /// are assigned in the order of the rows, so the returned ids,
            /// sorted, are the inserted items'.) The items' keys must differ.
            pub async fn insert_batch(
                pool: &$pool,
                items: &[&NewItem],
                ts: i64,
                order: Option<&Ordering<'_>>,
                before_commit: impl FnOnce(&[Written]),
            ) -> Result<Vec<Written>, sqlx::Error> {
                let mut insert = sqlx::QueryBuilder::<$db>::new(INSERT_INTO);
                insert.push_values(items, |mut row, item| {
                    let c = columns(item);
                    row.push_bind(ts)
                        .push_bind(c.kind)
                        .push_bind(c.username)
                        .push_bind(c.message)
                        .push_bind(c.num_users)
                        .push_bind(c.key.map(|key| key.sender.as_str()))
                        .push_bind(c.key.map(|key| key.client_id.as_str()));
                });
                insert.push(ON_CONFLICT);
                let mut tx = pool.begin().await?;
                // Ids drawn under the lock are committed in their order (see
                // `Ordering`); the notification goes out with the commit.
                if let Some(order) = order {
                    sqlx::query(order.lock).execute(&mut *tx).await?;
                }
                let rows: Vec<(i64, Option<String>, Option<String>)> =
                    insert.build_query_as().fetch_all(&mut *tx).await?;
                let mut inserted_keys = std::collections::HashSet::new();
                let mut ids = Vec::with_capacity(rows.len());
                for (id, sender, client_id) in rows {
                    ids.push(id);
                    if let (Some(sender), Some(client_id)) = (sender, client_id) {
                        inserted_keys.insert(ClientKey { sender, client_id });
                    }
                }
                let mut ids = sorted_ids(ids)?.into_iter();
                let mut written = Vec::with_capacity(items.len());
                for item in items {
                    let next = match item.client_key() {
                        // Stored before (a repeat): the unique index kept it
                        // out, and finds the first copy.
                        Some(key) if !inserted_keys.contains(key) => {
                            let row: Option<Row> = sqlx::query_as(BY_CLIENT_KEY)
                                .bind(key.client_id.as_str())
                                .bind(key.sender.as_str())
                                .fetch_optional(&mut *tx)
                                .await?;
                            Written::Found(row.ok_or(sqlx::Error::RowNotFound)?.into_item()?)
                        }
                        _ => Written::Inserted(ids.next().ok_or(sqlx::Error::RowNotFound)?),
                    };
                    written.push(next);
                }
                before_commit(&written);
                if let Some(order) = order
                    && let Some(last) = written.iter().filter_map(Written::inserted).max()
                {
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(order.channel)
                        .bind(last.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(written)
            }

            /// Up to `limit` items before `id`, newest first.
            pub async fn before(
                pool: &$pool,
                id: i64,
                limit: i64,
            ) -> Result<Vec<HistoryItem>, sqlx::Error> {
                let rows = sqlx::query_as(BEFORE)
                    .bind(id)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                rows_to_items(rows)
            }

            /// Up to `limit` items after `id`, oldest first.
            pub async fn after(
                pool: &$pool,
                id: i64,
                limit: i64,
            ) -> Result<Vec<HistoryItem>, sqlx::Error> {
                let rows = sqlx::query_as(AFTER)
                    .bind(id)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                rows_to_items(rows)
            }

            /// Deletes items older than `cutoff` (ms), `chunk` at a time.
            pub async fn delete_older_than(
                pool: &$pool,
                cutoff: i64,
                chunk: i64,
            ) -> Result<u64, sqlx::Error> {
                delete_in_chunks(pool, DELETE_OLDER_THAN, cutoff, chunk).await
            }

            /// Runs `statement`, which deletes at most `chunk` (`$2`) items
            /// bounded by `bound` (`$1`), until it deletes fewer: each step
            /// holds the write lock briefly.
            async fn delete_in_chunks(
                pool: &$pool,
                statement: &'static str,
                bound: i64,
                chunk: i64,
            ) -> Result<u64, sqlx::Error> {
                let mut deleted = 0;
                loop {
                    let done = sqlx::query(statement)
                        .bind(bound)
                        .bind(chunk)
                        .execute(pool)
                        .await?
                        .rows_affected();
                    deleted += done;
                    if done < chunk.unsigned_abs() {
                        return Ok(deleted);
                    }
                }
            }

            /// Adds an account; `None` if the name is taken.
            pub async fn insert_user(
                pool: &$pool,
                username: &str,
                (name_key, name_key_rule): (&str, &str),
                password_hash: &str,
                created_at: i64,
            ) -> Result<Option<i64>, sqlx::Error> {
                // `fetch_all`, not `fetch_one`: SQLite runs its automatic
                // checkpoint only when a statement is stepped to its end;
                // one reset after its first row commits without it, and
                // the write-ahead log grows without bound.
                let inserted: Result<Vec<i64>, _> = sqlx::query_scalar(INSERT_USER)
                    .bind(username)
                    .bind(name_key)
                    .bind(name_key_rule)
                    .bind(password_hash)
                    .bind(created_at)
                    .fetch_all(pool)
                    .await;
                match inserted {
                    Ok(ids) => ids
                        .first()
                        .copied()
                        .map(Some)
                        .ok_or(sqlx::Error::RowNotFound),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
                    Err(e) => Err(e),
                }
            }

            /// The account with this name key, or else with this
            /// `set_aside` key.
            pub async fn user_by_key(
                pool: &$pool,
                key: &str,
                set_aside: &str,
            ) -> Result<Option<UserRow>, sqlx::Error> {
                sqlx::query_as(USER_BY_KEY)
                    .bind(key)
                    .bind(set_aside)
                    .fetch_optional(pool)
                    .await
            }

            /// Gives the accounts keyed by another rule than `rule` the
            /// keys `plan` makes for them, in one transaction. `plan` gets
            /// those accounts (id, name) in id order and the keys of the
            /// others, and answers (id, key) for each.
            pub async fn remake_keys(
                pool: &$pool,
                rule: &str,
                plan: impl FnOnce(Vec<(i64, String)>, Vec<String>) -> Vec<(i64, String)>,
            ) -> Result<usize, sqlx::Error> {
                let mut tx = pool.begin().await?;
                let stale: Vec<(i64, String)> = sqlx::query_as(KEYED_BY_OTHER_RULES)
                    .bind(rule)
                    .fetch_all(&mut *tx)
                    .await?;
                if stale.is_empty() {
                    return Ok(0);
                }
                let kept: Vec<String> = sqlx::query_scalar(KEYS_BY_RULE)
                    .bind(rule)
                    .fetch_all(&mut *tx)
                    .await?;
                let keys = plan(stale, kept);
                // Out of the way first, so that no new key meets an old one
                // that is about to change: a key of its own per id (control
                // characters are never in a name, so never in a key).
                for (id, _) in &keys {
                    sqlx::query(SET_KEY)
                        .bind(format!("\u{2}{id}"))
                        .bind(rule)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                for (id, key) in &keys {
                    sqlx::query(SET_KEY)
                        .bind(key)
                        .bind(rule)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(keys.len())
            }

            /// The account with this id.
            pub async fn user_by_id(pool: &$pool, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
                sqlx::query_as(USER_BY_ID)
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            }

            /// Deletes all but the newest `keep` items, `chunk` at a time.
            pub async fn keep_newest(
                pool: &$pool,
                keep: i64,
                chunk: i64,
            ) -> Result<u64, sqlx::Error> {
                let newest_to_drop: Option<i64> = sqlx::query_scalar(NEWEST_TO_DROP)
                    .bind(keep)
                    .fetch_optional(pool)
                    .await?;
                let Some(up_to) = newest_to_drop else {
                    return Ok(0);
                };
                delete_in_chunks(pool, DELETE_UP_TO, up_to, chunk).await
            }
        }
    };
}

backend!(sqlite, sqlx::SqlitePool, sqlx::Sqlite);
backend!(postgres, sqlx::PgPool, sqlx::Postgres);
