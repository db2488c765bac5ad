//! Passwords and login tokens, used by the HTTP API and the Socket.IO
//! handshake alike.
//!
//! - Passwords are hashed with argon2id (the `argon2` crate's defaults), on
//!   the blocking pool: hashing is slow on purpose, and each hash takes about
//!   19 MiB, so [`Passwords`] lets only a few run at once and refuses past a
//!   short queue (the server answers 503) instead of letting a flood of
//!   requests take gigabytes.
//! - Tokens are JWTs (HS256) with the user id as subject, the name, issue and
//!   expiry times, a session id (`jti`) that ties a browser's sockets to its
//!   login, so logging out can disconnect them, and the account's session
//!   generation, so "log out everywhere" ends every older token at once.
//! - [`identify`] checks a token for the API and sockets alike: signature,
//!   expiry, the account, its generation, and the list of logged-out
//!   sessions.
//! - The signing secret comes from the configuration, or is generated on
//!   first start and kept in the data directory (mode 0600, written
//!   atomically), so restarts do not log everyone out. It must have at least
//!   [`SECRET_MIN_BYTES`] bytes; a shorter or damaged one stops the start with
//!   the reason. It is never logged.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use protocol::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::store::{User, now_millis};

/// Where a generated secret is kept, in the data directory.
const SECRET_FILE: &str = "jwt-secret";

/// The shortest signing secret accepted: HS256's key is as strong as its
/// secret, and RFC 7518 asks for at least the hash's 256 bits.
pub const SECRET_MIN_BYTES: usize = 32;

/// The random bytes of a generated secret (kept as twice as many hex digits).
const GENERATED_SECRET_BYTES: usize = 32;

/// Why tokens could not be set up or issued.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The secret file could not be read or written.
    #[error("the token secret file: {0}")]
    SecretFile(#[from] std::io::Error),
    /// The configured secret is too short.
    #[error(
        "the JWT secret (--jwt-secret, CHATROOM_JWT_SECRET) has {0} bytes; it needs at least \
         {SECRET_MIN_BYTES} (for example `openssl rand -hex 32`)"
    )]
    WeakSecret(usize),
    /// The secret file is not one the server wrote.
    #[error(
        "the token secret file {path} is damaged ({why}); delete it and a new one is made \
         at the next start (everyone logged in must log in again)"
    )]
    DamagedSecretFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// Signing or hashing failed.
    #[error("{0}")]
    Crypto(String),
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// It was valid, but its time is up.
    #[error("session expired")]
    Expired,
    /// Malformed, tampered with, signed otherwise, or missing claims.
    #[error("invalid session")]
    Invalid,
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The user's name when the token was issued.
    pub name: String,
    /// Issued at (seconds since the Unix epoch).
    pub iat: i64,
    /// Expires at (seconds since the Unix epoch).
    pub exp: i64,
    /// The session (one login), to find its sockets.
    pub jti: String,
    /// The account's session generation when the token was issued; "log out
    /// everywhere" moves the account's on, which ends this token. (Tokens
    /// from before this claim existed count as generation 0.)
    #[serde(rename = "gen", default)]
    pub generation: i64,
}

impl Claims {
    /// The user id, as stored.
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }

    /// When the token stops being accepted, in ms: the end of its `exp`
    /// second (a token is valid while `now <= exp`).
    pub fn expires_at(&self) -> Timestamp {
        self.exp.saturating_add(1).saturating_mul(1000)
    }
}

