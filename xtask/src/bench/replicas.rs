//! Scenarios with two `twin-server serve` processes on one PostgreSQL database.
//!
//! - `replicas`: wrk drives both servers at once (two wrk processes in parallel, each with
//!   half the connections), first with the unlimited demo key for the combined throughput,
//!   then with one key whose monthly quota is exactly Q, counting responses by status, to
//!   check that exactly Q requests were served across both servers (0 overshoot) and every
//!   other one was refused with 429.
//! - `revocation`: a key is warmed on both servers, revoked through server A's owner API
//!   (`DELETE /v1/keys/{id}` with a `keys:write` key created by the CLI), and server B is
//!   polled every millisecond until it answers 401; half the revocations with the servers
//!   idle, half with wrk loading both at full speed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::report::{self, Row};
use super::server::{self, Server, ServerEnv};
use super::wrk::{Load, WrkResult};
use super::{BackendRun, PRESET_PATH, Traffic, cpu_ticks, percentile};

/// SPEC §12: revocation seen by every replica within this (p99).
const REVOCATION_TARGET: Duration = Duration::from_millis(100);

/// How often server B is asked whether it still accepts a revoked key.
const POLL_EVERY: Duration = Duration::from_millis(1);

/// A revocation not seen within this is recorded as a timeout.
const GIVE_UP: Duration = Duration::from_secs(5);

/// Two servers on the run's database.
struct Pair {
    envs: [ServerEnv; 2],
    servers: [Server; 2],
}

impl Pair {
    fn start(run: &BackendRun<'_>, slug: &str) -> Result<Pair> {
        let (env_a, a) = run.start_server(&format!("{slug}-a"))?;
        let (env_b, b) = run.start_server(&format!("{slug}-b"))?;
        Ok(Pair {
            envs: [env_a, env_b],
            servers: [a, b],
        })
    }

    fn addr(&self, i: usize) -> SocketAddr {
        self.envs[i].addr
    }

    fn cpu_ticks(&self) -> Result<u64> {
        cpu_ticks(&[&self.servers[0], &self.servers[1]])
    }

    fn rss_kib(&self) -> Result<u64> {
        Ok(self.servers[0].rss_kib()? + self.servers[1].rss_kib()?)
    }

    fn stop(self) -> Result<()> {
        let [a, b] = self.servers;
        a.stop()?;
        b.stop()
    }

    /// Drives both servers with `split` for `duration`, then stops them gracefully;
    /// returns wrk's two results, the servers' CPU over the run in % of one core and their
    /// RSS at the end.
    fn measure_and_stop(
        self,
        run: &BackendRun<'_>,
        split: &SplitLoad,
        duration: Duration,
    ) -> Result<(Vec<WrkResult>, f64, u64)> {
        let cpu_before = self.cpu_ticks()?;
        let started = Instant::now();
        let results = run.wrk.run_parallel(&split.loads(duration))?;
        let wall = started.elapsed().as_secs_f64();
        let cpu_after = self.cpu_ticks()?;
        let rss_kib = self.rss_kib()?;
        self.stop()?;
        let cpu_pct =
            100.0 * (cpu_after - cpu_before) as f64 / run.bench.ticks_per_sec as f64 / wall;
        Ok((results, cpu_pct, rss_kib))
    }
}

/// One wrk per server, each with half the connections and threads.
struct SplitLoad {
    urls: [String; 2],
    script: PathBuf,
    logs: [PathBuf; 2],
    connections: u32,
    threads: u32,
}

impl SplitLoad {
    fn new(run: &BackendRun<'_>, pair: &Pair, traffic: &Traffic, slug: &str) -> Result<Self> {
        let threads = (run.options.threads / 2).max(1);
        let script = run.dir.join(format!("{slug}.lua"));
        std::fs::write(&script, run.compose_script_for(traffic, None, threads))?;
        Ok(SplitLoad {
            urls: [0, 1].map(|i| format!("http://{}{}", pair.addr(i), traffic.first_path())),
            script,
            logs: ["a", "b"].map(|s| run.dir.join(format!("wrk-{slug}-{s}.txt"))),
            connections: run.options.connections / 2,
            threads,
        })
    }

