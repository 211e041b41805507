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
pub mod owners_create;
pub mod owners_get;
pub mod owners_update;
pub mod snapshots_create;
pub mod snapshots_update;

use actix_web::HttpRequest;
use actix_web::http::header::{AUTHORIZATION, HeaderName};
use actix_web::web;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use twin_meter::plans::Plan;
use twin_render::DocumentError;
use twin_store::{AuditEvent, Owner};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorCode};
use crate::owner::account::PlanView;
use crate::public::SnapshotMeta;
use crate::state::AppState;
use crate::time_fmt::iso;

/// The actor recorded in the audit trail (and as a key's `createdBy`) for admin API calls.
pub const OPERATOR: &str = "operator";

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
    for value in headers.get_all(AUTHORIZATION) {
        let bytes = value.as_bytes();
        let token = if bytes.len() > 7 && bytes[..7].eq_ignore_ascii_case(b"bearer ") {
            trim(&bytes[7..])
        } else if bytes.eq_ignore_ascii_case(b"bearer") {
            b""
        } else {
            // Other schemes are not ours to read.
            continue;
        };
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

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| *b != b' ')
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
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

/// The plan called `slug`, or 400 `INVALID_PARAMETER` naming the configured plans.
pub(crate) fn check_plan<'a>(state: &'a AppState, slug: &str) -> Result<&'a Plan, ApiError> {
    state.plans.get(slug).ok_or_else(|| {
        ApiError::invalid_parameter("plan", Some(&state.plans.slugs()), "unknown plan")
    })
}

/// The owner's plan as configured; a plan removed from the configuration reads as one
/// without API access (as authentication treats it).
pub(crate) fn plan_of(state: &AppState, slug: &str) -> Plan {
    state.plans.get(slug).cloned().unwrap_or_else(|| Plan {
        slug: slug.to_owned(),
        name: slug.to_owned(),
        api_access: false,
        max_keys: 0,
        default_monthly_quota: 0,
        max_monthly_quota: 0,
        default_rate_limit_rpm: 0,
        max_rate_limit_rpm: 0,
    })
}

/// A minimal e-mail check: one `@` with something on each side, no spaces or control
/// characters, at most 254 characters. Deliverability is the operator's business.
pub(crate) fn check_email(value: &str) -> Result<String, ApiError> {
    let email = value.trim();
    let bad =
        || ApiError::invalid_parameter("email", None, "an e-mail address such as ana@example.com");
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(email.to_owned())
        }
        _ => Err(bad()),
    }
}

/// Owner ids appear in URLs and logs: 1–64 of `[A-Za-z0-9._-]`, starting with a letter or
/// digit.
pub(crate) fn check_owner_id(value: &str) -> Result<String, ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ApiError::invalid_parameter(
            "ownerId",
            None,
            "1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit",
        ))
    }
}

/// A short free-text label (`source`, `purchaseId`): 1–`max` characters, no control
/// characters.
pub(crate) fn check_label(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > max || trimmed.chars().any(char::is_control) {
        return Err(ApiError::invalid_parameter(
            field,
            None,
            &format!("1 to {max} characters, no control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Validates a twin document (SPEC §10) and returns its compact JSON text. A rejected
/// document answers 400 `INVALID_PARAMETER` with `path`, the JSON Pointer of the first error
/// inside the document (`""` for the whole document).
pub fn validate_document(document: &Value) -> Result<String, ApiError> {
    twin_render::validate_value(document).map_err(document_error)?;
    serde_json::to_string(document).map_err(ApiError::internal)
}

/// The 400 answer for a rejected document.
pub fn document_error(err: DocumentError) -> ApiError {
    let path = err.path().to_owned();
    ApiError::invalid_parameter("document", None, &err.to_string()).with("path", path)
}

/// Appends an owner or snapshot event to the audit trail.
pub(crate) async fn audit(
    state: &AppState,
    owner_id: &str,
    event: &str,
    actor: &str,
    detail: Value,
) -> Result<(), ApiError> {
    state
        .store
        .record_audit(AuditEvent {
            owner_id: owner_id.to_owned(),
            key_id: None,
            event: event.to_owned(),
            actor: actor.to_owned(),
            detail: Some(detail.to_string()),
            at: state.clock.now(),
        })
        .await?;
    Ok(())
}

/// An owner as the operator sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnerView {
    /// Owner id.
    #[schema(example = "ana")]
    pub owner_id: String,
    /// Contact e-mail.
    pub email: String,
    /// The owner's plan and its limits (a plan missing from the configuration shows
    /// `apiAccess: false`).
    pub plan: PlanView,
    /// When the owner was provisioned.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Keys usable now (not disabled, expired or revoked).
    pub active_keys: i64,
    /// Snapshots ingested so far (the latest snapshot's version).
    pub snapshot_count: i64,
    /// The newest snapshot, whatever its status.
    pub latest_snapshot: Option<SnapshotMeta>,
}

/// The operator's view of `owner`: plan, active keys, snapshots.
pub async fn owner_view(state: &AppState, owner: &Owner) -> Result<OwnerView, ApiError> {
    let now = state.clock.now();
    let active_keys = state.store.count_active_keys(&owner.id, now).await?;
    let latest = state
        .store
        .list_snapshots(&owner.id, 1, None)
        .await?
        .items
        .into_iter()
        .next();
    Ok(OwnerView {
        owner_id: owner.id.clone(),
        email: owner.email.clone(),
        plan: PlanView::from(&plan_of(state, &owner.plan)),
        created_at: iso(owner.created_at),
        updated_at: iso(owner.updated_at),
        active_keys,
        // Versions are allocated per owner from 1 without gaps and snapshots are never
        // deleted, so the newest version is the count, without a COUNT(*).
        snapshot_count: latest.as_ref().map_or(0, |s| s.version),
        latest_snapshot: latest.as_ref().map(SnapshotMeta::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_minimally() {
        for ok in ["ana@example.com", " a@b ", "x.y+z@sub.example.org"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "a@b@c",
            "a b@c.d",
            "a\u{7}b@c",
            "a@b\tc",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn owner_ids_are_url_safe() {
        for ok in ["ana", "own_0123", "A.b-c_d", &"x".repeat(64)] {
            assert!(check_owner_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "_ana", "-a", "a/b", "a b", "ana?", &"x".repeat(65), "é"] {
            assert!(check_owner_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn invalid_documents_are_a_400() {
        let doc: Value = serde_json::from_str(twin_render::SAMPLE_TWIN_JSON).unwrap();
        assert!(validate_document(&doc).is_ok());
        let mut bad = doc.clone();
        bad["sections"][0]["key"] = Value::from("Not A Key");
        let err = validate_document(&bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidParameter);
        let body = err.to_response();
        assert_eq!(body.status(), 400);
    }
}