/// Issues and checks login tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validity: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the keys.
        f.debug_struct("Tokens")
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens signed with `secret`, valid for `validity`.
    pub fn new(secret: &[u8], validity: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validity,
        }
    }

    /// Tokens signed with the configured secret, or with the one kept in
    /// `data_dir` (generated on first use).
    /// Refuses a configured secret shorter than [`SECRET_MIN_BYTES`] and a
    /// kept one that is not what the server wrote.
    pub fn load(
        secret: Option<&str>,
        data_dir: &Path,
        validity: Duration,
    ) -> Result<Self, AuthError> {
        if let Some(secret) = secret {
            if secret.len() < SECRET_MIN_BYTES {
                return Err(AuthError::WeakSecret(secret.len()));
            }
            return Ok(Self::new(secret.as_bytes(), validity));
        }
        let path = data_dir.join(SECRET_FILE);
        let secret = match std::fs::read_to_string(&path) {
            Ok(secret) => check_kept_secret(&path, secret)?,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(AuthError::DamagedSecretFile {
                    path: path.display().to_string(),
                    why: "not text".to_owned(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir)?;
                let secret = random_hex(GENERATED_SECRET_BYTES);
                write_private_atomically(&path, &secret)?;
                secret
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self::new(secret.as_bytes(), validity))
    }

    /// How long tokens last.
    pub fn validity(&self) -> Duration {
        self.validity
    }

    /// A token for `user`, whose sessions are at `generation`, with its
    /// claims.
    pub fn issue(&self, user: &User, generation: i64) -> Result<(String, Claims), AuthError> {
        let now = now_millis() / 1000;
        let validity = i64::try_from(self.validity.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user.id.to_string(),
            name: user.username.clone(),
            iat: now,
            exp: now.saturating_add(validity),
            jti: random_hex(16),
            generation,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Crypto(e.to_string()))?;
        Ok((token, claims))
    }

    /// The claims of a valid token: HS256 only, signature checked, not
    /// expired (no leeway), every claim present.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "jti"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// The server is hashing as much as it may and its queue is full: try
/// again in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy; try again in a moment")]
pub struct Busy;

/// Runs password hashes and verifications with bounded memory and CPU: at
/// most `concurrency` at once (each takes about 19 MiB and a core), and at
/// most `queue` more waiting their turn; past that, [`Busy`] at once.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Running and waiting now.
    admitted: Arc<AtomicUsize>,
    /// The most running and waiting at once.
    most: usize,
    /// Hashes and verifications run so far.
    done: Arc<AtomicU64>,
}

/// One admitted request: leaves the count when dropped, that is, when its
/// hash is done (it moves onto the blocking thread) or it stopped waiting.
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Passwords {
    /// At most `concurrency` (at least one) hashes at once and `queue` more
    /// waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(AtomicUsize::new(0)),
            most: concurrency.saturating_add(queue),
            done: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The argon2id hash of `password`, as a PHC string.
    pub async fn hash(&self, password: String) -> Result<Result<String, AuthError>, Busy> {
        self.run(move || hash_now(&password))
            .await
            .map(|hashed| hashed.and_then(std::convert::identity))
    }

    /// Whether `password` matches `hash`.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, Busy> {
        self.run(move || verify_now(&password, &hash))
            .await
            .map(|checked| checked.unwrap_or(false))
    }

    /// How many hashes and verifications have run: what the requests cost.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Acquire)
    }

    /// Runs `work` on the blocking pool once a permit is free; the permit is
    /// held until the work is done, even if the request goes away first.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Result<T, AuthError>, Busy> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.most {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let admitted = Admitted(self.admitted.clone());
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return Err(Busy);
        };
        let done = self.done.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let result = work();
            done.fetch_add(1, Ordering::AcqRel);
            drop((permit, admitted));
            result
        })
        .await;
        Ok(joined.map_err(|e| AuthError::Crypto(e.to_string())))
    }
}

/// The argon2id hash of `password`, as a PHC string, with no bound on how
/// many run at once: for tools (`seed_users`); requests use [`Passwords`].
pub async fn hash_password(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| AuthError::Crypto(e.to_string()))?
}

fn hash_now(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Crypto(e.to_string()))
}

