//! `GET /v1/public/twin/historic`: every snapshot of the owner, newest first, paginated.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use twin_store::Scope;
use utoipa::{IntoParams, ToSchema};

use super::{SnapshotMeta, sample_snapshot};
use crate::auth::{Metering, authorize};
use crate::error::ApiError;
use crate::query::{check_limit, parse_query};
use crate::state::AppState;

/// Pagination parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoricParams {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// A page of snapshots.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPage {
    /// Snapshots, newest first.
    pub items: Vec<SnapshotMeta>,
    /// Cursor for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// Lists the owner's snapshots (metadata only), newest first. Counts against the quota.
#[utoipa::path(
    operation_id = "listSnapshots",
    tag = "public",
    params(HistoricParams),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of snapshots", body = SnapshotPage),
        (status = 400, description = "INVALID_PARAMETER", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
        (status = 429, description = "MONTHLY_QUOTA_EXCEEDED", body = crate::error::ErrorEnvelope),
        (status = 503, description = "Database unreachable", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/historic")]
pub async fn historic(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Scope::TwinRead, Metering::Counted).await?;
    let params: HistoricParams = parse_query(&req)?;
    let limit = check_limit(params.limit, 20, 100)?;
    let cursor = params.cursor.as_deref();
    if caller.is_test() {
        return Ok(HttpResponse::Ok().json(SnapshotPage {
            items: if cursor.is_none() {
                vec![SnapshotMeta::from(&sample_snapshot())]
            } else {
                vec![]
            },
            next_cursor: None,
        }));
    }
    if let Some(c) = cursor
        && (c.is_empty() || c.len() > 18 || !c.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::invalid_parameter(
            "cursor",
            None,
            "not a cursor returned by this API",
        ));
    }
    let page = state
        .store
        .list_snapshots(&caller.owner.id, i64::from(limit), cursor)
        .await?;
    Ok(HttpResponse::Ok().json(SnapshotPage {
        items: page.items.iter().map(SnapshotMeta::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
