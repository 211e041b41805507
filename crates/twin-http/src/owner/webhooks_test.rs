//! `POST /v1/webhooks/{id}/test`: send a `ping`.

use actix_web::{HttpRequest, HttpResponse, post, web};
use twin_core::webhooks::{PingQueued, ping};
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Queues a `ping` event for this endpoint alone; its delivery shows in the log.
#[utoipa::path(
    operation_id = "testWebhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (wh_…)")),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "Queued", body = PingQueued),
        (status = 404, description = "Unknown endpoint (or another owner's)", body = crate::error::ErrorEnvelope),
        (status = 409, description = "The endpoint is disabled", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/webhooks/{id}/test")]
pub async fn test_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::WebhooksWrite).await?;
    crate::query::no_query(&req)?;
    let queued = ping(&state, &caller.owner.id, &id).await?;
    Ok(HttpResponse::Accepted().json(queued))
}
