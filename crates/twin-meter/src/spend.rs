//! The spend cap (SPEC §6 "Spend cap"): a request whose cost would take the period's spend past
//! the key's cap is refused with 402, so the cap is never overshot.

use serde::Serialize;
use time::OffsetDateTime;

use crate::{Credits, PeriodUsage, iso8601};

/// Header carrying this request's cost.
pub const HEADER_SPEND_COST: &str = "X-Twin-Spend-Cost";
/// Header carrying the spend of the current period, this request included if it was served.
pub const HEADER_SPEND_PERIOD_USED: &str = "X-Twin-Spend-Period-Used";
/// Header carrying the key's cap for the period; absent when the key has no cap.
pub const HEADER_SPEND_PERIOD_LIMIT: &str = "X-Twin-Spend-Period-Limit";
/// Header carrying when the period resets (ISO 8601); absent for the `forever` period.
pub const HEADER_SPEND_PERIOD_RESET: &str = "X-Twin-Spend-Period-Reset";

/// Whether a request of a given cost fits under a spend cap, and the values to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendDecision {
    /// Whether the request may be served (and charged).
    pub allowed: bool,
    /// The request's cost.
    pub cost: Credits,
    /// The period's spend after this decision: including `cost` when allowed, unchanged when
    /// refused.
    pub period_used: Credits,
    /// The cap, if the key has one.
    pub period_limit: Option<Credits>,
}

/// Decides whether a request costing `cost` may be served when `used_in_period` has already
/// been spent in the current period (see [`PeriodUsage::effective_used`]) under `cap`.
///
/// Refused exactly when there is a cap and `used_in_period + cost > cap`: the cap is reached,
/// never overshot. A request that costs nothing always passes, even if the cap was lowered
/// below what is already spent. Without a cap everything passes (the sum saturates at
/// [`Credits::MAX`]).
///
/// ```
/// use twin_meter::{Credits, decide_spend};
/// let cap = Some("2".parse().unwrap());
/// let d = decide_spend(Credits::ONE, "1".parse().unwrap(), cap);
/// assert!(d.allowed);
/// assert_eq!(d.period_used.to_string(), "2.000000");
/// assert!(!decide_spend(Credits::ONE, d.period_used, cap).allowed);
/// assert!(decide_spend(Credits::ZERO, d.period_used, cap).allowed);
/// ```
pub fn decide_spend(cost: Credits, used_in_period: Credits, cap: Option<Credits>) -> SpendDecision {
    let after = used_in_period.checked_add(cost);
    let allowed = cost.is_zero()
        || match cap {
            None => true,
            Some(cap) => after.is_some_and(|after| after <= cap),
        };
    SpendDecision {
        allowed,
        cost,
        period_used: if allowed {
            after.unwrap_or(Credits::MAX)
        } else {
            used_in_period
        },
        period_limit: cap,
    }
}

impl SpendDecision {
    /// The `X-Twin-Spend-*` headers: cost and period-used always, period-limit only with a
    /// cap, period-reset only when the period has an end (`resets_at`, from
    /// [`Period::next_reset`](crate::Period::next_reset)).
    pub fn headers(&self, resets_at: Option<OffsetDateTime>) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            (HEADER_SPEND_COST, self.cost.to_string()),
            (HEADER_SPEND_PERIOD_USED, self.period_used.to_string()),
        ];
        if let Some(limit) = self.period_limit {
            headers.push((HEADER_SPEND_PERIOD_LIMIT, limit.to_string()));
        }
        if let Some(reset) = resets_at {
            headers.push((HEADER_SPEND_PERIOD_RESET, iso8601(reset)));
        }
        headers
    }

    /// The extra fields of the 402 `SPEND_LIMIT_EXCEEDED` error, or `None` if the request was
    /// allowed.
    pub fn exceeded(&self, resets_at: Option<OffsetDateTime>) -> Option<SpendLimitExceeded> {
        match (self.allowed, self.period_limit) {
            (false, Some(limit)) => Some(SpendLimitExceeded {
                period_used: self.period_used,
                period_limit: limit,
                period_reset_at: resets_at.map(iso8601),
            }),
            _ => None,
        }
    }
}

/// Extra fields of the 402 `SPEND_LIMIT_EXCEEDED` error body (serialized in camelCase, amounts
/// as strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendLimitExceeded {
    /// What the period has spent so far.
    pub period_used: Credits,
    /// The key's cap.
    pub period_limit: Credits,
    /// When the period resets (ISO 8601); `null` for the `forever` period.
    pub period_reset_at: Option<String>,
}

