//! `cargo xtask bench http`: the server's HTTP benchmark (SPEC §12, issue 6).
//!
//! For each backend it builds `twin-server` in release, creates a fresh database, provisions
//! it with the binary's own CLI (`migrate`, `demo --json`) plus bulk-inserted keys, then for
//! each scenario starts a fresh `twin-server serve` on the loopback interface, checks that
//! the scenario's requests answer 200, warms it up, and drives it with `wrk`. Every figure is
//! also given as a ratio to the baseline `S` (the same server's `GET /livez`) measured in the
//! same run, because absolute figures depend on the machine.
//!
//! A fresh server per scenario keeps the scenarios independent (no cache or counter state
//! carried over) and gives each its own CPU and memory reading.
//!
//! Besides the single-server scenarios (`baseline`, `hot`, `many`, `mix`, `p99at70`):
//! `million` (its own database, 1,000 → 10,001 → 1,000,000 stored keys; see `million.rs`),
//! `replicas` and `revocation` (two servers on one PostgreSQL; see `replicas.rs`) and `soak`
//! (`hot` for ten minutes, sampling RSS; not in the default set).
//!
//! Traffic only ever goes to 127.0.0.1: the server binds there and wrk targets it.

mod db;
mod million;
mod replicas;
mod report;
mod server;
pub mod usage;
mod wrk;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use self::db::{
    Backend, BenchDb, GeneratedKey, KeyLimits, KeyLoader, SqliteProbes, StatementCounter,
};
use self::report::Row;
use self::server::{Server, ServerEnv};
use self::wrk::{Load, Wrk};

const USAGE: &str = "\
usage: cargo xtask bench http [options]

Builds twin-server in release, runs it on a fresh database and measures it with wrk.

options:
  --duration SECS       measured seconds per scenario (default 10)
  --warmup SECS         unmeasured warm-up per scenario (default 2; 0 to skip)
  --connections N       open connections (default 64; split between the replicas)
  --threads N           wrk threads (default: min(CPUs, connections))
  --scenarios a,b,...   baseline,hot,alerts,token,many,mix,p99at70,million,replicas,revocation,soak
                        (default: all but soak; baseline always runs, p99at70 also runs
                        hot; replicas and revocation run on PostgreSQL only)
  --backend B           sqlite | postgres | both (default both)
  --pg-url URL          an existing PostgreSQL database used to create and drop the bench
                        databases (default $TWIN_BENCH_PG_URL or
                        postgres://postgres@127.0.0.1:5432/test)
  --keys N              distinct keys for the `many` scenarios (default 10000)
  --million N           keys stored for the `million` scenario (default 1000000)
  --quota Q             the replicas' shared key's monthly quota (default 20000)
  --revocations N       revocations timed by `revocation`, half of them under load
                        (default 100)
  --soak-duration SECS  the soak's length (default: --duration if given, else 600)
  --workers N           TWIN_WORKERS for the server (default: the server's own default)";

/// What the bench databases are named after (`bench.db`, `bench_<random>`).
const DB_NAME: &str = "bench";

/// What the run's temporary directories are named after.
const TEMP_PREFIX: &str = "twin-bench";

/// The preset request every metered scenario is built around (SPEC §12).
const PRESET_PATH: &str = "/v1/public/twin/preset/estandar?format=json";

/// The `mix` scenario's endpoints and weights (out of 10).
const MIX: &[(&str, u32)] = &[
    (PRESET_PATH, 4),
    ("/v1/public/twin/health", 2),
    ("/v1/public/twin/me", 2),
    ("/v1/public/twin/historic", 2),
];

/// The share of the hot scenario's throughput at which p99 latency is judged.
const P99_LOAD_SHARE: f64 = 0.7;

/// SPEC §12: p99 at 70 % load may exceed S's p99 at the same rate by at most this.
const P99_ALLOWANCE_US: u64 = 1_000;

/// How often the soak samples the server's RSS.
const SOAK_SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// SPEC §12: RSS flat within ±10 % over the soak.
const SOAK_RSS_BAND: f64 = 0.10;

/// Entry point for `cargo xtask bench …`.
pub fn run(args: &[&str]) -> Result<()> {
    match args {
        ["http", rest @ ..] => {
            let options = Options::parse(rest)?;
            http(&options)
        }
        _ => {
            eprintln!("{USAGE}");
            bail!("unknown bench command: {}", args.join(" "));
        }
    }
}

/// A benchmark scenario, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    /// `GET /livez`: the baseline S.
    Baseline,
    /// The metered preset with one key.
    Hot,
    /// `hot` with the key's alerts configured (eight thresholds, every rule) and a webhook
    /// endpoint that wants every event: the hot path must not notice (SPEC §15).
    Alerts,
    /// `hot` with an OAuth access token (`Authorization: Bearer ato_…`, SPEC §14) for a
    /// grant with the same limits: a token must cost what a key costs.
    Token,
    /// The metered preset with many distinct keys in random order.
    Many,
    /// A mix of public endpoints.
    Mix,
    /// p99 latency of `hot` and of S at 70 % of hot's throughput.
    P99At70,
    /// `hot` and `many` with a million stored keys against 1,000 (and 10,000).
    Million,
    /// Two servers on one PostgreSQL: combined throughput, and the exact quota boundary.
    Replicas,
    /// Two servers: how long a revocation on one takes to reach the other.
    Revocation,
    /// `hot` for a long time, sampling the server's RSS.
    Soak,
}

impl Scenario {
    const ALL: [Scenario; 11] = [
        Scenario::Baseline,
        Scenario::Hot,
        Scenario::Alerts,
        Scenario::Token,
        Scenario::Many,
        Scenario::Mix,
        Scenario::P99At70,
        Scenario::Million,
        Scenario::Replicas,
        Scenario::Revocation,
        Scenario::Soak,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Baseline => "baseline",
            Scenario::Hot => "hot",
            Scenario::Alerts => "alerts",
            Scenario::Token => "token",
            Scenario::Many => "many",
            Scenario::Mix => "mix",
            Scenario::P99At70 => "p99at70",
            Scenario::Million => "million",
            Scenario::Replicas => "replicas",
            Scenario::Revocation => "revocation",
            Scenario::Soak => "soak",
        }
    }

    /// Whether a plain `cargo xtask bench http` runs it (the soak takes 10 minutes).
    fn by_default(self) -> bool {
        self != Scenario::Soak
    }

    /// Whether it needs several servers on one database (PostgreSQL only: SQLite is for
    /// one node).
    fn needs_postgres(self) -> bool {
        matches!(self, Scenario::Replicas | Scenario::Revocation)
    }

    fn parse(name: &str) -> Result<Scenario> {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .with_context(|| format!("unknown scenario `{name}`\n\n{USAGE}"))
    }

    /// SPEC §12's minimum throughput ratio to S. The spec names one PostgreSQL target for
    /// the metered preset; it is applied to both the hot and the many-keys scenarios.
    fn target_ratio(self, backend: Backend) -> Option<f64> {
        match (self, backend) {
            (Scenario::Hot, Backend::Sqlite) => Some(0.7),
            (Scenario::Many, Backend::Sqlite) => Some(0.6),
            (Scenario::Hot | Scenario::Many, Backend::Postgres) => Some(0.5),
            _ => None,
        }
    }
}

