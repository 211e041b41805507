//! Test support: a fresh, migrated database per test on either backend, so tests run in
//! parallel without seeing each other's rows. Enabled by the `testing` feature.
//!
//! PostgreSQL comes from `TWIN_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets its own schema, dropped when
//! the [`TestDb`] is dropped. An unreachable PostgreSQL fails the test: it is never skipped.
//! SQLite tests each get their own file in the temporary directory.

use std::path::PathBuf;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use crate::{Backend, Store, StoreConfig};

/// The default PostgreSQL server for tests (the local CI server, trust auth).
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL URL tests use.
pub fn postgres_base_url() -> String {
    std::env::var("TWIN_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.into())
}

/// A migrated database that only one test uses.
pub struct TestDb {
    store: Store,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(PathBuf),
    Postgres { base_url: String, schema: String },
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random source");
    hex::encode(bytes)
}

impl TestDb {
    /// A fresh database on `backend`.
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A fresh SQLite file.
    pub async fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!("twin-test-{}.db", random_suffix()));
        let url = format!("sqlite://{}", path.display());
        Self::finish(url, Cleanup::Sqlite(path)).await
    }

    /// A fresh schema on the test PostgreSQL server. Panics with a clear message when the
    /// server cannot be reached: a suite that silently skips PostgreSQL is a defect.
    pub async fn postgres() -> TestDb {
        let base_url = postgres_base_url();
        let schema = format!("t_{}", random_suffix());
        let mut conn = AsyncPgConnection::establish(&base_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is required for the tests and is not reachable at {base_url}: {e}. \
                 Start it (see README) or set TWIN_TEST_DATABASE_URL."
                )
            });
        conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create schema");
        let sep = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{sep}options=-c%20search_path%3D{schema}");
        Self::finish(url, Cleanup::Postgres { base_url, schema }).await
    }

    async fn finish(url: String, cleanup: Cleanup) -> TestDb {
        let store = Store::connect(StoreConfig::new(url.clone()))
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        TestDb {
            store,
            url,
            cleanup,
        }
    }

    /// The store on this database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The database URL (to start a server on the same database).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Postgres { base_url, schema } => {
                // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived
                // thread with its own runtime does the clean-up.
                let base_url = base_url.clone();
                let schema = schema.clone();
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(rt) = rt {
                        rt.block_on(async {
                            if let Ok(mut conn) = AsyncPgConnection::establish(&base_url).await {
                                let _ = conn
                                    .batch_execute(&format!(
                                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                                    ))
                                    .await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}

/// Declares each named `async fn(TestDb)` as two tests, `NAME::sqlite` and
/// `NAME::postgres`, each on its own fresh database.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::testing::TestDb::sqlite().await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::testing::TestDb::postgres().await).await;
                }
            }
        )+
    };
}

impl crate::Store {
    /// Every row of every table as text (hex for binary columns), to check in tests that no
    /// secret is stored.
    pub async fn dump_for_tests(&self) -> crate::StoreResult<String> {
        use diesel::sql_types::Text;
        use diesel_async::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            line: String,
        }
        let tables = [
            ("owners", "id || ' ' || email || ' ' || plan"),
            (
                "snapshots",
                "id || ' ' || owner_id || ' ' || source || ' ' || COALESCE(purchase_id, '')",
            ),
            (
                "api_keys",
                "id || ' ' || owner_id || ' ' || name || ' ' || prefix || ' ' || scopes || ' ' || created_by || ' ' || HEX_KEY_HASH",
            ),
            (
                "usage_log",
                "key_id || ' ' || owner_id || ' ' || route || ' ' || method",
            ),
            ("usage_daily", "key_id || ' ' || route || ' ' || variant"),
            (
                "audit_events",
                "owner_id || ' ' || COALESCE(key_id, '') || ' ' || event || ' ' || actor || ' ' || COALESCE(detail, '')",
            ),
            (
                "changes",
                "COALESCE(key_id, '') || ' ' || COALESCE(owner_id, '')",
            ),
            (
                "login_links",
                "owner_id || ' ' || created_by || ' ' || HEX_TOKEN_HASH",
            ),
            (
                "dashboard_sessions",
                "owner_id || ' ' || csrf_token || ' ' || HEX_TOKEN_HASH",
            ),
        ];
        let hex = |col: &str| match self.backend() {
            crate::Backend::Postgres => format!("encode({col}, 'hex')"),
            crate::Backend::Sqlite => format!("lower(hex({col}))"),
        };
        let mut out = String::new();
        for (table, expr) in tables {
            let expr = expr
                .replace("HEX_KEY_HASH", &hex("key_hash"))
                .replace("HEX_TOKEN_HASH", &hex("token_hash"));
            let sql = format!("SELECT {expr} AS line FROM {table}");
            let rows: Vec<Row> =
                crate::db::with_conn!(self, |conn| diesel::sql_query(&sql).load(conn).await?);
            for row in rows {
                out.push_str(table);
                out.push_str(": ");
                out.push_str(&row.line);
                out.push('\n');
            }
        }
        Ok(out)
    }
}