impl PeriodUsage {
    /// Rolls the counter over to the period containing `now` if needed, then decides a request
    /// costing `cost` under `cap`. Returns the decision and the counter to store (charged when
    /// allowed).
    ///
    /// ```
    /// use time::macros::datetime;
    /// use twin_meter::{Credits, Period, PeriodUsage};
    /// let day = datetime!(2026-03-10 9:00 UTC);
    /// let usage = PeriodUsage { period: Period::Day, period_start: day, used: "5".parse().unwrap() };
    /// let (d, _) = usage.charge(Credits::ONE, Some("5".parse().unwrap()), day);
    /// assert!(!d.allowed);
    /// // The next day the counter starts from zero again.
    /// let (d, next) = usage.charge(Credits::ONE, Some("5".parse().unwrap()), datetime!(2026-03-11 0:00 UTC));
    /// assert!(d.allowed);
    /// assert_eq!(next.used, Credits::ONE);
    /// ```
    pub fn charge(
        &self,
        cost: Credits,
        cap: Option<Credits>,
        now: OffsetDateTime,
    ) -> (SpendDecision, PeriodUsage) {
        let rolled = self.rolled(now);
        let decision = decide_spend(cost, rolled.used, cap);
        let next = PeriodUsage {
            used: decision.period_used,
            ..rolled
        };
        (decision, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Period;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn c(s: &str) -> Credits {
        s.parse().unwrap()
    }

    #[test]
    fn the_cap_is_reached_but_never_overshot() {
        let cap = Some(c("10"));
        assert!(decide_spend(c("1"), c("9"), cap).allowed);
        assert!(!decide_spend(c("1"), c("9.000001"), cap).allowed);
        assert!(!decide_spend(c("10.000001"), Credits::ZERO, cap).allowed);
        assert!(!decide_spend(Credits::ONE, Credits::MAX, cap).allowed);
        let refused = decide_spend(c("2"), c("9"), cap);
        assert_eq!(refused.period_used, c("9"));
    }

    #[test]
    fn zero_cost_and_no_cap_always_pass() {
        assert!(decide_spend(Credits::ZERO, c("50"), Some(c("10"))).allowed);
        assert!(decide_spend(Credits::ZERO, Credits::ZERO, Some(Credits::ZERO)).allowed);
        assert!(!decide_spend(c("0.000001"), Credits::ZERO, Some(Credits::ZERO)).allowed);
        let d = decide_spend(Credits::MAX, Credits::ONE, None);
        assert!(d.allowed);
        assert_eq!(d.period_used, Credits::MAX);
    }

    #[test]
    fn headers_and_error_fields() {
        let reset = Some(datetime!(2026-12-01 0:00 UTC));
        let ok = decide_spend(c("1"), c("2.5"), None);
        assert_eq!(
            ok.headers(reset),
            vec![
                ("X-Twin-Spend-Cost", "1.000000".to_owned()),
                ("X-Twin-Spend-Period-Used", "3.500000".to_owned()),
                (
                    "X-Twin-Spend-Period-Reset",
                    "2026-12-01T00:00:00Z".to_owned()
                ),
            ]
        );
        assert_eq!(ok.exceeded(reset), None);

        let refused = decide_spend(c("1"), c("3"), Some(c("3")));
        assert_eq!(refused.headers(None).len(), 3);
        assert_eq!(
            refused.headers(None)[2],
            ("X-Twin-Spend-Period-Limit", "3.000000".to_owned())
        );
        assert_eq!(
            serde_json::to_value(refused.exceeded(reset).unwrap()).unwrap(),
            serde_json::json!({
                "periodUsed": "3.000000",
                "periodLimit": "3.000000",
                "periodResetAt": "2026-12-01T00:00:00Z"
            })
        );
        assert_eq!(
            serde_json::to_value(refused.exceeded(None).unwrap()).unwrap()["periodResetAt"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn charging_rolls_weeks_over_on_monday() {
        let sunday = datetime!(2026-01-04 23:59 UTC);
        let usage = PeriodUsage {
            used: c("3"),
            ..PeriodUsage::new(Period::Week, sunday)
        };
        let (d, next) = usage.charge(c("1"), Some(c("3")), sunday);
        assert!(!d.allowed);
        assert_eq!(next, usage);
        let monday = datetime!(2026-01-05 0:00 UTC);
        let (d, next) = usage.charge(c("1"), Some(c("3")), monday);
        assert!(d.allowed);
        assert_eq!(next.period_start, monday);
        assert_eq!(next.used, c("1"));
    }

    proptest! {
        #[test]
        fn sequential_charges_never_exceed_the_cap(
            cap in 0i64..50_000_000,
            costs in prop::collection::vec(0i64..5_000_000, 0..200),
        ) {
            let cap = Credits::from_micros(cap).unwrap();
            let mut used = Credits::ZERO;
            for cost in costs {
                let cost = Credits::from_micros(cost).unwrap();
                let d = decide_spend(cost, used, Some(cap));
                prop_assert_eq!(d.allowed, used.micros() + cost.micros() <= cap.micros());
                used = d.period_used;
                prop_assert!(used <= cap);
            }
        }
    }
}