    fn loads(&self, duration: Duration) -> Vec<(Load<'_>, &Path)> {
        (0..2)
            .map(|i| {
                (
                    Load {
                        url: &self.urls[i],
                        script: &self.script,
                        duration,
                        connections: self.connections,
                        threads: self.threads,
                        rate: None,
                    },
                    self.logs[i].as_path(),
                )
            })
            .collect()
    }
}

/// The `replicas` scenario: combined throughput, then the exact quota boundary.
pub(super) fn replicas(
    run: &BackendRun<'_>,
    baseline_rps: Option<f64>,
) -> Result<(Vec<Row>, Vec<String>)> {
    let options = run.options;
    let name = run.backend.as_str();
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    // Throughput: the demo key (no limit) on both servers at once.
    let label = "replicas: hot on 2 servers";
    let pair = Pair::start(run, "replicas-hot")?;
    for i in 0..2 {
        run.preflight(pair.addr(i), &Traffic::HotKey)?;
    }
    let split = SplitLoad::new(run, &pair, &Traffic::HotKey, "replicas-hot")?;
    if !options.warmup.is_zero() {
        run.wrk.run_parallel(&split.loads(options.warmup))?;
        run.settle(label);
    }
    let counting = run.counter.start(run.dir)?;
    let (results, cpu_pct, rss_kib) = pair.measure_and_stop(run, &split, options.duration)?;
    let statements = run.counter.finish(counting)?;
    let combined = results[0].combined(&results[1]);
    let mut row = Row::new(run.backend, label, combined);
    let rps = row.result.requests_per_sec();
    row.ratio_to_s = baseline_rps.map(|s| rps / s);
    row.cpu_pct = cpu_pct;
    row.rss_kib = rss_kib;
    row.statements_per_request = statements
        .filter(|_| row.result.requests > 0)
        .map(|n| n as f64 / row.result.requests as f64);
    row.target_note = Some(format!(
        "— (A {:.0} + B {:.0} req/s; percentiles: the worse server's; CPU and RSS: both)",
        results[0].requests_per_sec(),
        results[1].requests_per_sec()
    ));
    row.print_line();
    rows.push(row);

    // Exactness at the quota boundary.
    let (key, quota) = run
        .quota_key
        .as_ref()
        .context("internal: no quota key provisioned")?;
    let label = format!("replicas: quota {quota} on 2 servers");
    let pair = Pair::start(run, "replicas-quota")?;
    // One request per server checks the key works there; each spends a unit, counted below.
    let mut served_before = 0;
    for i in 0..2 {
        let (status, body) =
            server::http_get(pair.addr(i), PRESET_PATH, &[("X-Twin-Key", &key.plaintext)])?;
        if status != 200 {
            bail!("pre-flight with the quota key answered {status}: {body}");
        }
        served_before += 1;
    }
    let split = SplitLoad::new(run, &pair, &Traffic::Quota, "replicas-quota")?;
    // The graceful stop returns every unspent unit, so the database then holds what was
    // spent.
    let (results, cpu_pct, rss_kib) = pair.measure_and_stop(run, &split, options.duration)?;
    let db_used: i64 = run
        .database
        .query(&format!(
            "SELECT quota_used FROM key_counters WHERE key_id = '{}'",
            key.id
        ))?
        .trim()
        .parse()
        .context("reading the quota key's counter")?;
    let combined = results[0].combined(&results[1]);
    let per_server: Vec<u64> = results.iter().map(ok_count).collect();
    let counted: u64 = combined.statuses.values().sum();
    if counted != combined.requests {
        bail!(
            "the status counts ({counted}) do not add up to wrk's requests ({}): see {}",
            combined.requests,
            split.logs[0].display()
        );
    }
    let ok = ok_count(&combined);
    let refused = combined.statuses.get(&429).copied().unwrap_or(0);
    let other: u64 = counted - ok - refused;
    let served = served_before + ok;
    let quota_u = u64::try_from(*quota)?;
    let overshoot = served.saturating_sub(quota_u);
    let under = quota_u.saturating_sub(served);
    let reached = refused > 0;
    let met = overshoot == 0 && other == 0 && combined.socket_errors == 0 && reached;
    let verdict = if !reached {
        "not tested (the quota was not reached: raise --duration or lower --quota)".to_owned()
    } else if met {
        format!("met ({served} of {quota} served, overshoot 0, under-delivery {under})")
    } else {
        format!(
            "missed ({served} of {quota} served: overshoot {overshoot}, other statuses {other})"
        )
    };
    let mut row = Row::new(run.backend, &label, combined);
    // Mostly cheap 429s once the quota is spent: a ratio to S would mean nothing here.
    row.refusals_expected = true;
    row.cpu_pct = cpu_pct;
    row.rss_kib = rss_kib;
    row.target_note = Some(format!("0 overshoot: {verdict}"));
    row.print_line();
    rows.push(row);
    let note = format!(
        "{name}: replicas: key with a monthly quota of {quota}, two servers driven at once for \
         {} s: {served} requests served with 200 ({served_before} pre-flight + {} via A + {} \
         via B), {refused} refused with 429, {other} other; the database's quota_used after a \
         graceful stop: {db_used}. SPEC §12 exact quota, 0 overshoot: {verdict}.",
        options.duration.as_secs(),
        per_server[0],
        per_server[1],
    );
    println!("{note}");
    notes.push(note);
    if db_used != i64::try_from(served)? {
        let warning = format!(
            "{name}: replicas: the database counted {db_used} units used but {served} \
             requests were served: check the wrk logs in the run directory."
        );
        println!("{warning}");
        notes.push(warning);
    }
    Ok((rows, notes))
}

