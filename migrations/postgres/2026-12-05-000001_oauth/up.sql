-- OAuth for third-party apps (SPEC §14).
--
-- A grant is an owner's consent to one client for some scopes. Its tokens are metered as a
-- key: each grant owns a backing row in api_keys (grant_id set; no plaintext exists for it,
-- so it authenticates only through the grant's access tokens), which carries the grant's
-- scopes, limits, counters, usage and revocation, and reaches every replica through the
-- same change feed as a key. Owner-facing key listings skip those rows.
ALTER TABLE api_keys ADD COLUMN grant_id TEXT;

-- Registered apps. A public client has no secret; a confidential client's secret is stored
-- as its SHA-256 only. redirect_uris is a JSON array of exact URIs.
CREATE TABLE oauth_clients (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    redirect_uris   TEXT NOT NULL,
    secret_hash     BYTEA,
    auth_method     TEXT NOT NULL,
    registered_by   TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);

-- key_id is the backing key. activated_at: the first code exchange (a grant whose code was
-- never exchanged is not shown). revoked_at: by the owner, the operator, the client, or a
-- reused code or refresh token.
CREATE TABLE oauth_grants (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    owner_id      TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    activated_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX oauth_grants_owner ON oauth_grants (owner_id, created_at);
CREATE INDEX oauth_grants_key ON oauth_grants (key_id);

-- Authorization codes, by the SHA-256 of the code: single use (used_at set by one
-- conditional UPDATE), 60 s.
CREATE TABLE oauth_codes (
    code_hash       BYTEA PRIMARY KEY,
    grant_id        TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);

-- Access and refresh tokens, by their public id segment; token_hash is the SHA-256 of the
-- whole token. A refresh token's used_at is set when it is rotated: presenting it again
-- revokes the grant.
CREATE TABLE oauth_tokens (
    id           TEXT PRIMARY KEY,
    grant_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    token_hash   BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
