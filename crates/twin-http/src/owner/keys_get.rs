//! `GET /v1/keys/{id}`: one of the owner's keys.

use actix_web::{HttpRequest, HttpResponse, get, web};
use twin_store::Scope;

use super::KeyView;
use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// One key. Another owner's key answers 404 exactly as an unknown id.
#[utoipa::path(
    operation_id = "getKey",
    tag = "keys",
    params(("id" = String, Path, description = "Key id (8 hex)")),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown key (or another owner's)", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/keys/{id}")]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::KeysRead).await?;
    crate::query::no_query(&req)?;
    let key = state.store.get_owner_key(&caller.owner.id, &id).await?;
    Ok(HttpResponse::Ok().json(KeyView::for_core(&key, &state)))
}
