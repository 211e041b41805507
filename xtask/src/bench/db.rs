//! The benchmark's databases: a fresh SQLite file or a fresh PostgreSQL database per run,
//! bulk key provisioning through the `sqlite3` / `psql` command-line clients, and counting
//! the statements the server sends to PostgreSQL.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use twin_keys::{KeyFormat, KeyHasher};

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL database on a server.
    Postgres,
}

impl Backend {
    /// Lower-case name, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database created for one benchmark run and removed afterwards (on drop).
pub enum BenchDb {
    /// The SQLite file lives in the run's temporary directory, which is removed with it.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A database `bench_<random>` on the server behind `admin_url`.
    Postgres {
        /// A URL to an existing database, used to create, watch and drop the bench database.
        admin_url: String,
        /// The bench database's name.
        name: String,
        /// The URL the server uses.
        url: String,
    },
}

impl BenchDb {
    /// A fresh SQLite file `bench.db` in `dir`.
    pub fn sqlite(dir: &Path) -> BenchDb {
        BenchDb::Sqlite {
            path: dir.join("bench.db"),
        }
    }

    /// Creates a fresh database on the PostgreSQL server behind `admin_url`.
    pub fn postgres(admin_url: &str) -> Result<BenchDb> {
        let name = format!("bench_{}", random_suffix());
        psql(admin_url, &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("creating database {name} (is PostgreSQL running?)"))?;
        let url = with_database(admin_url, &name)?;
        Ok(BenchDb::Postgres {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// The `TWIN_DATABASE_URL` for the server.
    pub fn url(&self) -> String {
        match self {
            BenchDb::Sqlite { path } => format!("sqlite://{}", path.display()),
            BenchDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            BenchDb::Sqlite { .. } => Backend::Sqlite,
            BenchDb::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Runs a SQL script in one go through the backend's command-line client.
    pub fn execute_file(&self, script: &Path) -> Result<()> {
        let out = match self {
            BenchDb::Sqlite { path } => Command::new("sqlite3")
                .arg("-bail")
                .arg(path)
                .arg(format!(".read {}", script.display()))
                .stdin(Stdio::null())
                .output()
                .context("running sqlite3 (is it installed? apt-get install -y sqlite3)")?,
            BenchDb::Postgres { url, .. } => Command::new("psql")
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
                .arg(script)
                .stdin(Stdio::null())
                .output()
                .context("running psql (is it installed? apt-get install -y postgresql-client)")?,
        };
        if !out.status.success() {
            bail!(
                "running {} failed: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Picks the best available way to count the statements the server runs.
    pub fn statement_counter(&self) -> StatementCounter {
        let BenchDb::Postgres {
            admin_url,
            name,
            url,
        } = self
        else {
            return StatementCounter::Unavailable;
        };
        // pg_stat_statements counts every statement exactly, but only when the server
        // preloads it (shared_preload_libraries); CREATE EXTENSION succeeds either way and
        // only reading the view tells whether it is live.
        let live = psql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .and_then(|_| psql(url, "SELECT count(*) FROM pg_stat_statements"));
        match live {
            Ok(_) => StatementCounter::PgStatStatements { url: url.clone() },
            Err(e) => StatementCounter::XactCommit {
                admin_url: admin_url.clone(),
                name: name.clone(),
                why: first_line(&e.to_string()),
            },
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let BenchDb::Postgres {
            admin_url, name, ..
        } = self
        {
            // WITH (FORCE) (PostgreSQL 13+) ends any connection a crashed run left behind.
            if let Err(e) = psql(
                admin_url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ) {
                eprintln!("warning: could not drop database {name}: {e}");
            }
        }
        // The SQLite file goes with the temporary directory.
    }
}

/// How database statements per request are counted.
pub enum StatementCounter {
    /// No server-side counter (SQLite runs inside the server process).
    Unavailable,
    /// Sum of `calls` in `pg_stat_statements` for the bench database: exact.
    PgStatStatements {
        /// The bench database's URL (the view is read from inside it).
        url: String,
    },
    /// `xact_commit + xact_rollback` of `pg_stat_database` for the bench database. In
    /// autocommit mode every statement is its own transaction, so this counts statements,
    /// except that an explicit transaction of several statements counts once: a lower bound.
    XactCommit {
        /// Where to read `pg_stat_database` from (not the bench database, so the reads do
        /// not count themselves).
        admin_url: String,
        /// The bench database's name.
        name: String,
        /// Why pg_stat_statements could not be used.
        why: String,
    },
}

impl StatementCounter {
    /// A short description of the method, for the report.
    pub fn method(&self) -> String {
        match self {
            StatementCounter::Unavailable => "n/a (no server-side counter)".into(),
            StatementCounter::PgStatStatements { .. } => {
                "pg_stat_statements (sum of calls in the bench database)".into()
            }
            StatementCounter::XactCommit { why, .. } => format!(
                "pg_stat_database xact_commit + xact_rollback deltas (transactions; equals \
                 statements in autocommit mode, a lower bound otherwise), because \
                 pg_stat_statements is not usable: {why}"
            ),
        }
    }

    /// Whether readings lag behind: PostgreSQL 15+ backends publish their transaction
    /// counts at most once a second while busy, and an idle backend flushes what is
    /// pending only after 10 s (or when it exits).
    pub fn lags(&self) -> bool {
        matches!(self, StatementCounter::XactCommit { .. })
    }

    /// The current count, if there is a counter.
    pub fn read(&self) -> Result<Option<u64>> {
        let text = match self {
            StatementCounter::Unavailable => return Ok(None),
            // The reading's own query is excluded; the server never mentions the view.
            StatementCounter::PgStatStatements { url } => psql(
                url,
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND query NOT LIKE '%pg_stat_statements%'",
            )?,
            StatementCounter::XactCommit {
                admin_url, name, ..
            } => psql(
                admin_url,
                &format!(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database \
                     WHERE datname = '{name}'"
                ),
            )?,
        };
        Ok(Some(text.trim().parse().with_context(|| {
            format!("unexpected statement count {text:?}")
        })?))
    }

    /// Waits until no session is connected to the bench database any more, so that every
    /// server connection has exited and flushed its statistics (after the server stopped).
    pub fn wait_disconnected(&self) -> Result<()> {
        let StatementCounter::XactCommit {
            admin_url, name, ..
        } = self
        else {
            return Ok(());
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let n = psql(
                admin_url,
                &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'"),
            )?;
            if n.trim() == "0" {
                // A backend leaves pg_stat_activity a moment before its last statistics
                // flush completes.
                std::thread::sleep(Duration::from_millis(300));
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("connections to {name} did not close within 10 s of the server stopping")
    }
}

/// Runs one SQL command with `psql` and returns its unaligned, tuples-only output.
pub fn psql(url: &str, sql: &str) -> Result<String> {
    let out = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .stdin(Stdio::null())
        .output()
        .context("running psql (is it installed? apt-get install -y postgresql-client)")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base
        .find("://")
        .context("the PostgreSQL URL has no scheme")?
        + 3;
    let host_part = &base[scheme_end..];
    let host_end = host_part.find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// A short random-enough suffix for names (not a secret: the clock mixed with the pid).
pub fn random_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    format!("{:x}", nanos ^ (u64::from(std::process::id()) << 40))
}

/// A generated key: the plaintext goes to the load generator, the rest to the database.
pub struct GeneratedKey {
    /// The full key (`atk_live_<id>_<secret><checksum>`).
    pub plaintext: String,
    id: String,
    prefix: String,
    algorithm: &'static str,
    digest_hex: String,
}

/// Generates `n` live keys in the server's default format, hashed as the server hashes
/// them when no pepper is configured (SHA-256 of the full key string).
pub fn generate_keys(n: usize, avoid_id: &str) -> Result<Vec<GeneratedKey>> {
    let format = KeyFormat::twin();
    let hasher = KeyHasher::sha256();
    let mut seen = std::collections::HashSet::from([avoid_id.to_owned()]);
    let mut keys = Vec::with_capacity(n);
    while keys.len() < n {
        let plain = format.generate("live")?;
        let id = plain.id().context("the key format has no id")?.to_owned();
        // Ids are random; a repeat (rare) would violate the primary key.
        if !seen.insert(id.clone()) {
            continue;
        }
        let hash = hasher.hash(plain.expose_secret());
        keys.push(GeneratedKey {
            plaintext: plain.expose_secret().to_owned(),
            id,
            prefix: plain.display_prefix().to_owned(),
            algorithm: hash.algorithm().as_str(),
            digest_hex: hash.to_hex(),
        });
    }
    Ok(keys)
}

/// A monthly quota and rate limit no benchmark can exhaust (a run that hits 429 measures
/// the refusal path, not the hot path).
pub const UNLIMITED: i64 = 1_000_000_000;

/// SQL that lifts the demo key's limits and inserts `keys` with their counter rows, in one
/// transaction (one fsync on SQLite, seconds instead of minutes).
pub fn provisioning_sql(
    backend: Backend,
    owner_id: &str,
    demo_key_id: &str,
    keys: &[GeneratedKey],
) -> String {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut sql = String::from("BEGIN;\n");
    let _ = writeln!(
        sql,
        "UPDATE api_keys SET monthly_quota = {UNLIMITED}, rate_limit_rpm = {UNLIMITED} \
         WHERE id = '{demo_key_id}';"
    );
    for chunk in keys.chunks(500) {
        sql.push_str(
            "INSERT INTO api_keys (id, owner_id, env, name, prefix, hash_algorithm, \
             pepper_version, key_hash, scopes, is_active, created_at, updated_at, \
             monthly_quota, rate_limit_rpm, spend_period, created_by) VALUES\n",
        );
        let rows: Vec<String> = chunk
            .iter()
            .map(|k| {
                let hash = match backend {
                    Backend::Sqlite => format!("x'{}'", k.digest_hex),
                    Backend::Postgres => format!("'\\x{}'::bytea", k.digest_hex),
                };
                format!(
                    "('{id}', '{owner_id}', 'live', 'bench', '{prefix}', '{alg}', NULL, {hash}, \
                     'twin:read', TRUE, {now_ms}, {now_ms}, {UNLIMITED}, {UNLIMITED}, 'month', \
                     'xtask:bench')",
                    id = k.id,
                    prefix = k.prefix,
                    alg = k.algorithm,
                )
            })
            .collect();
        sql.push_str(&rows.join(",\n"));
        sql.push_str(";\n");
        // The counter columns all have defaults; naming only the key keeps this valid if
        // counters are added.
        sql.push_str("INSERT INTO key_counters (key_id) VALUES ");
        let ids: Vec<String> = chunk.iter().map(|k| format!("('{}')", k.id)).collect();
        sql.push_str(&ids.join(", "));
        sql.push_str(";\n");
    }
    sql.push_str("COMMIT;\n");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name_and_keeps_parameters() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "b").unwrap(),
            "postgres://u:p@h/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://h:1", "b").unwrap(),
            "postgresql://h:1/b"
        );
    }

    #[test]
    fn generated_keys_are_distinct_and_hashed_like_the_server() {
        let keys = generate_keys(50, "x").unwrap();
        let ids: std::collections::HashSet<_> = keys.iter().map(|k| &k.id).collect();
        assert_eq!(ids.len(), 50);
        let k = &keys[0];
        assert_eq!(
            k.digest_hex,
            KeyHasher::sha256().hash(&k.plaintext).to_hex()
        );
        assert_eq!(k.algorithm, "sha256");
        let sql = provisioning_sql(Backend::Postgres, "demo", "d", &keys);
        assert!(sql.contains(&format!("'\\x{}'::bytea", k.digest_hex)));
    }
}
