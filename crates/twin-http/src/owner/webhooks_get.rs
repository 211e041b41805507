//! `GET /v1/webhooks/{id}`: one endpoint.

use actix_web::{HttpRequest, HttpResponse, get, web};
use twin_core::webhooks::WebhookView;
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// One webhook endpoint (never its secret).
#[utoipa::path(
    operation_id = "getWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (wh_…)")),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 404, description = "Unknown endpoint (or another owner's)", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::WebhooksRead).await?;
    crate::query::no_query(&req)?;
    let view: WebhookView = twin_core::webhooks::get(&state, &caller.owner.id, &id).await?;
    Ok(HttpResponse::Ok().json(view))
}
