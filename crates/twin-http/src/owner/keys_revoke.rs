//! `DELETE /v1/keys/{id}`: soft revocation, idempotent.

use actix_web::{HttpRequest, HttpResponse, delete, web};
use twin_core::keys::revoke::{Revoked, revoke_key};
use twin_core::time_fmt::iso;
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Revokes a key (soft: the row stays for audit). It stops working at once; revoking again
/// answers the same.
#[utoipa::path(
    operation_id = "revokeKey",
    tag = "keys",
    params(("id" = String, Path, description = "Key id (8 hex)")),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown key (or another owner's)", body = crate::error::ErrorEnvelope),
    )
)]
#[delete("/keys/{id}")]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::KeysWrite).await?;
    crate::query::no_query(&req)?;
    let key = revoke_key(&state, &caller.owner.id, &id, &caller.actor()).await?;
    Ok(HttpResponse::Ok().json(Revoked {
        id: key.id,
        status: "revoked".into(),
        revoked_at: key.revoked_at.map(iso).unwrap_or_default(),
    }))
}
