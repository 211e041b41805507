//! `PATCH /v1/admin/owners/{id}`: change an owner's e-mail or plan (upgrade, downgrade).

use actix_web::{HttpRequest, HttpResponse, patch, web};
use twin_core::input::parse_body;
use twin_core::owners::OwnerView;
use twin_core::owners::update::{UpdateOwnerBody, update_owner};

use super::{OPERATOR, read_body, require_admin};
use crate::error::ApiError;
use crate::state::AppState;

/// Changes an owner's e-mail or plan. A downgrade keeps the owner's keys; they answer
/// 403 `PLAN_REQUIRED` from the next request until an upgrade.
#[utoipa::path(
    operation_id = "updateOwner",
    tag = "admin",
    params(("id" = String, Path, description = "Owner id")),
    request_body = UpdateOwnerBody,
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The owner as it now stands", body = OwnerView),
        (status = 400, description = "INVALID_PARAMETER (plan: `allowed` lists the configured plans)", body = crate::error::ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown owner, or the admin API is disabled", body = crate::error::ErrorEnvelope),
    )
)]
#[patch("/owners/{id}")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    crate::query::no_query(&req)?;
    let body: UpdateOwnerBody = parse_body(&read_body(payload).await?)?;
    Ok(HttpResponse::Ok().json(update_owner(&state, &id, body, OPERATOR).await?))
}
