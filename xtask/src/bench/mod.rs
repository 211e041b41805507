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
//! Traffic only ever goes to 127.0.0.1: the server binds there and wrk targets it.

mod db;
mod report;
mod server;
mod wrk;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use self::db::{Backend, BenchDb, StatementCounter};
use self::report::Row;
use self::server::ServerEnv;
use self::wrk::{Load, Wrk};

const USAGE: &str = "\
usage: cargo xtask bench http [options]

Builds twin-server in release, runs it on a fresh database and measures it with wrk.

options:
  --duration SECS       measured seconds per scenario (default 10)
  --warmup SECS         unmeasured warm-up per scenario (default 2; 0 to skip)
  --connections N       open connections (default 64)
  --threads N           wrk threads (default: min(CPUs, connections))
  --scenarios a,b,...   baseline,hot,many,mix,p99at70 (default: all; baseline always runs,
                        p99at70 also runs hot)
  --backend B           sqlite | postgres | both (default both)
  --pg-url URL          an existing PostgreSQL database used to create and drop the bench
                        database (default $TWIN_BENCH_PG_URL or
                        postgres://postgres@127.0.0.1:5432/test)
  --keys N              distinct keys for the `many` scenario (default 10000)";

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

/// PostgreSQL 15+ flushes an idle backend's pending statistics after 10 s.
const PG_IDLE_STATS_FLUSH: Duration = Duration::from_secs(11);

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
    /// The metered preset with many distinct keys in random order.
    Many,
    /// A mix of public endpoints.
    Mix,
    /// p99 latency of `hot` and of S at 70 % of hot's throughput.
    P99At70,
}

impl Scenario {
    const ALL: [Scenario; 5] = [
        Scenario::Baseline,
        Scenario::Hot,
        Scenario::Many,
        Scenario::Mix,
        Scenario::P99At70,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Baseline => "baseline",
            Scenario::Hot => "hot",
            Scenario::Many => "many",
            Scenario::Mix => "mix",
            Scenario::P99At70 => "p99at70",
        }
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
}

impl Options {
    fn parse(args: &[&str]) -> Result<Options> {
        let mut duration = 10;
        let mut warmup = 2;
        let mut connections = 64;
        let mut threads = None;
        let mut scenarios = Scenario::ALL.to_vec();
        let mut backends = vec![Backend::Sqlite, Backend::Postgres];
        let mut pg_url = std::env::var("TWIN_BENCH_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut keys = 10_000;
        let mut it = args.iter();
        while let Some(&flag) = it.next() {
            let mut value = || {
                it.next()
                    .copied()
                    .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))
            };
            match flag {
                "--duration" => duration = value()?.parse().context("--duration")?,
                "--warmup" => warmup = value()?.parse().context("--warmup")?,
                "--connections" => connections = value()?.parse().context("--connections")?,
                "--threads" => threads = Some(value()?.parse().context("--threads")?),
                "--keys" => keys = value()?.parse().context("--keys")?,
                "--pg-url" => pg_url = value()?.to_owned(),
                "--scenarios" => {
                    scenarios = value()?
                        .split(',')
                        .map(|s| Scenario::parse(s.trim()))
                        .collect::<Result<_>>()?;
                }
                "--backend" => {
                    backends = match value()? {
                        "sqlite" => vec![Backend::Sqlite],
                        "postgres" => vec![Backend::Postgres],
                        "both" => vec![Backend::Sqlite, Backend::Postgres],
                        other => bail!("unknown backend `{other}`\n\n{USAGE}"),
                    }
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown option `{other}`\n\n{USAGE}"),
            }
        }
        // Ratios need S from the same run, and p99at70 needs hot's throughput.
        scenarios.push(Scenario::Baseline);
        if scenarios.contains(&Scenario::P99At70) {
            scenarios.push(Scenario::Hot);
        }
        scenarios.sort();
        scenarios.dedup();
        if duration == 0 || connections == 0 || keys == 0 {
            bail!("--duration, --connections and --keys must be positive");
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
        })
    }
}

/// A directory under the system's temp dir, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("twin-bench-{}", db::random_suffix()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn http(options: &Options) -> Result<()> {
    let wrk = Wrk::locate()?;
    let root = crate::workspace_root();
    let bin = server::build_release(&root)?;
    let revision = git_revision(&root);
    let ticks_per_sec = server::clock_ticks_per_sec();
    // The load generator shares the machine with the server, and so may other work: the
    // load average tells a reader of the figures how quiet the machine was.
    let load_before = load_average();
    println!(
        "bench http: {} s per scenario after {} s warm-up, {} connections, {} wrk threads, \
         {}; server CPU as % of one core ({} CPUs here)",
        options.duration.as_secs(),
        options.warmup.as_secs(),
        options.connections,
        options.threads,
        wrk.version,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
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
        let dir = TempDir::new()?;
        let database = match backend {
            Backend::Sqlite => BenchDb::sqlite(&dir.0),
            Backend::Postgres => BenchDb::postgres(&options.pg_url)?,
        };
        let run = BackendRun::prepare(options, &wrk, &bin, &dir.0, &database, ticks_per_sec)?;
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
        let (backend_rows, verdict) = run.all_scenarios()?;
        rows.extend(backend_rows);
        notes.extend(verdict);
        // The database is dropped and the directory removed here, even after an error above.
    }

    let load_after = load_average();
    println!("\n{}", report::markdown_table(&rows));
    for note in &notes {
        println!("- {note}");
    }
    println!(
        "- Method: one `twin-server serve` (release, TWIN_LOG=warn, default workers) per \
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
}

