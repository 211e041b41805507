//! `DELETE /v1/webhooks/{id}`: remove an endpoint and its delivery log.

use actix_web::{HttpRequest, HttpResponse, delete, web};
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Deletes a webhook endpoint with its delivery log; its pending deliveries are dropped.
#[utoipa::path(
    operation_id = "deleteWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (wh_…)")),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown endpoint (or another owner's)", body = crate::error::ErrorEnvelope),
    )
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::WebhooksWrite).await?;
    crate::query::no_query(&req)?;
    twin_core::webhooks::delete(&state, &caller.owner.id, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
