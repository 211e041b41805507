//! Response post-processing shared by every route: metering headers, quota refunds for
//! answers that must not count, and the envelope for answers actix builds itself (405, the
//! bare 404 of the docs' file server, a wrong method on a known path).

use std::collections::HashMap;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use twin_store::UsageEntry;

use crate::auth::{MeterState, UsageDetail, UsageSubject};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use twin_core::meter::MeterHeaders;
use twin_meter::Credits;

/// Adds `X-Twin-Quota-*` to authenticated responses, and gives back the quota unit of a
/// request answered 425 or 5xx (SPEC §6: those answers do not count).
pub async fn metering(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let started = std::time::Instant::now();
    let arrived = state.as_ref().map(|s| s.clock.now());
    // A NUL byte names no resource, and PostgreSQL refuses it in any text parameter (the
    // lookup would fail as a 500): a path carrying one is answered 404 before routing.
    if req.path().contains("%00") {
        let response = ApiError::not_found().to_response();
        return Ok(req.into_response(response));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();

    // The route macros put the method guard on the resource, so a known path asked with
    // another method falls through to the default service as a 404: answer it 405 (with
    // `Allow`) or, for a GET of a path that only lacks its trailing slash (`/docs`),
    // redirect. A bare 404 from a file server (Swagger UI's assets) gets the envelope.
    if res.status() == StatusCode::NOT_FOUND && res.response().error().is_none() {
        if matches!(
            res.response().body().size(),
            BodySize::None | BodySize::Sized(0)
        ) {
            res = res.into_response(ApiError::not_found().to_response());
        } else if let Some(response) = unmatched_route(res.request()) {
            res = res.into_response(response);
        }
    }
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

    // RFC 9728 §5.1: a 401 from the API names where to learn how to get a token.
    if status == StatusCode::UNAUTHORIZED
        && res.request().path().starts_with("/v1/public/")
        && let Some(state) = state.as_ref()
        && let Ok(value) =
            actix_web::http::header::HeaderValue::from_str(&crate::oauth::www_authenticate(state))
    {
        res.headers_mut()
            .insert(actix_web::http::header::WWW_AUTHENTICATE, value);
    }

    let mut meter = res.request().extensions().get::<MeterState>().cloned();
    let mut cost = 0;
    if let (Some(meter), Some(state)) = (meter.as_mut(), state.as_ref())
        && let Some((key_id, charge)) = meter.charge.take()
    {
        cost = charge.credits;
        // SPEC §6: 425 and 5xx answers do not count (nor cost).
        if status == crate::error::too_early() || status.is_server_error() {
            state.meter.refund(&key_id, charge).await;
            cost = 0;
            if charge.quota {
                meter.headers.quota.used = meter.headers.quota.used.saturating_sub(1);
            }
            meter.headers.spend.used = meter
                .headers
                .spend
                .used
                .saturating_sub(Credits::from_micros(charge.credits).unwrap_or(Credits::ZERO));
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
                cost,
                duration_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
                variant: detail.variant.map(str::to_owned),
                format: detail.format.map(str::to_owned),
                client_id: subject.client_id,
            });
        }
    }
    if let Some(meter) = meter {
        write_meter_headers(res.headers_mut(), &meter.headers);
    }
    Ok(res)
}

/// Writes `X-Twin-Quota-*`, `X-RateLimit-*` and `X-Twin-Spend-*`.
fn write_meter_headers(headers: &mut actix_web::http::header::HeaderMap, meter: &MeterHeaders) {
    let mut put = |name: &str, value: String| {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    };
    for (name, value) in meter.quota.headers() {
        put(name, value);
    }
    put("X-RateLimit-Limit", meter.rate.limit.to_string());
    put("X-RateLimit-Remaining", meter.rate.remaining.to_string());
    put("X-RateLimit-Reset", meter.rate.reset.to_string());
    put(twin_meter::HEADER_SPEND_COST, meter.spend.cost.to_string());
    put(
        twin_meter::HEADER_SPEND_PERIOD_USED,
        meter.spend.used.to_string(),
    );
    if let Some(limit) = meter.spend.limit {
        put(twin_meter::HEADER_SPEND_PERIOD_LIMIT, limit.to_string());
    }
    if let Some(reset) = meter.spend.reset {
        put(
            twin_meter::HEADER_SPEND_PERIOD_RESET,
            twin_meter::iso8601(reset),
        );
    }
}

/// The answer for a 404 that may come from no route taking the request: 405 when a route's
/// path matches but not with this method, a redirect when only the trailing slash is
/// missing, otherwise `None` (the 404 stands).
fn unmatched_route(req: &HttpRequest) -> Option<HttpResponse> {
    let path = req.path();
    let routes = req.resource_map();
    if let Some(pattern) = routes.match_pattern(path) {
        let allow = req
            .app_data::<web::Data<AllowedMethods>>()
            .map(|table| table.get(&pattern))
            .unwrap_or_else(|| vec!["GET"]);
        if allow.contains(&req.method().as_str()) {
            // The route itself answered 404 (an unknown resource): that stands.
            return None;
        }
        let mut response = ApiError::new(
            ErrorCode::MethodNotAllowed,
            "this route does not accept that method",
        )
        .to_response();
        if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        return Some(response);
    }
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    if get && !path.ends_with('/') && routes.has_resource(&format!("{path}/")) {
        let mut location = format!("{path}/");
        if !req.query_string().is_empty() {
            location.push('?');
            location.push_str(req.query_string());
        }
        return Some(
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, location))
                .finish(),
        );
    }
    None
}

/// The methods each documented route answers, read once from the OpenAPI document the
/// server serves (the routes it does not describe, `/openapi.json` and the docs, are GET
/// only). Built by `server::serve` and shared with every worker as app data.
#[derive(Debug, Default)]
pub struct AllowedMethods(HashMap<String, Vec<&'static str>>);

impl AllowedMethods {
    /// The table of `doc`.
    pub fn from_openapi(doc: &serde_json::Value) -> Self {
        let paths = doc["paths"].as_object().into_iter().flatten();
        AllowedMethods(
            paths
                .map(|(path, item)| {
                    let methods = ["get", "post", "put", "patch", "delete"]
                        .into_iter()
                        .zip(["GET", "POST", "PUT", "PATCH", "DELETE"])
                        .filter(|(op, _)| item.get(*op).is_some())
                        .map(|(_, name)| name)
                        .collect();
                    (path.clone(), methods)
                })
                .collect(),
        )
    }

    /// The methods the route with `pattern` answers.
    fn get(&self, pattern: &str) -> Vec<&'static str> {
        self.0
            .get(&without_regexes(pattern))
            .filter(|m| !m.is_empty())
            .cloned()
            .unwrap_or_else(|| vec!["GET"])
    }
}

/// `/a/{id:[0-9]+}` → `/a/{id}`: actix patterns may carry a regex, OpenAPI paths do not.
fn without_regexes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut in_regex = false;
    let mut depth = 0usize;
    for c in pattern.chars() {
        match c {
            '{' => {
                depth += 1;
                if !in_regex {
                    out.push(c);
                }
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_regex = false;
                    out.push(c);
                }
            }
            ':' if depth == 1 => in_regex = true,
            _ if !in_regex => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::without_regexes;

    #[test]
    fn route_regexes_are_dropped_to_compare_with_openapi_paths() {
        assert_eq!(without_regexes("/docs/{_:.*}"), "/docs/{_}");
        assert_eq!(without_regexes("/a/{id:[0-9]{2}}/b"), "/a/{id}/b");
        assert_eq!(without_regexes("/v1/keys/{id}"), "/v1/keys/{id}");
    }
}
