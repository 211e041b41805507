//! Authentication and the metering checks that follow it (SPEC §3, §6).
//!
//! Order: credential → format and checksum (no database) → key by id → constant-time hash
//! comparison → status; then scope → plan → monthly quota. Every failure after the format
//! check answers the same 401 `INVALID_OR_REVOKED_API_KEY`, so the answer never tells which
//! step failed.

use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderName};
use actix_web::{HttpMessage, HttpRequest};
use twin_keys::{HashAlgorithm, KeyHash, ParseError};
use twin_meter::plans::Plan;
use twin_store::{KeyEnv, KeyRecord, KeyStatus, Owner, Scope, StoreError};

use std::sync::Arc;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use twin_core::caches::CachedKey;
use twin_core::meter::{Charge, Denial, MeterHeaders};

const X_TWIN_KEY: HeaderName = HeaderName::from_static("x-twin-key");
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// An authenticated caller: the key, its owner and the owner's plan.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key used.
    pub key: Arc<KeyRecord>,
    /// Its owner.
    pub owner: Arc<Owner>,
    /// The owner's plan.
    pub plan: Arc<Plan>,
}

impl Caller {
    /// Whether this is a test key (served the sample twin, costs nothing).
    pub fn is_test(&self) -> bool {
        self.key.env == KeyEnv::Test
    }
}

/// Whether an endpoint counts against the monthly quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metering {
    /// Counts (every endpoint but `/health`).
    Counted,
    /// Free (`/health`).
    Free,
}

/// The metering outcome of a request, put in its extensions for the response headers and
/// for refunds.
#[derive(Debug, Clone)]
pub struct MeterState {
    /// Header values.
    pub headers: MeterHeaders,
    /// What was spent, by which key (absent when nothing was).
    pub charge: Option<(String, Charge)>,
}

/// Who an authenticated request is logged against; put in the request's extensions as soon
/// as the key is known, so answers refused after authentication are logged too.
#[derive(Debug, Clone)]
pub struct UsageSubject {
    /// Key id.
    pub key_id: String,
    /// Owner id.
    pub owner_id: String,
    /// The OAuth client, when the credential was an access token.
    pub client_id: Option<String>,
}

/// Extra usage fields a handler can add (preset variant and format).
#[derive(Debug, Clone, Default)]
pub struct UsageDetail {
    /// Prompt variant.
    pub variant: Option<&'static str>,
    /// Output format.
    pub format: Option<&'static str>,
}

/// Finds the one credential of the request. Two different values are refused: a bad
/// credential never falls back to a good one.
fn credential(headers: &HeaderMap) -> Result<String, ApiError> {
    let mut found: Option<&[u8]> = None;
    let mut values: Vec<&[u8]> = Vec::new();
    for name in [X_TWIN_KEY, X_API_KEY] {
        for value in headers.get_all(name) {
            values.push(value.as_bytes());
        }
    }
    values.extend(bearer_tokens(headers));
    for value in values {
        if found.is_some_and(|prev| prev != value) {
            return Err(ApiError::new(
                ErrorCode::ConflictingCredentials,
                "the request carries two different credentials",
            ));
        }
        found = Some(value);
    }
    match found {
        None => Err(ApiError::new(
            ErrorCode::MissingApiKey,
            "send your key in X-Twin-Key, X-API-Key or Authorization: Bearer",
        )),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(invalid_format()),
        },
    }
}

/// Every `Authorization: Bearer` token of the request, trimmed (`Bearer` alone is an empty
/// token). Other schemes are not ours to read and are skipped. Shared by key authentication
/// and the operator's admin-token check, so both read the header the same way.
pub(crate) fn bearer_tokens(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers.get_all(AUTHORIZATION).filter_map(|value| {
        let bytes = value.as_bytes();
        if bytes.len() > 7 && bytes[..7].eq_ignore_ascii_case(b"bearer ") {
            Some(trim(&bytes[7..]))
        } else if bytes.eq_ignore_ascii_case(b"bearer") {
            Some(&b""[..])
        } else {
            None
        }
    })
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| *b != b' ')
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

