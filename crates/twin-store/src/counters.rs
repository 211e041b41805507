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
