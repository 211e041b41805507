-- Twin API schema, SQLite flavour. Times are Unix milliseconds (BIGINT) so the
-- PostgreSQL and SQLite schemas share one set of Rust types and one code path.

CREATE TABLE owners (
    id          TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    plan        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE snapshots (
    id           TEXT PRIMARY KEY,
    owner_id     TEXT NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    source       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'generating', 'ready', 'failed')),
    purchase_id  TEXT,
    document     TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (owner_id, version)
);
CREATE INDEX snapshots_owner_status ON snapshots (owner_id, status, version DESC);
CREATE INDEX snapshots_owner_purchase ON snapshots (owner_id, purchase_id);

CREATE TABLE api_keys (
    id               TEXT PRIMARY KEY,
    owner_id         TEXT NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    env              TEXT NOT NULL CHECK (env IN ('live', 'test')),
    name             TEXT NOT NULL,
    prefix           TEXT NOT NULL,
    hash_algorithm   TEXT NOT NULL,
    pepper_version   BIGINT,
    key_hash         BLOB NOT NULL,
    scopes           TEXT NOT NULL,
    is_active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    expires_at       BIGINT,
    revoked_at       BIGINT,
    last_used_at     BIGINT,
    usage_count      BIGINT NOT NULL DEFAULT 0,
    monthly_quota    BIGINT NOT NULL,
    rate_limit_rpm   BIGINT NOT NULL,
    spend_limit      BIGINT,
    spend_period     TEXT NOT NULL DEFAULT 'month' CHECK (spend_period IN ('day', 'week', 'month', 'forever')),
    created_by       TEXT NOT NULL,
    rotated_from     TEXT
);
CREATE INDEX api_keys_owner_created ON api_keys (owner_id, created_at DESC, id);

-- Hot counters live apart from the key's settings so a counter update touches a narrow row.
-- One row per key; every counter a request moves is updated by one statement.
CREATE TABLE key_counters (
    key_id              TEXT PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    quota_period        BIGINT NOT NULL DEFAULT 0,
    quota_used          BIGINT NOT NULL DEFAULT 0,
    rate_minute         BIGINT NOT NULL DEFAULT 0,
    rate_current        BIGINT NOT NULL DEFAULT 0,
    rate_previous       BIGINT NOT NULL DEFAULT 0,
    spend_period_start  BIGINT NOT NULL DEFAULT 0,
    spend_period_used   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE usage_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id       TEXT NOT NULL,
    owner_id     TEXT NOT NULL,
    at           BIGINT NOT NULL,
    method       TEXT NOT NULL,
    route        TEXT NOT NULL,
    status       INTEGER NOT NULL,
    cost         BIGINT NOT NULL DEFAULT 0,
    duration_us  BIGINT NOT NULL DEFAULT 0,
    variant      TEXT,
    format       TEXT
);
CREATE INDEX usage_log_key_at ON usage_log (key_id, at DESC);
CREATE INDEX usage_log_owner_at ON usage_log (owner_id, at);
CREATE INDEX usage_log_at ON usage_log (at);

-- Daily roll-ups keep aggregates cheap however large the raw log grows.
CREATE TABLE usage_daily (
    key_id    TEXT NOT NULL,
    owner_id  TEXT NOT NULL,
    day       BIGINT NOT NULL,
    route     TEXT NOT NULL,
    status    INTEGER NOT NULL,
    variant   TEXT NOT NULL DEFAULT '',
    calls     BIGINT NOT NULL DEFAULT 0,
    cost      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day, route, status, variant)
);
CREATE INDEX usage_daily_owner_day ON usage_daily (owner_id, day);

CREATE TABLE login_links (
    token_hash  BLOB PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE TABLE dashboard_sessions (
    token_hash  BLOB PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_owner ON dashboard_sessions (owner_id);

CREATE TABLE audit_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id  TEXT NOT NULL,
    key_id    TEXT,
    event     TEXT NOT NULL,
    actor     TEXT NOT NULL,
    detail    TEXT,
    at        BIGINT NOT NULL
);
CREATE INDEX audit_events_owner_at ON audit_events (owner_id, at);
CREATE INDEX audit_events_key ON audit_events (key_id);
