//! Twin API storage: owners, snapshots, API keys, counters, usage and audit, on PostgreSQL
//! (production) or SQLite (embedded default) through one code path.
//!
//! This is the only crate of the workspace that knows diesel. Every query is written once
//! and compiled for both backends (see the `with_conn!` macro in `db.rs`); errors leave the
//! crate as [`StoreError`], so nothing above matches on diesel or pool errors. Timestamps are
//! stored as Unix milliseconds in `BIGINT` columns on both backends.
//!
//! It must not depend on the HTTP adapter, actix-web or the server binary.
//!
//! ```no_run
//! # async fn demo() -> Result<(), twin_store::StoreError> {
//! use twin_store::{NewOwner, Store, StoreConfig};
//! let store = Store::connect(StoreConfig::new("sqlite://twin.db")).await?;
//! store.migrate().await?;
//! let owner = store
//!     .create_owner(NewOwner { id: None, email: "ana@example.com".into(), plan: "professional".into() })
//!     .await?;
//! assert_eq!(store.get_owner(&owner.id).await?.email, "ana@example.com");
//! # Ok(()) }
//! ```

mod audit;
mod changes;
mod db;
mod error;
mod issue;
mod keys;
mod leases;
mod model;
pub mod oauth;
mod owners;
mod schema;
mod sessions;
mod snapshots;
#[cfg(feature = "testing")]
pub mod testing;
mod usage;
pub mod webhooks;

use std::sync::Arc;

use time::OffsetDateTime;
use twin_meter::{Clock, SystemClock};

pub use changes::{CHANGES_CHANNEL, Change};
pub use db::{Backend, StoreConfig};
pub use error::{StoreError, StoreResult};
pub use issue::{KeySpec, Rotation};
pub use leases::Grant;
pub use model::{
    AlertPeriod, AlertRules, AuditEvent, CountRule, DEFAULT_ALERT_THRESHOLDS, InvalidValue,
    KeyAlerts, KeyCounters, KeyEnv, KeyMeta, KeyPatch, KeyRecord, KeyStatus, MAX_META_BYTES,
    NewKey, NewOwner, NewSnapshot, Owner, OwnerPatch, Page, Scope, ScopeSet, Snapshot,
    SnapshotStatus, StoredHash,
};
pub use owners::FirstKey;
pub use sessions::{DashboardSession, NewLoginLink, NewSession};
pub use snapshots::SnapshotSelection;
pub use usage::{DailyUsage, DayOutcome, KeyTotals, LoggedCall, UsageEntry, day_of};

/// Called synchronously with `(key_id, owner_id)` each time this process records a change,
/// so its own caches are up to date before the changing call returns.
pub type ChangeHook = Box<dyn Fn(Option<&str>, Option<&str>) + Send + Sync>;

/// A handle on the database: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: db::DbPool,
    /// SQLite allows one writer at a time. Writes on the hot path (leases, usage batches) take
    /// this lock before a connection, so they queue here in order instead of meeting a locked
    /// database and sleeping in SQLite's busy handler (up to 100 ms a time). Unused on
    /// PostgreSQL.
    pub(crate) sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    config: Arc<StoreConfig>,
    clock: Arc<dyn Clock>,
    hooks: Arc<std::sync::RwLock<Vec<ChangeHook>>>,
    /// Woken each time this process records a webhook event or makes a delivery due, so
    /// its dispatcher starts at once instead of at its next poll.
    events: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a connection pool. Connections are made lazily, so this succeeds even when
    /// the database is down; [`Store::ping`] tells whether it is reachable.
    pub async fn connect(config: StoreConfig) -> StoreResult<Store> {
        let pool = db::build_pool(&config).await?;
        Ok(Store {
            pool,
            sqlite_writer: Arc::default(),
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
            hooks: Arc::default(),
            events: Arc::default(),
        })
    }

    /// Replaces the clock used for timestamps the store writes itself (tests use a manual one).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Registers a hook run on every change this process records (shared by all clones of
    /// this store).
    pub fn on_change(&self, hook: ChangeHook) {
        self.hooks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(hook);
    }

    pub(crate) fn run_hooks(&self, key_id: Option<&str>, owner_id: Option<&str>) {
        for hook in self.hooks.read().unwrap_or_else(|p| p.into_inner()).iter() {
            hook(key_id, owner_id);
        }
    }

    /// Notified each time this process records a webhook event or makes a delivery due.
    pub fn event_notifier(&self) -> Arc<tokio::sync::Notify> {
        self.events.clone()
    }

    pub(crate) fn run_event_hooks(&self) {
        self.events.notify_one();
    }

    /// The database URL (it may hold a password: never log it).
    pub(crate) fn url(&self) -> &str {
        &self.config.url
    }

    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.config.backend()
    }

    /// The store's current time.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Applies every pending migration; returns the versions applied.
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        db::run_migrations(&self.config, db::MigrationDirection::Up).await
    }

    /// Reverts every migration (used by the up → down → up check).
    pub async fn revert_all_migrations(&self) -> StoreResult<Vec<String>> {
        db::run_migrations(&self.config, db::MigrationDirection::DownAll).await
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> StoreResult<()> {
        use diesel_async::SimpleAsyncConnection;
        db::with_conn!(self, |conn| conn.batch_execute("SELECT 1").await?);
        Ok(())
    }
}
