//! One key's calls and cost over a period, from the daily roll-ups.
//!
//! The figures come only from `usage_daily` (one row per key, UTC day, route, status and
//! variant), never from the raw log, so the cost of a report depends on how many days and
//! distinct routes a key has, not on how many requests it made. The roll-ups are written by
//! the usage flusher in the same transaction as the raw rows, so there is no unrolled tail in
//! the database; what is not counted yet is what still waits in the flusher's queue (at most
//! one flush interval, 500 ms by default).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use twin_meter::Period;
use twin_store::DailyUsage;
use utoipa::ToSchema;

use super::credits;
use crate::time_fmt::iso;
use crate::{Core, Error};

/// The period a usage report covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Since {
    /// The current UTC day.
    Day,
    /// The current ISO week, from Monday 00:00Z.
    Week,
    /// The current UTC month.
    #[default]
    Month,
    /// Everything the roll-ups hold.
    All,
}

/// Calls and cost of one route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointUsage {
    /// `METHOD /route/template`, e.g. `GET /v1/public/twin/preset/{slug}`.
    #[schema(example = "GET /v1/public/twin/preset/{slug}")]
    pub route: String,
    /// Requests.
    pub calls: i64,
    /// Credits (6 decimals).
    #[schema(example = "12.000000")]
    pub cost: String,
}

/// Calls answered with one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusUsage {
    /// HTTP status.
    #[schema(example = 200)]
    pub status: u16,
    /// Requests.
    pub calls: i64,
}

/// Calls that asked for one prompt variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariantUsage {
    /// `claude`, `gpt`, `gemini` or `generic`.
    #[schema(example = "claude")]
    pub variant: String,
    /// Requests.
    pub calls: i64,
}

/// Calls and cost of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayUsage {
    /// `YYYY-MM-DD` (UTC).
    #[schema(example = "2026-11-15")]
    pub day: String,
    /// Requests.
    pub calls: i64,
    /// Credits (6 decimals).
    #[schema(example = "3.000000")]
    pub cost: String,
}

/// One key's usage over a period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyUsageReport {
    /// Key id.
    pub key_id: String,
    /// `day`, `week`, `month` or `all`.
    pub since: String,
    /// Start of the period (ISO 8601, UTC); null for `all`.
    pub from: Option<String>,
    /// Requests logged in the period.
    pub total_calls: i64,
    /// Credits spent in the period (6 decimals).
    #[schema(example = "12.000000")]
    pub total_cost: String,
    /// Share of calls answered 2xx or 3xx, from 0 to 1; null when there were no calls.
    #[schema(example = 0.95)]
    pub success_rate: Option<f64>,
    /// Per route, most calls first.
    pub by_endpoint: Vec<EndpointUsage>,
    /// Per status, ascending.
    pub by_status: Vec<StatusUsage>,
    /// Per prompt variant (preset requests only), most calls first. Requests without a
    /// variant (every other route, and preset requests refused before their variant was
    /// read) are left out, so the sum can be less than `totalCalls`.
    pub by_variant: Vec<VariantUsage>,
    /// Per UTC day with at least one call, oldest first.
    pub by_day: Vec<DayUsage>,
}

/// The period `since` names, and where it starts (`None` for `all`).
pub(crate) fn since_start(
    since: Since,
    now: OffsetDateTime,
) -> (&'static str, Option<OffsetDateTime>) {
    let (label, period) = match since {
        Since::Day => ("day", Some(Period::Day)),
        Since::Week => ("week", Some(Period::Week)),
        Since::Month => ("month", Some(Period::Month)),
        Since::All => ("all", None),
    };
    (label, period.map(|p| p.start(now)))
}

