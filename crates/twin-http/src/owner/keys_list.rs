//! `GET /v1/keys`: the owner's keys, newest first.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use twin_store::{KeyStatus, Scope};
use utoipa::{IntoParams, ToSchema};

use super::KeyView;
use crate::auth::{Metering, authorize};
use crate::error::ApiError;
use crate::query::{Query, parse_limit};
use crate::state::AppState;

/// Listing parameters.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListKeysParams {
    /// Only keys in this state: `active`, `disabled`, `expired` or `revoked`.
    status: Option<String>,
    /// Page size, 1–100 (default 50).
    limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// A page of keys.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyPage {
    /// Keys, newest first.
    pub items: Vec<KeyView>,
    /// Cursor for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// Lists the owner's keys (public fields only, never a hash).
#[utoipa::path(
    tag = "keys",
    params(ListKeysParams),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of keys", body = KeyPage),
        (status = 400, description = "INVALID_PARAMETER", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/keys")]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Scope::KeysRead, Metering::Counted).await?;
    let query = Query::parse(&req)?.0;
    let status = query
        .get("status")
        .map(|s| {
            s.parse::<KeyStatus>()
                .map_err(|_| ApiError::invalid_parameter("status", Some(KeyStatus::ALLOWED), ""))
        })
        .transpose()?;
    let limit = parse_limit(query.get("limit").map(String::as_str), 50, 100)?;
    let now = state.clock.now();
    let page = state
        .store
        .list_keys(
            &caller.owner.id,
            status,
            now,
            i64::from(limit),
            query.get("cursor").map(String::as_str),
        )
        .await?;
    Ok(HttpResponse::Ok().json(KeyPage {
        items: page
            .items
            .iter()
            .map(|k| KeyView::for_core(k, &state))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}
