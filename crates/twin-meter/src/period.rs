//! Calendar periods in UTC: the monthly quota's month and the spend cap's period.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::Credits;

/// The period a spend cap applies to. All periods are UTC calendar periods.
///
/// Serialized in lowercase (`"day"`, `"week"`, `"month"`, `"forever"`); the default is
/// [`Period::Month`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A UTC calendar day, from 00:00:00Z.
    Day,
    /// An ISO week, from Monday 00:00:00Z.
    Week,
    /// A UTC calendar month, from the 1st at 00:00:00Z.
    #[default]
    Month,
    /// A single period that never resets (it starts at the Unix epoch).
    Forever,
}

/// A string that names no [`Period`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown period `{value}`; allowed values: {}", Period::ALLOWED)]
pub struct ParsePeriodError {
    /// The rejected input.
    pub value: String,
}

impl Period {
    /// Every period, in the order of [`Period::ALLOWED`].
    pub const ALL: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::Forever];

    /// The accepted spellings, for error messages (`allowed` of `INVALID_PARAMETER`).
    pub const ALLOWED: &'static str = "day, week, month, forever";

    /// The lowercase name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Forever => "forever",
        }
    }

    /// The start of the period containing `now` (which may be in any offset; the result is UTC).
    ///
    /// ```
    /// use time::macros::datetime;
    /// use twin_meter::Period;
    /// let now = datetime!(2027-01-01 10:00 UTC); // a Friday in ISO week 2026-W53
    /// assert_eq!(Period::Day.start(now), datetime!(2027-01-01 0:00 UTC));
    /// assert_eq!(Period::Week.start(now), datetime!(2026-12-28 0:00 UTC));
    /// assert_eq!(Period::Month.start(now), datetime!(2027-01-01 0:00 UTC));
    /// assert_eq!(Period::Forever.start(now), time::OffsetDateTime::UNIX_EPOCH);
    /// ```
    pub fn start(self, now: OffsetDateTime) -> OffsetDateTime {
        let today = now.to_offset(UtcOffset::UTC).date();
        match self {
            Period::Day => midnight(today),
            Period::Week => {
                let back = i64::from(today.weekday().number_days_from_monday());
                // Only the first days of year -9999 have no Monday before them; saturate there
                // rather than panic.
                midnight(today.checked_sub(Duration::days(back)).unwrap_or(Date::MIN))
            }
            Period::Month => month_start(now),
            Period::Forever => OffsetDateTime::UNIX_EPOCH,
        }
    }

    /// When the period containing `now` ends and the next one starts; `None` for
    /// [`Period::Forever`].
    ///
    /// At the very end of the representable range (year 9999) the result saturates, see
    /// [`next_month_start`].
    pub fn next_reset(self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let start = self.start(now);
        match self {
            Period::Day => Some(add_saturating(start, Duration::DAY)),
            Period::Week => Some(add_saturating(start, Duration::WEEK)),
            Period::Month => Some(next_month_start(now)),
            Period::Forever => None,
        }
    }

    /// A compact integer naming the period containing `now`: its start as Unix seconds
    /// (`0` for [`Period::Forever`]). Two instants are in the same period exactly when their
    /// keys are equal, which makes it a convenient column to store next to a counter.
    pub fn key(self, now: OffsetDateTime) -> i64 {
        self.start(now).unix_timestamp()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Period {
    type Err = ParsePeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Period::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| ParsePeriodError {
                value: s.to_owned(),
            })
    }
}

/// The first instant of the UTC calendar month containing `now` (the 1st, 00:00:00Z).
pub fn month_start(now: OffsetDateTime) -> OffsetDateTime {
    let today = now.to_offset(UtcOffset::UTC).date();
    midnight(today.replace_day(1).expect("day 1 exists in every month"))
}

/// The first instant of the UTC calendar month after the one containing `now`: the monthly
/// quota's reset (`X-Twin-Quota-Reset`, `resetsAt`).
///
/// For December 9999, whose next month [`OffsetDateTime`] cannot represent, this saturates to
/// the last representable instant instead of panicking.
///
/// ```
/// use time::macros::datetime;
/// assert_eq!(
///     twin_meter::next_month_start(datetime!(2026-12-31 23:59:59 UTC)),
///     datetime!(2027-01-01 0:00 UTC)
/// );
/// ```
pub fn next_month_start(now: OffsetDateTime) -> OffsetDateTime {
    let today = now.to_offset(UtcOffset::UTC).date();
    let (year, month) = match today.month() {
        Month::December => (today.year() + 1, Month::January),
        m => (today.year(), m.next()),
    };
    match Date::from_calendar_date(year, month, 1) {
        Ok(d) => midnight(d),
        Err(_) => PrimitiveDateTime::MAX.assume_utc(),
    }
}

