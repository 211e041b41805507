-- Alerts and webhooks (SPEC §15).
--
-- Per key: `alert_thresholds` (a JSON array of percentages; NULL means the default [80, 100])
-- and `alerts` (the JSON rules for high usage, failures and unusual activity; NULL: none).
ALTER TABLE api_keys ADD COLUMN alert_thresholds TEXT;
ALTER TABLE api_keys ADD COLUMN alerts TEXT;
-- The expiry sweep and the rules sweep read only the keys they concern.
CREATE INDEX api_keys_expiring ON api_keys (expires_at) WHERE expires_at IS NOT NULL AND revoked_at IS NULL;
CREATE INDEX api_keys_alerting ON api_keys (id) WHERE alerts IS NOT NULL AND revoked_at IS NULL;

-- An owner's receivers. `secret` signs deliveries (it must be readable to sign, as every
-- Standard Webhooks sender keeps it); `previous_secret` keeps signing too until
-- `previous_secret_until` after a rotation. `failing_since` is the first failure of the
-- current run of failures; `disabled_reason` says why the server disabled the endpoint.
CREATE TABLE webhook_endpoints (
    id                     TEXT PRIMARY KEY,
    owner_id               TEXT NOT NULL,
    url                    TEXT NOT NULL,
    description            TEXT NOT NULL,
    events                 TEXT NOT NULL,
    enabled                BOOLEAN NOT NULL,
    secret                 TEXT NOT NULL,
    previous_secret        TEXT,
    previous_secret_until  BIGINT,
    failing_since          BIGINT,
    disabled_reason        TEXT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_id, created_at);

-- The outbox: one row per event, written in the transaction of the change that caused it,
-- and only when some endpoint of the owner wants it. `payload` is the exact body sent.
CREATE TABLE webhook_events (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    owner_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- One row per event and endpoint. A replica claims due rows (FOR UPDATE SKIP LOCKED) by
-- setting `claimed_until`; a claim that outlives its replica expires and the row is due again.
CREATE TABLE webhook_deliveries (
    seq               BIGSERIAL PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    endpoint_id       TEXT NOT NULL,
    event_seq         BIGINT NOT NULL,
    status            TEXT NOT NULL,
    attempts          BIGINT NOT NULL,
    next_attempt_at   BIGINT,
    claimed_until     BIGINT,
    last_attempt_at   BIGINT,
    last_status_code  BIGINT,
    last_latency_ms   BIGINT,
    last_error        TEXT,
    last_response     TEXT,
    created_at        BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq);

-- What has fired: one row per (subject, kind, level, period), so an alert fires once however
-- many replicas notice it. `subject` is the key's counter (thresholds) or its id.
CREATE TABLE alert_marks (
    subject  TEXT NOT NULL,
    kind     TEXT NOT NULL,
    level    BIGINT NOT NULL,
    period   BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (subject, kind, level, period)
);
CREATE INDEX alert_marks_at ON alert_marks (at);
