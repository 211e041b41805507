//! The monthly request quota (SPEC §6 "Monthly quota").
//!
//! The quota itself is enforced exactly by the storage layer (one conditional increment); this
//! module holds the arithmetic around it: whether one more request fits, and the values of the
//! `X-Twin-Quota-*` headers and of the `MONTHLY_QUOTA_EXCEEDED` error.

use serde::Serialize;
use time::OffsetDateTime;

use crate::{iso8601, next_month_start};

/// Default monthly quota of a key.
pub const DEFAULT_MONTHLY_QUOTA: u64 = 10_000;
/// Largest monthly quota a key can have (plans may allow less).
pub const MAX_MONTHLY_QUOTA: u64 = 1_000_000;

/// Header carrying the key's monthly limit.
pub const HEADER_QUOTA_LIMIT: &str = "X-Twin-Quota-Limit";
/// Header carrying the requests counted this month, this one included.
pub const HEADER_QUOTA_USED: &str = "X-Twin-Quota-Used";
/// Header carrying the requests left this month.
pub const HEADER_QUOTA_REMAINING: &str = "X-Twin-Quota-Remaining";
/// Header carrying when the quota resets (ISO 8601, the 1st of next month 00:00:00Z).
pub const HEADER_QUOTA_RESET: &str = "X-Twin-Quota-Reset";

/// A key's monthly quota at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSnapshot {
    /// Requests allowed per calendar month.
    pub limit: u64,
    /// Requests counted this month (may exceed `limit` if the limit was lowered mid-month).
    pub used: u64,
    /// When the counter resets: the 1st of next month, 00:00:00Z.
    pub resets_at: OffsetDateTime,
}

impl QuotaSnapshot {
    /// The quota of a key with `limit` that has counted `used` requests in the month containing
    /// `now`.
    ///
    /// ```
    /// use time::macros::datetime;
    /// use twin_meter::QuotaSnapshot;
    /// let q = QuotaSnapshot::for_month(100, 99, datetime!(2026-11-15 8:00 UTC));
    /// let q = q.admit().expect("one request left");
    /// assert_eq!(q.remaining(), 0);
    /// assert!(q.admit().is_none());
    /// assert_eq!(q.headers()[3], ("X-Twin-Quota-Reset", "2026-12-01T00:00:00Z".to_owned()));
    /// ```
    pub fn for_month(limit: u64, used: u64, now: OffsetDateTime) -> Self {
        Self {
            limit,
            used,
            resets_at: next_month_start(now),
        }
    }

    /// Requests left this month (zero, never negative, when `used >= limit`).
    pub const fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// Whether the quota is used up: the next request would be refused.
    pub const fn is_exhausted(&self) -> bool {
        self.used >= self.limit
    }

    /// The snapshot after counting one more request, or `None` if the quota is used up (the
    /// request gets 429 `MONTHLY_QUOTA_EXCEEDED`).
    pub fn admit(self) -> Option<Self> {
        if self.is_exhausted() {
            None
        } else {
            Some(Self {
                used: self.used + 1,
                ..self
            })
        }
    }

    /// The four `X-Twin-Quota-*` headers, in the order limit, used, remaining, reset.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_QUOTA_LIMIT, self.limit.to_string()),
            (HEADER_QUOTA_USED, self.used.to_string()),
            (HEADER_QUOTA_REMAINING, self.remaining().to_string()),
            (HEADER_QUOTA_RESET, iso8601(self.resets_at)),
        ]
    }

    /// The extra fields of the 429 `MONTHLY_QUOTA_EXCEEDED` error.
    pub fn exceeded(&self) -> QuotaExceeded {
        QuotaExceeded {
            resets_at: iso8601(self.resets_at),
        }
    }
}

/// Extra fields of the 429 `MONTHLY_QUOTA_EXCEEDED` error body (serialized in camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaExceeded {
    /// When the quota resets, e.g. `2026-12-01T00:00:00Z`.
    pub resets_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn exactly_limit_requests_are_admitted_in_a_month() {
        let mut q = QuotaSnapshot::for_month(3, 0, datetime!(2026-02-28 23:59:59 UTC));
        let mut admitted = 0;
        while let Some(next) = q.admit() {
            q = next;
            admitted += 1;
        }
        assert_eq!(admitted, 3);
        assert_eq!(
            q.headers(),
            [
                ("X-Twin-Quota-Limit", "3".to_owned()),
                ("X-Twin-Quota-Used", "3".to_owned()),
                ("X-Twin-Quota-Remaining", "0".to_owned()),
                ("X-Twin-Quota-Reset", "2026-03-01T00:00:00Z".to_owned()),
            ]
        );
        assert_eq!(
            serde_json::to_value(q.exceeded()).unwrap(),
            serde_json::json!({ "resetsAt": "2026-03-01T00:00:00Z" })
        );
    }

    #[test]
    fn a_lowered_limit_leaves_remaining_at_zero() {
        let q = QuotaSnapshot::for_month(5, 9, datetime!(2026-12-31 23:59:59 UTC));
        assert_eq!(q.remaining(), 0);
        assert!(q.admit().is_none());
        assert_eq!(q.resets_at, datetime!(2027-01-01 0:00 UTC));
    }

    proptest! {
        #[test]
        fn used_plus_remaining_is_the_limit_while_not_exhausted(limit in 0u64..2_000_000, used in 0u64..2_000_000) {
            let q = QuotaSnapshot::for_month(limit, used, OffsetDateTime::UNIX_EPOCH);
            if used <= limit {
                prop_assert_eq!(q.used + q.remaining(), limit);
            } else {
                prop_assert_eq!(q.remaining(), 0);
            }
            prop_assert_eq!(q.admit().is_some(), used < limit);
        }
    }
}
