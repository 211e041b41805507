DROP TABLE alert_marks;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
DROP INDEX api_keys_alerting;
DROP INDEX api_keys_expiring;
ALTER TABLE api_keys DROP COLUMN alerts;
ALTER TABLE api_keys DROP COLUMN alert_thresholds;
