//! `PATCH /v1/keys/{id}`: rename, enable/disable, change scopes, expiry and limits.

use actix_web::{HttpRequest, HttpResponse, patch, web};
use twin_core::input::parse_body;
use twin_core::keys::KeyView;
use twin_core::keys::spec::UpdateKeyBody;
use twin_core::keys::update::update_key;
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Updates a key. Scopes can be widened only up to the caller's own; changing
/// `spendPeriod` resets the period's usage. A disabled key stops working at once.
#[utoipa::path(
    operation_id = "updateKey",
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
    let caller = authorize_owner(&req, &state, Scope::KeysWrite).await?;
    crate::query::no_query(&req)?;
    let body: UpdateKeyBody = parse_body(&body)?;
    let key = update_key(
        &state,
        &caller.owner.id,
        &id,
        &caller.plan,
        body,
        &caller.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(KeyView::for_core(&key, &state)))
}
