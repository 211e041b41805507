//! OAuth clients, grants, authorization codes and tokens (SPEC §14).
//!
//! Only hashes of codes, tokens and client secrets are stored (the caller hashes; this crate
//! never sees one in the clear). Single use is enforced by conditional `UPDATE`s, so of two
//! concurrent redemptions of one code, or rotations of one refresh token, exactly one wins on
//! every backend and across replicas; the loser learns that the value was used before, which
//! the core answers by revoking the grant.
//!
//! A grant is metered as a key: [`Store::create_grant`] inserts a backing row in `api_keys`
//! (with `grant_id` set) in the same transaction as the grant and its first code, and
//! [`Store::revoke_grant`] revokes that row through the change feed, so every replica's key
//! cache drops it as it drops a revoked key.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use time::OffsetDateTime;
use twin_keys::{KeyFormat, KeyHasher};

use crate::audit::{NewAuditRow, append_audit};
use crate::changes::append_change;
use crate::db::{with_conn, with_write_conn};
use crate::issue::KeySpec;
use crate::keys::KeyInsert;
use crate::model::{AuditEvent, KeyRecord, ScopeSet, from_ms, random_id, to_ms};
use crate::schema::{api_keys, oauth_clients, oauth_codes, oauth_grants, oauth_tokens};
use crate::webhooks::{NewEvent, record_event};
use crate::{Store, StoreError, StoreResult};

/// A client to register (the store gives it its id, `cli_` and 16 hex).
#[derive(Debug, Clone)]
pub struct NewClient {
    /// The app's name, shown on the consent page.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// SHA-256 of the client secret (confidential clients).
    pub secret_hash: Option<Vec<u8>>,
    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub auth_method: String,
    /// `operator` or `dynamic`.
    pub registered_by: String,
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// The client id.
    pub id: String,
    /// The app's name.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// SHA-256 of the secret, for confidential clients.
    pub secret_hash: Option<Vec<u8>>,
    /// How it authenticates at the token endpoint.
    pub auth_method: String,
    /// `operator` or `dynamic`.
    pub registered_by: String,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When the operator removed it.
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_clients)]
struct ClientRow {
    id: String,
    name: String,
    redirect_uris: String,
    secret_hash: Option<Vec<u8>>,
    auth_method: String,
    registered_by: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

fn client_of(row: ClientRow) -> OAuthClient {
    OAuthClient {
        id: row.id,
        name: row.name,
        redirect_uris: serde_json::from_str(&row.redirect_uris).unwrap_or_default(),
        secret_hash: row.secret_hash,
        auth_method: row.auth_method,
        registered_by: row.registered_by,
        created_at: from_ms(row.created_at),
        revoked_at: row.revoked_at.map(from_ms),
    }
}

/// A grant to create, with its first authorization code (the store gives it its id,
/// `grt_` and 16 hex).
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// The client.
    pub client_id: String,
    /// The scopes the owner approved.
    pub scopes: ScopeSet,
    /// SHA-256 of the authorization code.
    pub code_hash: Vec<u8>,
    /// The redirect URI the code was issued for (the token request must repeat it).
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// When the code stops working.
    pub code_expires_at: OffsetDateTime,
}

/// An owner's consent to one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthGrant {
    /// Grant id.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The owner.
    pub owner_id: String,
    /// The backing key (metering, usage, revocation).
    pub key_id: String,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// When the owner approved.
    pub created_at: OffsetDateTime,
    /// When its first code was exchanged.
    pub activated_at: Option<OffsetDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_grants)]
pub(crate) struct GrantRow {
    pub(crate) id: String,
    client_id: String,
    owner_id: String,
    key_id: String,
    scopes: String,
    created_at: i64,
    activated_at: Option<i64>,
    revoked_at: Option<i64>,
}

