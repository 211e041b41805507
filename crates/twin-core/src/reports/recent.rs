//! One key's latest logged calls, newest first, from the raw usage log.

use serde::Serialize;
use twin_store::LoggedCall;
use utoipa::ToSchema;

use super::credits;
use crate::time_fmt::iso;
use crate::{Core, Error};

/// One logged call.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentCall {
    /// When the request arrived (ISO 8601, UTC, milliseconds).
    #[schema(example = "2026-11-15T12:00:00.123Z")]
    pub at: String,
    /// HTTP method.
    #[schema(example = "GET")]
    pub method: String,
    /// Route template (without the method).
    #[schema(example = "/v1/public/twin/preset/{slug}")]
    pub route: String,
    /// Response status.
    #[schema(example = 200)]
    pub status: u16,
    /// Credits charged (6 decimals).
    #[schema(example = "1.000000")]
    pub cost: String,
    /// Time the server spent answering, in milliseconds with microsecond precision (a
    /// number such as `1.234`).
    #[schema(example = 1.234)]
    pub duration_ms: f64,
    /// Prompt variant, for preset requests that got as far as reading it; otherwise null.
    #[schema(example = "claude")]
    pub variant: Option<String>,
    /// Output format, for preset requests that got as far as reading it; otherwise null.
    #[schema(example = "txt")]
    pub format: Option<String>,
}

/// The latest calls of a key.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentCalls {
    /// Key id.
    pub key_id: String,
    /// The limit applied (after clamping).
    pub limit: i64,
    /// Calls, newest first.
    pub items: Vec<RecentCall>,
}

impl From<LoggedCall> for RecentCall {
    fn from(c: LoggedCall) -> Self {
        RecentCall {
            at: iso(c.at),
            method: c.method,
            route: c.route,
            status: c.status,
            cost: credits(c.cost),
            // Exact for any duration below 2^53 µs (285 years).
            duration_ms: c.duration_us as f64 / 1000.0,
            variant: c.variant,
            format: c.format,
        }
    }
}

/// One of `owner_id`'s keys' latest `limit` calls, newest first (another owner's key is
/// `NOT_FOUND`, exactly as an unknown id); shared by the owner API and the dashboard.
pub async fn recent_calls(
    core: &Core,
    owner_id: &str,
    key_id: &str,
    limit: i64,
) -> Result<RecentCalls, Error> {
    // Ownership first: another owner's key is a 404, like an unknown one.
    let key = core.store.get_owner_key(owner_id, key_id).await?;
    recent_calls_of(core, &key, limit).await
}

/// [`recent_calls`] of a key the caller has already read (and checked the owner of).
pub async fn recent_calls_of(
    core: &Core,
    key: &twin_store::KeyRecord,
    limit: i64,
) -> Result<RecentCalls, Error> {
    let calls = core.store.recent_calls(&key.id, limit).await?;
    Ok(RecentCalls {
        key_id: key.id.clone(),
        limit,
        items: calls.into_iter().map(RecentCall::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_milliseconds_with_microseconds() {
        let call = RecentCall::from(LoggedCall {
            at: time::macros::datetime!(2026-11-15 12:00:00.123 UTC),
            method: "GET".into(),
            route: "/v1/public/twin/health".into(),
            status: 200,
            cost: 1_500_000,
            duration_us: 1234,
            variant: None,
            format: None,
        });
        assert_eq!(call.duration_ms, 1.234);
        assert_eq!(call.cost, "1.500000");
        assert_eq!(call.at, "2026-11-15T12:00:00.123Z");
        assert_eq!(
            serde_json::to_value(&call).unwrap()["durationMs"],
            serde_json::json!(1.234)
        );
    }
}
