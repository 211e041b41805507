//! Twin API's application core: the use cases that every interface calls — the HTTP API,
//! the dashboard, OAuth endpoints and the operator CLI alike — and the machinery they share:
//! lease-backed metering ([`meter`]), the caches of verified keys and twins ([`caches`],
//! [`render_cache`]), the change-feed follower ([`sync`]), the batched usage log ([`usage`]),
//! raw-usage retention ([`retention`]) and route prices ([`prices`]).
//!
//! It knows neither actix-web nor diesel: it depends on the pure crates (`twin-keys`,
//! `twin-meter`, `twin-render`) and on `twin-store`, and nothing below it depends on it.
//! Failures are [`Error`]s that already name SPEC §4's code; each interface renders them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use twin_core::Core;
//! use twin_store::{Store, StoreConfig};
//! let store = Store::connect(StoreConfig::new("sqlite://twin.db")).await?;
//! store.migrate().await?;
//! // A core without background tasks, as a one-shot command uses it.
//! let core = Core::offline(store);
//! # let _ = core;
//! # Ok(()) }
//! ```

pub mod alerts;
pub mod caches;
pub mod error;
pub mod input;
pub mod keys;
pub mod login;
pub mod meter;
pub mod oauth;
pub mod owners;
pub mod prices;
pub mod render_cache;
pub mod reports;
pub mod retention;
pub mod snapshots;
pub mod sync;
pub mod time_fmt;
pub mod twin;
pub mod usage;
pub mod webhooks;

use std::sync::Arc;

use twin_keys::{KeyFormat, KeyHasher};
use twin_meter::Clock;
use twin_meter::plans::{Plan, PlanCatalog};
use twin_render::PresetCatalog;
use twin_store::Store;

pub use error::{Error, ErrorCode, Result};

use caches::Caches;
use meter::{Meter, MeterConfig};
use prices::Prices;
use render_cache::RenderCache;
use sync::SyncOptions;
use usage::{UsageConfig, UsageLogger};

/// Everything the use cases share, built once per process.
pub struct Core {
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
    /// How webhooks are delivered (SPEC §15).
    pub webhooks: webhooks::WebhookSettings,
    /// This replica's delivery counters.
    pub webhook_stats: std::sync::Arc<webhooks::dispatch::DeliveryStats>,
    /// How the OAuth server behaves (SPEC §14).
    pub oauth: oauth::OAuthSettings,
    /// Verified OAuth access tokens.
    pub(crate) tokens: oauth::TokenCache,
}

impl Core {
    /// A serving core with built-in presets and plans, SHA-256 hashing and the system clock.
    /// Starts the usage logger, the meter's sweeper and the change-feed follower, so it must
    /// be called inside a tokio runtime.
    pub fn new(store: Store) -> Self {
        Self::with_sync(store, SyncOptions::default())
    }

    /// [`Core::new`] with explicit change-feed settings.
    pub fn with_sync(store: Store, sync: SyncOptions) -> Self {
        let core = Self::build(store, UsageLogger::start);
        core.meter.spawn_sweeper();
        core.meter
            .set_alerts(alerts::spawn_crossings(core.store.clone()));
        sync::spawn(
            core.store.clone(),
            core.caches.clone(),
            core.meter.clone(),
            sync,
        );
        core
    }

    /// A core for one-shot commands (the CLI): the same use cases and rules, but no
    /// background task — no sweeper, no change-feed follower, and a usage log that is never
    /// written (nothing is metered outside a server).
    pub fn offline(store: Store) -> Self {
        Self::build(store, |_, _| UsageLogger::disabled())
    }

    fn build(store: Store, usage: impl FnOnce(Store, UsageConfig) -> UsageLogger) -> Self {
        let caches = Caches::new(
            200_000,
            256 * 1024 * 1024,
            std::time::Duration::from_secs(60),
        );
        let meter = Arc::new(Meter::new(store.clone(), MeterConfig::default()));
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
        Core {
            caches,
            usage: usage(store.clone(), UsageConfig::default()),
            meter,
            prices: Prices::default(),
            store,
            key_format: KeyFormat::twin(),
            hasher: KeyHasher::sha256(),
            presets: PresetCatalog::builtin(),
            plans: PlanCatalog::builtin(),
            clock: Arc::new(twin_meter::SystemClock),
            render_cache: RenderCache::new(64 * 1024 * 1024),
            webhooks: webhooks::WebhookSettings::default(),
            webhook_stats: Default::default(),
            oauth: oauth::OAuthSettings::default(),
            tokens: oauth::token_cache(),
        }
    }

    /// Starts webhook delivery and the alert sweeps (SPEC §15) with [`Core::webhooks`] as
    /// configured; a serving process calls it once, after setting them.
    pub fn spawn_webhooks(&self) {
        webhooks::dispatch::spawn(self);
        alerts::spawn_sweeps(self);
    }

    /// The plan named `slug`; a plan missing from the configuration has no API access (its
    /// owners' keys stay stored and answer `PLAN_REQUIRED`).
    pub fn plan(&self, slug: &str) -> Plan {
        self.plans
            .get(slug)
            .cloned()
            .unwrap_or_else(|| Plan::without_access(slug))
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
