//! Atomic counters. Each function is one statement, so concurrent requests on any number of
//! replicas sharing the database can never push a counter past its limit.

use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use time::OffsetDateTime;

use crate::db::with_conn;
use crate::model::to_ms;
use crate::schema::key_counters;
use crate::{Store, StoreError, StoreResult};

/// The outcome of trying to count one request against a monthly quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaConsumption {
    /// Counted; `used` includes this request.
    Allowed {
        /// Requests used in the month, this one included.
        used: i64,
    },
    /// The quota is spent; nothing was counted.
    Exhausted {
        /// Requests used in the month.
        used: i64,
    },
}

impl Store {
    /// Counts one request against `key_id`'s quota of `limit` for the month starting at
    /// `month_start`, unless that would exceed the limit. A count left from an earlier month
    /// starts over at this month's first request.
    pub async fn consume_quota(
        &self,
        key_id: &str,
        month_start: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<QuotaConsumption> {
        use key_counters::dsl as c;
        let period = to_ms(month_start);
        let used: Option<i64> =
            with_conn!(self, |conn| {
                diesel::update(
                    c::key_counters
                        .filter(c::key_id.eq(key_id))
                        .filter(c::quota_period.ne(period).or(c::quota_used.lt(limit))),
                )
                .set((
                    c::quota_used
                        .eq(case_when(c::quota_period.eq(period), c::quota_used + 1i64)
                            .otherwise(1i64)),
                    c::quota_period.eq(period),
                ))
                .returning(c::quota_used)
                .get_result(conn)
                .await
                .optional()?
            });
        match used {
            Some(used) => Ok(QuotaConsumption::Allowed { used }),
            None => {
                let row: Option<(i64, i64)> = with_conn!(self, |conn| {
                    c::key_counters
                        .find(key_id)
                        .select((c::quota_period, c::quota_used))
                        .first(conn)
                        .await
                        .optional()?
                });
                match row {
                    Some((p, used)) if p == period => Ok(QuotaConsumption::Exhausted { used }),
                    Some(_) => Ok(QuotaConsumption::Exhausted { used: 0 }),
                    None => Err(StoreError::NotFound),
                }
            }
        }
    }

    /// Gives back one request counted in the month starting at `month_start` (a 425 or 5xx
    /// answer does not count). Never goes below zero.
    pub async fn refund_quota(&self, key_id: &str, month_start: OffsetDateTime) -> StoreResult<()> {
        use key_counters::dsl as c;
        let period = to_ms(month_start);
        with_conn!(self, |conn| {
            diesel::update(
                c::key_counters
                    .filter(c::key_id.eq(key_id))
                    .filter(c::quota_period.eq(period))
                    .filter(c::quota_used.gt(0i64)),
            )
            .set(c::quota_used.eq(c::quota_used - 1i64))
            .execute(conn)
            .await?
        });
        Ok(())
    }
}

impl Store {
    /// Copies `from`'s counters onto `to` (rotation: the new key continues the old one's
    /// month and spend period, so rotating cannot reset a quota).
    pub async fn copy_counters(&self, from: &str, to: &str) -> StoreResult<()> {
        use key_counters::dsl as c;
        let row: (i64, i64, i64, i64, i64, i64, i64) = with_conn!(self, |conn| {
            c::key_counters
                .find(from)
                .select((
                    c::quota_period,
                    c::quota_used,
                    c::rate_minute,
                    c::rate_current,
                    c::rate_previous,
                    c::spend_period_start,
                    c::spend_period_used,
                ))
                .first(conn)
                .await?
        });
        with_conn!(self, |conn| {
            diesel::update(c::key_counters.find(to))
                .set((
                    c::quota_period.eq(row.0),
                    c::quota_used.eq(row.1),
                    c::rate_minute.eq(row.2),
                    c::rate_current.eq(row.3),
                    c::rate_previous.eq(row.4),
                    c::spend_period_start.eq(row.5),
                    c::spend_period_used.eq(row.6),
                ))
                .execute(conn)
                .await?
        });
        Ok(())
    }
}
