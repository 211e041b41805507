//! `POST /v1/keys/{id}/rotate`: a new key with the same settings; the old one keeps working
//! for a grace period, then expires.

use actix_web::{HttpRequest, HttpResponse, post, web};
use twin_core::input::parse_body;
use twin_core::keys::rotate::{RotateBody, Rotated, rotate_key};
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Rotates a key: a new key with the same name, scopes, limits and counters; the old key
/// keeps working for `gracePeriodSeconds`, then expires.
#[utoipa::path(
    operation_id = "rotateKey",
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
    let caller = authorize_owner(&req, &state, Scope::KeysWrite).await?;
    crate::query::no_query(&req)?;
    // No body, or `null`, is the default rotation (the document's `RotateBody | null`).
    let text = body.trim_ascii();
    let body: RotateBody = if text.is_empty() || text == b"null" {
        RotateBody::default()
    } else {
        parse_body(&body)?
    };
    let rotated = rotate_key(
        &state,
        &caller.owner.id,
        &id,
        &caller.plan,
        body.grace_period_seconds.unwrap_or(0),
        &caller.actor(),
    )
    .await?;
    Ok(HttpResponse::Created().json(rotated))
}
