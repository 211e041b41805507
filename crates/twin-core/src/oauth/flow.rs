//! The authorization-code flow with S256 PKCE (OAuth 2.1), token refresh with rotation and
//! reuse detection, revocation (RFC 7009), introspection (RFC 7662), and the check of an
//! access token presented to the API.

use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use twin_keys::KeyFormat;
use twin_meter::Period;
use twin_store::oauth::{NewGrant, NewToken, OAuthClient, Redeemed, RevokedBy, TokenKind};
use twin_store::{KeyAlerts, KeyEnv, KeySpec, Owner, Scope, ScopeSet, StoreError};
use utoipa::{IntoParams, ToSchema};

use super::{CachedToken, OAuthError, parse_scopes, random_text};
use crate::login::token_hash;
use crate::{Core, Error};

/// The query of `GET /oauth/authorize`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// `code`.
    pub response_type: Option<String>,
    /// The client id.
    pub client_id: Option<String>,
    /// One of the client's registered redirect URIs (optional when it has exactly one).
    pub redirect_uri: Option<String>,
    /// Space-separated: `twin:read`, `account:read` (default `twin:read`).
    pub scope: Option<String>,
    /// Returned unchanged with the code.
    pub state: Option<String>,
    /// BASE64URL(SHA-256(code_verifier)).
    pub code_challenge: Option<String>,
    /// `S256` (`plain` is refused).
    pub code_challenge_method: Option<String>,
    /// RFC 8707 resource indicator (accepted: this server's API is the only resource).
    pub resource: Option<String>,
}

/// A checked authorization request: what the consent page shows and its form carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The client.
    pub client_id: String,
    /// Its name.
    pub client_name: String,
    /// Where the answer goes.
    pub redirect_uri: String,
    /// The scopes asked for.
    pub scopes: Vec<Scope>,
    /// The client's state.
    pub state: Option<String>,
    /// The PKCE challenge.
    pub code_challenge: String,
}

/// Why an authorization request cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeFailure {
    /// The client or redirect URI is not trustworthy: tell the owner, redirect nowhere
    /// (RFC 6749 §4.1.2.1).
    Show(OAuthError),
    /// Any other error: back to the client's redirect URI with `error`.
    Redirect(String),
}

