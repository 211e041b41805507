//! `POST /v1/admin/owners`: provision an owner, optionally with a first key.

use actix_web::{HttpRequest, HttpResponse, post, web};
use twin_core::input::parse_body;
use twin_core::owners::provision::{ProvisionOwnerBody, Provisioned, provision_owner};

use super::{OPERATOR, read_body, require_admin};
use crate::error::ApiError;
use crate::state::AppState;

/// Provisions an owner on a plan. With `issueKey`, the answer carries the owner's first key
/// in plaintext — the only time it is shown.
#[utoipa::path(
    operation_id = "provisionOwner",
    tag = "admin",
    request_body = ProvisionOwnerBody,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Provisioned", body = Provisioned),
        (status = 400, description = "INVALID_PARAMETER (plan: `allowed` lists the configured plans)", body = crate::error::ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key), or PLAN_REQUIRED (issueKey on a plan without API access)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "The admin API is disabled (no admin token configured)", body = crate::error::ErrorEnvelope),
        (status = 409, description = "CONFLICT: the owner id is taken", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/owners")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    crate::query::no_query(&req)?;
    let body: ProvisionOwnerBody = parse_body(&read_body(payload).await?)?;
    let provisioned = provision_owner(&state, body, OPERATOR).await?;
    Ok(HttpResponse::Created().json(provisioned))
}