fn grant_of(row: GrantRow) -> StoreResult<OAuthGrant> {
    Ok(OAuthGrant {
        scopes: ScopeSet::from_db(&row.scopes).map_err(|e| StoreError::Invalid(e.to_string()))?,
        id: row.id,
        client_id: row.client_id,
        owner_id: row.owner_id,
        key_id: row.key_id,
        created_at: from_ms(row.created_at),
        activated_at: row.activated_at.map(from_ms),
        revoked_at: row.revoked_at.map(from_ms),
    })
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_codes)]
pub(crate) struct CodeRow {
    code_hash: Vec<u8>,
    grant_id: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

/// What [`crate::keys`] inserts beside a grant's backing key, in its transaction.
#[derive(Debug, Clone)]
pub(crate) struct GrantInsert {
    pub(crate) grant: GrantRow,
    pub(crate) code: CodeRow,
}

/// Inserts a grant (for the key `$key_id`) and its first code.
macro_rules! insert_grant {
    ($conn:expr, $insert:expr, $key_id:expr) => {{
        let insert: &crate::oauth::GrantInsert = $insert;
        let mut grant = insert.grant.clone();
        grant.set_key(&$key_id);
        match diesel::insert_into(crate::schema::oauth_grants::table)
            .values(&grant)
            .execute($conn)
            .await
        {
            Err(e) => Err(e),
            Ok(_) => {
                diesel::insert_into(crate::schema::oauth_codes::table)
                    .values(&insert.code)
                    .execute($conn)
                    .await
            }
        }
    }};
}
pub(crate) use insert_grant;

impl GrantRow {
    pub(crate) fn set_key(&mut self, key_id: &str) {
        key_id.clone_into(&mut self.key_id);
    }
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token's public id segment.
    pub id: String,
    /// `access` or `refresh`.
    pub kind: TokenKind,
    /// SHA-256 of the whole token.
    pub token_hash: Vec<u8>,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// Which of a grant's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Presented to the API (`ato_…`).
    Access,
    /// Exchanged for new tokens (`atr_…`).
    Refresh,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

/// A stored token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthToken {
    /// Public id segment.
    pub id: String,
    /// Its grant.
    pub grant_id: String,
    /// Access or refresh.
    pub kind: TokenKind,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// When a refresh token was rotated.
    pub used_at: Option<OffsetDateTime>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_tokens)]
struct TokenRow {
    id: String,
    grant_id: String,
    kind: String,
    token_hash: Vec<u8>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

fn token_of(row: TokenRow) -> OAuthToken {
    OAuthToken {
        kind: if row.kind == "refresh" {
            TokenKind::Refresh
        } else {
            TokenKind::Access
        },
        id: row.id,
        grant_id: row.grant_id,
        token_hash: row.token_hash,
        created_at: from_ms(row.created_at),
        expires_at: from_ms(row.expires_at),
        used_at: row.used_at.map(from_ms),
    }
}

fn token_row(t: &NewToken, grant_id: &str, now: i64) -> TokenRow {
    TokenRow {
        id: t.id.clone(),
        grant_id: grant_id.to_owned(),
        kind: t.kind.as_str().to_owned(),
        token_hash: t.token_hash.clone(),
        created_at: now,
        expires_at: to_ms(t.expires_at),
        used_at: None,
    }
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code was good and is now used: its grant, the redirect URI and PKCE challenge it
    /// was issued with.
    Code {
        /// The grant.
        grant_id: String,
        /// The redirect URI of the authorization request.
        redirect_uri: String,
        /// The PKCE challenge.
        code_challenge: String,
    },
    /// The code was used before: its grant (which the caller revokes).
    Reused {
        /// The grant.
        grant_id: String,
    },
    /// Unknown, expired, or another client's.
    Invalid,
}

/// Who revokes a grant, for the audit trail and the `grant.revoked` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy<'a> {
    /// The owner, in the dashboard.
    Owner,
    /// An operator.
    Operator,
    /// The client, through `/oauth/revoke`.
    Client,
    /// The server, because a code or refresh token was presented twice.
    Reuse(&'a str),
}

impl RevokedBy<'_> {
    fn as_str(&self) -> &str {
        match self {
            RevokedBy::Owner => "owner",
            RevokedBy::Operator => "operator",
            RevokedBy::Client => "client",
            RevokedBy::Reuse(what) => what,
        }
    }
}

