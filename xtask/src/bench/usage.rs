//! `cargo xtask bench usage`: the usage-analytics benchmark (SPEC §12: `/usage` aggregates
//! with 10 million logged calls, p99 ≤ 50 ms; issue 5).
//!
//! For each backend it builds `twin-server` in release, creates a fresh database, provisions
//! it with the binary's own CLI (`migrate`, `demo --json`), lifts the demo key's limits and
//! adds 19 more keys for the same owner by SQL, then loads N raw usage rows spread over those
//! 20 keys and the last 120 days, generated inside the database (PostgreSQL
//! `generate_series`, SQLite a recursive CTE) in transactions of a million rows, through the
//! `psql` / `sqlite3` command-line clients (the xtask has no database driver). The daily
//! roll-ups are then built from the raw rows with one `INSERT … SELECT … GROUP BY`, exactly
//! as the server's flusher would have kept them, and the planner statistics are refreshed.
//!
//! It then starts `twin-server serve` on the loopback interface and times sequential
//! requests to each usage endpoint with a minimal HTTP/1.1 client over `std::net::TcpStream`
//! (one fresh connection per request, `Connection: close`; the time runs from before the
//! connect to the last byte of the response), after a warm-up. Every measured response must
//! be 200, and the figures are only printed once the data is shown to be there (the
//! `since=all` total of the measured key is about N / 20).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::db::{self, Backend, BenchDb, now_ms};
use super::report::{kib, ms_fixed, thousands};
use super::server::{self, Response, ServerEnv, build_release, free_port};
use super::{TempDir, git_revision, load_average, loopback, parse_flags, percentile};

const USAGE: &str = "\
usage: cargo xtask bench usage [options]

Loads a large usage log into a fresh database, starts the release server on it and measures
the latency of the usage endpoints (SPEC §12: p99 ≤ 50 ms with 10 million logged calls).

