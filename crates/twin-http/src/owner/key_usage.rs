//! `GET /v1/keys/{id}/usage`: one key's calls and cost over a period, from the daily roll-ups.
//!
//! The figures come only from `usage_daily` (one row per key, UTC day, route, status and
//! variant), never from the raw log, so the cost of this endpoint depends on how many days
//! and distinct routes a key has, not on how many requests it made. The roll-ups are written
//! by the usage flusher in the same transaction as the raw rows, so there is no unrolled tail
//! in the database; what is not counted yet is what still waits in the flusher's queue (at
//! most one flush interval, 500 ms by default).

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use twin_core::reports::key_usage::{KeyUsageReport, Since, key_usage};
use twin_store::Scope;
use utoipa::IntoParams;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::query::parse_query;
use crate::state::AppState;

/// Usage parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KeyUsageParams {
    /// The period to report; default `month`.
    #[param(inline)]
    since: Option<Since>,
}

/// One key's calls and cost since the start of the current day, ISO week or month (or ever),
/// with breakdowns per route, status, prompt variant and UTC day.
///
/// Computed from the daily roll-ups only, never by scanning the raw log. Requests are logged
/// in batches, so the figures lag the requests by up to the usage flush interval (500 ms by
/// default). Another owner's key answers 404 exactly as an unknown id.
#[utoipa::path(
    operation_id = "getKeyUsage",
    tag = "keys",
    params(
        ("id" = String, Path, description = "Key id (8 hex)"),
        KeyUsageParams,
    ),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The key's usage", body = KeyUsageReport),
        (status = 400, description = "INVALID_PARAMETER (`since`)", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE (`usage:read`) or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown key (or another owner's)", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/keys/{id}/usage")]
pub async fn usage(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::UsageRead).await?;
    let params: KeyUsageParams = parse_query(&req)?;
    let since = params.since.unwrap_or_default();
    let report = key_usage(&state, &caller.owner.id, &id, since).await?;
    Ok(HttpResponse::Ok().json(report))
}