/// Command-line options.
struct Options {
    duration: Duration,
    warmup: Duration,
    connections: u32,
    threads: u32,
    scenarios: Vec<Scenario>,
    backends: Vec<Backend>,
    pg_url: String,
    keys: usize,
    million: usize,
    quota: i64,
    revocations: usize,
    soak_duration: Duration,
    workers: Option<u32>,
}

impl Options {
    fn parse(args: &[&str]) -> Result<Options> {
        let mut duration = None;
        let mut warmup = 2;
        let mut connections = 64;
        let mut threads = None;
        let mut scenarios: Vec<Scenario> = Scenario::ALL
            .into_iter()
            .filter(|s| s.by_default())
            .collect();
        let mut backends = vec![Backend::Sqlite, Backend::Postgres];
        let mut pg_url = db::default_pg_url();
        let mut keys = 10_000;
        let mut million = 1_000_000;
        let mut quota = 20_000;
        let mut revocations = 100;
        let mut soak_duration = None;
        let mut workers = None;
        parse_flags(args, USAGE, &mut backends, &mut pg_url, |flag, value| {
            match flag {
                "--duration" => duration = Some(value()?.parse().context("--duration")?),
                "--warmup" => warmup = value()?.parse().context("--warmup")?,
                "--connections" => connections = value()?.parse().context("--connections")?,
                "--threads" => threads = Some(value()?.parse().context("--threads")?),
                "--keys" => keys = value()?.parse().context("--keys")?,
                "--million" => million = value()?.parse().context("--million")?,
                "--quota" => quota = value()?.parse().context("--quota")?,
                "--revocations" => revocations = value()?.parse().context("--revocations")?,
                "--soak-duration" => {
                    soak_duration = Some(value()?.parse().context("--soak-duration")?);
                }
                "--workers" => workers = Some(value()?.parse().context("--workers")?),
                "--scenarios" => {
                    scenarios = value()?
                        .split(',')
                        .map(|s| Scenario::parse(s.trim()))
                        .collect::<Result<_>>()?;
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        // Ratios need S from the same run, and p99at70 needs hot's throughput.
        scenarios.push(Scenario::Baseline);
        if scenarios.contains(&Scenario::P99At70) {
            scenarios.push(Scenario::Hot);
        }
        scenarios.sort();
        scenarios.dedup();
        let duration: u64 = duration.unwrap_or(10);
        // A soak asked for with --duration takes that long; otherwise it is SPEC §12's
        // ten minutes.
        let soak_duration: u64 = soak_duration
            .or(args.contains(&"--duration").then_some(duration))
            .unwrap_or(600);
        if duration == 0 || soak_duration == 0 || connections < 2 || keys == 0 {
            bail!("--duration and --keys must be positive and --connections at least 2");
        }
        if quota < 1 || revocations < 2 || workers == Some(0) {
            bail!("--quota and --workers must be positive, --revocations at least 2");
        }
        if scenarios.contains(&Scenario::Million) && million < keys + 2 {
            bail!("--million must exceed --keys");
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let threads = threads.unwrap_or(cpus).clamp(1, connections);
        Ok(Options {
            duration: Duration::from_secs(duration),
            warmup: Duration::from_secs(warmup),
            connections,
            threads,
            scenarios,
            backends,
            pg_url,
            keys,
            million,
            quota,
            revocations,
            soak_duration: Duration::from_secs(soak_duration),
            workers,
        })
    }
}

/// Walks a benchmark's command line, `args`, flag by flag: `-h` / `--help` prints `usage`
/// and exits, `--backend` and `--pg-url` set `backends` and `pg_url`, and any other flag
/// goes to `option` with a way to take its value; `option` answers whether it knew the flag.
fn parse_flags<'a>(
    args: &[&'a str],
    usage: &str,
    backends: &mut Vec<Backend>,
    pg_url: &mut String,
    mut option: impl FnMut(&'a str, &mut dyn FnMut() -> Result<&'a str>) -> Result<bool>,
) -> Result<()> {
    let mut it = args.iter();
    while let Some(&flag) = it.next() {
        let mut value = || {
            it.next()
                .copied()
                .with_context(|| format!("{flag} needs a value\n\n{usage}"))
        };
        match flag {
            "--pg-url" => *pg_url = value()?.to_owned(),
            "--backend" => {
                let name = value()?;
                *backends = Backend::parse_list(name)
                    .with_context(|| format!("unknown backend `{name}`\n\n{usage}"))?;
            }
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            _ if option(flag, &mut value)? => {}
            other => bail!("unknown option `{other}`\n\n{usage}"),
        }
    }
    Ok(())
}

/// A directory under the system's temp dir, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    /// A new directory `<prefix>-<random>` (e.g. `twin-bench-1f3a…`).
    fn new(prefix: &str) -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", db::random_suffix()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What every backend run shares: the load generator, the server binary, the probes.
struct Bench<'a> {
    options: &'a Options,
    wrk: &'a Wrk,
    /// The private copy of the release server.
    bin: &'a Path,
    probes: &'a SqliteProbes,
    ticks_per_sec: u64,
}

fn http(options: &Options) -> Result<()> {
    let wrk = Wrk::locate()?;
    let root = crate::workspace_root();
    let built = server::build_release(&root)?;
    let run_dir = TempDir::new(TEMP_PREFIX)?;
    let bin = server::private_copy(&built, &run_dir.0)?;
    let revision = git_revision(&root);
    let probes = if options.backends.contains(&Backend::Sqlite) {
        SqliteProbes::set(&bin)
    } else {
        SqliteProbes::not_needed()
    };
    let bench = Bench {
        options,
        wrk: &wrk,
        bin: &bin,
        probes: &probes,
        ticks_per_sec: server::clock_ticks_per_sec(),
    };
    // The load generator shares the machine with the server, and so may other work: the
    // load average tells a reader of the figures how quiet the machine was.
    let load_before = load_average();
    println!(
        "bench http: {} s per scenario after {} s warm-up, {} connections, {} wrk threads, \
         {}; server CPU as % of one core ({} CPUs here); scenarios: {}",
        options.duration.as_secs(),
        options.warmup.as_secs(),
        options.connections,
        options.threads,
        wrk.version,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        options
            .scenarios
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(","),
    );
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    if options.scenarios.contains(&Scenario::P99At70) {
        let pacing = if wrk.holds_rate() {
            "p99at70 holds the rate with wrk2's -R (latency corrected for coordinated omission)."
        } else {
            "Plain wrk cannot hold a fixed request rate (that is wrk2's -R): p99at70 paces \
             requests with a Lua delay() scheduler instead (xtask/bench/pace.lua), without \
             wrk2's coordinated-omission correction; the rate achieved is printed."
        };
        println!("note: {pacing}");
        notes.push(pacing.to_owned());
    }
    for &backend in &options.backends {
        let dir = TempDir::new(TEMP_PREFIX)?;
        let database = BenchDb::create(backend, &dir.0, &options.pg_url, DB_NAME)?;
        let run =
            BackendRun::prepare(&bench, &dir.0, &database, Provision::main(options, backend))?;
        println!(
            "\n== {}: statements counted by {}",
            backend.as_str(),
            run.counter.method()
        );
        notes.push(format!(
            "{}: DB statements per request by {}.",
            backend.as_str(),
            run.counter.method()
        ));
        let (backend_rows, backend_notes) = run.all_scenarios()?;
        rows.extend(backend_rows);
        notes.extend(backend_notes);
        // The database is dropped and the directory removed here, even after an error above.
    }

    let load_after = load_average();
    println!("\n{}", report::markdown_table(&rows));
    for note in &notes {
        println!("- {note}");
    }
    println!(
        "- Method: one `twin-server serve` (release, TWIN_LOG=warn, {workers}) per \
         scenario on a fresh database, {} s warm-up then {} s of wrk with {} connections and \
         {} threads on the same machine; × S is req/s divided by the baseline `GET /livez` of \
         the same run; CPU is the server process's utime+stime over the run; RSS is VmRSS at \
         the end. Load generator: {}. Server built from {revision}. Load average (1, 5, \
         15 min) before: {load_before}; after: {load_after}.",
        options.warmup.as_secs(),
        options.duration.as_secs(),
        options.connections,
        options.threads,
        wrk.version,
        workers = match options.workers {
            Some(n) => format!("TWIN_WORKERS={n}"),
            None => "default workers".into(),
        },
    );
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.has_errors())
        .map(|r| format!("{}/{}", r.backend.as_str(), r.label))
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} scenario(s) had error responses or socket errors, so their figures are not \
             valid: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// What one scenario run sends.
enum Traffic {
    /// `GET /livez` without a key.
    Livez,
    /// The preset with the demo key (a static request).
    HotKey,
    /// The preset with the generated keys.
    ManyKeys,
    /// The `MIX` endpoints with the demo key.
    Mix,
    /// The preset with the replicas' quota-limited key, counting responses by status.
    Quota,
    /// The preset with an OAuth access token as the bearer (a static request, as `HotKey`).
    Token(String),
}

impl Traffic {
    fn script(&self) -> String {
        match self {
            Traffic::Livez => String::new(),
            Traffic::HotKey => include_str!("../../bench/hot.lua").to_owned(),
            Traffic::ManyKeys => include_str!("../../bench/many.lua").to_owned(),
            Traffic::Mix => include_str!("../../bench/mix.lua").to_owned(),
            Traffic::Quota => format!(
                "{}\n{}",
                include_str!("../../bench/hot.lua"),
                include_str!("../../bench/status.lua")
            ),
            Traffic::Token(token) => format!(
                "-- One OAuth access token, as a bearer: a static request, as hot.lua.\n\
                 wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n"
            ),
        }
    }

    fn first_path(&self) -> &'static str {
        match self {
            Traffic::Livez => "/livez",
            _ => PRESET_PATH,
        }
    }
}

/// Which keys a bench database gets besides the demo key.
struct Provision {
    /// Generated keys for the `many` scenario.
    many_keys: usize,
    /// The replicas' key with a monthly quota of exactly this.
    quota_key: Option<i64>,
    /// Keys to revoke, and a management key (`keys:write`) created with the CLI.
    revocation_keys: usize,
}

impl Provision {
    /// What the selected scenarios need on the main database of `backend`.
    fn main(options: &Options, backend: Backend) -> Provision {
        let has = |s| {
            options.scenarios.contains(&s) && !(s.needs_postgres() && backend == Backend::Sqlite)
        };
        Provision {
            many_keys: if has(Scenario::Many) { options.keys } else { 0 },
            quota_key: has(Scenario::Replicas).then_some(options.quota),
            revocation_keys: if has(Scenario::Revocation) {
                options.revocations
            } else {
                0
            },
        }
    }

    /// Only the demo key (the million scenario adds its keys itself).
    fn none() -> Provision {
        Provision {
            many_keys: 0,
            quota_key: None,
            revocation_keys: 0,
        }
    }
}

/// A key created through the CLI: its id and plaintext.
struct CliKey {
    id: String,
    key: String,
}

/// Everything prepared for one backend: a provisioned database and the keys.
struct BackendRun<'a> {
    bench: &'a Bench<'a>,
    options: &'a Options,
    wrk: &'a Wrk,
    env: ServerEnv,
    dir: &'a Path,
    database: &'a BenchDb,
    backend: Backend,
    counter: StatementCounter,
    owner_id: String,
    demo_key: String,
    /// Two of the generated keys, for the pre-flight check.
    sample_keys: Vec<String>,
    keys_file: PathBuf,
    /// The ids of every key stored, so that more generated keys never repeat one.
    stored_ids: HashSet<String>,
    /// The replicas' key and its quota.
    quota_key: Option<(GeneratedKey, i64)>,
    /// A key with `keys:write`, for revoking through the owner API.
    mgmt_key: Option<CliKey>,
    /// Keys the revocation scenario revokes.
    revocation_keys: Vec<GeneratedKey>,
    seed: u64,
}

impl<'a> BackendRun<'a> {
    fn prepare(
        bench: &'a Bench<'a>,
        dir: &'a Path,
        database: &'a BenchDb,
        provision: Provision,
    ) -> Result<BackendRun<'a>> {
        let backend = database.backend();
        eprintln!("[{}] provisioning {}", backend.as_str(), database.url());
        let env = ServerEnv {
            workers: bench.options.workers,
            ..ServerEnv::new(bench.bin, database.url(), loopback(server::free_port()?))
        };
        let demo = env.migrate_and_demo()?;
        let (owner_id, demo_key, demo_key_id) = (demo.owner_id, demo.key, demo.key_id);
        // The management key goes through the CLI like an operator's would, before the
        // bulk keys push the owner past the plan's limit of active keys.
        let mgmt_key = if provision.revocation_keys > 0 {
            let created = env.run_cli_json(&[
                "key",
                "create",
                &owner_id,
                "--name",
                "mgmt",
                "--scopes",
                "keys:read,keys:write,twin:read",
                "--json",
            ])?;
            Some(CliKey {
                id: server::json_field(&created, "id")?,
                key: server::json_field(&created, "key")?,
            })
        } else {
            None
        };
        let mut stored_ids: HashSet<String> = [
            Some(demo_key_id.clone()),
            mgmt_key.as_ref().map(|k| k.id.clone()),
        ]
        .into_iter()
        .flatten()
        .collect();

