//! `POST /v1/admin/owners/{id}/keys`: create a key on an owner's behalf.

use actix_web::{HttpRequest, HttpResponse, post, web};
use twin_core::input::parse_body;
use twin_core::keys::CreatedKey;
use twin_core::keys::spec::CreateKeyBody;
use twin_core::owners::keys::create_key_for_owner;

use super::{OPERATOR, read_body, require_admin};
use crate::error::ApiError;
use crate::state::AppState;

/// Creates a key for an owner (same body as `POST /v1/keys`; any scope may be granted).
/// The plaintext is in this response only.
#[utoipa::path(
    operation_id = "createOwnerKey",
    tag = "admin",
    params(("id" = String, Path, description = "Owner id")),
    request_body = CreateKeyBody,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Created; `key` is the plaintext, shown once", body = CreatedKey),
        (status = 400, description = "INVALID_PARAMETER", body = crate::error::ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key), PLAN_REQUIRED or KEY_LIMIT_REACHED", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown owner, or the admin API is disabled", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/owners/{id}/keys")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    crate::query::no_query(&req)?;
    let body: CreateKeyBody = parse_body(&read_body(payload).await?)?;
    Ok(HttpResponse::Created().json(create_key_for_owner(&state, &id, body, OPERATOR).await?))
}
