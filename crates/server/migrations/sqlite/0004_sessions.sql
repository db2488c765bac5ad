-- Logging out: a logged-out session's token id, kept until the token expires
-- (then pruned); and each account's session generation, which "log out
-- everywhere" moves on so every token issued before is refused.
CREATE TABLE revoked_sessions (
    jti        TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL            -- ms since the Unix epoch
);
CREATE INDEX revoked_sessions_expires_at ON revoked_sessions (expires_at);
ALTER TABLE users ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0;
