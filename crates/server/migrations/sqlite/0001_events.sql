-- The conversation: messages, joins and leaves, in one id sequence.
-- AUTOINCREMENT: ids are never reused, even after retention deletes the newest.
CREATE TABLE events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts        INTEGER NOT NULL,           -- ms since the Unix epoch
    kind      TEXT    NOT NULL CHECK (kind IN ('message', 'joined', 'left')),
    username  TEXT    NOT NULL,
    message   TEXT,                       -- messages only
    num_users INTEGER                     -- joins and leaves only
);
CREATE INDEX events_ts ON events (ts);
