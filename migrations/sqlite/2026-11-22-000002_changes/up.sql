-- A change feed of keys, owners and snapshots: every replica reads it (prompted by
-- polling on SQLite) to drop what it cached.
CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id    TEXT,
    owner_id  TEXT,
    at        BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes (at);