/// `redirect_uri` with `params` added to its query.
fn with_query(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

fn error_redirect(redirect_uri: &str, state: Option<&str>, err: &OAuthError) -> String {
    let mut params = vec![
        ("error", err.error),
        ("error_description", err.error_description.as_str()),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    with_query(redirect_uri, &params)
}

async fn live_client(core: &Core, id: &str) -> Result<Option<OAuthClient>, OAuthError> {
    match core.store.get_client(id).await {
        Ok(c) if c.revoked_at.is_none() => Ok(Some(c)),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks an authorization request (RFC 6749 §4.1.1, PKCE as OAuth 2.1 requires).
pub async fn check_authorize(
    core: &Core,
    q: &AuthorizeQuery,
) -> Result<Authorization, AuthorizeFailure> {
    let show = |e: &'static str, d: &str| AuthorizeFailure::Show(OAuthError::new(e, d));
    let client_id = q
        .client_id
        .as_deref()
        .ok_or_else(|| show("invalid_request", "client_id is missing"))?;
    let client = live_client(core, client_id)
        .await
        .map_err(AuthorizeFailure::Show)?
        .ok_or_else(|| show("invalid_client", "no such client"))?;
    let redirect_uri = match q.redirect_uri.as_deref() {
        Some(asked) => {
            if !client
                .redirect_uris
                .iter()
                .any(|r| super::redirect_matches(r, asked))
            {
                return Err(show(
                    "invalid_request",
                    "redirect_uri is not one the client registered",
                ));
            }
            asked.to_owned()
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Err(show(
                "invalid_request",
                "redirect_uri is missing (the client registered several)",
            ));
        }
    };
    let state = q.state.clone();
    let back = |e: &'static str, d: String| {
        AuthorizeFailure::Redirect(error_redirect(
            &redirect_uri,
            state.as_deref(),
            &OAuthError::new(e, d),
        ))
    };
    if q.response_type.as_deref() != Some("code") {
        return Err(back(
            "unsupported_response_type",
            "response_type must be code".into(),
        ));
    }
    let challenge = q.code_challenge.clone().unwrap_or_default();
    if challenge.is_empty() {
        return Err(back(
            "invalid_request",
            "code_challenge is missing: PKCE (S256) is required".into(),
        ));
    }
    if q.code_challenge_method.as_deref() != Some("S256") {
        return Err(back(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not accepted)".into(),
        ));
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(back(
            "invalid_request",
            "code_challenge must be BASE64URL(SHA-256(code_verifier)), 43 characters".into(),
        ));
    }
    if state.as_ref().is_some_and(|s| s.len() > 1024) {
        return Err(back("invalid_request", "state is longer than 1024".into()));
    }
    let scopes = parse_scopes(q.scope.as_deref().unwrap_or_default())
        .map_err(|d| back("invalid_scope", d))?;
    Ok(Authorization {
        client_id: client.id,
        client_name: client.name,
        redirect_uri,
        scopes,
        state,
        code_challenge: challenge,
    })
}

/// The owner approved: creates the grant (its backing key gets the plan's default limits)
/// and its code, and answers where to send the browser (`redirect_uri?code=…&state=…`).
pub async fn approve(core: &Core, owner: &Owner, auth: &Authorization) -> Result<String, Error> {
    let plan = core.plan(&owner.plan);
    let code = format!("atc_{}", random_text(32)?);
    let now = core.clock.now();
    let ttl = time::Duration::try_from(core.oauth.code_ttl).unwrap_or(time::Duration::MINUTE);
    let scopes = auth.scopes.iter().copied().collect::<ScopeSet>();
    let spec = KeySpec {
        owner_id: owner.id.clone(),
        env: KeyEnv::Live,
        name: auth.client_name.clone(),
        scopes,
        expires_at: None,
        monthly_quota: i64::try_from(plan.default_monthly_quota).unwrap_or(i64::MAX),
        rate_limit_rpm: i64::from(plan.default_rate_limit_rpm),
        spend_limit: None,
        spend_period: Period::Month,
        created_by: format!("oauth:{}", auth.client_id),
        rotated_from: None,
        meta: None,
        alerts: KeyAlerts::default(),
    };
    core.store
        .create_grant(
            &core.key_format,
            &core.hasher,
            spec,
            NewGrant {
                client_id: auth.client_id.clone(),
                scopes,
                code_hash: token_hash(&code),
                redirect_uri: auth.redirect_uri.clone(),
                code_challenge: auth.code_challenge.clone(),
                code_expires_at: now + ttl,
            },
        )
        .await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = &auth.state {
        params.push(("state", state));
    }
    Ok(with_query(&auth.redirect_uri, &params))
}

/// The owner said no: where to send the browser (`error=access_denied`).
pub fn deny(auth: &Authorization) -> String {
    error_redirect(
        &auth.redirect_uri,
        auth.state.as_deref(),
        &OAuthError::new("access_denied", "the owner denied the request"),
    )
}

/// The form of `POST /oauth/token` (RFC 6749 §4.1.3, §6).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `authorization_code` or `refresh_token`.
    pub grant_type: Option<String>,
    /// The code (authorization_code).
    pub code: Option<String>,
    /// The redirect URI of the authorization request (authorization_code).
    pub redirect_uri: Option<String>,
    /// The PKCE verifier (authorization_code).
    pub code_verifier: Option<String>,
    /// The refresh token (refresh_token).
    pub refresh_token: Option<String>,
    /// Optional narrower scope (refresh_token): a subset of the grant's.
    pub scope: Option<String>,
    /// The client (public clients, and `client_secret_post`).
    pub client_id: Option<String>,
    /// The secret (`client_secret_post`).
    pub client_secret: Option<String>,
    /// RFC 8707 resource indicator (accepted).
    pub resource: Option<String>,
}

/// Tokens issued (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenResponse {
    /// `ato_live_…`: send as `Authorization: Bearer`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token works.
    pub expires_in: u64,
    /// `atr_live_…`: exchange it for new tokens; it works once.
    pub refresh_token: String,
    /// Granted scopes, space-separated.
    pub scope: String,
}

