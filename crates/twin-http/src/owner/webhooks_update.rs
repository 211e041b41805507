//! `PATCH /v1/webhooks/{id}`: change an endpoint.

use actix_web::{HttpRequest, HttpResponse, patch, web};
use twin_core::input::parse_body;
use twin_core::webhooks::{UpdateWebhookBody, WebhookView, update};
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Changes a webhook endpoint's URL, events, description or state. Enabling an endpoint
/// the server disabled after failures clears its failure record.
#[utoipa::path(
    operation_id = "updateWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (wh_…)")),
    request_body = UpdateWebhookBody,
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 400, description = "INVALID_PARAMETER", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown endpoint (or another owner's)", body = crate::error::ErrorEnvelope),
    )
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::WebhooksWrite).await?;
    crate::query::no_query(&req)?;
    let body: UpdateWebhookBody = parse_body(&body)?;
    let endpoint = update(&state, &caller.owner.id, &id, body).await?;
    Ok(HttpResponse::Ok().json(endpoint))
}
