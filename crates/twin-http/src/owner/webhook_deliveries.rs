//! `GET /v1/webhooks/{id}/deliveries` and
//! `POST /v1/webhooks/{id}/deliveries/{deliveryId}/redeliver`: the delivery log.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use twin_core::webhooks::{DeliveryPage, DeliveryView};
use twin_store::Scope;
use utoipa::IntoParams;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::query::{check_limit, parse_query};
use crate::state::AppState;

/// Query of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesParams {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// The endpoint's deliveries, newest first: event, attempts, last status code, latency and
/// the next attempt.
#[utoipa::path(
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (wh_…)"), ListDeliveriesParams),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 400, description = "INVALID_PARAMETER", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown endpoint (or another owner's)", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::WebhooksRead).await?;
    let params: ListDeliveriesParams = parse_query(&req)?;
    let limit = check_limit(params.limit, 50, 100)?;
    let page: DeliveryPage = twin_core::webhooks::deliveries(
        &state,
        &caller.owner.id,
        &id,
        limit,
        params.cursor.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Sends a delivery again now, whatever its state (a new attempt with the same
/// `webhook-id`, so receivers can drop it if they had it).
#[utoipa::path(
    operation_id = "redeliverWebhook",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "Endpoint id (wh_…)"),
        ("deliveryId" = String, Path, description = "Delivery id (dlv_…)"),
    ),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "Due now", body = DeliveryView),
        (status = 404, description = "Unknown endpoint or delivery", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/webhooks/{id}/deliveries/{deliveryId}/redeliver")]
pub async fn redeliver(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::WebhooksWrite).await?;
    crate::query::no_query(&req)?;
    let (id, delivery) = path.into_inner();
    let view: DeliveryView =
        twin_core::webhooks::redeliver(&state, &caller.owner.id, &id, &delivery).await?;
    Ok(HttpResponse::Accepted().json(view))
}
