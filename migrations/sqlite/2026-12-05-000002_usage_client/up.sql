-- The OAuth client a call was made by (SPEC §14: usage is logged with the client's id); NULL for a key's calls.
ALTER TABLE usage_log ADD COLUMN client_id TEXT;
