//! `GET /v1/public/twin/snapshots/{id}`: one snapshot's metadata, never its document.

use actix_web::{HttpRequest, HttpResponse, get, web};
use twin_store::Scope;

use super::{SAMPLE_SNAPSHOT_ID, SnapshotMeta, sample_snapshot};
use crate::auth::{Metering, authorize};
use crate::error::ApiError;
use crate::state::AppState;

/// One snapshot's metadata. Another owner's snapshot answers 404, like an unknown id.
/// Counts against the quota.
#[utoipa::path(
    operation_id = "getSnapshot",
    tag = "public",
    params(("id" = String, Path, description = "Snapshot id")),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The snapshot's metadata", body = SnapshotMeta),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown snapshot (or another owner's)", body = crate::error::ErrorEnvelope),
        (status = 429, description = "MONTHLY_QUOTA_EXCEEDED", body = crate::error::ErrorEnvelope),
        (status = 503, description = "Database unreachable", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/snapshots/{id}")]
pub async fn snapshot(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Scope::TwinRead, Metering::Counted).await?;
    crate::query::no_query(&req)?;
    if caller.is_test() {
        return if id.as_str() == SAMPLE_SNAPSHOT_ID {
            Ok(HttpResponse::Ok().json(SnapshotMeta::from(&sample_snapshot())))
        } else {
            Err(ApiError::not_found())
        };
    }
    let snap = state
        .store
        .get_owner_snapshot(&caller.owner.id, &id)
        .await?;
    Ok(HttpResponse::Ok().json(SnapshotMeta::from(&snap)))
}