impl Traffic {
    fn script(&self) -> &'static str {
        match self {
            Traffic::Livez => "",
            Traffic::HotKey => include_str!("../../bench/hot.lua"),
            Traffic::ManyKeys => include_str!("../../bench/many.lua"),
            Traffic::Mix => include_str!("../../bench/mix.lua"),
        }
    }

    fn first_path(&self) -> &'static str {
        match self {
            Traffic::Livez => "/livez",
            _ => PRESET_PATH,
        }
    }
}

/// Everything prepared for one backend: a provisioned database and the keys.
struct BackendRun<'a> {
    options: &'a Options,
    wrk: &'a Wrk,
    env: ServerEnv,
    dir: &'a Path,
    backend: Backend,
    counter: StatementCounter,
    demo_key: String,
    /// Two of the generated keys, for the pre-flight check.
    sample_keys: Vec<String>,
    keys_file: PathBuf,
    ticks_per_sec: u64,
    seed: u64,
}

impl<'a> BackendRun<'a> {
    fn prepare(
        options: &'a Options,
        wrk: &'a Wrk,
        bin: &Path,
        dir: &'a Path,
        database: &BenchDb,
        ticks_per_sec: u64,
    ) -> Result<BackendRun<'a>> {
        let backend = database.backend();
        eprintln!("[{}] provisioning {}", backend.as_str(), database.url());
        let env = ServerEnv {
            bin: bin.to_owned(),
            database_url: database.url(),
            addr: loopback(server::free_port()?),
        };
        env.run_cli(&["migrate"])?;
        let demo: serde_json::Value =
            serde_json::from_str(env.run_cli(&["demo", "--json"])?.trim())
                .context("parsing `twin-server demo --json`")?;
        let field = |name: &str| -> Result<String> {
            demo[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("`demo --json` printed no {name}: {demo}"))
        };
        let (owner_id, demo_key, demo_key_id) = (field("ownerId")?, field("key")?, field("keyId")?);

        // Generating and inserting keys directly is seconds; 10,000 CLI calls would be
        // minutes, each opening the database and migrating.
        let keys = if options.scenarios.contains(&Scenario::Many) {
            let started = Instant::now();
            let keys = db::generate_keys(options.keys, &demo_key_id)?;
            eprintln!(
                "[{}] generated {} keys in {:.1} s",
                backend.as_str(),
                keys.len(),
                started.elapsed().as_secs_f64()
            );
            keys
        } else {
            Vec::new()
        };
        let sql_file = dir.join("provision.sql");
        std::fs::write(
            &sql_file,
            db::provisioning_sql(backend, &owner_id, &demo_key_id, &keys),
        )?;
        database.execute_file(&sql_file)?;
        let keys_file = dir.join("keys.txt");
        let plaintexts: Vec<&str> = keys.iter().map(|k| k.plaintext.as_str()).collect();
        std::fs::write(&keys_file, plaintexts.join("\n"))?;
        let sample_keys = [plaintexts.first(), plaintexts.last()]
            .into_iter()
            .flatten()
            .map(|k| (*k).to_owned())
            .collect();

