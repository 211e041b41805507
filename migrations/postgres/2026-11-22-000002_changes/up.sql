-- A change feed of keys, owners and snapshots: every replica reads it (prompted by
-- NOTIFY twin_changes on PostgreSQL, and by polling as a backstop) to drop what it cached.
CREATE TABLE changes (
    seq       BIGSERIAL PRIMARY KEY,
    key_id    TEXT,
    owner_id  TEXT,
    at        BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes (at);
