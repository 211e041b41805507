//! Connection pools for both backends and the migration harness.

use std::fmt;
use std::time::Duration;

use diesel::{Connection, SqliteConnection};
use diesel_async::AsyncPgConnection;
use diesel_async::SimpleAsyncConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use crate::error::{StoreError, StoreResult};

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The SQLite connection type used by the pool: diesel's synchronous connection run on
/// the blocking threads of the runtime that opened the store.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, StoreRuntime>;

/// Runs SQLite work on the blocking pool of the runtime that opened the store. diesel-async's
/// default takes the runtime current when a connection is made, which may be an HTTP worker's
/// runtime that is gone by the time the connection is used again (a graceful shutdown writing
/// the last usage batch saw its tasks cancelled).
pub struct StoreRuntime(tokio::runtime::Handle);

impl diesel_async::sync_connection_wrapper::SpawnBlocking for StoreRuntime {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>,
    >
    where
        R: Send + 'static,
    {
        let handle = self.0.clone();
        async move {
            handle
                .spawn_blocking(task)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync + 'static>)
        }
        .boxed()
    }

    fn get_runtime() -> Self {
        StoreRuntime(tokio::runtime::Handle::current())
    }
}

/// Settings applied to every SQLite connection: a busy timeout so concurrent writers queue
/// instead of failing, WAL so readers never block the writer, and enforced foreign keys. The
/// busy timeout comes first: switching to WAL takes a lock, and without the timeout a new
/// connection opened while another process (the CLI, a server) writes failed at once with
/// "database is locked".
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

/// Which database a [`crate::Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (production; any number of replicas share one).
    Postgres,
    /// SQLite (embedded default, one node).
    Sqlite,
}

impl Backend {
    /// Lower-case name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// How to reach the database.
#[derive(Clone)]
pub struct StoreConfig {
    /// `postgres://…` / `postgresql://…` for PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a
    /// plain file path for SQLite.
    pub url: String,
    /// Largest number of pooled connections.
    pub max_connections: usize,
    /// How long a request waits for a pooled connection (or a new one) before the store
    /// answers [`StoreError::Unavailable`].
    pub timeout: Duration,
}

impl StoreConfig {
    /// A configuration with default pool settings for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        StoreConfig {
            url: url.into(),
            max_connections: 16,
            timeout: Duration::from_secs(5),
        }
    }

    /// Which backend the URL names.
    pub fn backend(&self) -> Backend {
        if self.url.starts_with("postgres://") || self.url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// The SQLite file path of the URL (without any `sqlite:` scheme).
    fn sqlite_path(&self) -> String {
        let url = self.url.as_str();
        url.strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url)
            .to_owned()
    }
}

impl fmt::Debug for StoreConfig {
    // The URL may hold a password: show only the backend.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("backend", &self.backend())
            .field("max_connections", &self.max_connections)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub(crate) enum DbPool {
    Pg(Pool<AsyncPgConnection>),
    Sqlite(Pool<SqliteConn>),
}

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend the store
/// uses. The body is compiled once per backend, so every query has one source.
macro_rules! with_conn {
    ($store:expr, |$conn:ident| $body:expr) => {
        match &$store.pool {
            $crate::db::DbPool::Pg(pool) => {
                let mut guard = pool.get().await?;
                let $conn: &mut ::diesel_async::AsyncPgConnection = &mut guard;
                $body
            }
            $crate::db::DbPool::Sqlite(pool) => {
                let mut guard = pool.get().await?;
                let $conn: &mut $crate::db::SqliteConn = &mut guard;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

/// [`with_conn!`] for a write on the hot path: on SQLite the store's writer lock is taken
/// first (see `Store::sqlite_writer`) and held until `$body` is done. Must not be nested.
macro_rules! with_write_conn {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let _writing = match &$store.pool {
            $crate::db::DbPool::Sqlite(_) => Some($store.sqlite_writer.lock().await),
            $crate::db::DbPool::Pg(_) => None,
        };
        $crate::db::with_conn!($store, |$conn| $body)
    }};
}
pub(crate) use with_write_conn;

pub(crate) async fn build_pool(config: &StoreConfig) -> StoreResult<DbPool> {
    let runtime = deadpool::Runtime::Tokio1;
    match config.backend() {
        Backend::Postgres => {
            let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
            // `Verified` would add a `SELECT 1` round trip to every checkout.
            manager_config.recycling_method = RecyclingMethod::Fast;
            let manager =
                AsyncDieselConnectionManager::new_with_config(config.url.clone(), manager_config);
            let pool = Pool::builder(manager)
                .max_size(config.max_connections)
                .wait_timeout(Some(config.timeout))
                .create_timeout(Some(config.timeout))
                .runtime(runtime)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(DbPool::Pg(pool))
        }
        Backend::Sqlite => {
            let mut manager_config = ManagerConfig::<SqliteConn>::default();
            manager_config.recycling_method = RecyclingMethod::Fast;
            let handle = tokio::runtime::Handle::current();
            manager_config.custom_setup = Box::new(move |url| {
                let url = url.to_owned();
                let handle = handle.clone();
                async move {
                    let opened = handle
                        .spawn_blocking(move || <SqliteConnection as Connection>::establish(&url))
                        .await
                        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))??;
                    let mut conn =
                        SyncConnectionWrapper::with_runtime(opened, StoreRuntime(handle));
                    conn.batch_execute(SQLITE_PRAGMAS)
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                    Ok(conn)
                }
                .boxed()
            });
            let manager =
                AsyncDieselConnectionManager::new_with_config(config.sqlite_path(), manager_config);
            let pool = Pool::builder(manager)
                .max_size(config.max_connections)
                .wait_timeout(Some(config.timeout))
                .create_timeout(Some(config.timeout))
                .runtime(runtime)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(DbPool::Sqlite(pool))
        }
    }
}

/// Which way to move the schema.
#[derive(Clone, Copy)]
pub(crate) enum MigrationDirection {
    Up,
    DownAll,
}

/// Runs migrations on a dedicated blocking thread with a synchronous connection: diesel's
/// migration harness is synchronous, and blocking a runtime worker would stall requests.
pub(crate) async fn run_migrations(
    config: &StoreConfig,
    direction: MigrationDirection,
) -> StoreResult<Vec<String>> {
    let config = config.clone();
    let task = tokio::task::spawn_blocking(move || -> StoreResult<Vec<String>> {
        fn apply<C>(
            conn: &mut C,
            migrations: EmbeddedMigrations,
            direction: MigrationDirection,
        ) -> StoreResult<Vec<String>>
        where
            C: MigrationHarness<C::Backend> + Connection,
        {
            let versions = match direction {
                MigrationDirection::Up => conn.run_pending_migrations(migrations),
                MigrationDirection::DownAll => conn.revert_all_migrations(migrations),
            }
            .map_err(|e| StoreError::Migration(e.to_string()))?;
            Ok(versions.into_iter().map(|v| v.to_string()).collect())
        }
        match config.backend() {
            Backend::Postgres => {
                let mut conn =
                    <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(
                        &config.url,
                    )
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                apply(&mut conn, PG_MIGRATIONS, direction)
            }
            Backend::Sqlite => {
                let mut conn = <SqliteConnection as Connection>::establish(&config.sqlite_path())
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                diesel::connection::SimpleConnection::batch_execute(&mut conn, SQLITE_PRAGMAS)?;
                apply(&mut conn, SQLITE_MIGRATIONS, direction)
            }
        }
    });
    task.await
        .map_err(|e| StoreError::Migration(format!("migration task failed: {e}")))?
}