        // Generating and inserting keys directly is seconds; 10,000 CLI calls would be
        // minutes, each opening the database and migrating.
        let started = Instant::now();
        let keys = db::generate_keys(provision.many_keys, &mut stored_ids)?;
        let quota_key = match provision.quota_key {
            Some(q) => Some((db::generate_keys(1, &mut stored_ids)?.remove(0), q)),
            None => None,
        };
        let revocation_keys = db::generate_keys(provision.revocation_keys, &mut stored_ids)?;
        let mut loader = KeyLoader::begin(database, &owner_id)?;
        // The demo and management keys' limits are lifted so that no run hits 429.
        let mut lifted = vec![format!("'{demo_key_id}'")];
        lifted.extend(mgmt_key.as_ref().map(|k| format!("'{}'", k.id)));
        loader.sql(&format!(
            "UPDATE api_keys SET monthly_quota = {u}, rate_limit_rpm = {u} WHERE id IN ({});",
            lifted.join(", "),
            u = db::UNLIMITED,
        ))?;
        loader.keys(&keys, KeyLimits::UNLIMITED)?;
        if let Some((key, quota)) = &quota_key {
            loader.keys(
                std::slice::from_ref(key),
                KeyLimits {
                    monthly_quota: *quota,
                    rate_limit_rpm: db::UNLIMITED,
                },
            )?;
        }
        loader.keys(&revocation_keys, KeyLimits::UNLIMITED)?;
        let inserted = loader.inserted;
        loader.finish()?;
        if inserted > 0 {
            eprintln!(
                "[{}] generated and inserted {inserted} keys in {:.1} s",
                backend.as_str(),
                started.elapsed().as_secs_f64()
            );
        }
        let keys_file = dir.join("keys.txt");
        let mut run = BackendRun {
            bench,
            options: bench.options,
            wrk: bench.wrk,
            env,
            dir,
            database,
            backend,
            counter: database.statement_counter(bench.probes),
            owner_id,
            demo_key,
            sample_keys: Vec::new(),
            keys_file,
            stored_ids,
            quota_key,
            mgmt_key,
            revocation_keys,
            seed: u64::from(std::process::id()),
        };
        run.use_many_keys(&keys)?;
        Ok(run)
    }

