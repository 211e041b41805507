//! Leases: a replica reserves a block of quota units, rate slots or credits in the database
//! before spending them from memory. Every reservation is atomic (one conditional `UPDATE`, or
//! a compare-and-set on the rate window), so the sum of all replicas' leases never passes a
//! limit: a crash can only leave reserved-but-unspent units (under-delivery), never more.

use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use time::OffsetDateTime;
use twin_meter::rate::{RateReservation, RateWindow};

use crate::db::{with_conn, with_write_conn};
use crate::model::to_ms;
use crate::schema::key_counters::dsl as c;
use crate::{Store, StoreError, StoreResult};

/// The result of a quota or credit reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Units granted (0 when the limit is reached).
    pub granted: i64,
    /// Units reserved in the period by all replicas after this reservation.
    pub used: i64,
}

impl Store {
    /// Reserves up to `want` units of `key_id`'s monthly quota `limit` for the month starting
    /// at `month_start`. Grants fewer when fewer are left, 0 when none are.
    pub async fn reserve_quota(
        &self,
        key_id: &str,
        month_start: OffsetDateTime,
        limit: i64,
        want: i64,
    ) -> StoreResult<Grant> {
        let period = to_ms(month_start);
        let mut want = want.max(1);
        for _ in 0..4 {
            let base = case_when(c::quota_period.eq(period), c::quota_used).otherwise(0i64);
            let updated: Option<i64> = with_write_conn!(self, |conn| {
                diesel::update(
                    c::key_counters.filter(c::key_id.eq(key_id)).filter(
                        (case_when(c::quota_period.eq(period), c::quota_used).otherwise(0i64)
                            + want)
                            .le(limit),
                    ),
                )
                .set((c::quota_used.eq(base + want), c::quota_period.eq(period)))
                .returning(c::quota_used)
                .get_result(conn)
                .await
                .optional()?
            });
            if let Some(used) = updated {
                return Ok(Grant {
                    granted: want,
                    used,
                });
            }
            let used = self.quota_reserved(key_id, period).await?;
            let left = limit - used;
            if left <= 0 {
                return Ok(Grant { granted: 0, used });
            }
            // Near the limit other replicas compete for the rest: take a share of it, not
            // all of it, so nobody sits on the last units while others are refused.
            want = want.min(twin_meter::lease::share(left, 1));
        }
        // Other replicas kept taking what was left between our attempts: report none.
        let used = self.quota_reserved(key_id, period).await?;
        Ok(Grant { granted: 0, used })
    }

    async fn quota_reserved(&self, key_id: &str, period: i64) -> StoreResult<i64> {
        let row: Option<(i64, i64)> = with_conn!(self, |conn| {
            c::key_counters
                .find(key_id)
                .select((c::quota_period, c::quota_used))
                .first(conn)
                .await
                .optional()?
        });
        match row {
            Some((p, used)) if p == period => Ok(used),
            Some(_) => Ok(0),
            None => Err(StoreError::NotFound),
        }
    }

    /// Gives back `units` unspent quota units of the month starting at `month_start`.
    pub async fn release_quota(
        &self,
        key_id: &str,
        month_start: OffsetDateTime,
        units: i64,
    ) -> StoreResult<()> {
        if units <= 0 {
            return Ok(());
        }
        let period = to_ms(month_start);
        with_write_conn!(self, |conn| {
            diesel::update(
                c::key_counters
                    .filter(c::key_id.eq(key_id))
                    .filter(c::quota_period.eq(period))
                    .filter(c::quota_used.ge(units)),
            )
            .set(c::quota_used.eq(c::quota_used - units))
            .execute(conn)
            .await?
        });
        Ok(())
    }

    /// Reserves up to `want` micro-credits of the spend period starting at `period_start`,
    /// within `cap` (no cap: always granted). `min` is the least useful grant (one request's
    /// cost): when less than `min` is left, nothing is granted.
    pub async fn reserve_spend(
        &self,
        key_id: &str,
        period_start: OffsetDateTime,
        cap: Option<i64>,
        want: i64,
        min: i64,
    ) -> StoreResult<Grant> {
        let period = to_ms(period_start);
        let cap = cap.unwrap_or(i64::MAX / 4);
        let mut want = want.max(min);
        for _ in 0..4 {
            let base =
                case_when(c::spend_period_start.eq(period), c::spend_period_used).otherwise(0i64);
            let updated: Option<i64> = with_write_conn!(self, |conn| {
                diesel::update(
                    c::key_counters.filter(c::key_id.eq(key_id)).filter(
                        (case_when(c::spend_period_start.eq(period), c::spend_period_used)
                            .otherwise(0i64)
                            + want)
                            .le(cap),
                    ),
                )
                .set((
                    c::spend_period_used.eq(base + want),
                    c::spend_period_start.eq(period),
                ))
                .returning(c::spend_period_used)
                .get_result(conn)
                .await
                .optional()?
            });
            if let Some(used) = updated {
                return Ok(Grant {
                    granted: want,
                    used,
                });
            }
            let used = self.spend_reserved(key_id, period).await?;
            let left = cap - used;
            if left < min || left <= 0 {
                return Ok(Grant { granted: 0, used });
            }
            // Near the limit other replicas compete for the rest: take a share of it, not
            // all of it, so nobody sits on the last units while others are refused.
            want = want.min(twin_meter::lease::share(left, min));
        }
        let used = self.spend_reserved(key_id, period).await?;
        Ok(Grant { granted: 0, used })
    }

