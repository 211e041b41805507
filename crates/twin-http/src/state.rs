//! What every handler shares.

use std::sync::Arc;

use twin_keys::{KeyFormat, KeyHasher};
use twin_meter::Clock;
use twin_meter::plans::PlanCatalog;
use twin_render::PresetCatalog;
use twin_store::Store;

use crate::cache::RenderCache;
use crate::caches::Caches;
use crate::meter::{Meter, MeterConfig};
use crate::prices::Prices;
use crate::sync::SyncOptions;
use crate::usage::{UsageConfig, UsageLogger};

/// Server-wide state, built once by the binary and shared by every worker.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The key wire format (`atk_<env>_<id>_<secret>`).
    pub key_format: KeyFormat,
    /// Hashes and verifies keys (SHA-256, or HMAC-SHA256 under the pepper).
    pub hasher: KeyHasher,
    /// The preset catalogue.
    pub presets: PresetCatalog,
    /// The plan catalogue.
    pub plans: PlanCatalog,
    /// The time source (a manual clock in tests).
    pub clock: Arc<dyn Clock>,
    /// Admin tokens; empty disables the admin API.
    pub admin_tokens: Vec<String>,
    /// Rendered presets, by everything that determines their bytes.
    pub render_cache: RenderCache,
    /// The batched usage log.
    pub usage: UsageLogger,
    /// Lease-backed metering (quota, rate, spend).
    pub meter: Arc<Meter>,
    /// Price of each route, in micro-credits.
    pub prices: Prices,
    /// Verified keys and owners' twins.
    pub caches: Caches,
}

impl AppState {
    /// State with built-in presets and plans, SHA-256 hashing and the system clock. Starts
    /// the usage logger, so it must be called inside a tokio runtime.
    pub fn new(store: Store) -> Self {
        Self::with_sync(store, SyncOptions::default())
    }

    /// [`AppState::new`] with explicit change-feed settings.
    pub fn with_sync(store: Store, sync: SyncOptions) -> Self {
        let caches = Caches::new(
            200_000,
            256 * 1024 * 1024,
            std::time::Duration::from_secs(60),
        );
        let meter = Arc::new(Meter::new(store.clone(), MeterConfig::default()));
        meter.spawn_sweeper();
        {
            // This process's own changes reach its caches before the changing call returns.
            let caches = caches.clone();
            let meter = Arc::downgrade(&meter);
            store.on_change(Box::new(move |key_id, owner_id| {
                if let Some(owner) = owner_id {
                    caches.invalidate_owner(owner);
                }
                if let Some(key) = key_id {
                    caches.invalidate_key(key);
                    if let Some(meter) = meter.upgrade() {
                        meter.forget_now(key);
                    }
                }
            }));
        }
        crate::sync::spawn(store.clone(), caches.clone(), meter.clone(), sync);
        AppState {
            caches,
            usage: UsageLogger::start(store.clone(), UsageConfig::default()),
            meter,
            prices: Prices::default(),
            store,
            key_format: KeyFormat::twin(),
            hasher: KeyHasher::sha256(),
            presets: PresetCatalog::builtin(),
            plans: PlanCatalog::builtin(),
            clock: Arc::new(twin_meter::SystemClock),
            admin_tokens: Vec::new(),
            render_cache: RenderCache::new(64 * 1024 * 1024),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
