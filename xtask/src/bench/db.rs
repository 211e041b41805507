//! The benchmark's databases: a fresh SQLite file or a fresh PostgreSQL database per run,
//! bulk key provisioning through the `sqlite3` / `psql` command-line clients, and counting
//! the statements the server sends to PostgreSQL.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
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

    /// The backends a `--backend` value names (`sqlite`, `postgres` or `both`), or `None`
    /// for another value.
    pub fn parse_list(value: &str) -> Option<Vec<Backend>> {
        match value {
            "sqlite" => Some(vec![Backend::Sqlite]),
            "postgres" => Some(vec![Backend::Postgres]),
            "both" => Some(vec![Backend::Sqlite, Backend::Postgres]),
            _ => None,
        }
    }
}

/// The PostgreSQL database used to create and drop the bench databases when no `--pg-url`
/// is given: `$TWIN_BENCH_PG_URL`, or `postgres://postgres@127.0.0.1:5432/test`.
pub fn default_pg_url() -> String {
    std::env::var("TWIN_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database created for one benchmark run and removed afterwards (on drop).
pub enum BenchDb {
    /// The SQLite file lives in the run's temporary directory, which is removed with it.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A database `<name>_<random>` on the server behind `admin_url`.
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
    /// A fresh SQLite file in `dir` named after `name`, with `-` for `_` (`bench` →
    /// `bench.db`, `bench_usage` → `bench-usage.db`).
    fn sqlite(dir: &Path, name: &str) -> BenchDb {
        BenchDb::Sqlite {
            path: dir.join(format!("{}.db", name.replace('_', "-"))),
        }
    }

    /// Creates a fresh database `<name>_<random>` on the PostgreSQL server behind
    /// `admin_url`.
    fn postgres(admin_url: &str, name: &str) -> Result<BenchDb> {
        let name = format!("{name}_{}", random_suffix());
        psql(admin_url, &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("creating database {name} (is PostgreSQL running?)"))?;
        let url = with_database(admin_url, &name)?;
        Ok(BenchDb::Postgres {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// A fresh database of `backend` named after `name` (a lower-case SQL identifier such
    /// as `bench`): a file in `dir`, or a new database next to `pg_url`.
    pub fn create(backend: Backend, dir: &Path, pg_url: &str, name: &str) -> Result<BenchDb> {
        match backend {
            Backend::Sqlite => Ok(BenchDb::sqlite(dir, name)),
            Backend::Postgres => BenchDb::postgres(pg_url, name),
        }
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

    /// Runs SQL (one or more statements) through the backend's command-line client and
    /// returns its output (unaligned, no headers).
    pub fn query(&self, sql: &str) -> Result<String> {
        match self {
            BenchDb::Sqlite { path } => {
                let mut cmd = Command::new("sqlite3");
                cmd.args(["-bail", "-batch", "-noheader"])
                    .arg(path)
                    .arg(sql);
                client_output(cmd, "sqlite3", "sqlite3")
            }
            BenchDb::Postgres { url, .. } => psql(url, sql),
        }
    }

    /// [`Self::query`] without the output.
    pub fn execute(&self, sql: &str) -> Result<()> {
        self.query(sql).map(drop)
    }

    /// Picks the best available way to count the statements the server runs: on SQLite
    /// the uprobes in `probes` (if they could be set), on PostgreSQL its statistics.
    pub fn statement_counter(&self, probes: &SqliteProbes) -> StatementCounter {
        let BenchDb::Postgres {
            admin_url,
            name,
            url,
        } = self
        else {
            return match &probes.0 {
                Ok(group) => StatementCounter::SqliteUprobes {
                    group: group.clone(),
                },
                Err(why) => StatementCounter::Unavailable { why: why.clone() },
            };
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
    /// No counter could be set up.
    Unavailable {
        /// Why.
        why: String,
    },
    /// SQLite runs inside the server process, so its statements are counted there: uprobes
    /// on the server binary's (statically linked) `sqlite3_reset` and `sqlite3_exec`, read
    /// with `perf stat`. diesel resets a prepared statement exactly once after each
    /// execution (`BoundStatement`'s drop) and runs `BEGIN`/`COMMIT`/`PRAGMA` through
    /// `sqlite3_exec`, so the sum is the number of statements executed.
    SqliteUprobes {
        /// The uprobe group (see [`SqliteProbes`]).
        group: String,
    },
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

/// A count in progress, from [`StatementCounter::start`] to [`StatementCounter::finish`].
pub enum Counting {
    /// Nothing is counted.
    Nothing,
    /// The database counter's value at the start.
    Database(u64),
    /// A `perf stat` process counting the uprobe hits, and where it writes.
    Perf {
        /// The `perf stat` child.
        child: Child,
        /// Its output file (`-x,` format).
        output: PathBuf,
    },
}

/// The time `perf stat -a` takes to enable its events before counting starts.
const PERF_ATTACH: Duration = Duration::from_millis(500);

impl StatementCounter {
    /// A short description of the method, for the report.
    pub fn method(&self) -> String {
        match self {
            StatementCounter::Unavailable { why } => format!("n/a ({why})"),
            StatementCounter::SqliteUprobes { .. } => {
                "uprobes on the server binary's sqlite3_reset + sqlite3_exec, counted by \
                 `perf stat -a` (every diesel statement execution ends in one sqlite3_reset; \
                 BEGIN/COMMIT/PRAGMA go through sqlite3_exec): statements executed, including \
                 those inside transactions"
                    .into()
            }
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

    /// Waits, after a warm-up, until the warm-up's statements can no longer leak into the
    /// next count: PostgreSQL 15+ backends publish their transaction counts at most once a
    /// second while busy and an idle backend flushes what is pending only after 10 s; the
    /// server writes its usage log every 500 ms.
    pub fn settle(&self) -> Option<Duration> {
        match self {
            StatementCounter::XactCommit { .. } => Some(Duration::from_secs(11)),
            StatementCounter::SqliteUprobes { .. } => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// Starts counting (after the warm-up).
    pub fn start(&self, dir: &Path) -> Result<Counting> {
        match self {
            StatementCounter::Unavailable { .. } => Ok(Counting::Nothing),
            StatementCounter::SqliteUprobes { group } => {
                let output = dir.join(format!("perf-stat-{}.csv", random_suffix()));
                let child = Command::new("perf")
                    .args(["stat", "-a", "-x,", "-o"])
                    .arg(&output)
                    .args([
                        "-e",
                        &format!("{group}:reset"),
                        "-e",
                        &format!("{group}:exec"),
                    ])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("running perf stat")?;
                std::thread::sleep(PERF_ATTACH);
                Ok(Counting::Perf { child, output })
            }
            _ => Ok(Counting::Database(self.read_database()?)),
        }
    }

    /// The number of statements since `start`; call it after the servers have stopped, so
    /// that what they flush on shutdown (usage log, returned leases) is included.
    pub fn finish(&self, counting: Counting) -> Result<Option<u64>> {
        match counting {
            Counting::Nothing => Ok(None),
            Counting::Database(before) => {
                self.wait_disconnected()?;
                Ok(Some(self.read_database()?.saturating_sub(before)))
            }
            Counting::Perf { mut child, output } => {
                // perf stat prints its counts when interrupted.
                let _ = Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status();
                child.wait()?;
                let text = std::fs::read_to_string(&output)
                    .with_context(|| format!("reading {}", output.display()))?;
                let mut total = 0;
                let mut seen = 0;
                for line in text
                    .lines()
                    .filter(|l| !l.starts_with('#') && !l.is_empty())
                {
                    let count = line.split(',').next().unwrap_or_default();
                    total += count
                        .parse::<u64>()
                        .with_context(|| format!("perf stat printed {line:?}"))?;
                    seen += 1;
                }
                if seen != 2 {
                    bail!("perf stat printed {seen} counts, not 2: {text}");
                }
                Ok(Some(total))
            }
        }
    }

    /// The current count of a database-side counter.
    fn read_database(&self) -> Result<u64> {
        let text = match self {
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
            _ => bail!("internal: not a database counter"),
        };
        text.trim()
            .parse()
            .with_context(|| format!("unexpected statement count {text:?}"))
    }

    /// Waits until no session is connected to the bench database any more, so that every
    /// server connection has exited and flushed its statistics (after the server stopped).
    fn wait_disconnected(&self) -> Result<()> {
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

/// Uprobes on a server binary's SQLite entry points, for counting statements on SQLite:
/// `Ok(group)` when they are set (removed on drop), `Err(why)` when they could not be.
/// Setting them needs root, `perf` and tracefs; a probe costs a trap (~µs) only when hit
/// and while `perf stat` has it enabled, so steady-state measurements are unaffected.
pub struct SqliteProbes(std::result::Result<String, String>);

impl SqliteProbes {
    /// No probes (no SQLite run).
    pub fn not_needed() -> SqliteProbes {
        SqliteProbes(Err("no SQLite run".into()))
    }

    /// Sets `<group>:reset` and `<group>:exec` on `bin` (a private copy of the server,
    /// so only the benchmark's own processes hit them).
    pub fn set(bin: &Path) -> SqliteProbes {
        let group = format!("twinbench{}", random_suffix());
        let add = |event: &str, function: &str| -> std::result::Result<(), String> {
            let out = Command::new("perf")
                .args(["probe", "-q", "-x"])
                .arg(bin)
                .arg("-a")
                .arg(format!("{group}:{event}={function}"))
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("perf is not available: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "`perf probe -x <server> {function}` failed (needs root, perf and a \
                     mounted tracefs: mount -t tracefs nodev /sys/kernel/tracing): {}",
                    first_line(String::from_utf8_lossy(&out.stderr).trim())
                ))
            }
        };
        let result = add("reset", "sqlite3_reset").and_then(|()| add("exec", "sqlite3_exec"));
        let probes = SqliteProbes(Ok(group));
        match result {
            Ok(()) => probes,
            Err(why) => {
                drop(probes);
                SqliteProbes(Err(why))
            }
        }
    }
}

impl Drop for SqliteProbes {
    fn drop(&mut self) {
        if let Ok(group) = &self.0 {
            let _ = Command::new("perf")
                .args(["probe", "-q", "-d", &format!("{group}:*")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs one SQL command with `psql` and returns its unaligned, tuples-only output.
pub fn psql(url: &str, sql: &str) -> Result<String> {
    let mut cmd = Command::new("psql");
    cmd.args([
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
    ]);
    client_output(cmd, "psql", "postgresql-client")
}

/// Runs the database client `name` (installed by the apt package `package`) without input
/// and returns its standard output, or its error output as the error.
fn client_output(mut cmd: Command, name: &str, package: &str) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).output().with_context(|| {
        format!("running {name} (is it installed? apt-get install -y {package})")
    })?;
    if !out.status.success() {
        bail!("{name}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> Result<String> {
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

/// The current time in Unix milliseconds, as the server stores timestamps.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
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
    /// The public id (the `api_keys` primary key).
    pub id: String,
    prefix: String,
    algorithm: &'static str,
    digest_hex: String,
}

/// Generates `n` live keys in the server's default format, hashed as the server hashes
/// them when no pepper is configured (SHA-256 of the full key string). Ids already in
/// `seen` (the keys already stored) are skipped, and the new ones are added to it.
pub fn generate_keys(n: usize, seen: &mut HashSet<String>) -> Result<Vec<GeneratedKey>> {
    let format = KeyFormat::twin();
    let hasher = KeyHasher::sha256();
    let mut keys = Vec::with_capacity(n);
    while keys.len() < n {
        let plain = format.generate("live")?;
        let id = plain.id().context("the key format has no id")?.to_owned();
        // Ids are 32 random bits: among a million keys about a hundred repeat, and a
        // repeat would violate the primary key.
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

/// The settings of a group of inserted keys.
#[derive(Debug, Clone, Copy)]
pub struct KeyLimits {
    /// `monthly_quota`.
    pub monthly_quota: i64,
    /// `rate_limit_rpm`.
    pub rate_limit_rpm: i64,
}

impl KeyLimits {
    /// Limits no run reaches.
    pub const UNLIMITED: KeyLimits = KeyLimits {
        monthly_quota: UNLIMITED,
        rate_limit_rpm: UNLIMITED,
    };
}

/// Rows per multi-row `INSERT` on SQLite (the statement is compiled once per batch).
const SQLITE_BATCH: usize = 500;

/// Streams SQL into one `sqlite3` or `psql` process, all in one transaction: keys are
/// written as they are generated, so a million keys never sit in memory as SQL text.
/// PostgreSQL gets `COPY … FROM STDIN` (its bulk path); SQLite gets multi-row `INSERT`s
/// in one transaction (one fsync) with a page cache big enough for the indexes.
pub struct KeyLoader {
    child: Option<Child>,
    stdin: Option<BufWriter<ChildStdin>>,
    backend: Backend,
    owner_id: String,
    now_ms: i64,
    /// Keys written so far.
    pub inserted: usize,
}

impl KeyLoader {
    /// Starts the client and opens the transaction.
    pub fn begin(database: &BenchDb, owner_id: &str) -> Result<KeyLoader> {
        let mut cmd = match database {
            BenchDb::Sqlite { path } => {
                let mut cmd = Command::new("sqlite3");
                cmd.arg("-bail").arg(path);
                cmd
            }
            BenchDb::Postgres { url, .. } => {
                let mut cmd = Command::new("psql");
                cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"]);
                cmd
            }
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context(
                "running the database client (apt-get install -y sqlite3 postgresql-client)",
            )?;
        let stdin = BufWriter::with_capacity(1 << 20, child.stdin.take().context("no stdin")?);
        let mut loader = KeyLoader {
            child: Some(child),
            stdin: Some(stdin),
            backend: database.backend(),
            owner_id: owner_id.to_owned(),
            now_ms: now_ms(),
            inserted: 0,
        };
        if loader.backend == Backend::Sqlite {
            // 1 GiB of page cache (only what is used is allocated): the primary-key index
            // of a million random ids then never spills to disk mid-transaction.
            loader.sql("PRAGMA cache_size = -1048576;")?;
        }
        loader.sql("BEGIN;")?;
        Ok(loader)
    }

    /// Writes one SQL statement (with its `;`).
    pub fn sql(&mut self, statement: &str) -> Result<()> {
        let w = self.stdin.as_mut().context("the loader is finished")?;
        writeln!(w, "{statement}").map_err(|e| anyhow::anyhow!("writing to the client: {e}"))
    }

    /// Inserts `keys` (owned by the loader's owner, scope `twin:read`) with their
    /// `key_counters` rows.
    pub fn keys(&mut self, keys: &[GeneratedKey], limits: KeyLimits) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let (owner, now) = (self.owner_id.clone(), self.now_ms);
        let (quota, rpm) = (limits.monthly_quota, limits.rate_limit_rpm);
        let mut text = String::with_capacity(keys.len() * 260);
        match self.backend {
            Backend::Postgres => {
                text.push_str(
                    "COPY api_keys (id, owner_id, env, name, prefix, hash_algorithm, key_hash, \
                     scopes, is_active, created_at, updated_at, monthly_quota, rate_limit_rpm, \
                     spend_period, created_by, counter_id) FROM STDIN;\n",
                );
                for k in keys {
                    // COPY's text format: tab-separated, and `\\x…` is the bytea `\x…`.
                    let _ = writeln!(
                        text,
                        "{}\t{owner}\tlive\tbench\t{}\t{}\t\\\\x{}\ttwin:read\tt\t{now}\t{now}\t\
                         {quota}\t{rpm}\tmonth\txtask:bench\t{}",
                        k.id, k.prefix, k.algorithm, k.digest_hex, k.id
                    );
                }
                // The counter columns all have defaults; naming only the key keeps this
                // valid if counters are added.
                text.push_str("\\.\nCOPY key_counters (key_id) FROM STDIN;\n");
                for k in keys {
                    text.push_str(&k.id);
                    text.push('\n');
                }
                text.push_str("\\.\n");
            }
            Backend::Sqlite => {
                for chunk in keys.chunks(SQLITE_BATCH) {
                    text.push_str(
                        "INSERT INTO api_keys (id, owner_id, env, name, prefix, \
                         hash_algorithm, pepper_version, key_hash, scopes, is_active, \
                         created_at, updated_at, monthly_quota, rate_limit_rpm, spend_period, \
                         created_by, counter_id) VALUES\n",
                    );
                    for (i, k) in chunk.iter().enumerate() {
                        let _ = write!(
                            text,
                            "{}('{}', '{owner}', 'live', 'bench', '{}', '{}', NULL, x'{}', \
                             'twin:read', TRUE, {now}, {now}, {quota}, {rpm}, 'month', \
                             'xtask:bench', '{}')",
                            if i == 0 { "" } else { ",\n" },
                            k.id,
                            k.prefix,
                            k.algorithm,
                            k.digest_hex,
                            k.id
                        );
                    }
                    text.push_str(";\nINSERT INTO key_counters (key_id) VALUES ");
                    for (i, k) in chunk.iter().enumerate() {
                        let _ = write!(text, "{}('{}')", if i == 0 { "" } else { ", " }, k.id);
                    }
                    text.push_str(";\n");
                }
            }
        }
        let w = self.stdin.as_mut().context("the loader is finished")?;
        w.write_all(text.as_bytes())
            .map_err(|e| anyhow::anyhow!("writing to the client: {e}"))?;
        self.inserted += keys.len();
        Ok(())
    }

    /// Commits, waits for the client, and on PostgreSQL vacuums and analyzes the two tables
    /// (a bulk load would otherwise wake autovacuum in the middle of a measurement).
    pub fn finish(mut self) -> Result<()> {
        let result = self.sql("COMMIT;").and_then(|()| {
            if self.backend == Backend::Postgres {
                self.sql("VACUUM (ANALYZE) api_keys, key_counters;")?;
            }
            let mut w = self.stdin.take().context("the loader is finished")?;
            w.flush()
                .map_err(|e| anyhow::anyhow!("writing to the client: {e}"))
        });
        self.stdin = None;
        let out = self
            .child
            .take()
            .context("the loader is finished")?
            .wait_with_output()?;
        if !out.status.success() || result.is_err() {
            bail!(
                "loading keys failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                result.err().map(|e| format!(" ({e})")).unwrap_or_default()
            );
        }
        Ok(())
    }
}

impl Drop for KeyLoader {
    fn drop(&mut self) {
        // An unfinished load (an error above) must not leave a client waiting on stdin.
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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
        let mut seen = HashSet::from(["x".to_owned()]);
        let keys = generate_keys(50, &mut seen).unwrap();
        let ids: HashSet<_> = keys.iter().map(|k| &k.id).collect();
        assert_eq!(ids.len(), 50);
        assert_eq!(seen.len(), 51);
        let k = &keys[0];
        assert_eq!(
            k.digest_hex,
            KeyHasher::sha256().hash(&k.plaintext).to_hex()
        );
        assert_eq!(k.algorithm, "sha256");
    }
}