impl Store {
    /// Registers a client. A taken id is [`StoreError::Conflict`].
    pub async fn create_client(&self, new: NewClient) -> StoreResult<OAuthClient> {
        let row = ClientRow {
            id: random_id("cli_")?,
            name: new.name,
            redirect_uris: serde_json::to_string(&new.redirect_uris).unwrap_or_default(),
            secret_hash: new.secret_hash,
            auth_method: new.auth_method,
            registered_by: new.registered_by,
            created_at: to_ms(self.now()),
            revoked_at: None,
        };
        with_write_conn!(self, |conn| {
            diesel::insert_into(oauth_clients::table)
                .values(&row)
                .execute(conn)
                .await?
        });
        Ok(client_of(row))
    }

    /// A client by id (a removed one too: callers check `revoked_at`).
    pub async fn get_client(&self, id: &str) -> StoreResult<OAuthClient> {
        let row: ClientRow = with_conn!(self, |conn| {
            oauth_clients::table
                .find(id)
                .select(ClientRow::as_select())
                .first(conn)
                .await?
        });
        Ok(client_of(row))
    }

    /// Every client not removed, oldest first.
    pub async fn list_clients(&self) -> StoreResult<Vec<OAuthClient>> {
        let rows: Vec<ClientRow> = with_conn!(self, |conn| {
            oauth_clients::table
                .filter(oauth_clients::revoked_at.is_null())
                .order((oauth_clients::created_at.asc(), oauth_clients::id.asc()))
                .select(ClientRow::as_select())
                .load(conn)
                .await?
        });
        Ok(rows.into_iter().map(client_of).collect())
    }

    /// Removes a client and revokes every grant it holds.
    pub async fn remove_client(&self, id: &str) -> StoreResult<()> {
        let now = to_ms(self.now());
        let removed = with_write_conn!(self, |conn| {
            diesel::update(
                oauth_clients::table
                    .filter(oauth_clients::id.eq(id))
                    .filter(oauth_clients::revoked_at.is_null()),
            )
            .set(oauth_clients::revoked_at.eq(now))
            .execute(conn)
            .await?
        });
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        let grants: Vec<String> = with_conn!(self, |conn| {
            oauth_grants::table
                .filter(oauth_grants::client_id.eq(id))
                .filter(oauth_grants::revoked_at.is_null())
                .select(oauth_grants::id)
                .load(conn)
                .await?
        });
        for grant in grants {
            self.revoke_grant(&grant, RevokedBy::Operator).await?;
        }
        Ok(())
    }

    /// Creates a grant for `spec.owner_id` (its backing key from `spec`, which must name the
    /// client in `created_by`) with its first authorization code, in one transaction. No key
    /// event is sent for the backing key; the audit trail records `grant.created`.
    pub async fn create_grant(
        &self,
        format: &KeyFormat,
        hasher: &KeyHasher,
        spec: KeySpec,
        grant: NewGrant,
    ) -> StoreResult<OAuthGrant> {
        let now = to_ms(self.now());
        let id = random_id("grt_")?;
        let insert = GrantInsert {
            grant: GrantRow {
                id: id.clone(),
                client_id: grant.client_id.clone(),
                owner_id: spec.owner_id.clone(),
                key_id: String::new(),
                scopes: grant.scopes.to_db(),
                created_at: now,
                activated_at: None,
                revoked_at: None,
            },
            code: CodeRow {
                code_hash: grant.code_hash,
                grant_id: id.clone(),
                client_id: grant.client_id,
                redirect_uri: grant.redirect_uri,
                code_challenge: grant.code_challenge,
                created_at: now,
                expires_at: to_ms(grant.code_expires_at),
                used_at: None,
            },
        };
        self.issue(
            format,
            hasher,
            spec,
            KeyInsert {
                grant: Some(insert),
                ..KeyInsert::default()
            },
        )
        .await?;
        self.get_grant(&id).await
    }

    /// A grant by id.
    pub async fn get_grant(&self, id: &str) -> StoreResult<OAuthGrant> {
        let row: GrantRow = with_conn!(self, |conn| {
            oauth_grants::table
                .find(id)
                .select(GrantRow::as_select())
                .first(conn)
                .await?
        });
        grant_of(row)
    }

