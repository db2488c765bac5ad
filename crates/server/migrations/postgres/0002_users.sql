-- Accounts. `name_key` is the lower-cased name: names are unique case-insensitively.
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT   NOT NULL,
    name_key      TEXT   NOT NULL UNIQUE,
    password_hash TEXT   NOT NULL,            -- argon2id, PHC string
    created_at    BIGINT NOT NULL             -- ms since the Unix epoch
);
