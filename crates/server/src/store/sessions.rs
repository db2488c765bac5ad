//! Sessions: what ends a login before its token expires. A logged-out
//! session's token id (`jti`) is kept in `revoked_sessions` until the token
//! would have expired anyway, then pruned; "log out everywhere" moves the
//! account's `session_generation` on, which every older token carries.
//! Checking a token is one query: the account, its generation, and whether
//! the session is revoked.

use super::{Db, Store, StoreError, User, now_millis};

/// The statements run on either database (sqlx binds `$1` on both).
const SESSION: &str = "SELECT id, username, password_hash, session_generation, \
                       (SELECT COUNT(*) FROM revoked_sessions WHERE jti = $2) AS revoked \
                       FROM users WHERE id = $1";
const GENERATION: &str = "SELECT session_generation FROM users WHERE id = $1";
const REVOKE: &str = "INSERT INTO revoked_sessions (jti, expires_at) VALUES ($1, $2) \
                      ON CONFLICT (jti) DO NOTHING";
const PRUNE: &str = "DELETE FROM revoked_sessions WHERE expires_at < $1";
const END_ALL: &str = "UPDATE users SET session_generation = session_generation + 1 \
                       WHERE id = $1 RETURNING session_generation";

/// Runs `$body` with `$pool` bound to whichever pool the store has: the
/// statements are the same on both.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// A token's account, as [`Store::session`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSession {
    /// The account.
    pub user: User,
    /// Its session generation now.
    pub generation: i64,
    /// Whether the session asked about was logged out.
    pub revoked: bool,
}

#[derive(Debug, sqlx::FromRow)]
struct SessionRow {
    id: i64,
    username: String,
    password_hash: String,
    session_generation: i64,
    revoked: i64,
}

impl Store {
    /// The account `user_id` with its session generation, and whether the
    /// session `jti` was logged out; `None` if the account is gone.
    pub async fn session(
        &self,
        user_id: i64,
        jti: &str,
    ) -> Result<Option<AccountSession>, StoreError> {
        let row: Option<SessionRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(SESSION)
                .bind(user_id)
                .bind(jti)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|row| AccountSession {
            user: User {
                id: row.id,
                username: row.username,
                password_hash: row.password_hash,
            },
            generation: row.session_generation,
            revoked: row.revoked > 0,
        }))
    }

    /// The session generation of account `user_id` (0 if it is gone: its
    /// tokens are refused anyway).
    pub async fn session_generation(&self, user_id: i64) -> Result<i64, StoreError> {
        let generation: Option<i64> = on_pool!(&self.db, pool => {
            sqlx::query_scalar(GENERATION)
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(generation.unwrap_or(0))
    }

    /// Logs the session `jti` out until `expires_at` (ms), when its token
    /// expires anyway; forgets sessions whose tokens have expired.
    pub async fn revoke_session(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        let now = now_millis();
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(REVOKE)
                .bind(jti)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(PRUNE).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Ends every session of account `user_id`: tokens issued before carry
    /// an older generation. Returns the new one (`None` if the account is
    /// gone).
    pub async fn end_all_sessions(&self, user_id: i64) -> Result<Option<i64>, StoreError> {
        // `fetch_all`: SQLite checkpoints only statements stepped to their
        // end (see `sql.rs`).
        let generations: Vec<i64> = on_pool!(&self.db, pool => {
            sqlx::query_scalar(END_ALL)
                .bind(user_id)
                .fetch_all(pool)
                .await?
        });
        Ok(generations.first().copied())
    }
}
