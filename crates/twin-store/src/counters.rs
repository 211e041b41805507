//! Counter maintenance outside the lease path (see `leases.rs` for reservations).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::with_conn;
use crate::schema::key_counters;
use crate::{Store, StoreResult};

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
