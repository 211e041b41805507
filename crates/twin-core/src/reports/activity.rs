//! A key's activity at a glance, for the dashboard's key page: calls today, this ISO week
//! and this month, the month's success rate, and calls per day for the last 30 days with
//! errors apart. One grouped query over the daily roll-ups, never a scan of the raw log.

use time::{Duration, OffsetDateTime};
use twin_meter::Period;

use crate::{Core, Error};

/// How many days the chart shows.
pub const CHART_DAYS: usize = 30;

/// One day of the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartDay {
    /// The day's 00:00Z.
    pub day: OffsetDateTime,
    /// Calls answered below 400.
    pub ok: i64,
    /// Calls answered 400 or above.
    pub errors: i64,
}

/// A key's activity.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyActivity {
    /// Calls in the current UTC day.
    pub today: i64,
    /// Calls in the current ISO week.
    pub week: i64,
    /// Calls in the current UTC month.
    pub month: i64,
    /// Share of this month's calls answered below 400, when there were any.
    pub success_rate: Option<f64>,
    /// The last [`CHART_DAYS`] days, oldest first, today last (days without calls are zero).
    pub chart: Vec<ChartDay>,
}

/// A key's activity now (the caller has read the key and checked its owner).
pub async fn key_activity(core: &Core, key: &twin_store::KeyRecord) -> Result<KeyActivity, Error> {
    let now = core.clock.now();
    let today = Period::Day.start(now);
    let chart_start = today - Duration::days(CHART_DAYS as i64 - 1);
    let (week, month) = (Period::Week.start(now), Period::Month.start(now));
    let from = chart_start.min(week).min(month);
    let days = core.store.key_days_by_outcome(&key.id, from).await?;
    let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    let sum = |since: OffsetDateTime| -> (i64, i64) {
        days.iter()
            .filter(|d| d.day >= ms(since))
            .fold((0, 0), |(ok, err), d| (ok + d.ok, err + d.errors))
    };
    let (ok_month, err_month) = sum(month);
    let chart = (0..CHART_DAYS as i64)
        .map(|i| {
            let day = chart_start + Duration::days(i);
            let found = days.iter().find(|d| d.day == ms(day));
            ChartDay {
                day,
                ok: found.map_or(0, |d| d.ok),
                errors: found.map_or(0, |d| d.errors),
            }
        })
        .collect();
    Ok(KeyActivity {
        today: {
            let (ok, err) = sum(today);
            ok + err
        },
        week: {
            let (ok, err) = sum(week);
            ok + err
        },
        month: ok_month + err_month,
        success_rate: (ok_month + err_month > 0)
            .then(|| ok_month as f64 / (ok_month + err_month) as f64),
        chart,
    })
}
