-- Rotation lineage and key metadata (SPEC §2).
--
-- `counter_id` names the `key_counters` row a key draws on: the lineage root's id, so a key
-- made by rotation shares its predecessor's quota, rate window and spend period. Existing
-- keys keep their own rows (their copied counters diverged since their rotation, and a
-- rotated predecessor stops working within its grace period of at most 7 days).
-- `rotated_to` marks a key that rotation replaced: its expiry can only be shortened.
-- `meta` is the owner's JSON object, serialized, never interpreted.
ALTER TABLE api_keys ADD COLUMN counter_id TEXT;
UPDATE api_keys SET counter_id = id;
ALTER TABLE api_keys ALTER COLUMN counter_id SET NOT NULL;
ALTER TABLE api_keys ADD COLUMN rotated_to TEXT;
ALTER TABLE api_keys ADD COLUMN meta TEXT;
UPDATE api_keys AS prev SET rotated_to = successor.id
    FROM api_keys AS successor
    WHERE successor.rotated_from = prev.id;
CREATE INDEX api_keys_counter ON api_keys (counter_id);