/// What a key has spent in its spend period, as stored: the period kind, the start of the
/// period the counter belongs to, and the amount.
///
/// The stored counter is not reset by a background job at the period boundary; instead every
/// reader asks for [`PeriodUsage::effective_used`], which is zero once the stored period is
/// over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodUsage {
    /// The kind of period the counter is kept for.
    pub period: Period,
    /// The start of the period the counter belongs to.
    pub period_start: OffsetDateTime,
    /// The amount spent in that period.
    pub used: Credits,
}

impl PeriodUsage {
    /// A fresh counter for the period containing `now`.
    pub fn new(period: Period, now: OffsetDateTime) -> Self {
        Self {
            period,
            period_start: period.start(now),
            used: Credits::ZERO,
        }
    }

    /// What counts as spent at `now`: the stored amount if it belongs to the current period,
    /// zero if the stored period started before the current one.
    ///
    /// A stored start *later* than the current period's start (another replica's clock is
    /// ahead and already rolled over) keeps the stored amount: counting it is the side that
    /// cannot overshoot a cap.
    pub fn effective_used(&self, now: OffsetDateTime) -> Credits {
        if self.period_start < self.period.start(now) {
            Credits::ZERO
        } else {
            self.used
        }
    }

    /// The counter as it should be at `now`: moved to the current period (and zeroed) if the
    /// stored one is over, unchanged otherwise.
    pub fn rolled(&self, now: OffsetDateTime) -> Self {
        let current = self.period.start(now);
        if self.period_start < current {
            Self {
                period: self.period,
                period_start: current,
                used: Credits::ZERO,
            }
        } else {
            *self
        }
    }

    /// When the current period ends (`X-Twin-Spend-Period-Reset`, `periodResetAt`); `None` for
    /// [`Period::Forever`].
    pub fn resets_at(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.period.next_reset(now)
    }
}

fn midnight(d: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_utc()
}

