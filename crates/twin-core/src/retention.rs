//! Retention of the raw usage log (SPEC §6): a background job deletes raw rows older than the
//! retention period (`TWIN_USAGE_RETENTION_DAYS`, default 90) once at start and then every
//! hour. The daily roll-ups are kept forever, so `GET /v1/keys/{id}/usage` and
//! `GET /v1/account/usage` still see expired days; only `GET /v1/keys/{id}/recent` loses them.
//!
//! Rows are deleted in batches of [`PURGE_BATCH`] so that no single statement holds the table
//! (on SQLite, the one writer lock the usage flusher also needs) for long, however many rows
//! have expired. Every replica may run the job: deleting rows another replica already deleted
//! is harmless.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::task::JoinHandle;
use twin_meter::Clock;
use twin_store::{Store, StoreResult};

/// The default retention of raw usage rows, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// How often the job runs (it also runs once at start).
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Rows deleted per statement.
pub const PURGE_BATCH: i64 = 5_000;

/// The instant before which raw rows are expired: `now` minus `days` days.
pub fn cutoff(now: OffsetDateTime, days: u32) -> OffsetDateTime {
    now.checked_sub(time::Duration::days(i64::from(days)))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Deletes every raw usage row older than `days` days before `now`, batch by batch, then the
/// finished webhook deliveries and events as old, and OAuth codes and tokens that expired
/// over a day ago; returns how many rows. The roll-ups and
/// alert marks are not touched.
pub async fn purge_expired(store: &Store, days: u32, now: OffsetDateTime) -> StoreResult<usize> {
    let before = cutoff(now, days);
    let mut total = 0usize;
    loop {
        let deleted = store.purge_usage_batch(before, PURGE_BATCH).await?;
        total += deleted;
        if i64::try_from(deleted).unwrap_or(i64::MAX) < PURGE_BATCH {
            // Finished webhook deliveries and their events follow the same retention.
            total += store.purge_webhooks_before(before).await?;
            // OAuth codes and tokens are dead once expired; they go a day after.
            total += store.purge_oauth_before(now - time::Duration::DAY).await?;
            return Ok(total);
        }
        // Let the usage flusher (and requests) at the database between batches.
        tokio::task::yield_now().await;
    }
}

/// Starts the retention job on the current tokio runtime: [`purge_expired`] at once, then
/// every [`PURGE_INTERVAL`], with "now" read from `clock`. `days == 0` keeps raw rows forever
/// (the job is not started and the returned task ends at once). A failed run is logged and
/// retried at the next tick. Abort the returned handle to stop the job (nothing is lost: a
/// purge cut short resumes at the next run).
pub fn spawn(store: Store, days: u32, clock: Arc<dyn Clock>) -> JoinHandle<()> {
    tokio::spawn(async move {
        if days == 0 {
            tracing::info!("usage retention disabled: raw usage rows are kept forever");
            return;
        }
        let mut ticker = tokio::time::interval(PURGE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // The first tick completes at once: the job runs at start.
            ticker.tick().await;
            let now = clock.now();
            match purge_expired(&store, days, now).await {
                Ok(0) => tracing::debug!(days, "usage retention: nothing expired"),
                Ok(deleted) => tracing::info!(days, deleted, "usage retention: raw rows deleted"),
                Err(e) => tracing::warn!(error = %e, "usage retention failed; retrying next hour"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn cutoff_is_whole_days_before_now() {
        let now = datetime!(2026-11-15 12:00 UTC);
        assert_eq!(cutoff(now, 90), datetime!(2026-08-17 12:00 UTC));
        assert_eq!(cutoff(now, 1), datetime!(2026-11-14 12:00 UTC));
        assert_eq!(cutoff(now, u32::MAX), OffsetDateTime::UNIX_EPOCH);
    }
}
