//! The operator API (`/v1/admin/*`): provision owners, change plans, ingest twin snapshots,
//! issue keys on an owner's behalf and one-time dashboard login links. One file per action.
//!
//! Every route authenticates with [`require_admin`] before reading anything else of the
//! request. Admin requests are not metered: they never go through `auth::authorize`, so they
//! carry no quota headers and land in no usage log. Each action is also a plain function
//! (`provision_owner`, `update_owner`, `create_snapshot`, …) that the CLI calls with its own
//! actor name, so the API and the command line share one set of checks and one audit trail.

pub mod keys_create;
pub mod login_links;
pub mod metrics;
pub mod oauth_clients;
pub mod owners_create;
pub mod owners_get;
pub mod owners_update;
pub mod snapshots_create;
pub mod snapshots_update;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use actix_web::web;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The actor recorded in the audit trail (and as a key's `createdBy`) for admin API calls.
pub const OPERATOR: &str = twin_core::owners::OPERATOR;

/// The largest admin request body: a twin document is at most 256 KiB compact, and a
/// pretty-printed one wrapped in a request is larger.
pub const MAX_ADMIN_BODY_BYTES: usize = 2 * 1024 * 1024;

const X_TWIN_KEY: HeaderName = HeaderName::from_static("x-twin-key");
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

fn admin_only() -> ApiError {
    ApiError::new(
        ErrorCode::AdminOnly,
        "this route needs an operator's admin token; customer API keys are not accepted",
    )
}

/// Checks the operator's credential (SPEC §3): `Authorization: Bearer <admin token>`.
///
/// - No admin token configured: the admin API does not exist (404, like any unknown route).
/// - A customer credential (`X-Twin-Key`, `X-API-Key`, or a bearer that looks like a key):
///   403 `ADMIN_ONLY`, valid key or not — a customer key never stands in for an admin token.
/// - No bearer: 401 `MISSING_API_KEY`; any wrong token: 401 `INVALID_OR_REVOKED_API_KEY`,
///   the same answer whatever is wrong with it.
///
/// Tokens are compared as SHA-256 digests in constant time, against every configured token
/// (several may be valid during a rotation), so neither the content nor the length of a
/// configured token leaks through timing.
pub fn require_admin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if state.admin_tokens.is_empty() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such route"));
    }
    let headers = req.headers();
    if headers.contains_key(X_TWIN_KEY) || headers.contains_key(X_API_KEY) {
        return Err(admin_only());
    }
    let mut bearer: Option<&[u8]> = None;
    for token in crate::auth::bearer_tokens(headers) {
        if bearer.is_some_and(|prev| prev != token) {
            return Err(ApiError::new(
                ErrorCode::ConflictingCredentials,
                "the request carries two different credentials",
            ));
        }
        bearer = Some(token);
    }
    let Some(token) = bearer else {
        return Err(ApiError::new(
            ErrorCode::MissingApiKey,
            "send the admin token as Authorization: Bearer <token>",
        ));
    };
    if token.starts_with(b"atk_") {
        return Err(admin_only());
    }
    let presented = Sha256::digest(token);
    let mut matched = Choice::from(0u8);
    for configured in &state.admin_tokens {
        matched |= Sha256::digest(configured.as_bytes()).ct_eq(&presented);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidOrRevokedApiKey,
            "the admin token is not valid",
        ))
    }
}

/// Reads a request body of at most [`MAX_ADMIN_BODY_BYTES`]. Called after
/// [`require_admin`], so nobody without a token can make the server buffer anything.
pub(crate) async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::invalid_parameter("body", None, "the request body could not be read")
        })?;
        if body.len() + chunk.len() > MAX_ADMIN_BODY_BYTES {
            return Err(ApiError::invalid_parameter(
                "body",
                None,
                &format!("larger than {MAX_ADMIN_BODY_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
