//! `GET /v1/public/twin/health`: is this key alive? Free of quota.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use twin_store::Scope;
use utoipa::ToSchema;

use crate::auth::{Metering, authorize};
use crate::error::ApiError;
use crate::state::AppState;

/// The health answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// Always `true`.
    pub ok: bool,
    /// The key's public id.
    pub api_key_id: String,
    /// The key's owner.
    pub user_id: String,
    /// The key's scopes.
    pub scopes: Vec<String>,
    /// The server's time (ISO 8601, UTC).
    pub server_time: String,
}

/// Checks a key without spending quota.
#[utoipa::path(
    operation_id = "getHealth",
    tag = "public",
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The key works", body = HealthResponse, headers(
            ("X-Twin-Quota-Limit" = u64, description = "Monthly quota"),
            ("X-Twin-Quota-Used" = u64, description = "Requests counted this month"),
            ("X-Twin-Quota-Remaining" = u64, description = "Requests left this month"),
            ("X-Twin-Quota-Reset" = String, description = "When the quota resets (ISO 8601)"),
            ("X-Request-Id" = String, description = "The request's id"),
        )),
        (status = 401, description = "Missing, malformed, conflicting, unknown, revoked, disabled or expired key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
        (status = 503, description = "Database unreachable", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/health")]
pub async fn health(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Scope::TwinRead, Metering::Free).await?;
    crate::query::no_query(&req)?;
    Ok(HttpResponse::Ok().json(HealthResponse {
        ok: true,
        api_key_id: caller.key.id.clone(),
        user_id: caller.owner.id.clone(),
        scopes: caller.key.scopes.to_strings(),
        server_time: twin_core::time_fmt::iso(state.clock.now()),
    }))
}
