DROP INDEX api_keys_counter;
ALTER TABLE api_keys DROP COLUMN meta;
ALTER TABLE api_keys DROP COLUMN rotated_to;
ALTER TABLE api_keys DROP COLUMN counter_id;