    /// An owner's grants that were activated, newest first, with their clients and backing
    /// keys (limits, usage, last use).
    pub async fn list_owner_grants(
        &self,
        owner_id: &str,
    ) -> StoreResult<Vec<(OAuthGrant, OAuthClient, KeyRecord)>> {
        let rows: Vec<(GrantRow, ClientRow)> = with_conn!(self, |conn| {
            oauth_grants::table
                .inner_join(oauth_clients::table)
                .filter(oauth_grants::owner_id.eq(owner_id))
                .filter(oauth_grants::activated_at.is_not_null())
                .order((oauth_grants::created_at.desc(), oauth_grants::id.desc()))
                .select((GrantRow::as_select(), ClientRow::as_select()))
                .load(conn)
                .await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for (grant, client) in rows {
            let grant = grant_of(grant)?;
            let key = self.find_key(&grant.key_id).await?;
            out.push((grant, client_of(client), key));
        }
        Ok(out)
    }

    /// Marks the code used, if it is unused, unexpired at `now` and `client_id`'s.
    pub async fn redeem_code(
        &self,
        code_hash: &[u8],
        client_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Redeemed> {
        let now = to_ms(now);
        let code_hash = code_hash.to_vec();
        let found: Option<(String, String, String)> = with_write_conn!(self, |conn| {
            diesel::update(
                oauth_codes::table
                    .filter(oauth_codes::code_hash.eq(&code_hash))
                    .filter(oauth_codes::client_id.eq(client_id))
                    .filter(oauth_codes::used_at.is_null())
                    .filter(oauth_codes::expires_at.gt(now)),
            )
            .set(oauth_codes::used_at.eq(now))
            .returning((
                oauth_codes::grant_id,
                oauth_codes::redirect_uri,
                oauth_codes::code_challenge,
            ))
            .get_result(conn)
            .await
            .optional()?
        });
        if let Some((grant_id, redirect_uri, code_challenge)) = found {
            return Ok(Redeemed::Code {
                grant_id,
                redirect_uri,
                code_challenge,
            });
        }
        let used: Option<String> = with_conn!(self, |conn| {
            oauth_codes::table
                .filter(oauth_codes::code_hash.eq(&code_hash))
                .filter(oauth_codes::client_id.eq(client_id))
                .filter(oauth_codes::used_at.is_not_null())
                .select(oauth_codes::grant_id)
                .first(conn)
                .await
                .optional()?
        });
        Ok(match used {
            Some(grant_id) => Redeemed::Reused { grant_id },
            None => Redeemed::Invalid,
        })
    }

    /// Stores a grant's first tokens and marks it active, unless it was revoked meanwhile
    /// ([`StoreError::Precondition`]).
    pub async fn activate_grant(&self, grant_id: &str, tokens: &[NewToken]) -> StoreResult<()> {
        let now = to_ms(self.now());
        let rows: Vec<TokenRow> = tokens.iter().map(|t| token_row(t, grant_id, now)).collect();
        with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let live = diesel::update(
                    oauth_grants::table
                        .filter(oauth_grants::id.eq(grant_id))
                        .filter(oauth_grants::revoked_at.is_null()),
                )
                .set(
                    oauth_grants::activated_at.eq(diesel::dsl::case_when(
                        oauth_grants::activated_at.is_null(),
                        Some(now),
                    )
                    .otherwise(oauth_grants::activated_at)),
                )
                .execute(conn)
                .await?;
                if live != 1 {
                    return Err(StoreError::Precondition("the grant was revoked".into()));
                }
                // One by one: SQLite has no DEFAULT for a batch's optional columns.
                for row in &rows {
                    diesel::insert_into(oauth_tokens::table)
                        .values(row)
                        .execute(conn)
                        .await?;
                }
                Ok(())
            })
            .await?
        });
        Ok(())
    }

    /// A token by its public id.
    pub async fn find_token(&self, id: &str) -> StoreResult<OAuthToken> {
        let row: TokenRow = with_conn!(self, |conn| {
            oauth_tokens::table
                .find(id)
                .select(TokenRow::as_select())
                .first(conn)
                .await?
        });
        Ok(token_of(row))
    }

    /// Rotates a refresh token: marks `old_id` used, if it is an unused refresh token
    /// unexpired at `now`, and stores `tokens` for its grant (which must not be revoked), in
    /// one transaction. `Ok(false)`: it was used or expired before (nothing is written).
    pub async fn rotate_refresh(
        &self,
        old_id: &str,
        tokens: &[NewToken],
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let now = to_ms(now);
        let old = self.find_token(old_id).await?;
        let rows: Vec<TokenRow> = tokens
            .iter()
            .map(|t| token_row(t, &old.grant_id, now))
            .collect();
        let grant_id = old.grant_id.clone();
        Ok(with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let used = diesel::update(
                    oauth_tokens::table
                        .filter(oauth_tokens::id.eq(old_id))
                        .filter(oauth_tokens::kind.eq("refresh"))
                        .filter(oauth_tokens::used_at.is_null())
                        .filter(oauth_tokens::expires_at.gt(now)),
                )
                .set(oauth_tokens::used_at.eq(now))
                .execute(conn)
                .await?;
                if used != 1 {
                    return Ok(false);
                }
                let live: i64 = oauth_grants::table
                    .filter(oauth_grants::id.eq(&grant_id))
                    .filter(oauth_grants::revoked_at.is_null())
                    .count()
                    .get_result(conn)
                    .await?;
                if live != 1 {
                    return Err(StoreError::Precondition("the grant was revoked".into()));
                }
                // One by one: SQLite has no DEFAULT for a batch's optional columns.
                for row in &rows {
                    diesel::insert_into(oauth_tokens::table)
                        .values(row)
                        .execute(conn)
                        .await?;
                }
                Ok(true)
            })
            .await?
        }))
    }

    /// Revokes a grant and its backing key, with the `grant.revoked` event and audit row, in
    /// one transaction; every replica drops the key from its cache through the change feed.
    /// Idempotent: revoking again changes nothing and sends nothing.
    pub async fn revoke_grant(&self, grant_id: &str, by: RevokedBy<'_>) -> StoreResult<()> {
        let grant = self.get_grant(grant_id).await?;
        let at = self.now();
        let now = to_ms(at);
        let event = NewEvent::new(
            &grant.owner_id,
            "grant.revoked",
            at,
            serde_json::json!({
                "grantId": grant.id,
                "clientId": grant.client_id,
                "scopes": grant.scopes.to_strings(),
                "revokedBy": by.as_str(),
            }),
        )?;
        let audit = NewAuditRow::from(AuditEvent {
            owner_id: grant.owner_id.clone(),
            key_id: Some(grant.key_id.clone()),
            event: "grant.revoked".into(),
            actor: by.as_str().to_owned(),
            detail: Some(
                serde_json::json!({ "grantId": grant.id, "clientId": grant.client_id }).to_string(),
            ),
            at,
        });
        let sent = with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let revoked = diesel::update(
                    oauth_grants::table
                        .filter(oauth_grants::id.eq(grant_id))
                        .filter(oauth_grants::revoked_at.is_null()),
                )
                .set(oauth_grants::revoked_at.eq(now))
                .execute(conn)
                .await?;
                if revoked != 1 {
                    return Ok(false);
                }
                diesel::update(
                    api_keys::table
                        .filter(api_keys::id.eq(&grant.key_id))
                        .filter(api_keys::revoked_at.is_null()),
                )
                .set((api_keys::revoked_at.eq(now), api_keys::updated_at.eq(now)))
                .execute(conn)
                .await?;
                append_audit!(conn, &audit)?;
                // Only an activated grant is one the owner knows of.
                if grant.activated_at.is_some() {
                    record_event!(conn, &event, None)?;
                }
                append_change!(conn, Some(&grant.key_id), Some(&grant.owner_id), now)?;
                Ok(true)
            })
            .await?
        });
        if sent {
            self.run_event_hooks();
            self.run_hooks(Some(&grant.key_id), Some(&grant.owner_id));
        }
        Ok(())
    }

    /// Deletes codes and tokens that ended before `before`; returns how many rows went.
    pub async fn purge_oauth_before(&self, before: OffsetDateTime) -> StoreResult<usize> {
        let before = to_ms(before);
        Ok(with_write_conn!(self, |conn| {
            let codes =
                diesel::delete(oauth_codes::table.filter(oauth_codes::expires_at.lt(before)))
                    .execute(conn)
                    .await?;
            let tokens =
                diesel::delete(oauth_tokens::table.filter(oauth_tokens::expires_at.lt(before)))
                    .execute(conn)
                    .await?;
            codes + tokens
        }))
    }
}
