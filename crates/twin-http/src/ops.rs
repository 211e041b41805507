//! Unauthenticated liveness and readiness probes.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeResponse {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// The process is up (no database access). The baseline of the benchmarks.
#[utoipa::path(
    operation_id = "getLivez",
    tag = "ops", responses((status = 200, description = "Up", body = ProbeResponse)))]
#[get("/livez")]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(ProbeResponse { status: "ok" })
}

/// The database answers.
#[utoipa::path(
    operation_id = "getReadyz",
    tag = "ops", responses(
    (status = 200, description = "Ready", body = ProbeResponse),
    (status = 503, description = "Database unreachable", body = crate::error::ErrorEnvelope),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(HttpResponse::Ok().json(ProbeResponse { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(
                ApiError::new(ErrorCode::ServiceUnavailable, "the database is unreachable")
                    .retry_after(5),
            )
        }
    }
}