    /// Makes `keys` the ones the `many` traffic sends.
    fn use_many_keys(&mut self, keys: &[GeneratedKey]) -> Result<()> {
        let plaintexts: Vec<&str> = keys.iter().map(|k| k.plaintext.as_str()).collect();
        std::fs::write(&self.keys_file, plaintexts.join("\n"))?;
        self.sample_keys = [plaintexts.first(), plaintexts.last()]
            .into_iter()
            .flatten()
            .map(|k| (*k).to_owned())
            .collect();
        Ok(())
    }

    /// Runs the selected scenarios in order; returns the rows and the verdict notes.
    fn all_scenarios(&self) -> Result<(Vec<Row>, Vec<String>)> {
        let mut rows: Vec<Row> = Vec::new();
        let mut notes = Vec::new();
        let mut baseline_rps = None;
        let mut hot_rps = None;
        let demo_key_id = self
            .demo_key
            .split('_')
            .nth(2)
            .unwrap_or_default()
            .to_owned();
        for &scenario in &self.options.scenarios {
            if scenario.needs_postgres() && self.backend == Backend::Sqlite {
                let note = format!(
                    "sqlite: `{}` skipped: several servers need PostgreSQL (SQLite is for one \
                     node).",
                    scenario.name()
                );
                println!("{note}");
                notes.push(note);
                continue;
            }
            match scenario {
                Scenario::P99At70 => {
                    let hot = hot_rps.context("p99at70 needs the hot scenario's throughput")?;
                    let rate = hot * P99_LOAD_SHARE;
                    let hot_row = self.measure("p99at70: hot", &Traffic::HotKey, Some(rate))?;
                    let s_row = self.measure("p99at70: S", &Traffic::Livez, Some(rate))?;
                    let (hot_p99, s_p99) = (hot_row.result.p99_us, s_row.result.p99_us);
                    let met = hot_p99 <= s_p99 + P99_ALLOWANCE_US;
                    let verdict = format!(
                        "{}: at {:.0} req/s (70 % of hot), hot p99 {} vs S p99 {} at the same \
                         rate; SPEC §12 target p99 ≤ S's + 1 ms: {}.",
                        self.backend.as_str(),
                        rate,
                        report::ms(hot_p99),
                        report::ms(s_p99),
                        if met { "met" } else { "missed" }
                    );
                    println!("{verdict}");
                    notes.push(verdict);
                    rows.push(hot_row);
                    rows.push(s_row);
                }
                Scenario::Million => {
                    let (r, n) = million::run(self, baseline_rps)?;
                    rows.extend(r);
                    notes.extend(n);
                }
                Scenario::Replicas => {
                    let (r, n) = replicas::replicas(self, baseline_rps)?;
                    rows.extend(r);
                    notes.extend(n);
                }
                Scenario::Revocation => notes.extend(replicas::revocation(self)?),
                Scenario::Alerts => {
                    // The demo key gets every alert setting and the owner an endpoint that
                    // wants every event; afterwards both are taken away again.
                    let now = db::now_ms();
                    self.database.execute(&format!(
                        "UPDATE api_keys SET alert_thresholds = '[1,5,10,25,50,80,90,100]', \
                         alerts = '{{\"highUsage\":{{\"threshold\":1000000000,\"period\":\"hour\"}},\
                         \"failures\":{{\"threshold\":1000000000,\"period\":\"day\"}},\
                         \"unusualActivity\":true}}' WHERE id = '{demo_key_id}'; \
                         INSERT INTO webhook_endpoints (id, owner_id, url, description, events, \
                         enabled, secret, created_at, updated_at) VALUES ('wh_bench', \
                         '{owner}', 'https://example.invalid/hook', 'bench', '*', true, \
                         'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', {now}, {now});",
                        owner = self.owner_id,
                    ))?;
                    let measured = self.measure("alerts", &Traffic::HotKey, None);
                    self.database.execute(&format!(
                        "UPDATE api_keys SET alert_thresholds = NULL, alerts = NULL \
                         WHERE id = '{demo_key_id}'; DELETE FROM webhook_endpoints \
                         WHERE id = 'wh_bench';"
                    ))?;
                    let mut row = measured?;
                    let rps = row.result.requests_per_sec();
                    row.ratio_to_s = baseline_rps.map(|s| rps / s);
                    row.print_line();
                    if let Some(hot) = hot_rps {
                        let note = format!(
                            "{}: with alerts configured the hot path serves {:.2} × its \
                             throughput without (same run).",
                            self.backend.as_str(),
                            rps / hot
                        );
                        println!("{note}");
                        notes.push(note);
                    }
                    rows.push(row);
                }
                Scenario::Token => {
                    let token = self.provision_token(&demo_key_id)?;
                    let measured = self.measure("token", &Traffic::Token(token), None);
                    self.database.execute(
                        "DELETE FROM oauth_tokens WHERE grant_id = 'grt_bench'; \
                         DELETE FROM oauth_grants WHERE id = 'grt_bench'; \
                         DELETE FROM oauth_clients WHERE id = 'cli_bench';",
                    )?;
                    let mut row = measured?;
                    let rps = row.result.requests_per_sec();
                    row.ratio_to_s = baseline_rps.map(|s| rps / s);
                    row.print_line();
                    if let Some(hot) = hot_rps {
                        let note = format!(
                            "{}: with an OAuth access token the hot path serves {:.2} × its \
                             throughput with a key (same run).",
                            self.backend.as_str(),
                            rps / hot
                        );
                        println!("{note}");
                        notes.push(note);
                    }
                    rows.push(row);
                }
                Scenario::Soak => {
                    let (row, note) = self.soak(baseline_rps)?;
                    rows.push(row);
                    notes.push(note);
                }
                Scenario::Baseline | Scenario::Hot | Scenario::Many | Scenario::Mix => {
                    let traffic = match scenario {
                        Scenario::Baseline => Traffic::Livez,
                        Scenario::Hot => Traffic::HotKey,
                        Scenario::Many => Traffic::ManyKeys,
                        _ => Traffic::Mix,
                    };
                    let mut row = self.measure(scenario.name(), &traffic, None)?;
                    let rps = row.result.requests_per_sec();
                    match scenario {
                        Scenario::Baseline => baseline_rps = Some(rps),
                        Scenario::Hot => hot_rps = Some(rps),
                        _ => {}
                    }
                    row.ratio_to_s = baseline_rps.map(|s| rps / s);
                    row.target_ratio = scenario.target_ratio(self.backend);
                    row.print_line();
                    rows.push(row);
                }
            }
        }
        Ok((rows, notes))
    }