/// Authenticates the client of a token-endpoint request: `basic` is the decoded
/// `Authorization: Basic` pair, if sent.
async fn authenticate_client(
    core: &Core,
    basic: Option<(String, String)>,
    body_id: Option<&str>,
    body_secret: Option<&str>,
) -> Result<OAuthClient, OAuthError> {
    let bad = || OAuthError::new("invalid_client", "client authentication failed");
    let (id, secret) = match (&basic, body_id) {
        (Some((id, secret)), other) => {
            if other.is_some_and(|o| o != id) || body_secret.is_some() {
                return Err(OAuthError::new(
                    "invalid_request",
                    "the client is authenticated twice, differently",
                ));
            }
            (id.as_str(), Some(secret.as_str()))
        }
        (None, Some(id)) => (id, body_secret),
        (None, None) => {
            return Err(OAuthError::new(
                "invalid_client",
                "client_id is missing (in the form, or HTTP Basic)",
            ));
        }
    };
    let client = live_client(core, id).await?.ok_or_else(bad)?;
    match (&client.secret_hash, secret) {
        (None, None) => Ok(client),
        (None, Some(_)) => Err(bad()),
        (Some(_), None) => Err(OAuthError::new(
            "invalid_client",
            "this client is confidential: authenticate with its secret",
        )),
        (Some(stored), Some(secret)) => {
            if constant_time_eq(stored, &token_hash(secret)) {
                Ok(client)
            } else {
                Err(bad())
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `Authorization: Basic` as RFC 6749 §2.3.1 writes it (form-urlencoded id and secret).
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// A new access and refresh token pair for `grant_id`.
fn new_tokens(core: &Core) -> Result<(String, String, [NewToken; 2]), Error> {
    let now = core.clock.now();
    let access = KeyFormat::twin_access_token()
        .generate("live")
        .map_err(|e| Error::internal(format!("token generation: {e}")))?;
    let refresh = KeyFormat::twin_refresh_token()
        .generate("live")
        .map_err(|e| Error::internal(format!("token generation: {e}")))?;
    let ttl = |d: std::time::Duration| time::Duration::try_from(d).unwrap_or(time::Duration::HOUR);
    let stored = [
        NewToken {
            id: access.id().unwrap_or_default().to_owned(),
            kind: TokenKind::Access,
            token_hash: token_hash(access.expose_secret()),
            expires_at: now + ttl(core.oauth.access_ttl),
        },
        NewToken {
            id: refresh.id().unwrap_or_default().to_owned(),
            kind: TokenKind::Refresh,
            token_hash: token_hash(refresh.expose_secret()),
            expires_at: now + ttl(core.oauth.refresh_ttl),
        },
    ];
    Ok((
        access.expose_secret().to_owned(),
        refresh.expose_secret().to_owned(),
        stored,
    ))
}

fn response(core: &Core, access: String, refresh: String, scopes: ScopeSet) -> TokenResponse {
    TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: core.oauth.access_ttl.as_secs(),
        refresh_token: refresh,
        scope: scopes.to_strings().join(" "),
    }
}

fn invalid_grant(d: &str) -> OAuthError {
    OAuthError::new("invalid_grant", d)
}

/// `POST /oauth/token`.
pub async fn token(
    core: &Core,
    req: TokenRequest,
    basic: Option<(String, String)>,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = req.grant_type.clone().unwrap_or_default();
    if !matches!(grant_type.as_str(), "authorization_code" | "refresh_token") {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ));
    }
    let client = authenticate_client(
        core,
        basic,
        req.client_id.as_deref(),
        req.client_secret.as_deref(),
    )
    .await?;
    if grant_type == "authorization_code" {
        exchange_code(core, &client, req).await
    } else {
        refresh(core, &client, req).await
    }
}

async fn exchange_code(
    core: &Core,
    client: &OAuthClient,
    req: TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let code = req
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::new("invalid_request", "code is missing"))?;
    let verifier = req
        .code_verifier
        .as_deref()
        .ok_or_else(|| OAuthError::new("invalid_request", "code_verifier is missing"))?;
    let now = core.clock.now();
    let (grant_id, redirect_uri, challenge) = match core
        .store
        .redeem_code(&token_hash(code), &client.id, now)
        .await?
    {
        Redeemed::Code {
            grant_id,
            redirect_uri,
            code_challenge,
        } => (grant_id, redirect_uri, code_challenge),
        Redeemed::Reused { grant_id } => {
            // RFC 6749 §4.1.2: a code used twice revokes what it issued.
            core.store
                .revoke_grant(&grant_id, RevokedBy::Reuse("reused authorization code"))
                .await?;
            return Err(invalid_grant(
                "the code was already used; the tokens it issued are revoked",
            ));
        }
        Redeemed::Invalid => {
            return Err(invalid_grant(
                "the code is unknown, expired, or another client's",
            ));
        }
    };
    if req.redirect_uri.as_deref() != Some(redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request's",
        ));
    }
    let valid_verifier = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
    if !valid_verifier || !constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let grant = core.store.get_grant(&grant_id).await?;
    let (access, refresh, stored) = new_tokens(core)?;
    match core.store.activate_grant(&grant_id, &stored).await {
        Ok(()) => Ok(response(core, access, refresh, grant.scopes)),
        Err(StoreError::Precondition(_)) => Err(invalid_grant("the grant was revoked")),
        Err(e) => Err(e.into()),
    }
}

