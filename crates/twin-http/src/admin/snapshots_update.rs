//! `PATCH /v1/admin/snapshots/{id}`: move a snapshot through its life cycle.

use actix_web::{HttpRequest, HttpResponse, patch, web};
use twin_core::input::parse_body;
use twin_core::snapshots::SnapshotMeta;
use twin_core::snapshots::update::{UpdateSnapshotBody, update_snapshot};

use super::{OPERATOR, read_body, require_admin};
use crate::error::ApiError;
use crate::state::AppState;

/// Changes a snapshot's status and optionally its document: `pending` → `generating` |
/// `ready` | `failed`, `generating` → `ready` | `failed`, `failed` → `pending` |
/// `generating`. `ready` is final. The same status again is a no-op.
#[utoipa::path(
    operation_id = "updateSnapshot",
    tag = "admin",
    params(("id" = String, Path, description = "Snapshot id")),
    request_body = UpdateSnapshotBody,
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The snapshot's metadata", body = SnapshotMeta),
        (status = 400, description = "INVALID_PARAMETER; for a rejected document, `path` is the JSON Pointer of the first error", body = crate::error::ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown snapshot, or the admin API is disabled", body = crate::error::ErrorEnvelope),
        (status = 409, description = "CONFLICT: a transition the life cycle does not allow", body = crate::error::ErrorEnvelope),
    )
)]
#[patch("/snapshots/{id}")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    crate::query::no_query(&req)?;
    let body: UpdateSnapshotBody = parse_body(&read_body(payload).await?)?;
    Ok(HttpResponse::Ok().json(update_snapshot(&state, &id, body, OPERATOR).await?))
}