    /// `hot` for the soak's duration, sampling the server's RSS every 10 s.
    fn soak(&self, baseline_rps: Option<f64>) -> Result<(Row, String)> {
        let duration = self.options.soak_duration;
        eprintln!(
            "[{}] soak: hot for {} s, RSS every {} s",
            self.backend.as_str(),
            duration.as_secs(),
            SOAK_SAMPLE_EVERY.as_secs()
        );
        let (mut row, samples) = self.measure_with(
            &format!("soak: hot for {} s", duration.as_secs()),
            &Traffic::HotKey,
            None,
            duration,
            Some(SOAK_SAMPLE_EVERY),
        )?;
        let rss: Vec<u64> = samples.iter().map(|(_, kib)| *kib).collect();
        let (min, max) = (
            rss.iter().copied().min().unwrap_or(0),
            rss.iter().copied().max().unwrap_or(0),
        );
        // ±x % around the middle of the range: within ±10 % when max ≤ 1.22 × min.
        let mid = (max + min) as f64 / 2.0;
        let band = if mid > 0.0 {
            (max - min) as f64 / 2.0 / mid
        } else {
            0.0
        };
        let met = band <= SOAK_RSS_BAND;
        row.ratio_to_s = baseline_rps.map(|s| row.result.requests_per_sec() / s);
        row.target_note = Some(format!(
            "RSS ±{:.1} % ({} … {}): {}",
            band * 100.0,
            report::mib(min),
            report::mib(max),
            if met { "met" } else { "missed" }
        ));
        row.print_line();
        let trace: Vec<String> = samples
            .iter()
            .map(|(t, kib)| format!("{t:.0} s {}", report::mib(*kib)))
            .collect();
        let note = format!(
            "{}: soak ({} s of hot, {:.0} req/s): server RSS sampled every {} s: min {}, max {}, \
             spread ±{:.1} % around the middle (SPEC §12: flat within ±10 % over 10 minutes: \
             {}{}). Samples: {}.",
            self.backend.as_str(),
            duration.as_secs(),
            row.result.requests_per_sec(),
            SOAK_SAMPLE_EVERY.as_secs(),
            report::mib(min),
            report::mib(max),
            band * 100.0,
            if met { "met" } else { "missed" },
            if duration < Duration::from_secs(600) {
                ", over this shorter run"
            } else {
                ""
            },
            trace.join(", ")
        );
        println!("{note}");
        Ok((row, note))
    }