fn invalid_format() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidApiKeyFormat,
        "the key does not match atk_<live|test>_<8 hex>_<32 hex>",
    )
}

fn invalid_or_revoked() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidOrRevokedApiKey,
        "the key is not valid: unknown, revoked, disabled or expired",
    )
}

/// Checks the request's key and returns the caller. Does not check scopes or meter.
pub async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let plaintext = credential(req.headers())?;
    if plaintext.starts_with("ato_") {
        return authenticate_token(state, &plaintext).await;
    }
    let parsed = state.key_format.parse(&plaintext).map_err(|e| match e {
        ParseError::Checksum => invalid_or_revoked(),
        _ => invalid_format(),
    })?;
    let id = parsed.id().ok_or_else(invalid_format)?;
    let entry = cached_key(state, id).await?;
    // The hash is compared even for a cached key: the cache is keyed by the public id only.
    let verified = entry
        .hash
        .as_ref()
        .is_some_and(|h| state.hasher.verify(&plaintext, h));
    if !verified {
        return Err(invalid_or_revoked());
    }
    let now = state.clock.now();
    if entry.key.status(now) != KeyStatus::Active
        || entry.key.env.as_str() != parsed.env()
        || entry.key.grant_id.is_some()
    {
        return Err(invalid_or_revoked());
    }
    Ok(Caller {
        key: entry.key.clone(),
        owner: entry.owner.clone(),
        plan: entry.plan.clone(),
    })
}

/// An OAuth access token (SPEC §14): checked (format, checksum, hash, expiry), then its
/// grant's backing key authenticates as a key does, so a revoked grant is refused on every
/// replica as soon as a revoked key is.
async fn authenticate_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let now = state.clock.now();
    let Some(key_id) = twin_core::oauth::verify_access_token(state, token, now).await? else {
        return Err(invalid_or_revoked());
    };
    let entry = cached_key(state, &key_id).await?;
    if entry.key.grant_id.is_none() || entry.key.status(now) != KeyStatus::Active {
        return Err(invalid_or_revoked());
    }
    Ok(Caller {
        key: entry.key.clone(),
        owner: entry.owner.clone(),
        plan: entry.plan.clone(),
    })
}

/// A key with its owner and plan, from the cache or else the store.
async fn cached_key(state: &AppState, id: &str) -> Result<Arc<CachedKey>, ApiError> {
    match state.caches.key(id) {
        Some(entry) => Ok(entry),
        None => load_key(state, id).await,
    }
}

/// Reads a key, its owner and plan from the store and caches them.
async fn load_key(state: &AppState, id: &str) -> Result<Arc<CachedKey>, ApiError> {
    let epoch = state.caches.key_epoch();
    let key = match state.store.find_key(id).await {
        Ok(key) => key,
        Err(StoreError::NotFound) => return Err(invalid_or_revoked()),
        Err(e) => return Err(e.into()),
    };
    let owner = match state.store.get_owner(&key.owner_id).await {
        Ok(owner) => owner,
        Err(StoreError::NotFound) => return Err(invalid_or_revoked()),
        Err(e) => return Err(e.into()),
    };
    // An owner whose plan was removed from the configuration has no API access.
    let plan = state.plan(&owner.plan);
    let entry = Arc::new(CachedKey {
        hash: stored_hash(&key),
        key: Arc::new(key),
        owner: Arc::new(owner),
        plan: Arc::new(plan),
    });
    state.caches.put_key(epoch, entry.clone());
    Ok(entry)
}