/// Responses with status 200.
fn ok_count(result: &WrkResult) -> u64 {
    result.statuses.get(&200).copied().unwrap_or(0)
}

/// One timed revocation.
struct Sample {
    /// From sending the DELETE to A until B's first 401 arrived (`None`: not within
    /// [`GIVE_UP`]).
    seen_by_b: Option<Duration>,
    /// The DELETE's own round trip.
    delete: Duration,
    /// Whether A itself refused the key right after the DELETE returned.
    a_refuses: bool,
}

/// Background wrk processes, killed (only these children) when dropped.
struct Background(Vec<Child>);

impl Drop for Background {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `revocation` scenario; returns its notes.
pub(super) fn revocation(run: &BackendRun<'_>) -> Result<Vec<String>> {
    let name = run.backend.as_str();
    let mgmt = run
        .mgmt_key
        .as_ref()
        .context("internal: no management key provisioned")?;
    let keys = &run.revocation_keys;
    let half = keys.len() / 2;
    let pair = Pair::start(run, "revocation")?;
    eprintln!(
        "[{name}] revocation: {} keys revoked on A and polled on B every {} ms, idle",
        half,
        POLL_EVERY.as_millis()
    );
    let idle = time_revocations(&pair, &mgmt.key, &keys[..half])?;

    eprintln!(
        "[{name}] revocation: {} more, with wrk loading both servers",
        keys.len() - half
    );
    let split = SplitLoad::new(run, &pair, &Traffic::HotKey, "revocation-load")?;
    let loaded = {
        let background = Background(
            split
                .loads(Duration::from_secs(3600))
                .iter()
                .map(|(load, log)| run.wrk.spawn(load, log))
                .collect::<Result<_>>()?,
        );
        std::thread::sleep(run.options.warmup.max(Duration::from_secs(1)));
        let samples = time_revocations(&pair, &mgmt.key, &keys[half..]);
        drop(background);
        samples?
    };
    pair.stop()?;

    let mut notes = Vec::new();
    let mut table = String::from(
        "| revocation seen by the other server | n | p50 | p99 | max | timeouts (> 5 s) | \
         DELETE p50 | A refused at once |\n|---|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for (phase, samples) in [("idle", &idle), ("both servers under wrk load", &loaded)] {
        let mut delays: Vec<Duration> = samples.iter().filter_map(|s| s.seen_by_b).collect();
        delays.sort();
        let timeouts = samples.len() - delays.len();
        let mut deletes: Vec<Duration> = samples.iter().map(|s| s.delete).collect();
        deletes.sort();
        let a_ok = samples.iter().filter(|s| s.a_refuses).count();
        let p = |q| percentile(&delays, q).map_or("—".into(), fmt_ms);
        let p99 = percentile(&delays, 99.0);
        let met = timeouts == 0 && p99.is_some_and(|p| p <= REVOCATION_TARGET);
        table.push_str(&format!(
            "| {phase} | {} | {} | {} | {} | {timeouts} | {} | {a_ok} of {} |\n",
            samples.len(),
            p(50.0),
            p(99.0),
            delays.last().copied().map_or("—".into(), fmt_ms),
            percentile(&deletes, 50.0).map_or("—".into(), fmt_ms),
            samples.len(),
        ));
        notes.push(format!(
            "{name}: revocation ({phase}): {} keys revoked through A's DELETE /v1/keys/{{id}}, B \
             polled every {} ms from the moment the DELETE was sent: p50 {}, p99 {}, max {}, \
             {timeouts} not seen within 5 s; SPEC §12 p99 ≤ 100 ms: {}.",
            samples.len(),
            POLL_EVERY.as_millis(),
            p(50.0),
            p(99.0),
            delays.last().copied().map_or("—".into(), fmt_ms),
            if met { "met" } else { "missed" }
        ));
    }
    println!("\n{table}");
    notes.push(format!(
        "{name}: revocation: percentiles are nearest-rank (p99 of n samples is the \
         ⌈0.99 n⌉-th smallest: with {half} samples per phase, the {}-th). The \
         lost-notification bound (≤ 2 s) is not benchmarked: the server binary has no switch \
         to stop listening; the test `a_lost_notification_is_covered_by_polling` \
         (crates/twin-http/tests/revocation.rs) covers it.",
        (0.99 * half as f64).ceil()
    ));
    for note in &notes {
        println!("{note}");
    }
    Ok(notes)
}

/// Revokes each key through A and times until B refuses it.
fn time_revocations(
    pair: &Pair,
    mgmt_key: &str,
    keys: &[super::db::GeneratedKey],
) -> Result<Vec<Sample>> {
    let (a, b) = (pair.addr(0), pair.addr(1));
    let mut samples = Vec::with_capacity(keys.len());
    for key in keys {
        let header = [("X-Twin-Key", key.plaintext.as_str())];
        // Warm: both servers have verified and cached the key.
        for addr in [a, b, b] {
            let (status, body) = server::http_get(addr, PRESET_PATH, &header)?;
            if status != 200 {
                bail!("warming key {} on {addr} answered {status}: {body}", key.id);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        let sent = Instant::now();
        let (status, body) = server::http_request(
            a,
            "DELETE",
            &format!("/v1/keys/{}", key.id),
            &[("X-Twin-Key", mgmt_key)],
        )?;
        let delete = sent.elapsed();
        if status != 200 {
            bail!("DELETE /v1/keys/{} answered {status}: {body}", key.id);
        }
        let seen_by_b = loop {
            let asked = Instant::now();
            let (status, body) = server::http_get(b, PRESET_PATH, &header)?;
            match status {
                401 => break Some(sent.elapsed()),
                200 => {}
                other => bail!("B answered {other} for key {}: {body}", key.id),
            }
            if sent.elapsed() > GIVE_UP {
                break None;
            }
            if let Some(rest) = POLL_EVERY.checked_sub(asked.elapsed()) {
                std::thread::sleep(rest);
            }
        };
        let (a_status, _) = server::http_get(a, PRESET_PATH, &header)?;
        samples.push(Sample {
            seen_by_b,
            delete,
            a_refuses: a_status == 401,
        });
    }
    Ok(samples)
}

fn fmt_ms(d: Duration) -> String {
    report::ms(d.as_micros() as u64)
}
