-- Accounts. `name_key` is the lower-cased name: names are unique case-insensitively.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    name_key      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,           -- argon2id, PHC string
    created_at    INTEGER NOT NULL            -- ms since the Unix epoch
);
