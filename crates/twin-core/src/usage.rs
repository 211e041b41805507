//! The usage logger: requests are queued in memory and written in batches by one background
//! task, so logging never adds a database round trip to a request.
//!
//! - The queue is bounded (`capacity` entries). When it is full the entry is dropped and
//!   counted (`dropped()`), never blocking the request and never growing memory.
//! - Queuing an entry is a push under a short lock; the writer task is woken only when a
//!   batch is full (`batch_size` entries), otherwise it wakes every `interval` on its own.
//!   Request handlers therefore do not wake another thread per request, which on a busy
//!   server costs more than the push itself.
//! - A batch (raw rows, daily roll-ups, `lastUsedAt`/`usageCount`) is one transaction.
//! - [`UsageLogger::close`] (called on graceful shutdown) flushes everything queued.
//! - A crash loses at most what was queued and not yet written: at most `interval` worth of
//!   requests (and never more than `capacity` entries).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use twin_store::{Store, UsageEntry};

/// Settings of the usage logger.
#[derive(Debug, Clone, Copy)]
pub struct UsageConfig {
    /// Most entries queued in memory.
    pub capacity: usize,
    /// Entries written per batch at most; a full batch wakes the writer at once.
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

/// A handle on the usage logger; cheap to clone. When the last handle is dropped the writer
/// writes what is queued and stops.
#[derive(Clone)]
pub struct UsageLogger {
    shared: Arc<Shared>,
    flush_tx: mpsc::Sender<oneshot::Sender<()>>,
}

struct Shared {
    queue: Mutex<Vec<UsageEntry>>,
    wake: Notify,
    config: UsageConfig,
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
        let config = UsageConfig {
            capacity: config.capacity.max(1),
            batch_size: config.batch_size.max(1),
            interval: config.interval,
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Vec::with_capacity(config.batch_size.min(config.capacity))),
            wake: Notify::new(),
            config,
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        let (flush_tx, flush_rx) = mpsc::channel(64);
        tokio::spawn(run(store, shared.clone(), flush_rx));
        UsageLogger { shared, flush_tx }
    }

    /// A logger without a writer, for processes that serve no request (the CLI): entries
    /// are counted as dropped and `flush` returns at once.
    pub fn disabled() -> UsageLogger {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Vec::new()),
            wake: Notify::new(),
            config: UsageConfig {
                capacity: 0,
                batch_size: 1,
                interval: Duration::from_secs(3600),
            },
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        // The receiver is dropped: a flush request finds the channel closed.
        let (flush_tx, _) = mpsc::channel(1);
        UsageLogger { shared, flush_tx }
    }

    /// Queues one entry; drops (and counts) it when the queue is full.
    pub fn log(&self, entry: UsageEntry) {
        let queued = {
            let mut queue = self.shared.lock();
            if queue.len() >= self.shared.config.capacity {
                None
            } else {
                queue.push(entry);
                Some(queue.len())
            }
        };
        match queued {
            None => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // Wake the writer once per full batch, not once per entry.
            Some(len) if len % self.shared.config.batch_size == 0 => {
                self.shared.wake.notify_one();
            }
            Some(_) => {}
        }
    }

    /// Writes everything queued so far and waits until it is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.flush_tx.send(done).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Flushes on shutdown (an alias of [`UsageLogger::flush`] that says why).
    pub async fn close(&self) {
        self.flush().await;
    }

    /// Entries dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Entries written so far.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// Entries lost to database errors.
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<UsageEntry>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes what is queued, leaving an empty queue with room for a batch.
    fn take(&self) -> Vec<UsageEntry> {
        let fresh = Vec::with_capacity(self.config.batch_size.min(self.config.capacity));
        std::mem::replace(&mut *self.lock(), fresh)
    }
}

async fn run(store: Store, shared: Arc<Shared>, mut flush_rx: mpsc::Receiver<oneshot::Sender<()>>) {
    let mut ticker = tokio::time::interval(shared.config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut done = None;
        let mut last = false;
        tokio::select! {
            () = shared.wake.notified() => {}
            _ = ticker.tick() => {}
            request = flush_rx.recv() => match request {
                // Everything queued before the flush request is taken below.
                Some(reply) => done = Some(reply),
                // Every handle is gone: write what is left and stop.
                None => last = true,
            },
        }
        let pending = shared.take();
        for batch in pending.chunks(shared.config.batch_size) {
            write(&store, batch, &shared).await;
        }
        if let Some(reply) = done {
            let _ = reply.send(());
        }
        if last {
            return;
        }
    }
}

async fn write(store: &Store, batch: &[UsageEntry], stats: &Shared) {
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
}