async fn refresh(
    core: &Core,
    client: &OAuthClient,
    req: TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let presented = req
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is missing"))?;
    let unknown = || invalid_grant("the refresh token is unknown, expired or revoked");
    let stored = stored_token(core, presented)
        .await?
        .filter(|t| t.kind == TokenKind::Refresh)
        .ok_or_else(unknown)?;
    let grant = core.store.get_grant(&stored.grant_id).await?;
    if grant.client_id != client.id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if grant.revoked_at.is_some() {
        return Err(unknown());
    }
    if let Some(scope) = &req.scope {
        let asked = parse_scopes(scope).map_err(|d| OAuthError::new("invalid_scope", d))?;
        if !asked
            .iter()
            .copied()
            .collect::<ScopeSet>()
            .is_subset_of(grant.scopes)
        {
            return Err(OAuthError::new(
                "invalid_scope",
                "scope is wider than the grant's",
            ));
        }
    }
    let now = core.clock.now();
    if stored.used_at.is_some() {
        // Reuse of a rotated refresh token: someone holds a copy. The whole grant dies.
        core.store
            .revoke_grant(&grant.id, RevokedBy::Reuse("reused refresh token"))
            .await?;
        return Err(invalid_grant(
            "the refresh token was already used; the grant is revoked",
        ));
    }
    if stored.expires_at <= now {
        return Err(unknown());
    }
    let (access, refresh, tokens) = new_tokens(core)?;
    match core.store.rotate_refresh(&stored.id, &tokens, now).await {
        Ok(true) => Ok(response(core, access, refresh, grant.scopes)),
        Ok(false) => {
            // Lost a race with another use of the same token: that is reuse too.
            core.store
                .revoke_grant(&grant.id, RevokedBy::Reuse("reused refresh token"))
                .await?;
            Err(invalid_grant(
                "the refresh token was already used; the grant is revoked",
            ))
        }
        Err(StoreError::Precondition(_)) => Err(unknown()),
        Err(e) => Err(e.into()),
    }
}

/// The form of `POST /oauth/revoke` (RFC 7009).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RevokeRequest {
    /// An access or refresh token.
    pub token: Option<String>,
    /// `access_token` or `refresh_token` (a hint; both are tried).
    pub token_type_hint: Option<String>,
    /// The client (public clients, `client_secret_post`).
    pub client_id: Option<String>,
    /// The secret (`client_secret_post`).
    pub client_secret: Option<String>,
}

