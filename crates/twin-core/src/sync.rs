//! Following the change feed: every replica drops cached keys, owners and twins that the
//! feed names, and returns the metering allowances of changed keys.
//!
//! On PostgreSQL a `LISTEN twin_changes` connection wakes the follower as soon as a change
//! is committed (revocation reaches every replica in milliseconds); it also polls every
//! `poll` (default 1 s), so a lost notification delays a revocation by at most that. On
//! SQLite it polls, which also covers other processes (the CLI) writing the same file.

use std::sync::Arc;
use std::time::Duration;

use twin_store::Store;

use crate::caches::Caches;
use crate::meter::Meter;

/// How a replica follows the change feed.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// Listen for PostgreSQL notifications (off only to test the polling backstop).
    pub listen: bool,
    /// How often to poll the feed regardless.
    pub poll: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            listen: true,
            poll: Duration::from_secs(1),
        }
    }
}

/// Starts following the feed on the current runtime.
pub fn spawn(store: Store, caches: Caches, meter: Arc<Meter>, options: SyncOptions) {
    let poll = options.poll;
    tokio::spawn(async move {
        let mut wakeups = if options.listen {
            store.listen_changes()
        } else {
            None
        };
        let mut last = loop {
            match store.latest_change().await {
                Ok(seq) => break seq,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the change feed yet");
                    tokio::time::sleep(poll).await;
                }
            }
        };
        let mut ticker = tokio::time::interval(poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purged_at = std::time::Instant::now();
        loop {
            match wakeups.as_mut() {
                Some(rx) => {
                    tokio::select! {
                        woke = rx.recv() => if woke.is_none() { wakeups = None },
                        _ = ticker.tick() => {}
                    }
                }
                None => {
                    ticker.tick().await;
                }
            }
            match store.changes_since(last, 1_000).await {
                Ok(changes) => {
                    if changes.len() == 1_000 {
                        // Too much happened at once to apply one by one: start over clean.
                        caches.invalidate_all();
                    }
                    for change in &changes {
                        if let Some(owner) = &change.owner_id {
                            caches.invalidate_owner(owner);
                        }
                        if let Some(key) = &change.key_id {
                            caches.invalidate_key(key);
                            meter.forget(key).await;
                        }
                        last = last.max(change.seq);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the change feed"),
            }
            // The feed only needs to outlive the slowest poll: prune it now and then.
            if purged_at.elapsed() > Duration::from_secs(600) {
                purged_at = std::time::Instant::now();
                let cutoff = store.now() - time::Duration::hours(1);
                if let Err(e) = store.purge_changes_before(cutoff).await {
                    tracing::warn!(error = %e, "cannot prune the change feed");
                }
            }
        }
    });
}
