//! `POST /v1/admin/owners/{id}/keys`: create a key on an owner's behalf.

use actix_web::{HttpRequest, HttpResponse, post, web};

use super::{OPERATOR, plan_of, read_body, require_admin};
use crate::error::ApiError;
use crate::owner::CreatedKey;
use crate::owner::keys_create::create_key;
use crate::owner::spec::{CreateKeyBody, parse_body};
use crate::state::AppState;

/// Creates a key for `owner_id` with the owner API's checks (plan access, limits, key count)
/// but no scope ceiling: an operator may grant any scope. Shared by the admin API and the
/// CLI; `actor` is recorded as the key's creator and in the audit trail.
pub async fn create_key_for_owner(
    state: &AppState,
    owner_id: &str,
    body: CreateKeyBody,
    actor: &str,
) -> Result<CreatedKey, ApiError> {
    let owner = state.store.get_owner(owner_id).await?;
    let plan = plan_of(state, &owner.plan);
    create_key(state, &owner, &plan, body, None, actor).await
}

/// Creates a key for an owner (same body as `POST /v1/keys`; any scope may be granted).
/// The plaintext is in this response only.
#[utoipa::path(
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
    let body: CreateKeyBody = parse_body(&read_body(payload).await?)?;
    Ok(HttpResponse::Created().json(create_key_for_owner(&state, &id, body, OPERATOR).await?))
}
