-- Rotation lineage and key metadata (SPEC §2); see the PostgreSQL migration for the why.
-- SQLite cannot add a NOT NULL column without a default: the default is replaced at once.
ALTER TABLE api_keys ADD COLUMN counter_id TEXT NOT NULL DEFAULT '';
UPDATE api_keys SET counter_id = id;
ALTER TABLE api_keys ADD COLUMN rotated_to TEXT;
ALTER TABLE api_keys ADD COLUMN meta TEXT;
UPDATE api_keys SET rotated_to = (
    SELECT successor.id FROM api_keys AS successor WHERE successor.rotated_from = api_keys.id
);
CREATE INDEX api_keys_counter ON api_keys (counter_id);