fn stored_hash(key: &KeyRecord) -> Option<KeyHash> {
    let algorithm: HashAlgorithm = key.hash.algorithm;
    let pepper = match key.hash.pepper_version {
        Some(v) => Some(u32::try_from(v).ok()?),
        None => None,
    };
    let digest: [u8; twin_keys::DIGEST_LEN] = key.hash.digest.as_slice().try_into().ok()?;
    KeyHash::from_parts(algorithm, pepper, digest).ok()
}

/// Authenticates, then runs the checks of SPEC §6 in order: scope → plan → monthly quota.
/// On success the request's extensions carry the quota headers (and a consumption marker
/// when the endpoint counts).
pub async fn authorize(
    req: &HttpRequest,
    state: &AppState,
    scope: Scope,
    metering: Metering,
) -> Result<Caller, ApiError> {
    let caller = authenticate(req, state).await?;
    req.extensions_mut().insert(UsageSubject {
        key_id: caller.key.id.clone(),
        owner_id: caller.owner.id.clone(),
        // A grant's backing key is created by `oauth:<client id>`.
        client_id: caller
            .key
            .grant_id
            .as_ref()
            .and_then(|_| caller.key.created_by.strip_prefix("oauth:"))
            .map(str::to_owned),
    });
    let now = state.clock.now();
    // Test keys cost nothing; other requests cost their route's configured price.
    let cost = if caller.is_test() {
        0
    } else {
        state.prices.for_route(req.match_pattern().as_deref())
    };
    // A request refused before metering still reports the key's metering headers, as this
    // replica knows them (computed only then: admitted requests get them from the meter).
    let refuse = |err: ApiError| {
        req.extensions_mut().insert(MeterState {
            headers: state.meter.peek(&caller.key, cost, now),
            charge: None,
        });
        Err(err)
    };
    if !caller.key.scopes.contains(scope) {
        return refuse(
            ApiError::new(
                ErrorCode::MissingScope,
                format!("this endpoint needs the `{}` scope", scope.as_str()),
            )
            .with("requiredScope", scope.as_str()),
        );
    }
    if !caller.plan.api_access {
        return refuse(ApiError::new(
            ErrorCode::PlanRequired,
            "the owner's plan has no API access; the keys stay stored until the plan is upgraded",
        ));
    }
    let counted = metering == Metering::Counted;
    match state.meter.admit(&caller.key, cost, counted, now).await {
        Ok((charge, headers)) => {
            req.extensions_mut().insert(MeterState {
                headers,
                charge: Some((caller.key.id.clone(), charge)),
            });
            Ok(caller)
        }
        Err((denial, headers)) => {
            let err = match denial {
                Denial::Rate { retry_after_ms } => ApiError::new(
                    ErrorCode::RateLimited,
                    "the key's per-minute rate limit is reached; retry after the indicated time",
                )
                .with("retryAfterMs", retry_after_ms)
                .retry_after(retry_after_ms.div_ceil(1000).max(1)),
                Denial::Quota => ApiError::new(
                    ErrorCode::MonthlyQuotaExceeded,
                    "the key's monthly quota is spent; it resets on the 1st of next month (UTC)",
                )
                .with("resetsAt", twin_meter::iso8601(headers.quota.resets_at)),
                Denial::Spend => ApiError::new(
                    ErrorCode::SpendLimitExceeded,
                    "this request would take the key past its spend cap for the period",
                )
                .with("periodUsed", headers.spend.used.to_string())
                .with("periodLimit", headers.spend.limit.map(|l| l.to_string()))
                .with(
                    "periodResetAt",
                    headers.spend.reset.map(twin_meter::iso8601),
                ),
                Denial::Store(e) => ApiError::from(e),
            };
            req.extensions_mut().insert(MeterState {
                headers,
                charge: None,
            });
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn one_credential_from_any_header() {
        for name in ["x-twin-key", "x-api-key"] {
            assert_eq!(credential(&headers(&[(name, "k")])).unwrap(), "k");
        }
        assert_eq!(
            credential(&headers(&[("authorization", "Bearer k")])).unwrap(),
            "k"
        );
        assert_eq!(
            credential(&headers(&[("authorization", "bearer  k ")])).unwrap(),
            "k"
        );
        // The same value twice is one credential.
        let same = headers(&[("x-twin-key", "k"), ("authorization", "Bearer k")]);
        assert_eq!(credential(&same).unwrap(), "k");
    }

    #[test]
    fn different_credentials_conflict() {
        let two = headers(&[("x-twin-key", "a"), ("x-api-key", "b")]);
        assert_eq!(
            credential(&two).unwrap_err().code(),
            ErrorCode::ConflictingCredentials
        );
        let two = headers(&[("x-twin-key", "a"), ("authorization", "Bearer b")]);
        assert_eq!(
            credential(&two).unwrap_err().code(),
            ErrorCode::ConflictingCredentials
        );
        let repeated = headers(&[("x-api-key", "a"), ("x-api-key", "b")]);
        assert_eq!(
            credential(&repeated).unwrap_err().code(),
            ErrorCode::ConflictingCredentials
        );
    }

    #[test]
    fn no_credential_is_missing() {
        assert_eq!(
            credential(&HeaderMap::new()).unwrap_err().code(),
            ErrorCode::MissingApiKey
        );
        let basic = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(
            credential(&basic).unwrap_err().code(),
            ErrorCode::MissingApiKey
        );
    }
}

/// Who calls the owner API (SPEC §7): a key with the endpoint's scope, or the owner's
/// dashboard session (every owner scope).
#[derive(Debug, Clone)]
pub struct OwnerCaller {
    /// The owner.
    pub owner: Arc<Owner>,
    /// The owner's plan.
    pub plan: Arc<Plan>,
    /// The key used, when a key was.
    pub key: Option<Arc<KeyRecord>>,
}

impl OwnerCaller {
    /// The actor of key changes: a key acts within its own scopes and environment; the
    /// owner in the dashboard may do anything to their own keys.
    pub fn actor(&self) -> twin_core::keys::Actor {
        match &self.key {
            Some(key) => twin_core::keys::Actor::key(key),
            None => twin_core::keys::Actor::unlimited("dashboard"),
        }
    }
}

/// Authorizes an owner-API call. A request with a key header goes through [`authorize`]
/// (scope, plan, metering). Without one, the dashboard's session cookie counts: unmetered,
/// every owner scope, and a state-changing method needs the session's CSRF token in
/// `X-CSRF-Token` (else 403 `CSRF_FAILED`).
pub async fn authorize_owner(
    req: &HttpRequest,
    state: &AppState,
    scope: Scope,
) -> Result<OwnerCaller, ApiError> {
    let has_key = [X_TWIN_KEY, X_API_KEY]
        .iter()
        .any(|h| req.headers().contains_key(h))
        || bearer_tokens(req.headers()).next().is_some();
    if has_key || crate::dashboard::session_token(req).is_none() {
        let caller = authorize(req, state, scope, Metering::Counted).await?;
        return Ok(OwnerCaller {
            owner: caller.owner,
            plan: caller.plan,
            key: Some(caller.key),
        });
    }
    let session = crate::dashboard::current_session(req, state)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidOrRevokedApiKey,
                "the dashboard session is unknown or has expired; sign in again",
            )
        })?;
    let safe = matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    );
    if !safe
        && req.headers().contains_key(actix_web::http::header::ORIGIN)
        && !state.web.same_origin(req)
    {
        return Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "a change made with the dashboard session must come from this server's pages",
        ));
    }
    let sent = req
        .headers()
        .get("x-csrf-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !safe && !crate::dashboard::csrf_matches(&session.csrf, sent) {
        return Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "a change made with the dashboard session needs its CSRF token in X-CSRF-Token",
        ));
    }
    Ok(OwnerCaller {
        owner: Arc::new(session.owner),
        plan: Arc::new(session.plan),
        key: None,
    })
}
