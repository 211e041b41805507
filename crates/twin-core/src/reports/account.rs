//! The owner's calls and credits in one month, per key, from the daily roll-ups.

use serde::Serialize;
use time::{Date, Month, OffsetDateTime};
use utoipa::ToSchema;

use super::credits;
use crate::{Core, Error};

/// One key's usage in the month.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyUsage {
    /// Key id.
    pub key_id: String,
    /// Display prefix.
    pub prefix: String,
    /// Key name.
    pub name: String,
    /// Requests logged.
    pub calls: i64,
    /// Credits spent.
    pub cost: String,
}

/// The owner's usage in one month.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountUsage {
    /// `YYYY-MM`.
    pub month: String,
    /// Requests of all keys.
    pub total_calls: i64,
    /// Credits of all keys.
    pub total_cost: String,
    /// Per key (keys with no calls in the month are left out).
    pub keys: Vec<KeyUsage>,
}

fn parse_month(
    value: Option<&str>,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime, String), Error> {
    let bad = || Error::invalid_parameter("month", None, "expected YYYY-MM");
    let start = match value {
        None => twin_meter::month_start(now),
        Some(v) => {
            let (y, m) = v.split_once('-').ok_or_else(bad)?;
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            if y.len() != 4 || m.len() != 2 || !digits(y) || !digits(m) {
                return Err(bad());
            }
            let year: i32 = y.parse().map_err(|_| bad())?;
            let month: u8 = m.parse().map_err(|_| bad())?;
            let month = Month::try_from(month).map_err(|_| bad())?;
            let date = Date::from_calendar_date(year, month, 1).map_err(|_| bad())?;
            date.midnight().assume_utc()
        }
    };
    let end = twin_meter::next_month_start(start);
    let label = format!("{:04}-{:02}", start.year(), u8::from(start.month()));
    Ok((start, end, label))
}

/// `owner_id`'s usage in `month` (`YYYY-MM`, default the current UTC month); shared by the
/// owner API and the dashboard.
pub async fn account_usage(
    core: &Core,
    owner_id: &str,
    month: Option<&str>,
) -> Result<AccountUsage, Error> {
    let (start, end, label) = parse_month(month, core.clock.now())?;
    let totals = core.store.owner_usage_by_key(owner_id, start, end).await?;
    let mut keys = Vec::with_capacity(totals.len());
    let (mut calls, mut cost) = (0i64, 0i64);
    for t in totals {
        calls += t.calls;
        cost += t.cost;
        // Names come with the totals (one query for the whole page, not one per key).
        keys.push(KeyUsage {
            key_id: t.key_id,
            prefix: t.prefix,
            name: t.name,
            calls: t.calls,
            cost: credits(t.cost),
        });
    }
    Ok(AccountUsage {
        month: label,
        total_calls: calls,
        total_cost: credits(cost),
        keys,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn months_parse_strictly() {
        let now = datetime!(2026-11-15 12:00 UTC);
        let (s, e, l) = parse_month(None, now).unwrap();
        assert_eq!(
            (s, e, l.as_str()),
            (
                datetime!(2026-11-01 0:00 UTC),
                datetime!(2026-12-01 0:00 UTC),
                "2026-11"
            )
        );
        let (s, e, _) = parse_month(Some("2024-12"), now).unwrap();
        assert_eq!(
            (s, e),
            (
                datetime!(2024-12-01 0:00 UTC),
                datetime!(2025-01-01 0:00 UTC)
            )
        );
        for bad in ["2024-13", "2024-1", "24-01", "2024/01", "", "2024-00"] {
            assert!(parse_month(Some(bad), now).is_err(), "{bad}");
        }
    }
}
