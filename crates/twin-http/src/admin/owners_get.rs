//! `GET /v1/admin/owners/{id}`: one owner, its plan, active keys and snapshots.

use actix_web::{HttpRequest, HttpResponse, get, web};
use twin_core::owners::{OwnerView, owner_view};

use super::require_admin;
use crate::error::ApiError;
use crate::state::AppState;

/// Reads one owner with its plan, the number of active keys and the newest snapshot.
#[utoipa::path(
    operation_id = "getOwner",
    tag = "admin",
    params(("id" = String, Path, description = "Owner id")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The owner", body = OwnerView),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown owner, or the admin API is disabled", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/owners/{id}")]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    crate::query::no_query(&req)?;
    let owner = state.store.get_owner(&id).await?;
    Ok(HttpResponse::Ok().json(owner_view(&state, &owner).await?))
}
