//! `POST /v1/admin/owners/{id}/snapshots`: ingest a twin snapshot for an owner.

use actix_web::{HttpRequest, HttpResponse, post, web};
use twin_core::input::parse_body;
use twin_core::snapshots::SnapshotMeta;
use twin_core::snapshots::create::{CreateSnapshotBody, create_snapshot};

use super::{OPERATOR, read_body, require_admin};
use crate::error::ApiError;
use crate::state::AppState;

/// Adds a snapshot to an owner with the next version. A `ready` one needs a valid document
/// and is served at once by `/v1/public/twin/preset/*`.
#[utoipa::path(
    operation_id = "createSnapshot",
    tag = "admin",
    params(("id" = String, Path, description = "Owner id")),
    request_body = CreateSnapshotBody,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "The snapshot's metadata", body = SnapshotMeta),
        (status = 400, description = "INVALID_PARAMETER; for a rejected document, `path` is the JSON Pointer of the first error", body = crate::error::ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown owner, or the admin API is disabled", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/owners/{id}/snapshots")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    crate::query::no_query(&req)?;
    let body: CreateSnapshotBody = parse_body(&read_body(payload).await?)?;
    let meta = create_snapshot(&state, &id, body, OPERATOR).await?;
    Ok(HttpResponse::Created().json(meta))
}
