//! The usage logger: requests are queued in memory and written in batches by one background
//! task, so logging never adds a database round trip to a request.
//!
//! - The queue is bounded (`capacity` entries). When it is full the entry is dropped and
//!   counted (`dropped()`), never blocking the request and never growing memory.
//! - The task writes a batch when `batch_size` entries are waiting or every `interval`,
//!   whichever comes first; a batch (raw rows, daily roll-ups, `lastUsedAt`/`usageCount`) is
//!   one transaction.
//! - [`UsageLogger::close`] (called on graceful shutdown) flushes everything queued.
//! - A crash loses at most what was queued and not yet written: at most `interval` worth of
//!   requests (and never more than `capacity` entries).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use twin_store::{Store, UsageEntry};

/// Settings of the usage logger.
#[derive(Debug, Clone, Copy)]
pub struct UsageConfig {
    /// Most entries queued in memory.
    pub capacity: usize,
    /// Entries written per batch at most.
    pub batch_size: usize,
    /// Longest time an entry waits before being written.
    pub interval: Duration,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            capacity: 100_000,
            batch_size: 2_000,
            interval: Duration::from_millis(500),
        }
    }
}

enum Message {
    Entry(UsageEntry),
    Flush(oneshot::Sender<()>),
}

/// A handle on the usage logger; cheap to clone.
#[derive(Clone)]
pub struct UsageLogger {
    tx: mpsc::Sender<Message>,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Stats {
    dropped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
}

impl std::fmt::Debug for UsageLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageLogger")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl UsageLogger {
    /// Starts the background writer on the current tokio runtime.
    pub fn start(store: Store, config: UsageConfig) -> UsageLogger {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let stats = Arc::new(Stats::default());
        tokio::spawn(run(store, rx, config, stats.clone()));
        UsageLogger { tx, stats }
    }

    /// Queues one entry; drops (and counts) it when the queue is full.
    pub fn log(&self, entry: UsageEntry) {
        if self.tx.try_send(Message::Entry(entry)).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes everything queued so far and waits until it is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Flushes on shutdown (an alias of [`UsageLogger::flush`] that says why).
    pub async fn close(&self) {
        self.flush().await;
    }

    /// Entries dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    /// Entries written so far.
    pub fn written(&self) -> u64 {
        self.stats.written.load(Ordering::Relaxed)
    }

    /// Entries lost to database errors.
    pub fn failed(&self) -> u64 {
        self.stats.failed.load(Ordering::Relaxed)
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Message>,
    config: UsageConfig,
    stats: Arc<Stats>,
) {
    let mut batch: Vec<UsageEntry> = Vec::with_capacity(config.batch_size);
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(Message::Entry(entry)) => {
                    batch.push(entry);
                    if batch.len() >= config.batch_size {
                        write(&store, &mut batch, &stats).await;
                    }
                }
                Some(Message::Flush(done)) => {
                    // Everything sent before the flush request is already in `batch`.
                    write(&store, &mut batch, &stats).await;
                    let _ = done.send(());
                }
                None => {
                    write(&store, &mut batch, &stats).await;
                    return;
                }
            },
            _ = ticker.tick() => write(&store, &mut batch, &stats).await,
        }
    }
}

async fn write(store: &Store, batch: &mut Vec<UsageEntry>, stats: &Stats) {
    if batch.is_empty() {
        return;
    }
    // One retry covers a passing lock or connection hiccup; after that the batch is counted
    // as lost rather than held, so memory stays bounded.
    let mut result = store.record_usage(batch).await;
    if result.is_err() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        result = store.record_usage(batch).await;
    }
    match result {
        Ok(()) => {
            stats
                .written
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        Err(e) => {
            stats
                .failed
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::error!(error = %e, lost = batch.len(), "could not write usage batch");
        }
    }
    batch.clear();
}