fn add_saturating(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.checked_add(d)
        .unwrap_or_else(|| PrimitiveDateTime::MAX.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::Weekday;
    use time::macros::datetime;

    #[test]
    fn parses_and_prints_lowercase_names() {
        for p in Period::ALL {
            assert_eq!(p.as_str().parse::<Period>().unwrap(), p);
            assert_eq!(p.to_string(), p.as_str());
        }
        let err = "Monthly".parse::<Period>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown period `Monthly`; allowed values: day, week, month, forever"
        );
        assert!("Month".parse::<Period>().is_err());
        assert!("".parse::<Period>().is_err());
        assert_eq!(Period::default(), Period::Month);
    }

    #[test]
    fn month_boundaries_including_leap_years_and_year_end() {
        let cases = [
            (
                datetime!(2024-02-29 23:59:59.999 UTC),
                datetime!(2024-02-01 0:00 UTC),
                datetime!(2024-03-01 0:00 UTC),
            ),
            (
                datetime!(2100-02-28 12:00 UTC), // 2100 is not a leap year
                datetime!(2100-02-01 0:00 UTC),
                datetime!(2100-03-01 0:00 UTC),
            ),
            (
                datetime!(2026-12-31 23:59:59 UTC),
                datetime!(2026-12-01 0:00 UTC),
                datetime!(2027-01-01 0:00 UTC),
            ),
            (
                datetime!(2027-01-01 0:00 UTC),
                datetime!(2027-01-01 0:00 UTC),
                datetime!(2027-02-01 0:00 UTC),
            ),
            // 00:30 on the 1st at +01:00 is still the previous month in UTC.
            (
                datetime!(2026-03-01 0:30 +01:00),
                datetime!(2026-02-01 0:00 UTC),
                datetime!(2026-03-01 0:00 UTC),
            ),
        ];
        for (now, start, next) in cases {
            assert_eq!(month_start(now), start, "month_start({now})");
            assert_eq!(next_month_start(now), next, "next_month_start({now})");
            assert_eq!(Period::Month.start(now), start);
            assert_eq!(Period::Month.next_reset(now), Some(next));
        }
    }

    #[test]
    fn iso_weeks_start_on_monday_even_across_years() {
        // 2021-01-03 is a Sunday in ISO week 2020-W53, which began on Monday 2020-12-28.
        let now = datetime!(2021-01-03 23:59:59 UTC);
        assert_eq!(Period::Week.start(now), datetime!(2020-12-28 0:00 UTC));
        assert_eq!(
            Period::Week.next_reset(now),
            Some(datetime!(2021-01-04 0:00 UTC))
        );
        let monday = datetime!(2024-12-30 0:00 UTC);
        assert_eq!(Period::Week.start(monday), monday);
        assert_eq!(
            Period::Day.next_reset(monday),
            Some(datetime!(2024-12-31 0:00 UTC))
        );
        assert_eq!(Period::Forever.next_reset(monday), None);
        assert_eq!(Period::Forever.key(monday), 0);
    }

    #[test]
    fn the_last_representable_month_saturates_instead_of_panicking() {
        let now = datetime!(9999-12-15 0:00 UTC);
        assert_eq!(next_month_start(now), PrimitiveDateTime::MAX.assume_utc());
        assert!(
            Period::Day
                .next_reset(datetime!(9999-12-31 1:00 UTC))
                .is_some()
        );
    }

    #[test]
    fn serde_uses_the_lowercase_names() {
        for p in Period::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<Period>(&json).unwrap(), p);
        }
        assert!(serde_json::from_str::<Period>("\"Month\"").is_err());
    }

    #[test]
    fn usage_rolls_over_at_the_period_boundary_only() {
        let mut u = PeriodUsage::new(Period::Day, datetime!(2026-06-30 10:00 UTC));
        u.used = Credits::from_micros(5_000_000).unwrap();
        assert_eq!(u.effective_used(datetime!(2026-06-30 23:59:59 UTC)), u.used);
        assert_eq!(
            u.effective_used(datetime!(2026-07-01 0:00 UTC)),
            Credits::ZERO
        );
        let rolled = u.rolled(datetime!(2026-07-01 0:00 UTC));
        assert_eq!(rolled.period_start, datetime!(2026-07-01 0:00 UTC));
        assert_eq!(rolled.used, Credits::ZERO);
        // A replica whose clock is behind keeps counting what a faster one already stored.
        assert_eq!(
            rolled.effective_used(datetime!(2026-06-30 23:59 UTC)),
            Credits::ZERO
        );
        let mut ahead = rolled;
        ahead.used = Credits::ONE;
        assert_eq!(
            ahead.effective_used(datetime!(2026-06-30 23:59 UTC)),
            Credits::ONE
        );
        assert_eq!(ahead.rolled(datetime!(2026-06-30 23:59 UTC)), ahead);
        let forever = PeriodUsage {
            period: Period::Forever,
            period_start: OffsetDateTime::UNIX_EPOCH,
            used: Credits::ONE,
        };
        assert_eq!(
            forever.effective_used(datetime!(2100-01-01 0:00 UTC)),
            Credits::ONE
        );
        assert_eq!(forever.resets_at(datetime!(2100-01-01 0:00 UTC)), None);
    }

    fn instant() -> impl Strategy<Value = OffsetDateTime> {
        // 1970-01-01 .. 9999-11-30, plus a bias towards the edges of days/months/years.
        let any =
            (0i64..253_399_622_400).prop_map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap());
        let edge =
            (1970i32..9999, 1u8..=12, prop::bool::ANY, 0i64..3).prop_map(|(y, m, before, d)| {
                let first = Date::from_calendar_date(y, Month::try_from(m).unwrap(), 1).unwrap();
                let t = midnight(first);
                if before {
                    t - Duration::seconds(d)
                } else {
                    t + Duration::seconds(d)
                }
            });
        prop_oneof![any, edge]
    }

    proptest! {
        #[test]
        fn start_le_now_lt_next_reset_and_periods_tile(now in instant(), p in prop::sample::select(Period::ALL.to_vec())) {
            let start = p.start(now);
            prop_assert!(start <= now);
            prop_assert_eq!(start.offset(), UtcOffset::UTC);
            prop_assert_eq!(start.time(), Time::MIDNIGHT);
            prop_assert_eq!(p.start(start), start);
            prop_assert_eq!(p.key(now), start.unix_timestamp());
            match p.next_reset(now) {
                None => prop_assert_eq!(p, Period::Forever),
                Some(next) => {
                    prop_assert!(now < next);
                    prop_assert_eq!(p.start(next), next);
                    // The instant just before the reset is still in the same period.
                    prop_assert_eq!(p.start(next - Duration::NANOSECOND), start);
                    prop_assert_eq!(p.next_reset(start), Some(next));
                }
            }
            match p {
                Period::Day => prop_assert_eq!(start.date(), now.date()),
                Period::Week => {
                    prop_assert_eq!(start.weekday(), Weekday::Monday);
                    prop_assert_eq!(start.date().iso_week(), now.date().iso_week());
                    prop_assert!(now - start < Duration::WEEK);
                }
                Period::Month => {
                    prop_assert_eq!(start.day(), 1);
                    prop_assert_eq!((start.year(), start.month()), (now.year(), now.month()));
                    let next = next_month_start(now);
                    prop_assert_eq!(next.day(), 1);
                    let days = (next - start).whole_days();
                    prop_assert!((28..=31).contains(&days));
                    prop_assert_eq!(days, i64::from(now.month().length(now.year())));
                }
                Period::Forever => prop_assert_eq!(start, OffsetDateTime::UNIX_EPOCH),
            }
        }

        #[test]
        fn start_is_the_same_in_any_offset(secs in 0i64..253_399_622_400, offset_h in -12i8..=14) {
            let utc = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let local = utc.to_offset(UtcOffset::from_hms(offset_h, 0, 0).unwrap());
            for p in Period::ALL {
                prop_assert_eq!(p.start(utc), p.start(local));
                prop_assert_eq!(p.next_reset(utc), p.next_reset(local));
            }
        }
    }
}