fn verify_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The kept secret, if it is what [`write_private_atomically`] wrote: hex
/// digits, at least [`SECRET_MIN_BYTES`] of them. (A file cut short by a
/// crash under an older version, or edited by hand, must not quietly sign
/// tokens with a weak key.)
fn check_kept_secret(path: &Path, contents: String) -> Result<String, AuthError> {
    let secret = contents.trim();
    let damaged = |why: String| AuthError::DamagedSecretFile {
        path: path.display().to_string(),
        why,
    };
    if !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(damaged("it holds more than hex digits".to_owned()));
    }
    if secret.len() < SECRET_MIN_BYTES * 2 {
        return Err(damaged(format!(
            "{} hex digits, at least {} expected",
            secret.len(),
            SECRET_MIN_BYTES * 2
        )));
    }
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the token secret file is readable by others: chmod 600 it");
        }
    }
    Ok(secret.to_owned())
}

/// Writes a file only its owner can read, atomically: a temporary file
/// beside it, flushed to disk, then renamed over, so a crash leaves either
/// no file or the whole one, never a part.
fn write_private_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension(format!("tmp-{}", random_hex(8)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&temporary, path));
    if renamed.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = std::fs::remove_file(&temporary);
    }
    renamed?;
    // The rename itself is durable once the folder is synced.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User {
            id: 7,
            username: "alice".into(),
            password_hash: String::new(),
        }
    }

    #[test]
    fn a_token_round_trips() {
        let tokens = Tokens::new(b"secret", Duration::from_secs(3600));
        let (token, claims) = tokens.issue(&alice(), 0).unwrap();
        assert_eq!(tokens.verify(&token), Ok(claims.clone()));
        assert_eq!((claims.user_id(), claims.name.as_str()), (Some(7), "alice"));
        assert_eq!(claims.exp - claims.iat, 3600);
    }

    #[test]
    fn tampered_foreign_and_malformed_tokens_are_invalid() {
        let tokens = Tokens::new(b"secret", Duration::from_secs(3600));
        let (token, _) = tokens.issue(&alice(), 0).unwrap();
        let other = Tokens::new(b"another secret", Duration::from_secs(3600));
        assert_eq!(other.verify(&token), Err(TokenError::Invalid));
        // Change the payload, keep the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].chars().rev().collect();
        assert_eq!(tokens.verify(&parts.join(".")), Err(TokenError::Invalid));
        assert_eq!(tokens.verify("not a token"), Err(TokenError::Invalid));
        assert_eq!(tokens.verify(""), Err(TokenError::Invalid));
    }

    #[test]
    fn another_algorithm_is_refused() {
        let claims = Claims {
            sub: "7".into(),
            name: "a".into(),
            iat: 1,
            exp: i64::MAX / 1000,
            jti: "j".into(),
            generation: 0,
        };
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        let tokens = Tokens::new(b"secret", Duration::from_secs(60));
        assert_eq!(tokens.verify(&hs512), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_and_incomplete_tokens() {
        let key = EncodingKey::from_secret(b"secret");
        let tokens = Tokens::new(b"secret", Duration::from_secs(60));
        let now = now_millis() / 1000;
        let expired = Claims {
            sub: "7".into(),
            name: "a".into(),
            iat: now - 100,
            exp: now - 10,
            jti: "j".into(),
            generation: 0,
        };
        let token = jsonwebtoken::encode(&Header::default(), &expired, &key).unwrap();
        assert_eq!(tokens.verify(&token), Err(TokenError::Expired));
        let no_sub = serde_json::json!({ "name": "a", "iat": now, "exp": now + 60, "jti": "j" });
        let token = jsonwebtoken::encode(&Header::default(), &no_sub, &key).unwrap();
        assert_eq!(tokens.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn the_generated_secret_is_kept_private_and_reused() {
        let dir = tempfile_dir();
        let first = Tokens::load(None, &dir, Duration::from_secs(60)).unwrap();
        let (token, _) = first.issue(&alice(), 0).unwrap();
        let again = Tokens::load(None, &dir, Duration::from_secs(60)).unwrap();
        assert!(again.verify(&token).is_ok(), "a restart keeps sessions");
        // Written whole, with no temporary file left beside it.
        let kept = std::fs::read_to_string(dir.join(SECRET_FILE)).unwrap();
        assert_eq!(kept.len(), GENERATED_SECRET_BYTES * 2);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("chatroom-auth-{}", random_hex(8)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn tokens_come_from_bearer_or_cookie() {
        use axum::http::{HeaderMap, HeaderValue, header};
        let plain = SessionCookie::new(false);
        let mut headers = HeaderMap::new();
        assert_eq!(token_from_headers(&headers, plain), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; chatroom_token=abc; b=2"),
        );
        assert_eq!(token_from_headers(&headers, plain).as_deref(), Some("abc"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer xyz"),
        );
        assert_eq!(token_from_headers(&headers, plain).as_deref(), Some("xyz"));
        assert_eq!(
            plain.set("abc", Duration::from_secs(60)),
            "chatroom_token=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
    }

    #[test]
    fn over_https_the_cookie_is_secure_and_host_only() {
        use axum::http::{HeaderMap, HeaderValue, header};
        let secure = SessionCookie::new(true);
        assert_eq!(
            secure.set("abc", Duration::from_secs(60)),
            "__Host-chatroom_token=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        assert_eq!(
            secure.clear(),
            "__Host-chatroom_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
        // Only the name in force is read: a plain cookie could have been
        // planted over HTTP or by a subdomain.
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("chatroom_token=planted"),
        );
        assert_eq!(secure.token(&headers), None);
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-chatroom_token=mine"),
        );
        assert_eq!(secure.token(&headers).as_deref(), Some("mine"));
        assert_eq!(
            SessionCookie::new(false).token(&headers).as_deref(),
            Some("planted")
        );
    }

    #[tokio::test]
    async fn passwords_hash_with_argon2id_and_verify() {
        let passwords = Passwords::new(2, 0);
        let hash = passwords
            .hash("correct horse".into())
            .await
            .unwrap()
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert_eq!(
            passwords.verify("correct horse".into(), hash.clone()).await,
            Ok(true)
        );
        assert_eq!(
            passwords.verify("wrong horse".into(), hash).await,
            Ok(false)
        );
        assert_eq!(
            passwords.verify("x".into(), "not a hash".into()).await,
            Ok(false)
        );
        assert_eq!(passwords.done(), 4);
    }

    #[tokio::test]
    async fn hashing_past_the_queue_is_refused_at_once() {
        let passwords = Passwords::new(1, 2);
        let hashes: Vec<_> = (0..10)
            .map(|i| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.hash(format!("password {i}")).await })
            })
            .collect();
        let mut busy = 0;
        for hash in hashes {
            match hash.await.unwrap() {
                Ok(hashed) => assert!(hashed.is_ok()),
                Err(Busy) => busy += 1,
            }
        }
        // One running and two waiting at most: the other seven were refused
        // without hashing.
        assert!(busy >= 7, "{busy} refused");
        assert_eq!(passwords.done(), 10 - busy);
        // Once the queue drained, hashing works again.
        assert!(passwords.hash("again".into()).await.is_ok());
    }

    #[test]
    fn short_configured_secrets_are_refused() {
        let dir = tempfile_dir();
        let short = Tokens::load(Some("hunter2"), &dir, Duration::from_secs(60)).unwrap_err();
        assert!(matches!(short, AuthError::WeakSecret(7)), "{short}");
        assert!(short.to_string().contains("at least 32"), "{short}");
        assert!(Tokens::load(Some(&"x".repeat(32)), &dir, Duration::from_secs(60)).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_damaged_secret_file_is_refused_with_the_reason() {
        let dir = tempfile_dir();
        let path = dir.join(SECRET_FILE);
        for (contents, why) in [
            ("", "0 hex digits"),
            ("abc123", "6 hex digits"),
            (&*"z".repeat(64), "more than hex digits"),
        ] {
            std::fs::write(&path, contents).unwrap();
            let error = Tokens::load(None, &dir, Duration::from_secs(60)).unwrap_err();
            let text = error.to_string();
            assert!(text.contains(why) && text.contains("delete it"), "{text}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// The cookie the browser keeps its login in, served over plain HTTP.
pub const COOKIE: &str = "chatroom_token";

/// Its name when the public URL is `https://`: browsers accept a `__Host-`
/// cookie only with `Secure`, `Path=/` and no `Domain`, so neither a
/// subdomain nor a plain-HTTP page can plant one in its place.
pub const SECURE_COOKIE: &str = "__Host-chatroom_token";

/// Why a request or a connection is not someone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unidentified {
    /// No token at all.
    #[error("login required")]
    Missing,
    /// A token whose time is up.
    #[error("session expired")]
    Expired,
    /// A token that is not ours, or not whole.
    #[error("invalid session: log in again")]
    Invalid,
    /// A valid token for an account that no longer exists.
    #[error("login required: the account no longer exists")]
    Deleted,
    /// A valid token whose session was logged out (on its own, or by "log
    /// out everywhere").
    #[error("logged out: log in again")]
    LoggedOut,
    /// The store failed; logged where it happened.
    #[error("internal error")]
    Internal,
}

/// The login token a request carries: `Authorization: Bearer …`, or else the
/// browser's cookie.
pub fn token_from_headers(
    headers: &axum::http::HeaderMap,
    cookie: SessionCookie,
) -> Option<String> {
    bearer_token(headers).or_else(|| cookie.token(headers))
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned())
}

/// Who a token belongs to: the same check for HTTP requests and sockets.
/// A token is refused when it is not ours or expired, when its account is
/// gone, and when its session was logged out.
pub async fn identify(
    tokens: &Tokens,
    store: &crate::store::Store,
    token: Option<&str>,
) -> Result<(User, Claims), Unidentified> {
    let token = token.ok_or(Unidentified::Missing)?;
    let claims = tokens.verify(token).map_err(|e| match e {
        TokenError::Expired => Unidentified::Expired,
        TokenError::Invalid => Unidentified::Invalid,
    })?;
    let id = claims.user_id().ok_or(Unidentified::Invalid)?;
    match store.session(id, &claims.jti).await {
        Ok(Some(session)) if session.revoked || session.generation != claims.generation => {
            Err(Unidentified::LoggedOut)
        }
        Ok(Some(session)) => Ok((session.user, claims)),
        Ok(None) => Err(Unidentified::Deleted),
        Err(error) => {
            tracing::error!(%error, "could not look up a token's account");
            Err(Unidentified::Internal)
        }
    }
}

/// The browser's login cookie: its name and attributes, which follow the
/// public URL (`--public-url`, see [`crate::security`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCookie {
    /// Served over HTTPS: `Secure` and the `__Host-` name.
    secure: bool,
}

impl SessionCookie {
    /// The cookie of a site served over HTTPS if `secure`.
    pub const fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// The name in force; a cookie of the other name is not read.
    pub const fn name(self) -> &'static str {
        if self.secure { SECURE_COOKIE } else { COOKIE }
    }

    /// A `Set-Cookie` value that keeps `token` for `max_age`: HttpOnly (page
    /// scripts cannot read it), SameSite=Strict (other sites cannot use it),
    /// and Secure over HTTPS.
    pub fn set(self, token: &str, max_age: std::time::Duration) -> String {
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.name(),
            max_age.as_secs(),
            self.secure_attribute()
        )
    }

    /// A `Set-Cookie` value that removes the login cookie.
    pub fn clear(self) -> String {
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
            self.name(),
            self.secure_attribute()
        )
    }

    /// The login token in a request's `Cookie` headers.
    pub fn token(self, headers: &axum::http::HeaderMap) -> Option<String> {
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.name())
            .map(|(_, value)| value.to_owned())
    }

    fn secure_attribute(self) -> &'static str {
        if self.secure { "; Secure" } else { "" }
    }
}
