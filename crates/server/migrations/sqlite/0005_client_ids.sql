-- Messages sent with a client id are stored once per sender: a client that
-- sends one again (its acknowledgement was lost, another tab sent it too) is
-- answered with the stored message. `sender` is "user:<account id>" or
-- "name:<name key>" for a guest; both are null for joins, leaves and messages
-- sent without an id. The unique index is the arbiter when two copies race,
-- on one node or on several.
ALTER TABLE events ADD COLUMN sender TEXT;
ALTER TABLE events ADD COLUMN client_id TEXT;
CREATE UNIQUE INDEX events_client_id ON events (client_id, sender)
    WHERE client_id IS NOT NULL;
