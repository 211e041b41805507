//! `GET /v1/keys`: the owner's keys, newest first.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use twin_store::{KeyStatus, Scope};
use utoipa::{IntoParams, ToSchema};

use super::KeyView;
use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::query::{check_limit, parse_query};
use crate::state::AppState;

/// Listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListKeysParams {
    /// Only keys in this state.
    #[param(inline)]
    status: Option<KeyStatus>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}\.[0-9a-fA-F]{1,64}$")]
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
    operation_id = "listKeys",
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
    let caller = authorize_owner(&req, &state, Scope::KeysRead).await?;
    let params: ListKeysParams = parse_query(&req)?;
    let limit = check_limit(params.limit, 50, 100)?;
    let (items, next_cursor) = twin_core::keys::list_keys(
        &state,
        &caller.owner.id,
        params.status,
        limit,
        params.cursor.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(KeyPage { items, next_cursor }))
}