        Ok(BackendRun {
            options,
            wrk,
            env,
            dir,
            backend,
            counter: database.statement_counter(),
            demo_key,
            sample_keys,
            keys_file,
            ticks_per_sec,
            seed: u64::from(std::process::id()),
        })
    }

    /// Runs the selected scenarios in order; returns the rows and any p99 verdict.
    fn all_scenarios(&self) -> Result<(Vec<Row>, Vec<String>)> {
        let mut rows: Vec<Row> = Vec::new();
        let mut notes = Vec::new();
        let mut baseline_rps = None;
        let mut hot_rps = None;
        for &scenario in &self.options.scenarios {
            if scenario == Scenario::P99At70 {
                let hot = hot_rps.context("p99at70 needs the hot scenario's throughput")?;
                let rate = hot * P99_LOAD_SHARE;
                let hot_row = self.measure("p99at70: hot", &Traffic::HotKey, Some(rate))?;
                let s_row = self.measure("p99at70: S", &Traffic::Livez, Some(rate))?;
                let (hot_p99, s_p99) = (hot_row.result.p99_us, s_row.result.p99_us);
                let met = hot_p99 <= s_p99 + P99_ALLOWANCE_US;
                let verdict = format!(
                    "{}: at {:.0} req/s (70 % of hot), hot p99 {} vs S p99 {} at the same rate; \
                     SPEC §12 target p99 ≤ S's + 1 ms: {}.",
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
                continue;
            }
            let traffic = match scenario {
                Scenario::Baseline => Traffic::Livez,
                Scenario::Hot => Traffic::HotKey,
                Scenario::Many => Traffic::ManyKeys,
                Scenario::Mix => Traffic::Mix,
                Scenario::P99At70 => unreachable!("handled above"),
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
        Ok((rows, notes))
    }

    /// Starts a fresh server, checks the traffic answers 200, warms up, then measures.
    fn measure(&self, label: &str, traffic: &Traffic, rate: Option<f64>) -> Result<Row> {
        let env = ServerEnv {
            addr: loopback(server::free_port()?),
            ..self.env.clone()
        };
        let slug = label.replace([':', ' '], "");
        let server = env.start(&self.dir.join(format!("server-{slug}.log")))?;
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
        if !self.options.warmup.is_zero() {
            self.wrk.run(&load(self.options.warmup), &wrk_log)?;
            if self.counter.lags() {
                // Without this wait, warm-up statements still pending in the server's
                // connections would be published during the measured run and counted in it.
                eprintln!(
                    "[{}] {label}: waiting {} s for PostgreSQL to publish the warm-up's \
                     statistics",
                    self.backend.as_str(),
                    PG_IDLE_STATS_FLUSH.as_secs()
                );
                std::thread::sleep(PG_IDLE_STATS_FLUSH);
            }
        }

        let statements_before = self.counter.read()?;
        let cpu_before = server.cpu_ticks()?;
        let started = Instant::now();
        let result = self.wrk.run(&load(self.options.duration), &wrk_log)?;
        let wall = started.elapsed().as_secs_f64();
        let cpu_after = server.cpu_ticks()?;
        let rss_kib = server.rss_kib()?;
        server.stop()?;
        // Stopping the server closes its connections, and a closing PostgreSQL backend
        // publishes the statistics it still holds, so the count below is complete.
        self.counter.wait_disconnected()?;
        let statements_after = self.counter.read()?;

        let cpu_secs = (cpu_after - cpu_before) as f64 / self.ticks_per_sec as f64;
        let statements_per_request = match (statements_before, statements_after) {
            (Some(before), Some(after)) if result.requests > 0 => {
                Some(after.saturating_sub(before) as f64 / result.requests as f64)
            }
            _ => None,
        };
        let row = Row {
            backend: self.backend,
            label: match rate {
                Some(rate) => format!("{label} @ {rate:.0}/s"),
                None => label.to_owned(),
            },
            result,
            ratio_to_s: None,
            target_ratio: None,
            paced_rate: rate,
            cpu_pct: 100.0 * cpu_secs / wall,
            rss_kib,
            statements_per_request,
        };
        if rate.is_some() {
            row.print_line();
        }
        Ok(row)
    }

    /// One request of each kind the scenario sends must answer 200, or the run would measure
    /// error responses (a wrong key, an exhausted quota, a missing snapshot).
    fn preflight(&self, addr: SocketAddr, traffic: &Traffic) -> Result<()> {
        let checks: Vec<(&str, Option<&str>)> = match traffic {
            Traffic::Livez => vec![("/livez", None)],
            Traffic::HotKey => vec![(PRESET_PATH, Some(self.demo_key.as_str()))],
            Traffic::ManyKeys => self
                .sample_keys
                .iter()
                .map(|k| (PRESET_PATH, Some(k.as_str())))
                .collect(),
            Traffic::Mix => MIX
                .iter()
                .map(|(path, _)| (*path, Some(self.demo_key.as_str())))
                .collect(),
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

    /// The wrk script: generated settings, the traffic's script, the pacing scheduler when
    /// a rate is asked of plain wrk, and the reporter.
    fn compose_script(&self, traffic: &Traffic, rate: Option<f64>) -> String {
        let mix: Vec<String> = MIX
            .iter()
            .map(|(path, weight)| format!("{{ {path:?}, {weight} }}"))
            .collect();
        let rate_per_thread = rate.map_or(0.0, |r| r / f64::from(self.options.threads));
        let mut script = format!(
            "-- Generated by `cargo xtask bench http`.\n\
             BENCH = {{\n  key = {key:?},\n  keys_file = {keys:?},\n  path = {path:?},\n  \
             seed = {seed},\n  rate_per_thread = {rate_per_thread},\n  mix = {{ {mix} }},\n}}\n\n",
            key = self.demo_key,
            keys = self.keys_file.display().to_string(),
            path = PRESET_PATH,
            seed = self.seed,
            mix = mix.join(", "),
        );
        script.push_str(traffic.script());
        if rate.is_some() && !self.wrk.holds_rate() {
            script.push('\n');
            script.push_str(include_str!("../../bench/pace.lua"));
        }
        script.push('\n');
        script.push_str(include_str!("../../bench/report.lua"));
        script
    }
}

/// The first three fields of /proc/loadavg.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The commit the server was built from, marked `-dirty` with uncommitted changes.
fn git_revision(root: &Path) -> String {
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
