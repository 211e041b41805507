//! Caches of what authentication and snapshot selection read, so a steady-state request
//! touches no database: verified keys with their owner and plan, and each owner's current
//! twin (selection and parsed document).
//!
//! Entries are dropped when the change feed names them (see `sync.rs`) and, as a last
//! resort, after a time-to-live. A load that raced with an invalidation is not cached: each
//! cache keeps an invalidation counter, and a loader inserts only if the counter did not move
//! while it read the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use twin_keys::KeyHash;
use twin_meter::plans::Plan;
use twin_render::TwinDocument;
use twin_store::{KeyRecord, Owner, Snapshot};

/// A key as authentication needs it.
#[derive(Debug)]
pub struct CachedKey {
    /// The key's record (counters may be stale; metering keeps its own).
    pub key: Arc<KeyRecord>,
    /// Its stored hash, parsed.
    pub hash: Option<KeyHash>,
    /// Its owner.
    pub owner: Arc<Owner>,
    /// The owner's plan.
    pub plan: Arc<Plan>,
}

/// Which twin an owner's requests get, when they name no purchase.
#[derive(Debug)]
pub enum CachedTwin {
    /// The newest ready snapshot and its parsed document.
    Ready(Snapshot, Arc<TwinDocument>),
    /// A snapshot is pending or generating.
    NotReady,
    /// Every snapshot failed.
    Failed,
    /// No snapshot at all.
    NoSnapshot,
}

impl CachedTwin {
    /// Approximate memory held, in bytes (the document's text plus a fixed overhead).
    fn weight(&self) -> u32 {
        let text = match self {
            CachedTwin::Ready(_, doc) => doc
                .sections
                .iter()
                .map(|s| {
                    let localized = |l: &twin_render::Localized| {
                        l.iter().map(|(_, t)| t.len() + 32).sum::<usize>()
                    };
                    localized(&s.title)
                        + s.facts.iter().map(localized).sum::<usize>()
                        + s.narrative.as_ref().map_or(0, localized)
                })
                .sum::<usize>(),
            _ => 0,
        };
        u32::try_from(text + 512).unwrap_or(u32::MAX)
    }
}

/// A generation counter that moves on every invalidation.
#[derive(Debug, Default)]
pub struct Epoch(AtomicU64);

impl Epoch {
    /// The current generation.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// The verified-key cache and the owner-twin cache.
#[derive(Clone)]
pub struct Caches {
    keys: moka::sync::Cache<String, Arc<CachedKey>>,
    twins: moka::sync::Cache<String, Arc<CachedTwin>>,
    key_epoch: Arc<Epoch>,
    twin_epoch: Arc<Epoch>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("keys", &self.keys.entry_count())
            .finish_non_exhaustive()
    }
}

impl Caches {
    /// Caches holding at most `keys` keys and owners' twins of at most `twins` bytes in
    /// all; entries live at most `ttl` even if no change is heard of.
    pub fn new(keys: u64, twins: u64, ttl: Duration) -> Self {
        Caches {
            keys: moka::sync::Cache::builder()
                .max_capacity(keys)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            // Twins are weighed by their text size: a document can be up to 256 KiB.
            twins: moka::sync::Cache::builder()
                .max_capacity(twins)
                .weigher(|_owner: &String, twin: &Arc<CachedTwin>| twin.weight())
                .time_to_live(ttl)
                .build(),
            key_epoch: Arc::default(),
            twin_epoch: Arc::default(),
        }
    }

    /// How many keys are cached (approximate).
    pub fn key_count(&self) -> u64 {
        self.keys.entry_count()
    }

    /// The cached key with `id`.
    pub fn key(&self, id: &str) -> Option<Arc<CachedKey>> {
        self.keys.get(id)
    }

    /// The key generation to pass to [`Caches::put_key`] after loading.
    pub fn key_epoch(&self) -> u64 {
        self.key_epoch.get()
    }

    /// Caches a key loaded while the generation was `epoch` (skipped if anything was
    /// invalidated since: the load may be stale).
    pub fn put_key(&self, epoch: u64, entry: Arc<CachedKey>) {
        if self.key_epoch.get() == epoch {
            self.keys.insert(entry.key.id.clone(), entry);
        }
    }

    /// Drops one key.
    pub fn invalidate_key(&self, id: &str) {
        self.key_epoch.bump();
        self.keys.invalidate(id);
    }

    /// Drops everything cached about an owner: its keys (they carry its plan) and its twin.
    pub fn invalidate_owner(&self, owner_id: &str) {
        self.key_epoch.bump();
        self.twin_epoch.bump();
        let owner = owner_id.to_owned();
        // Only fails if closures were not enabled at build time, which they are.
        let _ = self
            .keys
            .invalidate_entries_if(move |_, v| v.owner.id == owner);
        self.twins.invalidate(owner_id);
    }

    /// Drops everything (a gap in the change feed).
    pub fn invalidate_all(&self) {
        self.key_epoch.bump();
        self.twin_epoch.bump();
        self.keys.invalidate_all();
        self.twins.invalidate_all();
    }

    /// The cached twin of an owner.
    pub fn twin(&self, owner_id: &str) -> Option<Arc<CachedTwin>> {
        self.twins.get(owner_id)
    }

    /// The twin generation to pass to [`Caches::put_twin`].
    pub fn twin_epoch(&self) -> u64 {
        self.twin_epoch.get()
    }

    /// Caches an owner's twin loaded while the generation was `epoch`.
    pub fn put_twin(&self, epoch: u64, owner_id: &str, twin: Arc<CachedTwin>) {
        if self.twin_epoch.get() == epoch {
            self.twins.insert(owner_id.to_owned(), twin);
        }
    }
}
