//! `POST /v1/webhooks/{id}/rotate-secret`: a new signing secret.

use actix_web::{HttpRequest, HttpResponse, post, web};
use twin_core::webhooks::{WebhookWithSecret, rotate_secret};
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Replaces the endpoint's signing secret and returns the new one, shown this once. For 24
/// hours deliveries carry a signature under each secret, so a receiver can switch without
/// rejecting events.
#[utoipa::path(
    operation_id = "rotateWebhookSecret",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (wh_…)")),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint with its new secret", body = WebhookWithSecret),
        (status = 404, description = "Unknown endpoint (or another owner's)", body = crate::error::ErrorEnvelope),
        (status = 409, description = "Rotated concurrently", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::WebhooksWrite).await?;
    crate::query::no_query(&req)?;
    let rotated = rotate_secret(&state, &caller.owner.id, &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(rotated))
}
