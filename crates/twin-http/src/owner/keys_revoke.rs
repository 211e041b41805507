//! `DELETE /v1/keys/{id}`: soft revocation, idempotent.

use actix_web::{HttpRequest, HttpResponse, delete, web};
use serde::Serialize;
use twin_store::{AuditEvent, KeyRecord, Scope};
use utoipa::ToSchema;

use crate::auth::{Metering, authorize};
use crate::error::ApiError;
use crate::state::AppState;
use crate::time_fmt::iso;

/// The answer to a revocation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    /// Key id.
    pub id: String,
    /// Always `revoked`.
    pub status: String,
    /// When it was (first) revoked.
    pub revoked_at: String,
}

/// Revokes one of `owner_id`'s keys and audits the first revocation; shared with the CLI.
pub async fn revoke_key(
    state: &AppState,
    owner_id: &str,
    id: &str,
    actor: &str,
) -> Result<KeyRecord, ApiError> {
    let before = state.store.get_owner_key(owner_id, id).await?;
    let after = state.store.revoke_key(owner_id, id).await?;
    if before.revoked_at.is_none() {
        state
            .store
            .record_audit(AuditEvent {
                owner_id: owner_id.to_owned(),
                key_id: Some(id.to_owned()),
                event: "key.revoked".into(),
                actor: actor.to_owned(),
                detail: None,
                at: state.clock.now(),
            })
            .await?;
    }
    Ok(after)
}

/// Revokes a key (soft: the row stays for audit). It stops working at once; revoking again
/// answers the same.
#[utoipa::path(
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
    let caller = authorize(&req, &state, Scope::KeysWrite, Metering::Counted).await?;
    let key = revoke_key(&state, &caller.owner.id, &id, &caller.key.prefix).await?;
    Ok(HttpResponse::Ok().json(Revoked {
        id: key.id,
        status: "revoked".into(),
        revoked_at: key.revoked_at.map(iso).unwrap_or_default(),
    }))
}