    async fn spend_reserved(&self, key_id: &str, period: i64) -> StoreResult<i64> {
        let row: Option<(i64, i64)> = with_conn!(self, |conn| {
            c::key_counters
                .find(key_id)
                .select((c::spend_period_start, c::spend_period_used))
                .first(conn)
                .await
                .optional()?
        });
        match row {
            Some((p, used)) if p == period => Ok(used),
            Some(_) => Ok(0),
            None => Err(StoreError::NotFound),
        }
    }

    /// Gives back unspent micro-credits of the period starting at `period_start`.
    pub async fn release_spend(
        &self,
        key_id: &str,
        period_start: OffsetDateTime,
        micros: i64,
    ) -> StoreResult<()> {
        if micros <= 0 {
            return Ok(());
        }
        let period = to_ms(period_start);
        with_write_conn!(self, |conn| {
            diesel::update(
                c::key_counters
                    .filter(c::key_id.eq(key_id))
                    .filter(c::spend_period_start.eq(period))
                    .filter(c::spend_period_used.ge(micros)),
            )
            .set(c::spend_period_used.eq(c::spend_period_used - micros))
            .execute(conn)
            .await?
        });
        Ok(())
    }

    /// Reserves up to `want` slots of `key_id`'s per-minute window of `limit` at `now`
    /// (compare-and-set on the stored window, retried on contention). The slots must be used
    /// before the reservation's `valid_until_unix_ms`.
    ///
    /// `known` is the window as the caller last saw it (its previous reservation's `state`):
    /// when nobody else changed it since, which is the rule on a single replica, the
    /// reservation is one conditional `UPDATE` instead of a read and an update.
    pub async fn reserve_rate(
        &self,
        key_id: &str,
        limit: u32,
        now: OffsetDateTime,
        want: u32,
        known: Option<RateWindow>,
    ) -> StoreResult<RateReservation> {
        let now_ms = to_ms(now);
        let mut hint = known;
        for _ in 0..16 {
            let (state, hinted) = match hint.take() {
                Some(state) => (state, true),
                None => (self.rate_window(key_id).await?, false),
            };
            let reservation = twin_meter::reserve_at_ms(state, limit, now_ms, want);
            if reservation.granted == 0 || reservation.state == state {
                if hinted {
                    // Decided on the caller's copy alone: decide on the stored window.
                    continue;
                }
                return Ok(reservation);
            }
            let next = reservation.state;
            let swapped = with_write_conn!(self, |conn| {
                diesel::update(
                    c::key_counters
                        .filter(c::key_id.eq(key_id))
                        .filter(c::rate_minute.eq(state.minute))
                        .filter(c::rate_current.eq(i64::from(state.current)))
                        .filter(c::rate_previous.eq(i64::from(state.previous))),
                )
                .set((
                    c::rate_minute.eq(next.minute),
                    c::rate_current.eq(i64::from(next.current)),
                    c::rate_previous.eq(i64::from(next.previous)),
                ))
                .execute(conn)
                .await?
            });
            if swapped == 1 {
                return Ok(reservation);
            }
        }
        Err(StoreError::Unavailable("rate window too contended".into()))
    }

    /// The stored per-minute window of a key (for headers and denials).
    pub async fn rate_window(&self, key_id: &str) -> StoreResult<RateWindow> {
        let (minute, current, previous): (i64, i64, i64) = with_conn!(self, |conn| {
            c::key_counters
                .find(key_id)
                .select((c::rate_minute, c::rate_current, c::rate_previous))
                .first(conn)
                .await?
        });
        Ok(RateWindow {
            minute,
            current: u32::try_from(current).unwrap_or(u32::MAX),
            previous: u32::try_from(previous).unwrap_or(u32::MAX),
        })
    }
}
