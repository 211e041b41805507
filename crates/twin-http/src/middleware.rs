//! Response post-processing shared by every route: metering headers, quota refunds for
//! answers that must not count, and the envelope for actix's own 405 answers.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use twin_store::UsageEntry;

use crate::auth::{QuotaConsumed, QuotaHeaders, UsageDetail, UsageSubject};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Adds `X-Twin-Quota-*` to authenticated responses, and gives back the quota unit of a
/// request answered 425 or 5xx (SPEC §6: those answers do not count).
pub async fn metering(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let started = std::time::Instant::now();
    let arrived = state.as_ref().map(|s| s.clock.now());
    let mut res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();

    if status == StatusCode::METHOD_NOT_ALLOWED && res.response().error().is_none() {
        let allow = res.headers().get(actix_web::http::header::ALLOW).cloned();
        let mut response = ApiError::new(
            ErrorCode::MethodNotAllowed,
            "this route does not accept that method",
        )
        .to_response();
        if let Some(allow) = allow {
            response
                .headers_mut()
                .insert(actix_web::http::header::ALLOW, allow);
        }
        res = res.into_response(response);
    }

    let consumed = res.request().extensions().get::<QuotaConsumed>().cloned();
    let mut quota = res
        .request()
        .extensions()
        .get::<QuotaHeaders>()
        .map(|q| q.0);
    if let (Some(consumed), Some(state)) = (consumed, state.as_ref())
        && (status == crate::error::too_early() || status.is_server_error())
    {
        if state
            .store
            .refund_quota(&consumed.key_id, consumed.month_start)
            .await
            .is_ok()
            && let Some(q) = quota.as_mut()
        {
            q.used = q.used.saturating_sub(1);
        }
    }
    if let (Some(state), Some(at)) = (state.as_ref(), arrived) {
        let subject = res.request().extensions().get::<UsageSubject>().cloned();
        if let Some(subject) = subject {
            let detail = res
                .request()
                .extensions()
                .get::<UsageDetail>()
                .cloned()
                .unwrap_or_default();
            state.usage.log(UsageEntry {
                key_id: subject.key_id,
                owner_id: subject.owner_id,
                at,
                method: res.request().method().as_str().to_owned(),
                route: res
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| "(unmatched)".to_owned()),
                status: res.status().as_u16(),
                cost: 0,
                duration_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
                variant: detail.variant.map(str::to_owned),
                format: detail.format.map(str::to_owned),
            });
        }
    }
    if let Some(quota) = quota {
        let headers = res.headers_mut();
        for (name, value) in quota.headers() {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.insert(name, value);
            }
        }
    }
    Ok(res)
}