/// `YYYY-MM-DD` of a roll-up day (UTC midnight, Unix ms).
fn day_label(day_ms: i64) -> String {
    let date = OffsetDateTime::from_unix_timestamp(day_ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Sums roll-up rows into the report's breakdowns.
fn summarize(
    key_id: String,
    since: &str,
    from: Option<OffsetDateTime>,
    rows: &[DailyUsage],
) -> KeyUsageReport {
    let (mut total_calls, mut total_cost, mut ok_calls) = (0i64, 0i64, 0i64);
    let mut by_endpoint: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut by_status: BTreeMap<i32, i64> = BTreeMap::new();
    let mut by_variant: BTreeMap<&str, i64> = BTreeMap::new();
    let mut by_day: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for row in rows {
        total_calls = total_calls.saturating_add(row.calls);
        total_cost = total_cost.saturating_add(row.cost);
        if (200..400).contains(&row.status) {
            ok_calls = ok_calls.saturating_add(row.calls);
        }
        let e = by_endpoint.entry(&row.route).or_default();
        e.0 = e.0.saturating_add(row.calls);
        e.1 = e.1.saturating_add(row.cost);
        let s = by_status.entry(row.status).or_default();
        *s = s.saturating_add(row.calls);
        if !row.variant.is_empty() {
            let v = by_variant.entry(&row.variant).or_default();
            *v = v.saturating_add(row.calls);
        }
        let d = by_day.entry(row.day).or_default();
        d.0 = d.0.saturating_add(row.calls);
        d.1 = d.1.saturating_add(row.cost);
    }
    let mut by_endpoint: Vec<EndpointUsage> = by_endpoint
        .into_iter()
        .map(|(route, (calls, cost))| EndpointUsage {
            route: route.to_owned(),
            calls,
            cost: credits(cost),
        })
        .collect();
    // Stable sort: ties keep the route order of the map.
    by_endpoint.sort_by_key(|e| std::cmp::Reverse(e.calls));
    let mut by_variant: Vec<VariantUsage> = by_variant
        .into_iter()
        .map(|(variant, calls)| VariantUsage {
            variant: variant.to_owned(),
            calls,
        })
        .collect();
    by_variant.sort_by_key(|v| std::cmp::Reverse(v.calls));
    KeyUsageReport {
        key_id,
        since: since.to_owned(),
        from: from.map(iso),
        total_calls,
        total_cost: credits(total_cost),
        success_rate: (total_calls > 0).then(|| ok_calls as f64 / total_calls as f64),
        by_endpoint,
        by_status: by_status
            .into_iter()
            .map(|(status, calls)| StatusUsage {
                status: u16::try_from(status).unwrap_or(0),
                calls,
            })
            .collect(),
        by_variant,
        by_day: by_day
            .into_iter()
            .map(|(day, (calls, cost))| DayUsage {
                day: day_label(day),
                calls,
                cost: credits(cost),
            })
            .collect(),
    }
}

/// One of `owner_id`'s keys' usage since the start of `since` (another owner's key is
/// `NOT_FOUND`, exactly as an unknown id); shared by the owner API and the dashboard.
pub async fn key_usage(
    core: &Core,
    owner_id: &str,
    key_id: &str,
    since: Since,
) -> Result<KeyUsageReport, Error> {
    // Ownership first: another owner's key is a 404, like an unknown one.
    let key = core.store.get_owner_key(owner_id, key_id).await?;
    key_usage_of(core, &key, since).await
}

/// [`key_usage`] of a key the caller has already read (and checked the owner of).
pub async fn key_usage_of(
    core: &Core,
    key: &twin_store::KeyRecord,
    since: Since,
) -> Result<KeyUsageReport, Error> {
    let (label, from) = since_start(since, core.clock.now());
    // The database sums the roll-ups per (route, status, variant) and per day, so the rows
    // read stay few however old the key is.
    let (by_group, by_day) = core.store.key_usage_grouped(&key.id, from).await?;
    let mut report = summarize(key.id.clone(), label, from, &by_group);
    report.by_day = summarize(key.id.clone(), label, from, &by_day).by_day;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn row(day: i64, route: &str, status: i32, variant: &str, calls: i64, cost: i64) -> DailyUsage {
        DailyUsage {
            day,
            route: route.into(),
            status,
            variant: variant.into(),
            calls,
            cost,
        }
    }

    #[test]
    fn since_names_the_current_calendar_period() {
        // A Sunday: its ISO week started on Monday the 9th.
        let now = datetime!(2026-11-15 12:00 UTC);
        assert_eq!(
            since_start(Since::default(), now),
            ("month", Some(datetime!(2026-11-01 0:00 UTC)))
        );
        assert_eq!(
            since_start(Since::Day, now),
            ("day", Some(datetime!(2026-11-15 0:00 UTC)))
        );
        assert_eq!(
            since_start(Since::Week, now),
            ("week", Some(datetime!(2026-11-09 0:00 UTC)))
        );
        assert_eq!(since_start(Since::All, now), ("all", None));
        for bad in ["", "forever", "Month", "year"] {
            assert!(
                serde_json::from_value::<Since>(bad.into()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn roll_ups_sum_into_every_breakdown() {
        let d1 = datetime!(2026-11-14 0:00 UTC).unix_timestamp() * 1000;
        let d2 = datetime!(2026-11-15 0:00 UTC).unix_timestamp() * 1000;
        let preset = "GET /v1/public/twin/preset/{slug}";
        let health = "GET /v1/public/twin/health";
        let rows = [
            row(d1, preset, 200, "claude", 3, 3_000_000),
            row(d1, health, 200, "", 1, 0),
            row(d2, preset, 200, "gpt", 2, 2_000_000),
            row(d2, preset, 404, "generic", 1, 0),
            row(d2, preset, 304, "claude", 1, 500_000),
            row(d2, preset, 400, "", 1, 0),
        ];
        let r = summarize("k".into(), "all", None, &rows);
        assert_eq!(r.total_calls, 9);
        assert_eq!(r.total_cost, "5.500000");
        assert_eq!(r.success_rate, Some(7.0 / 9.0));
        assert_eq!(
            r.by_endpoint,
            vec![
                EndpointUsage {
                    route: preset.into(),
                    calls: 8,
                    cost: "5.500000".into()
                },
                EndpointUsage {
                    route: health.into(),
                    calls: 1,
                    cost: "0.000000".into()
                },
            ]
        );
        let statuses: Vec<(u16, i64)> = r.by_status.iter().map(|s| (s.status, s.calls)).collect();
        assert_eq!(statuses, [(200, 6), (304, 1), (400, 1), (404, 1)]);
        let variants: Vec<(&str, i64)> = r
            .by_variant
            .iter()
            .map(|v| (v.variant.as_str(), v.calls))
            .collect();
        assert_eq!(variants, [("claude", 4), ("gpt", 2), ("generic", 1)]);
        let days: Vec<(&str, i64, &str)> = r
            .by_day
            .iter()
            .map(|d| (d.day.as_str(), d.calls, d.cost.as_str()))
            .collect();
        assert_eq!(
            days,
            [("2026-11-14", 4, "3.000000"), ("2026-11-15", 5, "2.500000")]
        );
    }

    #[test]
    fn no_calls_means_no_success_rate() {
        let r = summarize("k".into(), "day", Some(datetime!(2026-11-15 0:00 UTC)), &[]);
        assert_eq!(r.total_calls, 0);
        assert_eq!(r.total_cost, "0.000000");
        assert_eq!(r.success_rate, None);
        assert_eq!(r.from.as_deref(), Some("2026-11-15T00:00:00Z"));
        assert!(r.by_endpoint.is_empty() && r.by_day.is_empty());
    }
}
