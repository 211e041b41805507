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
    let stats = &state.webhook_stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP twin_webhook_attempts_total Webhook delivery attempts made by this replica, by outcome.\n\
         # TYPE twin_webhook_attempts_total counter\n\
         twin_webhook_attempts_total{{outcome=\"succeeded\"}} {}\n\
         twin_webhook_attempts_total{{outcome=\"retried\"}} {}\n\
         twin_webhook_attempts_total{{outcome=\"gave_up\"}} {}",
        load(&stats.succeeded),
        load(&stats.retried),
        load(&stats.gave_up),
    );
    let mut counter = |name: &str, help: &str, kind: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    counter(
        "twin_webhook_endpoints_disabled_total",
        "Webhook endpoints this replica disabled after failing for too long.",
        "counter",
        load(&stats.endpoints_disabled),
    );
    // The outbox is shared by every replica: its depth and age are the database's.
    if let Ok(queue) = state.store.delivery_queue().await {
        counter(
            "twin_webhook_queue_depth",
            "Webhook deliveries waiting for an attempt (all replicas).",
            "gauge",
            u64::try_from(queue.depth).unwrap_or(0),
        );
        let age = queue
            .oldest
            .map_or(0, |t| (state.clock.now() - t).whole_seconds().max(0));
        counter(
            "twin_webhook_oldest_pending_seconds",
            "Age of the oldest waiting webhook delivery (0 when none waits).",
            "gauge",
            u64::try_from(age).unwrap_or(0),
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out))
}