    /// Starts a fresh server, checks the traffic answers 200, warms up, then measures.
    fn measure(&self, label: &str, traffic: &Traffic, rate: Option<f64>) -> Result<Row> {
        let (row, _) = self.measure_with(label, traffic, rate, self.options.duration, None)?;
        if rate.is_some() {
            row.print_line();
        }
        Ok(row)
    }

    /// A server for this run's database on a fresh port.
    fn start_server(&self, slug: &str) -> Result<(ServerEnv, Server)> {
        let env = ServerEnv {
            addr: loopback(server::free_port()?),
            ..self.env.clone()
        };
        let server = env.start(&self.dir.join(format!("server-{slug}.log")))?;
        Ok((env, server))
    }

    /// [`Self::measure`] for `duration`, sampling the server's RSS every `sample_every`
    /// (the samples are (seconds into the run, KiB)).
    fn measure_with(
        &self,
        label: &str,
        traffic: &Traffic,
        rate: Option<f64>,
        duration: Duration,
        sample_every: Option<Duration>,
    ) -> Result<(Row, Vec<(f64, u64)>)> {
        let slug = slug(label);
        let (env, server) = self.start_server(&slug)?;
        self.preflight(env.addr, traffic)?;

        let script = self.dir.join(format!("{slug}.lua"));
        std::fs::write(&script, self.compose_script(traffic, rate))?;
        let url = format!("http://{}{}", env.addr, traffic.first_path());
        let load = |duration| Load {
            url: &url,
            script: &script,
            duration,
            connections: self.options.connections,
            threads: self.options.threads,
            rate: rate.filter(|_| self.wrk.holds_rate()),
        };
        let wrk_log = self.dir.join(format!("wrk-{slug}.txt"));
        if matches!(traffic, Traffic::ManyKeys) {
            // The steady state is what `many` measures: every key's first request (the cold
            // path) is sent here, once, and timed on its own.
            let keys = std::fs::read_to_string(&self.keys_file)?;
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            let took = prime_keys(env.addr, &keys, self.options.connections.min(16))?;
            eprintln!(
                "[{}] {label}: first request of each of {} keys (cold path) in {:.1} s, {:.0} req/s",
                self.backend.as_str(),
                keys.len(),
                took.as_secs_f64(),
                keys.len() as f64 / took.as_secs_f64().max(1e-9)
            );
        }
        if !self.options.warmup.is_zero() {
            self.wrk.run(&load(self.options.warmup), &wrk_log)?;
            self.settle(label);
        }

        let counting = self.counter.start(self.dir)?;
        let cpu_before = server.cpu_ticks()?;
        let started = Instant::now();
        let mut samples = Vec::new();
        let result = match sample_every {
            None => self.wrk.run(&load(duration), &wrk_log)?,
            Some(every) => std::thread::scope(|scope| {
                let measured = load(duration);
                let wrk_log = &wrk_log;
                let handle = scope.spawn(move || self.wrk.run(&measured, wrk_log));
                let mut next = Duration::ZERO;
                while !handle.is_finished() {
                    if started.elapsed() >= next {
                        if let Ok(kib) = server.rss_kib() {
                            samples.push((started.elapsed().as_secs_f64(), kib));
                        }
                        next += every;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("the wrk thread panicked"))?
            })?,
        };
        let wall = started.elapsed().as_secs_f64();
        let cpu_after = server.cpu_ticks()?;
        let rss_kib = server.rss_kib()?;
        // The last reading, unless the sampler has just taken one.
        if sample_every.is_some() && samples.last().is_none_or(|(t, _)| wall - t > 1.0) {
            samples.push((wall, rss_kib));
        }
        server.stop()?;
        // Stopping the server closes its connections, and a closing PostgreSQL backend
        // publishes the statistics it still holds, so the count below is complete.
        let statements = self.counter.finish(counting)?;

        let cpu_secs = (cpu_after - cpu_before) as f64 / self.bench.ticks_per_sec as f64;
        let mut row = Row::new(
            self.backend,
            match rate {
                Some(rate) => format!("{label} @ {rate:.0}/s"),
                None => label.to_owned(),
            },
            result,
        );
        row.statements_per_request = statements
            .filter(|_| row.result.requests > 0)
            .map(|n| n as f64 / row.result.requests as f64);
        row.paced_rate = rate;
        row.cpu_pct = 100.0 * cpu_secs / wall;
        row.rss_kib = rss_kib;
        Ok((row, samples))
    }

    /// After a warm-up: waits until the warm-up's statements can no longer be counted in
    /// the measured run.
    fn settle(&self, label: &str) {
        if let Some(wait) = self.counter.settle() {
            eprintln!(
                "[{}] {label}: waiting {} s so the warm-up's statements are not counted",
                self.backend.as_str(),
                wait.as_secs()
            );
            std::thread::sleep(wait);
        }
    }

    /// One request of each kind the scenario sends must answer 200, or the run would measure
    /// error responses (a wrong key, an exhausted quota, a missing snapshot).
    fn preflight(&self, addr: SocketAddr, traffic: &Traffic) -> Result<()> {
        let checks: Vec<(&str, Option<&str>)> = match traffic {
            Traffic::Livez => vec![("/livez", None)],
            Traffic::HotKey => vec![(PRESET_PATH, Some(self.demo_key.as_str()))],
            // The token authenticates in any of the key headers too.
            Traffic::Token(token) => vec![(PRESET_PATH, Some(token.as_str()))],
            Traffic::ManyKeys => self
                .sample_keys
                .iter()
                .map(|k| (PRESET_PATH, Some(k.as_str())))
                .collect(),
            Traffic::Mix => MIX
                .iter()
                .map(|(path, _)| (*path, Some(self.demo_key.as_str())))
                .collect(),
            // Each check would spend a unit of the quota: the replicas scenario checks and
            // counts those itself.
            Traffic::Quota => Vec::new(),
        };
        for (path, key) in checks {
            let headers: Vec<(&str, &str)> = key.map(|k| ("X-Twin-Key", k)).into_iter().collect();
            let (status, body) = server::http_get(addr, path, &headers)?;
            if status != 200 {
                let body: String = body.chars().take(400).collect();
                bail!("pre-flight GET {path} answered {status}, not 200: {body}");
            }
        }
        Ok(())
    }

    /// A grant of the demo owner to a bench client, with the demo key's lifted limits, and
    /// one access token for it, written straight to the database as the server would;
    /// returns the token. (Its backing key stays: rows of api_keys are never deleted.)
    fn provision_token(&self, demo_key_id: &str) -> Result<String> {
        let plain = twin_keys::KeyFormat::twin_access_token()
            .generate("live")
            .map_err(|e| anyhow::anyhow!("token generation: {e}"))?;
        let token = plain.expose_secret().to_owned();
        let id = plain.id().unwrap_or_default().to_owned();
        let digest: String = twin_keys::KeyHasher::sha256()
            .hash(&token)
            .digest()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let blob = |hex: &str| match self.backend {
            Backend::Sqlite => format!("x'{hex}'"),
            Backend::Postgres => format!("decode('{hex}', 'hex')"),
        };
        let now = db::now_ms();
        // The demo key's id with another first digit: an id no other bench key has.
        let first = if demo_key_id.starts_with('b') {
            'c'
        } else {
            'b'
        };
        let key_id = format!("{first}{}", &demo_key_id[1..]);
        self.database.execute(&format!(
            "INSERT INTO oauth_clients (id, name, redirect_uris, secret_hash, auth_method, \
             registered_by, created_at) VALUES ('cli_bench', 'bench app', \
             '[\"https://example.invalid/cb\"]', NULL, 'none', 'operator', {now}); \
             INSERT INTO api_keys (id, owner_id, env, name, prefix, hash_algorithm, \
             pepper_version, key_hash, scopes, is_active, created_at, updated_at, monthly_quota, \
             rate_limit_rpm, spend_period, created_by, counter_id, grant_id) SELECT '{key_id}', \
             '{owner}', 'live', 'bench app', 'atk_live_{key_id}', 'sha256', NULL, {zero}, \
             'twin:read', TRUE, {now}, {now}, {u}, {u}, 'month', 'oauth:cli_bench', '{key_id}', \
             'grt_bench' WHERE NOT EXISTS (SELECT 1 FROM api_keys WHERE id = '{key_id}'); \
             INSERT INTO key_counters (key_id, quota_period, quota_used, rate_minute, \
             rate_current, rate_previous, spend_period_start, spend_period_used) SELECT \
             '{key_id}', 0, 0, 0, 0, 0, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM key_counters \
             WHERE key_id = '{key_id}'); \
             INSERT INTO oauth_grants (id, client_id, owner_id, key_id, scopes, created_at, \
             activated_at) VALUES ('grt_bench', 'cli_bench', '{owner}', '{key_id}', 'twin:read', \
             {now}, {now}); \
             INSERT INTO oauth_tokens (id, grant_id, kind, token_hash, created_at, expires_at) \
             VALUES ('{id}', 'grt_bench', 'access', {hash}, {now}, {later});",
            owner = self.owner_id,
            zero = blob(&"00".repeat(32)),
            hash = blob(&digest),
            u = db::UNLIMITED,
            later = now + 86_400_000,
        ))?;
        Ok(token)
    }

    /// The wrk script: generated settings, the traffic's script, the pacing scheduler when
    /// a rate is asked of plain wrk, and the reporter.
    fn compose_script(&self, traffic: &Traffic, rate: Option<f64>) -> String {
        self.compose_script_for(traffic, rate, self.options.threads)
    }

    /// [`Self::compose_script`] for a wrk with `threads` threads.
    fn compose_script_for(&self, traffic: &Traffic, rate: Option<f64>, threads: u32) -> String {
        let mix: Vec<String> = MIX
            .iter()
            .map(|(path, weight)| format!("{{ {path:?}, {weight} }}"))
            .collect();
        let rate_per_thread = rate.map_or(0.0, |r| r / f64::from(threads));
        let key = match (traffic, &self.quota_key) {
            (Traffic::Quota, Some((key, _))) => key.plaintext.as_str(),
            _ => self.demo_key.as_str(),
        };
        let mut script = format!(
            "-- Generated by `cargo xtask bench http`.\n\
             BENCH = {{\n  key = {key:?},\n  keys_file = {keys:?},\n  path = {path:?},\n  \
             seed = {seed},\n  rate_per_thread = {rate_per_thread},\n  mix = {{ {mix} }},\n}}\n\n",
            keys = self.keys_file.display().to_string(),
            path = PRESET_PATH,
            seed = self.seed,
            mix = mix.join(", "),
        );
        script.push_str(&traffic.script());
        if rate.is_some() && !self.wrk.holds_rate() {
            script.push('\n');
            script.push_str(include_str!("../../bench/pace.lua"));
        }
        script.push('\n');
        script.push_str(include_str!("../../bench/report.lua"));
        script
    }
}

/// Sends one preset request per key over `connections` keep-alive connections, every answer
/// checked to be 200; returns the time it took.
fn prime_keys(addr: SocketAddr, keys: &[&str], connections: u32) -> Result<Duration> {
    use std::io::{BufRead, BufReader, Read, Write};
    let started = Instant::now();
    let per = keys.len().div_ceil(connections.max(1) as usize).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = keys
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || -> Result<()> {
                    let stream = std::net::TcpStream::connect(addr)?;
                    stream.set_nodelay(true)?;
                    let mut reader = BufReader::new(stream.try_clone()?);
                    let mut writer = stream;
                    for key in chunk {
                        write!(
                            writer,
                            "GET {PRESET_PATH} HTTP/1.1\r\nHost: {addr}\r\nX-Twin-Key: {key}\r\n\r\n"
                        )?;
                        let mut status = String::new();
                        reader.read_line(&mut status)?;
                        if status.split(' ').nth(1) != Some("200") {
                            bail!("priming: {key:.16}… answered {}", status.trim());
                        }
                        let mut length = 0usize;
                        loop {
                            let mut line = String::new();
                            reader.read_line(&mut line)?;
                            let line = line.trim_end();
                            if line.is_empty() {
                                break;
                            }
                            if let Some((name, value)) = line.split_once(':')
                                && name.eq_ignore_ascii_case("content-length")
                            {
                                length = value.trim().parse().context("content-length")?;
                            }
                        }
                        let mut body = vec![0u8; length];
                        reader.read_exact(&mut body)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a priming thread panicked"))??;
        }
        Ok(started.elapsed())
    })
}

