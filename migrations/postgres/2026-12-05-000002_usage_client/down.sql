ALTER TABLE usage_log DROP COLUMN client_id;