/// Finds the stored token of a presented one, if it is a well-formed, known, matching
/// access or refresh token.
async fn stored_token(
    core: &Core,
    presented: &str,
) -> Result<Option<twin_store::oauth::OAuthToken>, OAuthError> {
    let parsed = KeyFormat::twin_access_token()
        .parse(presented)
        .or_else(|_| KeyFormat::twin_refresh_token().parse(presented));
    let Some(id) = parsed.ok().and_then(|p| p.id().map(str::to_owned)) else {
        return Ok(None);
    };
    match core.store.find_token(&id).await {
        Ok(t) if constant_time_eq(&t.token_hash, &token_hash(presented)) => Ok(Some(t)),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `POST /oauth/revoke`: revoking either token of a grant revokes the grant (all its
/// tokens). An unknown token, or another client's, is answered as revoked (RFC 7009 §2.2).
pub async fn revoke(
    core: &Core,
    req: RevokeRequest,
    basic: Option<(String, String)>,
) -> Result<(), OAuthError> {
    let client = authenticate_client(
        core,
        basic,
        req.client_id.as_deref(),
        req.client_secret.as_deref(),
    )
    .await?;
    let presented = req
        .token
        .as_deref()
        .ok_or_else(|| OAuthError::new("invalid_request", "token is missing"))?;
    if let Some(stored) = stored_token(core, presented).await? {
        let grant = core.store.get_grant(&stored.grant_id).await?;
        if grant.client_id == client.id {
            core.store
                .revoke_grant(&grant.id, RevokedBy::Client)
                .await?;
        }
    }
    Ok(())
}

/// The form of `POST /oauth/introspect` (RFC 7662).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct IntrospectRequest {
    /// The token.
    pub token: Option<String>,
    /// A hint (ignored: both kinds are tried).
    pub token_type_hint: Option<String>,
    /// The client (`client_secret_post`).
    pub client_id: Option<String>,
    /// The secret (`client_secret_post`).
    pub client_secret: Option<String>,
}

/// RFC 7662 §2.2's answer.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Introspection {
    /// Whether the token works now.
    pub active: bool,
    /// Granted scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry, Unix time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, Unix time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

/// Who asks `POST /oauth/introspect`.
#[derive(Debug, Clone)]
pub enum Introspector {
    /// An operator (admin token): any token.
    Operator,
    /// A client authenticating as at the token endpoint: its own tokens only, and only a
    /// confidential client.
    Client(Option<(String, String)>),
}

/// `POST /oauth/introspect`.
pub async fn introspect(
    core: &Core,
    req: IntrospectRequest,
    who: Introspector,
) -> Result<Introspection, OAuthError> {
    let client = match who {
        Introspector::Operator => None,
        Introspector::Client(basic) => {
            let client = authenticate_client(
                core,
                basic,
                req.client_id.as_deref(),
                req.client_secret.as_deref(),
            )
            .await?;
            if client.secret_hash.is_none() {
                return Err(OAuthError::new(
                    "invalid_client",
                    "introspection is for confidential clients and operators",
                ));
            }
            Some(client)
        }
    };
    let presented = req
        .token
        .as_deref()
        .ok_or_else(|| OAuthError::new("invalid_request", "token is missing"))?;
    let Some(stored) = stored_token(core, presented).await? else {
        return Ok(Introspection::default());
    };
    let grant = core.store.get_grant(&stored.grant_id).await?;
    if client.is_some_and(|c| c.id != grant.client_id) {
        return Ok(Introspection::default());
    }
    let now = core.clock.now();
    let active = grant.revoked_at.is_none() && stored.expires_at > now && stored.used_at.is_none();
    if !active {
        return Ok(Introspection::default());
    }
    Ok(Introspection {
        active: true,
        scope: Some(grant.scopes.to_strings().join(" ")),
        client_id: Some(grant.client_id),
        token_type: Some(
            match stored.kind {
                TokenKind::Access => "access_token",
                TokenKind::Refresh => "refresh_token",
            }
            .into(),
        ),
        exp: Some(stored.expires_at.unix_timestamp()),
        iat: Some(stored.created_at.unix_timestamp()),
        sub: Some(grant.owner_id),
    })
}

/// Checks an `ato_…` access token presented to the API and answers its grant's backing key
/// id, which the caller then authenticates as a key (status, owner, plan). `None`: not a
/// well-formed, known, unexpired access token (the caller answers 401 as for a bad key).
pub async fn verify_access_token(
    core: &Core,
    presented: &str,
    now: OffsetDateTime,
) -> Result<Option<String>, Error> {
    let Ok(parsed) = KeyFormat::twin_access_token().parse(presented) else {
        return Ok(None);
    };
    let Some(id) = parsed.id() else {
        return Ok(None);
    };
    let entry = match core.tokens.get(id) {
        Some(entry) => entry,
        None => {
            let stored = match core.store.find_token(id).await {
                Ok(t) if t.kind == TokenKind::Access => t,
                Ok(_) | Err(StoreError::NotFound) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let grant = match core.store.get_grant(&stored.grant_id).await {
                Ok(g) => g,
                Err(StoreError::NotFound) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let entry = Arc::new(CachedToken {
                hash: stored.token_hash,
                key_id: grant.key_id,
                expires_at: stored.expires_at,
            });
            core.tokens.insert(id.to_owned(), entry.clone());
            entry
        }
    };
    if entry.expires_at <= now || !constant_time_eq(&entry.hash, &token_hash(presented)) {
        return Ok(None);
    }
    Ok(Some(entry.key_id.clone()))
}
