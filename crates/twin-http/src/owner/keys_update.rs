//! `PATCH /v1/keys/{id}`: rename, enable/disable, change scopes, expiry and limits.

use actix_web::{HttpRequest, HttpResponse, patch, web};
use twin_meter::plans::Plan;
use twin_store::{AuditEvent, KeyRecord, Scope, ScopeSet, StoreError};

use super::KeyView;
use super::spec::{UpdateKeyBody, parse_body};
use crate::auth::{Metering, authorize};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Applies an update to one of `owner_id`'s keys and audits it; shared with the CLI.
pub async fn update_key(
    state: &AppState,
    owner_id: &str,
    id: &str,
    plan: &Plan,
    body: UpdateKeyBody,
    ceiling: Option<ScopeSet>,
    actor: &str,
) -> Result<KeyRecord, ApiError> {
    let now = state.clock.now();
    let patch = body.into_patch(plan, ceiling, now)?;
    let before = state.store.get_owner_key(owner_id, id).await?;
    let event = match patch.is_active {
        Some(false) if before.is_active => "key.disabled",
        Some(true) if !before.is_active => "key.enabled",
        _ => "key.updated",
    };
    // Allowances reserved under the old limits are returned; the next request reserves
    // under the new ones.
    state.meter.forget(id).await;
    let after = match state.store.update_key(owner_id, id, patch).await {
        Ok(key) => key,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "a revoked key cannot be changed",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    state
        .store
        .record_audit(AuditEvent {
            owner_id: owner_id.to_owned(),
            key_id: Some(id.to_owned()),
            event: event.into(),
            actor: actor.to_owned(),
            detail: None,
            at: now,
        })
        .await?;
    Ok(after)
}

/// Updates a key. Scopes can be widened only up to the caller's own; changing
/// `spendPeriod` resets the period's usage. A disabled key stops working at once.
#[utoipa::path(
    tag = "keys",
    params(("id" = String, Path, description = "Key id (8 hex)")),
    request_body = UpdateKeyBody,
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The updated key", body = KeyView),
        (status = 400, description = "INVALID_PARAMETER", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown key (or another owner's)", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The key is revoked", body = crate::error::ErrorEnvelope),
    )
)]
#[patch("/keys/{id}")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Scope::KeysWrite, Metering::Counted).await?;
    let body: UpdateKeyBody = parse_body(&body)?;
    let key = update_key(
        &state,
        &caller.owner.id,
        &id,
        &caller.plan,
        body,
        Some(caller.key.scopes),
        &caller.key.prefix,
    )
    .await?;
    Ok(HttpResponse::Ok().json(KeyView::for_state(&key, &state)))
}