/// A label as a file-name fragment.
fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100).
fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The CPU time of several servers together, in clock ticks.
fn cpu_ticks(servers: &[&Server]) -> Result<u64> {
    servers.iter().map(|s| s.cpu_ticks()).sum()
}

/// The first three fields of /proc/loadavg.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The commit the server was built from, marked `-dirty` with uncommitted changes.
pub(crate) fn git_revision(root: &Path) -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| format!("commit {}", s.trim()))
        .unwrap_or_else(|| "an unknown revision (not a git checkout)".into())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7u32], 99.0), Some(7));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
    }

    #[test]
    fn the_soak_is_not_a_default_scenario_and_takes_ten_minutes() {
        let o = Options::parse(&[]).unwrap();
        assert!(!o.scenarios.contains(&Scenario::Soak));
        assert!(o.scenarios.contains(&Scenario::Million));
        let o = Options::parse(&["--scenarios", "soak"]).unwrap();
        assert_eq!(o.soak_duration, Duration::from_secs(600));
        assert_eq!(o.duration, Duration::from_secs(10));
        assert_eq!(o.scenarios, vec![Scenario::Baseline, Scenario::Soak]);
        let o = Options::parse(&["--scenarios", "soak", "--duration", "120"]).unwrap();
        assert_eq!(o.soak_duration, Duration::from_secs(120));
    }
}