options:
  --rows N          raw usage rows to load (default 10000000)
  --backend B       sqlite | postgres | both (default both)
  --requests R      measured requests per endpoint (default 300)
  --warmup W        unmeasured requests per endpoint first (default 20)
  --pg-url URL      an existing PostgreSQL database used to create and drop the bench
                    database (default $TWIN_BENCH_PG_URL or
                    postgres://postgres@127.0.0.1:5432/test)";

/// What the bench databases are named after (`bench-usage.db`, `bench_usage_<random>`).
const DB_NAME: &str = "bench_usage";

/// What the run's temporary directories are named after.
const TEMP_PREFIX: &str = "twin-bench-usage";

/// How long one response may take to arrive, read by read.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the server may take to answer `/livez` after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// SPEC §12's target for every usage endpoint.
const TARGET_P99: Duration = Duration::from_millis(50);

/// Keys of the owner the rows are spread over (the demo key and 19 more).
const KEYS: usize = 20;

/// Days of history the rows are spread over (ending at the moment of loading).
const DAYS: i64 = 120;

const DAY_MS: i64 = 86_400_000;

/// Rows per generated `INSERT … SELECT` (one transaction each).
const CHUNK: u64 = 1_000_000;

/// The demo key is given every scope (the usage endpoints need `usage:read` and
/// `account:read`).
const ALL_SCOPES: &str = "twin:read keys:read keys:write usage:read account:read";

/// Kept long enough that the start-up retention purge (default 90 days) does not delete the
/// loaded history while it is measured.
const RETENTION_DAYS: &str = "365";

/// The route mix of the generated log: `(upper bound out of 1000, method, route template)`.
/// The first entry is the metered preset, which alone has a variant, a format and a cost.
const ROUTES: &[(u32, &str, &str)] = &[
    (700, "GET", "/v1/public/twin/preset/{slug}"),
    (800, "GET", "/v1/public/twin/me"),
    (870, "GET", "/v1/public/twin/health"),
    (920, "GET", "/v1/public/twin/historic"),
    (950, "GET", "/v1/keys"),
    (970, "GET", "/v1/keys/{id}/usage"),
    (980, "GET", "/v1/keys/{id}/recent"),
    (990, "GET", "/v1/account/usage"),
    (995, "GET", "/v1/account"),
    (1000, "POST", "/v1/keys"),
];

/// The status mix: `(upper bound out of 1000, status, whether the preset's variant and
/// format were read by then)`. 429 and 402 are refused before the endpoint runs; 400 is a
/// bad parameter.
const STATUSES: &[(u32, u16, bool)] = &[
    (930, 200, true),
    (950, 304, true),
    (970, 429, false),
    (980, 404, true),
    (990, 402, false),
    (997, 400, false),
    (1000, 500, true),
];

/// Preset variants: `(upper bound out of 20, name)`.
const VARIANTS: &[(u32, &str)] = &[(8, "generic"), (14, "claude"), (18, "gpt"), (20, "gemini")];

/// Preset formats: `(upper bound out of 20, name)`.
const FORMATS: &[(u32, &str)] = &[(10, "txt"), (15, "json"), (18, "md"), (20, "yaml")];

/// A successful preset call costs one credit.
const PRESET_COST_MICROS: i64 = 1_000_000;

/// Entry point for `cargo xtask bench usage …`.
pub fn run(args: &[&str]) -> Result<()> {
    let options = Options::parse(args)?;
    let root = crate::workspace_root();
    let bin = build_release(&root)?;
    println!(
        "bench usage: {} rows over {KEYS} keys and {DAYS} days; {} warm-up + {} measured \
         sequential requests per endpoint; target p99 ≤ {} ms",
        thousands(options.rows),
        options.warmup,
        options.requests,
        TARGET_P99.as_millis()
    );
    let load_before = load_average();
    let mut reports = Vec::new();
    for &backend in &options.backends {
        let dir = TempDir::new(TEMP_PREFIX)?;
        let database = BenchDb::create(backend, &dir.0, &options.pg_url, DB_NAME)?;
        let report = bench_backend(&options, &bin, &dir.0, &database)?;
        println!("\n{}", report.markdown());
        reports.push(report);
        // The database is dropped and the directory removed here, even after an error above.
    }
    let load_after = load_average();

    println!("\n---- Markdown for docs/PERFORMANCE.md ----\n");
    for report in &reports {
        println!("{}\n", report.markdown());
    }
    println!(
        "Method: `cargo xtask bench usage --rows {rows} --requests {req}` on {cpus} CPUs, \
         server built from {rev}. Load average (1, 5, 15 min) before: {load_before}; after: \
         {load_after}.",
        rows = options.rows,
        req = options.requests,
        cpus = std::thread::available_parallelism().map_or(1, |n| n.get()),
        rev = git_revision(&root),
    );
    let failed: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.rows
                .iter()
                .filter(|row| !row.passes())
                .map(|row| format!("{} {}", r.backend.as_str(), row.label))
        })
        .collect();
    if failed.is_empty() {
        println!(
            "\nall usage endpoints met p99 ≤ {} ms",
            TARGET_P99.as_millis()
        );
    } else {
        println!(
            "\nmissed p99 ≤ {} ms: {}",
            TARGET_P99.as_millis(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// Command-line options.
struct Options {
    rows: u64,
    backends: Vec<Backend>,
    requests: usize,
    warmup: usize,
    pg_url: String,
}

impl Options {
    fn parse(args: &[&str]) -> Result<Options> {
        let mut rows: u64 = 10_000_000;
        let mut backends = vec![Backend::Sqlite, Backend::Postgres];
        let mut requests = 300;
        let mut warmup = 20;
        let mut pg_url = db::default_pg_url();
        parse_flags(args, USAGE, &mut backends, &mut pg_url, |flag, value| {
            match flag {
                "--rows" => rows = value()?.replace('_', "").parse().context("--rows")?,
                "--requests" => requests = value()?.parse().context("--requests")?,
                "--warmup" => warmup = value()?.parse().context("--warmup")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        if rows < KEYS as u64 * 10 || requests == 0 {
            bail!(
                "--rows must be at least {} and --requests positive",
                KEYS * 10
            );
        }
        Ok(Options {
            rows,
            backends,
            requests,
            warmup,
            pg_url,
        })
    }
}

/// One endpoint's figures.
struct Row {
    label: String,
    samples: Vec<Duration>,
    /// What the response held, for the reader (e.g. `totalCalls 500,120`).
    detail: String,
    bytes: usize,
}

impl Row {
    /// The nearest-rank percentile `p` (in 0..=100) of the samples.
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        percentile(&sorted, p).unwrap_or_default()
    }

    fn max(&self) -> Duration {
        self.samples.iter().copied().max().unwrap_or_default()
    }

    fn passes(&self) -> bool {
        self.percentile(99.0) <= TARGET_P99
    }
}

/// The figures of one backend.
struct Report {
    backend: Backend,
    rows_loaded: u64,
    load: Duration,
    rollup: Duration,
    analyze: Duration,
    rollup_rows: u64,
    size: String,
    rows: Vec<Row>,
}

impl Report {
    fn markdown(&self) -> String {
        let mut out = format!(
            "**{}** — {} raw rows ({} roll-up rows; {}), loaded in {:.1} s, roll-ups built in \
             {:.1} s, statistics in {:.1} s.\n\n\
             | endpoint | p50 | p99 | max | p99 ≤ 50 ms | response |\n\
             |---|---:|---:|---:|---|---|\n",
            self.backend.as_str(),
            thousands(self.rows_loaded),
            thousands(self.rollup_rows),
            self.size,
            self.load.as_secs_f64(),
            self.rollup.as_secs_f64(),
            self.analyze.as_secs_f64(),
        );
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {}; {} |",
                row.label,
                ms_fixed(row.percentile(50.0)),
                ms_fixed(row.percentile(99.0)),
                ms_fixed(row.max()),
                if row.passes() { "PASS" } else { "FAIL" },
                row.detail,
                kib(row.bytes),
            );
        }
        out.truncate(out.trim_end().len());
        out
    }
}

/// Provisions, loads, measures and (on drop of `database`) cleans up one backend.
fn bench_backend(options: &Options, bin: &Path, dir: &Path, database: &BenchDb) -> Result<Report> {
    let backend = database.backend();
    let tag = format!("[{}]", backend.as_str());
    eprintln!("{tag} provisioning {}", database.url());
    let env = ServerEnv {
        extra: vec![("TWIN_USAGE_RETENTION_DAYS", RETENTION_DAYS.to_owned())],
        ready_timeout: READY_TIMEOUT,
        ..ServerEnv::new(bin, database.url(), loopback(free_port()?))
    };
    let demo = env.migrate_and_demo()?;
    let (owner_id, demo_key, demo_key_id) = (demo.owner_id, demo.key, demo.key_id);
    let key_ids = key_ids(&demo_key_id);
    let now_ms = now_ms();
    database.execute(&provisioning_sql(backend, &owner_id, &key_ids, now_ms))?;

    // Raw rows, a million per transaction.
    let started = Instant::now();
    let mut lo = 1;
    while lo <= options.rows {
        let hi = (lo + CHUNK - 1).min(options.rows);
        database.execute(&chunk_sql(
            backend,
            &owner_id,
            &key_ids,
            now_ms,
            options.rows,
            lo,
            hi,
        ))?;
        eprintln!(
            "{tag} loaded {} / {} rows ({:.0} s)",
            thousands(hi),
            thousands(options.rows),
            started.elapsed().as_secs_f64()
        );
        lo = hi + 1;
    }
    let load = started.elapsed();
    println!(
        "{tag} loaded {} raw usage rows in {:.1} s ({:.0} rows/s)",
        thousands(options.rows),
        load.as_secs_f64(),
        options.rows as f64 / load.as_secs_f64()
    );

    let started = Instant::now();
    database.execute(&rollup_sql(&owner_id))?;
    let rollup = started.elapsed();
    let rollup_rows: u64 = database
        .query("SELECT count(*) FROM usage_daily")?
        .trim()
        .parse()
        .context("counting roll-up rows")?;
    println!(
        "{tag} built {} roll-up rows in {:.1} s",
        thousands(rollup_rows),
        rollup.as_secs_f64()
    );

    let started = Instant::now();
    database.execute(match backend {
        // A bulk-loaded table would otherwise be vacuumed by autovacuum in the middle of the
        // measurement; a long-lived table has been vacuumed by it long since.
        Backend::Postgres => "VACUUM (ANALYZE)",
        Backend::Sqlite => "ANALYZE",
    })?;
    let analyze = started.elapsed();
    let size = size(database)?;
    println!(
        "{tag} {} in {:.1} s; database size {size}",
        match backend {
            Backend::Postgres => "VACUUM (ANALYZE)",
            Backend::Sqlite => "ANALYZE",
        },
        analyze.as_secs_f64()
    );

    // The measured key is one of the loaded keys, not the caller's, so its figures hold the
    // loaded history only and do not move with the benchmark's own (logged) requests.
    let target = &key_ids[1];
    let expected_per_key = options.rows / KEYS as u64;
    let endpoints = [
        format!("/v1/keys/{target}/usage?since=day"),
        format!("/v1/keys/{target}/usage?since=month"),
        format!("/v1/keys/{target}/usage?since=all"),
        format!("/v1/keys/{target}/recent?limit=50"),
        format!("/v1/keys/{target}/recent?limit=200"),
        "/v1/account/usage".to_owned(),
        // The dashboard's key page: the usage report, activity and recent calls in one page.
        format!("/dashboard/keys/{target}"),
    ];
    // A dashboard session for the owner, written as the server writes one (only the
    // token's SHA-256 is stored).
    let session_token = format!("{:0>64}", db::random_suffix());
    let session_hash = hex(twin_keys::KeyHasher::sha256().hash(&session_token).digest());
    database.execute(&format!(
        "INSERT INTO dashboard_sessions (token_hash, owner_id, csrf_token, created_at, expires_at) \
         VALUES ({}, '{owner_id}', '{session_token}', {now_ms}, {});",
        match backend {
            Backend::Sqlite => format!("x'{session_hash}'"),
            Backend::Postgres => format!("'\\x{session_hash}'::bytea"),
        },
        now_ms + 12 * 3_600_000
    ))?;
    let cookie = format!("twin_session={session_token}");

    let server = env.start(&dir.join("server.log"))?;
    let headers = [
        ("X-Twin-Key", demo_key.as_str()),
        ("Cookie", cookie.as_str()),
    ];
    // Warm-up, then one checked response per endpoint: the data must really be there.
    for _ in 0..options.warmup {
        for path in &endpoints {
            get(env.addr, path, &headers)?;
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    for path in &endpoints {
        let response = get(env.addr, path, &headers)?;
        if response.status != 200 {
            bail!(
                "{tag} GET {path} answered {}, not 200: {}",
                response.status,
                String::from_utf8_lossy(&response.body)
                    .chars()
                    .take(400)
                    .collect::<String>()
            );
        }
        let detail = if path.starts_with("/dashboard/") {
            let html = String::from_utf8_lossy(&response.body);
            if !html.contains("<svg") || !html.contains("data-recent") {
                bail!("{tag} GET {path}: not the key page");
            }
            "the HTML page (report, activity, recent calls)".to_owned()
        } else {
            let json: serde_json::Value = serde_json::from_slice(&response.body)
                .with_context(|| format!("{tag} GET {path}: the body is not JSON"))?;
            describe(path, &json, expected_per_key, options.rows)
                .with_context(|| format!("{tag} GET {path}"))?
        };
        rows.push(Row {
            label: format!("GET {}", path.replace(target.as_str(), "{id}")),
            samples: Vec::with_capacity(options.requests),
            detail,
            bytes: response.body.len(),
        });
    }
    // Measured: the endpoints in turn, so that each sees the same state of the caches.
    for _ in 0..options.requests {
        for (path, row) in endpoints.iter().zip(rows.iter_mut()) {
            let response = get(env.addr, path, &headers)?;
            if response.status != 200 {
                bail!(
                    "{tag} GET {path} answered {} while measured",
                    response.status
                );
            }
            row.samples.push(response.elapsed);
        }
    }
    server.stop()?;

    println!("\n{tag} query plans with the loaded data:");
    for (what, sql) in plan_queries(target, &owner_id, now_ms) {
        println!("-- {what}\n{}", explain(database, &sql)?.trim_end());
    }

    Ok(Report {
        backend,
        rows_loaded: options.rows,
        load,
        rollup,
        analyze,
        rollup_rows,
        size,
        rows,
    })
}

/// Checks a response holds the loaded data and says what it held.
fn describe(
    path: &str,
    json: &serde_json::Value,
    expected_per_key: u64,
    rows: u64,
) -> Result<String> {
    let int = |name: &str| -> Result<i64> {
        json[name]
            .as_i64()
            .with_context(|| format!("no integer `{name}` in {json}"))
    };
    let len = |name: &str| json[name].as_array().map_or(0, Vec::len);
    if path.contains("/usage?since=") {
        let total = int("totalCalls")?;
        if path.ends_with("=all") {
            // Keys are drawn at random: the share of one key is N/20 within a few standard
            // deviations; 10 % is far outside that for any N this accepts.
            let expected = expected_per_key as f64;
            if (total as f64 - expected).abs() > 0.1 * expected + 10.0 {
                bail!("since=all totalCalls is {total}, expected about {expected_per_key}");
            }
        }
        Ok(format!(
            "totalCalls {}, {} days, {} routes",
            thousands(total.max(0) as u64),
            len("byDay"),
            len("byEndpoint")
        ))
    } else if path.contains("/recent") {
        let limit = int("limit")?;
        let items = len("items");
        // Every key has far more rows than the largest limit, unless N is tiny.
        let full = expected_per_key >= 400;
        if items == 0 || (full && items as i64 != limit) {
            bail!("asked for {limit} calls, got {items}");
        }
        Ok(format!("{items} calls"))
    } else {
        let total = int("totalCalls")?;
        if total <= 0 && rows >= 1_000_000 {
            bail!("the month's totalCalls is {total}");
        }
        Ok(format!(
            "totalCalls {}, {} keys",
            thousands(total.max(0) as u64),
            len("keys")
        ))
    }
}

/// The statements behind the endpoints (as the store issues them), for EXPLAIN.
fn plan_queries(key_id: &str, owner_id: &str, now_ms: i64) -> Vec<(&'static str, String)> {
    let today = now_ms.div_euclid(DAY_MS) * DAY_MS;
    // The 1st of the current month at 00:00Z, from the civil date of `today`.
    let month_start = month_start_ms(today);
    vec![
        (
            "usage?since=month by group (Store::key_usage_grouped)",
            format!(
                "SELECT CAST(0 AS BIGINT) AS day, route, status, variant, \
                 CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(cost) AS BIGINT) AS cost \
                 FROM usage_daily WHERE key_id = '{key_id}' AND day >= {month_start} \
                 GROUP BY route, status, variant"
            ),
        ),
        (
            "usage?since=all by day (Store::key_usage_grouped)",
            format!(
                "SELECT day, '' AS route, CAST(0 AS INTEGER) AS status, '' AS variant, \
                 CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(cost) AS BIGINT) AS cost \
                 FROM usage_daily WHERE key_id = '{key_id}' AND day >= {} \
                 GROUP BY day ORDER BY day",
                i64::MIN
            ),
        ),
        (
            "recent?limit=200 (Store::recent_calls)",
            format!(
                "SELECT at, method, route, status, cost, duration_us, variant, format \
                 FROM usage_log WHERE key_id = '{key_id}' ORDER BY at DESC, id DESC LIMIT 200"
            ),
        ),
        (
            "account/usage (Store::owner_usage_by_key)",
            format!(
                "SELECT u.key_id, COALESCE(k.prefix, '') AS prefix, COALESCE(k.name, '') AS name, \
                 CAST(SUM(u.calls) AS BIGINT) AS calls, CAST(SUM(u.cost) AS BIGINT) AS cost \
                 FROM usage_daily u LEFT JOIN api_keys k ON k.id = u.key_id \
                 WHERE u.owner_id = '{owner_id}' AND u.day >= {month_start} AND u.day < {} \
                 GROUP BY u.key_id, k.prefix, k.name ORDER BY u.key_id",
                now_ms + 31 * DAY_MS
            ),
        ),
    ]
}

/// The first instant of the UTC month containing `day_ms` (Unix ms).
fn month_start_ms(day_ms: i64) -> i64 {
    // Howard Hinnant's days-from-civil / civil-from-days.
    let z = day_ms.div_euclid(DAY_MS) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day_of_month = doy - (153 * mp + 2) / 5 + 1;
    (day_ms.div_euclid(DAY_MS) - (day_of_month - 1)) * DAY_MS
}

// ---------------------------------------------------------------------------------------
// The generated data.

/// The demo key first, then 19 more distinct 8-hex ids.
fn key_ids(demo_key_id: &str) -> Vec<String> {
    let mut state = now_ms() as u64 ^ (u64::from(std::process::id()) << 32) | 1;
    let mut ids = vec![demo_key_id.to_owned()];
    while ids.len() < KEYS {
        // xorshift64: not a secret, only distinct.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let id = format!("{:08x}", state & 0xffff_ffff);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// Gives the demo key every scope, no rate limit and a quota the run cannot exhaust, and
/// inserts the other keys (with their counter rows) for the same owner.
fn provisioning_sql(backend: Backend, owner_id: &str, key_ids: &[String], now_ms: i64) -> String {
    let mut sql = String::from("BEGIN;\n");
    let _ = writeln!(
        sql,
        "UPDATE api_keys SET scopes = '{ALL_SCOPES}', rate_limit_rpm = 0, \
         monthly_quota = 1000000 WHERE id = '{}';",
        key_ids[0]
    );
    let created = now_ms - (DAYS + 10) * DAY_MS;
    let rows: Vec<String> = key_ids[1..]
        .iter()
        .map(|id| {
            // Never used to authenticate: any 32 bytes do.
            let digest = id.repeat(8);
            let hash = match backend {
                Backend::Sqlite => format!("x'{digest}'"),
                Backend::Postgres => format!("'\\x{digest}'::bytea"),
            };
            format!(
                "('{id}', '{owner_id}', 'live', 'bench {id}', 'atk_live_{id}', 'sha256', NULL, \
                 {hash}, 'twin:read', TRUE, {created}, {created}, 100000, 60, 'month', \
                 'xtask:bench-usage', '{id}')"
            )
        })
        .collect();
    let _ = writeln!(
        sql,
        "INSERT INTO api_keys (id, owner_id, env, name, prefix, hash_algorithm, \
         pepper_version, key_hash, scopes, is_active, created_at, updated_at, monthly_quota, \
         rate_limit_rpm, spend_period, created_by, counter_id) VALUES\n{};",
        rows.join(",\n")
    );
    let counters: Vec<String> = key_ids[1..].iter().map(|id| format!("('{id}')")).collect();
    let _ = writeln!(
        sql,
        "INSERT INTO key_counters (key_id) VALUES {};",
        counters.join(", ")
    );
    sql.push_str("COMMIT;\n");
    sql
}

/// A uniform random integer in `0..m`, drawn once per generated row.
fn random_below(backend: Backend, m: u32) -> String {
    match backend {
        Backend::Sqlite => format!("abs(random() % {m})"),
        Backend::Postgres => format!("floor(random() * {m})::int"),
    }
}

/// `CASE` over `column` choosing the value of the first range whose upper bound exceeds it.
fn case_by_bound(
    column: &str,
    ranges: impl IntoIterator<Item = (u32, String)>,
    else_: &str,
) -> String {
    let mut sql = String::from("CASE");
    for (bound, value) in ranges {
        let _ = write!(sql, " WHEN {column} < {bound} THEN {value}");
    }
    let _ = write!(sql, " ELSE {else_} END");
    sql
}

/// One transaction inserting rows `lo..=hi` of `n`: row `i` is at `now − 120 days + i ×
/// 120 days / n` (so the log is in time order, as a real one is), for a random key of the
/// owner, with a random route, status, variant and format drawn from the mixes above.
fn chunk_sql(
    backend: Backend,
    owner_id: &str,
    key_ids: &[String],
    now_ms: i64,
    n: u64,
    lo: u64,
    hi: u64,
) -> String {
    let span = DAYS * DAY_MS;
    let start = now_ms - span;
    let draws = format!(
        "i, {} AS k, {} AS rt, {} AS st, {} AS v, {} AS f, {} AS d",
        random_below(backend, KEYS as u32),
        random_below(backend, 1000),
        random_below(backend, 1000),
        random_below(backend, 20),
        random_below(backend, 20),
        random_below(backend, 4000),
    );
    let key = {
        let mut sql = String::from("CASE k");
        for (i, id) in key_ids.iter().enumerate() {
            let _ = write!(sql, " WHEN {i} THEN '{id}'");
        }
        sql.push_str(" END");
        sql
    };
    let method = case_by_bound(
        "rt",
        ROUTES.iter().map(|(b, m, _)| (*b, format!("'{m}'"))),
        "'GET'",
    );
    let route = case_by_bound(
        "rt",
        ROUTES.iter().map(|(b, _, r)| (*b, format!("'{r}'"))),
        "'/v1/keys'",
    );
    let status = case_by_bound(
        "st",
        STATUSES.iter().map(|(b, s, _)| (*b, s.to_string())),
        "500",
    );
    let preset = format!("rt < {}", ROUTES[0].0);
    // The status ranges in which the preset had read its variant and format.
    let mut read_detail = Vec::new();
    let mut from = 0;
    for &(bound, _, read) in STATUSES {
        if read {
            read_detail.push(format!("(st >= {from} AND st < {bound})"));
        }
        from = bound;
    }
    let with_detail = format!("{preset} AND ({})", read_detail.join(" OR "));
    // A value drawn from `mix` by `column`, for the calls that had read their details.
    let detail = |column: &str, mix: &[(u32, &str)], else_: &str| {
        let values = mix.iter().map(|(b, v)| (*b, format!("'{v}'")));
        format!(
            "CASE WHEN {with_detail} THEN {} END",
            case_by_bound(column, values, else_)
        )
    };
    let variant = detail("v", VARIANTS, "'generic'");
    let format = detail("f", FORMATS, "'txt'");
    // Only a successful (2xx/3xx) preset call is charged.
    let cost = format!("CASE WHEN {preset} AND st < 950 THEN {PRESET_COST_MICROS} ELSE 0 END");
    // Presets take longer to render than the other routes.
    let duration = format!("CASE WHEN {preset} THEN 400 + d ELSE 150 + d / 4 END");
    let select = format!(
        "INSERT INTO usage_log (key_id, owner_id, at, method, route, status, cost, duration_us, \
         variant, format)\nSELECT {key}, '{owner_id}', {start} + (i * {span}) / {n}, {method}, \
         {route}, {status}, {cost}, {duration}, {variant}, {format}\nFROM "
    );
    match backend {
        // SQLite would flatten a subquery and evaluate random() once per reference: the
        // MATERIALIZED CTE draws each row's numbers exactly once.
        Backend::Sqlite => format!(
            "PRAGMA synchronous = OFF;\nPRAGMA cache_size = -262144;\nBEGIN;\n\
             WITH RECURSIVE s(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM s WHERE i < {hi}),\n\
             r AS MATERIALIZED (SELECT {draws} FROM s)\n{select}r;\nCOMMIT;\n"
        ),
        // PostgreSQL never pulls up a subquery with volatile functions in its select list.
        Backend::Postgres => format!(
            "SET synchronous_commit = off;\n{select}(SELECT {draws} FROM generate_series({lo}, \
             {hi}) AS s(i)) AS r;\n"
        ),
    }
}

/// The daily roll-ups of the loaded rows (the flusher's grouping: key × UTC day ×
/// `METHOD /route` × status × variant), stored day by day as the flusher would have
/// created them, and each key's `usageCount` / `lastUsedAt`.
fn rollup_sql(owner_id: &str) -> String {
    format!(
        "BEGIN;\n\
         INSERT INTO usage_daily (key_id, owner_id, day, route, status, variant, calls, cost)\n\
         SELECT key_id, owner_id, at - at % {DAY_MS}, method || ' ' || route, status, \
         COALESCE(variant, ''), count(*), sum(cost)\n\
         FROM usage_log GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 3, 1;\n\
         UPDATE api_keys SET\n\
         usage_count = (SELECT COALESCE(sum(d.calls), 0) FROM usage_daily d \
         WHERE d.key_id = api_keys.id),\n\
         last_used_at = (SELECT max(l.at) FROM usage_log l WHERE l.key_id = api_keys.id)\n\
         WHERE owner_id = '{owner_id}';\n\
         COMMIT;\n"
    )
}

// ---------------------------------------------------------------------------------------
// The database and the client.

/// The plan of a query: SQLite's `EXPLAIN QUERY PLAN`, PostgreSQL's `EXPLAIN (ANALYZE,
/// BUFFERS)` (run once more, after the measurement).
fn explain(database: &BenchDb, sql: &str) -> Result<String> {
    match database {
        BenchDb::Sqlite { .. } => {
            let started = Instant::now();
            database.query(sql)?;
            let elapsed = started.elapsed();
            let plan = database.query(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            Ok(format!(
                "{plan}(sqlite3 CLI run incl. process start: {})",
                ms_fixed(elapsed)
            ))
        }
        BenchDb::Postgres { .. } => {
            database.query(&format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}"))
        }
    }
}

/// Size on disk of the database (SQLite: file + WAL) or of the usage tables (PostgreSQL,
/// with their indexes).
fn size(database: &BenchDb) -> Result<String> {
    match database {
        BenchDb::Sqlite { path } => {
            let mut bytes = std::fs::metadata(path)?.len();
            let wal = PathBuf::from(format!("{}-wal", path.display()));
            bytes += std::fs::metadata(wal).map_or(0, |m| m.len());
            Ok(format!("database file {:.2} GiB", bytes as f64 / GIB))
        }
        BenchDb::Postgres { .. } => {
            let out = database.query(
                "SELECT pg_total_relation_size('usage_log'), \
                 pg_total_relation_size('usage_daily')",
            )?;
            let sizes: Vec<f64> = out
                .trim()
                .split('|')
                .map(|s| s.parse::<f64>().unwrap_or(0.0))
                .collect();
            Ok(format!(
                "usage_log {:.2} GiB and usage_daily {:.1} MiB with indexes",
                sizes.first().copied().unwrap_or(0.0) / GIB,
                sizes.get(1).copied().unwrap_or(0.0) / (1024.0 * 1024.0)
            ))
        }
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// One `GET` over a fresh connection (`Connection: close`), timed from before the connect
/// to the last byte.
fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Response> {
    server::http_exchange(addr, "GET", path, headers, READ_TIMEOUT)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_start_is_the_first_at_midnight() {
        // 2026-11-22T22:22:53Z → 2026-11-01T00:00:00Z.
        assert_eq!(month_start_ms(1_795_386_173_000), 1_793_491_200_000);
        // 2024-02-29T12:00Z (leap day) → 2024-02-01.
        assert_eq!(month_start_ms(1_709_208_000_000), 1_706_745_600_000);
        // The 1st itself.
        assert_eq!(month_start_ms(1_706_745_600_000), 1_706_745_600_000);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let row = Row {
            label: String::new(),
            samples: (1..=300).map(Duration::from_millis).collect(),
            detail: String::new(),
            bytes: 0,
        };
        assert_eq!(row.percentile(50.0), Duration::from_millis(150));
        assert_eq!(row.percentile(99.0), Duration::from_millis(297));
        assert_eq!(row.max(), Duration::from_millis(300));
    }

    #[test]
    fn twenty_distinct_keys_demo_first() {
        let ids = key_ids("0badcafe");
        assert_eq!(ids.len(), KEYS);
        assert_eq!(ids[0], "0badcafe");
        let set: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(set.len(), KEYS);
        assert!(ids.iter().all(|i| i.len() == 8));
    }
}
