//! `POST /v1/keys/{id}/rotate`: a new key with the same settings; the old one keeps working
//! for a grace period, then expires.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use time::Duration;
use twin_store::{KeySpec, KeyStatus, Scope};
use utoipa::ToSchema;

use super::spec::parse_body;
use super::{CreatedKey, KeyView, PLAINTEXT_WARNING};
use crate::auth::{Metering, authorize};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::time_fmt::iso;

/// The longest grace period: 7 days.
pub const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;

/// The body of a rotation (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateBody {
    /// How long the old key keeps working, 0 – 604800 seconds (default 0: it stops now).
    pub grace_period_seconds: Option<i64>,
}

/// The answer to a rotation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rotated {
    /// The new key, with its plaintext (shown once).
    #[serde(flatten)]
    pub created: CreatedKey,
    /// When the old key stops working.
    pub old_key_expires_at: String,
}

/// Rotates one of `owner_id`'s keys; shared with the CLI.
pub async fn rotate_key(
    state: &AppState,
    owner_id: &str,
    id: &str,
    grace_seconds: i64,
    actor: &str,
) -> Result<Rotated, ApiError> {
    if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(ApiError::invalid_parameter(
            "gracePeriodSeconds",
            None,
            "an integer from 0 to 604800 (7 days)",
        ));
    }
    let now = state.clock.now();
    let old = state.store.get_owner_key(owner_id, id).await?;
    if matches!(old.status(now), KeyStatus::Revoked | KeyStatus::Expired) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "a revoked or expired key cannot be rotated",
        ));
    }
    let spec = KeySpec {
        owner_id: owner_id.to_owned(),
        env: old.env,
        name: old.name.clone(),
        scopes: old.scopes,
        expires_at: old.expires_at,
        monthly_quota: old.monthly_quota,
        rate_limit_rpm: old.rate_limit_rpm,
        spend_limit: old.spend_limit,
        spend_period: old.spend_period.clone(),
        created_by: actor.to_owned(),
        rotated_from: Some(old.id.clone()),
    };
    let (plain, new) = state
        .store
        .issue_key(&state.key_format, &state.hasher, spec)
        .await?;
    // Return the old key's unspent allowances first, so the copy carries what was spent.
    state.meter.forget(&old.id).await;
    state.store.copy_counters(&old.id, &new.id).await?;
    let old_expires = now + Duration::seconds(grace_seconds);
    state.store.expire_key_at(&old.id, old_expires).await?;
    let new = state.store.find_key(&new.id).await?;
    Ok(Rotated {
        created: CreatedKey {
            view: KeyView::new(&new, now),
            key: plain.expose_secret().to_owned(),
            warning: PLAINTEXT_WARNING.to_owned(),
        },
        old_key_expires_at: iso(old.expires_at.map_or(old_expires, |e| e.min(old_expires))),
    })
}

/// Rotates a key: a new key with the same name, scopes, limits and counters; the old key
/// keeps working for `gracePeriodSeconds`, then expires.
#[utoipa::path(
    tag = "keys",
    params(("id" = String, Path, description = "Key id (8 hex)")),
    request_body(content = Option<RotateBody>, description = "Optional; empty means a grace period of 0"),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "The new key; `key` is its plaintext, shown once", body = Rotated),
        (status = 400, description = "INVALID_PARAMETER", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown key (or another owner's)", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The key is revoked or expired", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/keys/{id}/rotate")]
pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Scope::KeysWrite, Metering::Counted).await?;
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        parse_body(&body)?
    };
    let rotated = rotate_key(
        &state,
        &caller.owner.id,
        &id,
        body.grace_period_seconds.unwrap_or(0),
        &caller.key.prefix,
    )
    .await?;
    Ok(HttpResponse::Created().json(rotated))
}
