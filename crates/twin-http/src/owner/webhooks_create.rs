//! `POST /v1/webhooks`: a new endpoint, with its signing secret shown this once.

use actix_web::{HttpRequest, HttpResponse, post, web};
use twin_core::input::parse_body;
use twin_core::webhooks::{CreateWebhookBody, WebhookWithSecret, create};
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Creates a webhook endpoint. The answer carries its signing secret (`whsec_…`), which is
/// never shown again (rotate it to get a new one).
#[utoipa::path(
    operation_id = "createWebhook",
    tag = "webhooks",
    request_body = CreateWebhookBody,
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = WebhookWithSecret),
        (status = 400, description = "INVALID_PARAMETER (a URL that is not https, or resolves to a private address, among others)", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::WebhooksWrite).await?;
    crate::query::no_query(&req)?;
    let body: CreateWebhookBody = parse_body(&body)?;
    let created = create(&state, &caller.owner.id, body).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(created))
}
