-- The conversation: messages, joins and leaves, in one id sequence.
CREATE TABLE events (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts        BIGINT NOT NULL,            -- ms since the Unix epoch
    kind      TEXT   NOT NULL CHECK (kind IN ('message', 'joined', 'left')),
    username  TEXT   NOT NULL,
    message   TEXT,                       -- messages only
    num_users BIGINT                      -- joins and leaves only
);
CREATE INDEX events_ts ON events (ts);
