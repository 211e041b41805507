//! `GET /v1/webhooks`: the owner's endpoints.

use actix_web::{HttpRequest, HttpResponse, get, web};
use twin_core::webhooks::WebhookList;
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Lists the owner's webhook endpoints, oldest first (never their secrets).
#[utoipa::path(
    operation_id = "listWebhooks",
    tag = "webhooks",
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses((status = 200, description = "The endpoints", body = WebhookList))
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::WebhooksRead).await?;
    crate::query::no_query(&req)?;
    let list: WebhookList = twin_core::webhooks::list(&state, &caller.owner.id).await?;
    Ok(HttpResponse::Ok().json(list))
}
