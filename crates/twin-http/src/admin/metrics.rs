//! `GET /v1/admin/metrics`: this replica's internal counters in the Prometheus text format,
//! for an operator's scraper (with the admin token).

use std::fmt::Write;

use actix_web::{HttpRequest, HttpResponse, get, web};

use super::require_admin;
use crate::error::ApiError;
use crate::state::AppState;

/// This replica's counters: usage entries written, dropped (queue full) and lost (database
/// errors), and the sizes of its caches and metering state.
#[utoipa::path(
    operation_id = "getMetrics",
    tag = "admin",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "Missing or wrong admin token", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY", body = crate::error::ErrorEnvelope),
        (status = 404, description = "The admin API is disabled", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    crate::query::no_query(&req)?;
    let mut out = String::with_capacity(1024);
    let mut counter = |name: &str, help: &str, kind: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    counter(
        "twin_usage_written_total",
        "Usage entries written to the database.",
        "counter",
        state.usage.written(),
    );
    counter(
        "twin_usage_dropped_total",
        "Usage entries dropped because the in-memory queue was full.",
        "counter",
        state.usage.dropped(),
    );
    counter(
        "twin_usage_failed_total",
        "Usage entries lost to database errors.",
        "counter",
        state.usage.failed(),
    );
    counter(
        "twin_cached_keys",
        "Verified keys in the cache.",
        "gauge",
        state.caches.key_count(),
    );
    counter(
        "twin_metered_keys",
        "Keys with metering allowances in memory.",
        "gauge",
        state.meter.key_count(),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out))
}
