//! Exact quota across replicas (SPEC §6, §12; issue 6): real `twin-server serve` processes
//! sharing one PostgreSQL database, hammered concurrently at the limit boundary, one of them
//! killed with SIGKILL mid-load and restarted, and a graceful SIGTERM stop that must give its
//! unspent quota lease back.
//!
//! The bound used for a crash is the one `twin_core::meter` documents: a killed replica strands
//! at most the unspent part of one quota block per key, and a block is never more than 64
//! units. Requests the killed process had already admitted but never answered are consumed
//! too (their unit was spent), so they are counted separately and reported.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;
use twin_store::KeyPatch;
use twin_store::testing::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_twin-server");
const PRESET: &str = "/v1/public/twin/preset/estandar?format=json";
/// A bound on the quota a SIGKILL can strand for one key: a replica holds at most one block,
/// and for the quotas used here (≤ 500) a block is at most 1/16 of them (31 units), below the
/// size refilled ahead of need (`PREFETCH_MIN_BLOCK`, 64), so no second block is in flight.
const MAX_BLOCK: u64 = 64;
/// Concurrent client requests in flight.
const CONCURRENCY: usize = 24;

/// `twin-server` with a clean `TWIN_*` environment on `url`.
fn command(url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("TWIN_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("TWIN_DATABASE_URL", url)
        .env_remove("RUST_BACKTRACE");
    cmd
}

/// Runs a one-shot subcommand that must succeed; returns its stdout.
fn run_ok(url: &str, args: &[&str]) -> String {
    let out = command(url).args(args).output().expect("run twin-server");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "twin-server {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A free local port: bind port 0 and release it.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `twin-server serve`. Dropping it kills the process; when the test is panicking
/// it first prints the process's stderr.
struct Server {
    name: String,
    port: u16,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(url: &str, name: &str, port: u16, dir: &Path) -> Server {
        let log = unique(dir.join(format!("{name}.stderr")));
        let stderr = File::create(&log).unwrap();
        let child = command(url)
            .arg("serve")
            .env("TWIN_BIND", format!("127.0.0.1:{port}"))
            .env("TWIN_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn twin-server serve");
        Server {
            name: name.to_owned(),
            port,
            child,
            log,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until `GET /livez` answers 200.
    async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("{}/livez", self.base());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited before it was ready ({status}):\n{}",
                    self.name,
                    self.stderr()
                );
            }
            if let Ok(res) = client
                .get(&url)
                .timeout(Duration::from_millis(500))
                .send()
                .await
                && res.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready within 20 s:\n{}",
                self.name,
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL, and reap it.
    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "a killed process does not exit cleanly");
    }

    /// SIGTERM, then waits (bounded) for the exit.
    async fn terminate(&mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", self.pid());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{} did not stop within 20 s of SIGTERM:\n{}",
                self.name,
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn unique(path: PathBuf) -> PathBuf {
    let mut candidate = path.clone();
    let mut n = 0;
    while candidate.exists() {
        n += 1;
        candidate = path.with_extension(format!("{n}.stderr"));
    }
    candidate
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = self.stderr();
            let tail: String = {
                let skip = text.chars().count().saturating_sub(8000);
                text.chars().skip(skip).collect()
            };
            eprintln!(
                "----- stderr of {} (port {}) -----\n{tail}\n----- end of {} -----",
                self.name, self.port, self.name
            );
        }
    }
}

/// A demo owner with a ready twin and a fresh key, limited to `quota` requests a month and
/// no rate limit. Returns the plaintext key and its id.
async fn provision(db: &TestDb, quota: i64) -> (String, String) {
    let out = run_ok(db.url(), &["demo", "--json"]);
    let demo: Value = serde_json::from_str(out.trim()).expect("demo --json prints JSON");
    let key = demo["key"].as_str().expect("key").to_owned();
    let key_id = demo["keyId"].as_str().expect("keyId").to_owned();
    let owner = demo["ownerId"].as_str().expect("ownerId");
    db.store()
        .update_key(
            owner,
            &key_id,
            KeyPatch {
                monthly_quota: Some(quota),
                rate_limit_rpm: Some(0),
                ..KeyPatch::default()
            },
        )
        .await
        .unwrap();
    (key, key_id)
}

/// Quota units reserved in the database for the key this month (spent + leased).
async fn quota_used(db: &TestDb, key_id: &str) -> u64 {
    let key = db.store().find_key(key_id).await.unwrap();
    let month = twin_meter::month_start(OffsetDateTime::now_utc());
    u64::try_from(key.counters.quota_used_in(month)).unwrap()
}

/// Micro-credits reserved in the database for the key this month (its spend period).
async fn spend_used(db: &TestDb, key_id: &str) -> i64 {
    let key = db.store().find_key(key_id).await.unwrap();
    let start = twin_meter::Period::Month.start(OffsetDateTime::now_utc());
    key.counters.spend_used_in(start)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap()
}

/// Phases of a load run, for telling expected connection errors (the killed process) from
/// unexpected ones.
const PHASES: usize = 3;

/// Answers per target server and per phase.
#[derive(Default)]
struct Tally {
    ok: [[AtomicU64; PHASES]; 2],
    quota: [[AtomicU64; PHASES]; 2],
    transport: [[AtomicU64; PHASES]; 2],
    /// Anything but 200 and 429 MONTHLY_QUOTA_EXCEEDED.
    unexpected: Mutex<Vec<String>>,
}

fn sum(cells: &[[AtomicU64; PHASES]; 2]) -> u64 {
    cells
        .iter()
        .flatten()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
}

fn server_sum(cells: &[[AtomicU64; PHASES]; 2], server: usize) -> u64 {
    cells[server].iter().map(|c| c.load(Ordering::SeqCst)).sum()
}

impl Tally {
    fn ok(&self) -> u64 {
        sum(&self.ok)
    }
    fn quota(&self) -> u64 {
        sum(&self.quota)
    }
    fn transport(&self) -> u64 {
        sum(&self.transport)
    }
    fn unexpected(&self) -> Vec<String> {
        self.unexpected.lock().unwrap().clone()
    }
}

/// Concurrent load: `CONCURRENCY` tasks, request `i` going to server `i % 2`, until `total`
/// requests were sent or `stop` is set. `phase` is read when each request starts.
struct Load {
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    phase: Arc<AtomicU8>,
    tasks: tokio::task::JoinSet<()>,
}

impl Load {
    fn start(client: &reqwest::Client, bases: [String; 2], key: &str, total: u64) -> Load {
        let tally = Arc::new(Tally::default());
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(AtomicU8::new(0));
        let next = Arc::new(AtomicU64::new(0));
        let urls = Arc::new(bases.map(|b| format!("{b}{PRESET}")));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENCY {
            let (client, key, urls) = (client.clone(), key.to_owned(), urls.clone());
            let (tally, stop, phase, next) =
                (tally.clone(), stop.clone(), phase.clone(), next.clone());
            tasks.spawn(async move {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total {
                        return;
                    }
                    let server = usize::from(i % 2 == 1);
                    let p = usize::from(phase.load(Ordering::SeqCst));
                    let res = client
                        .get(&urls[server])
                        .header("X-Twin-Key", &key)
                        .send()
                        .await;
                    match res {
                        Ok(res) => {
                            let status = res.status().as_u16();
                            let body = res.text().await.unwrap_or_default();
                            match status {
                                200 => {
                                    tally.ok[server][p].fetch_add(1, Ordering::SeqCst);
                                }
                                429 if body.contains("\"MONTHLY_QUOTA_EXCEEDED\"") => {
                                    tally.quota[server][p].fetch_add(1, Ordering::SeqCst);
                                }
                                _ => {
                                    let mut bad = tally.unexpected.lock().unwrap();
                                    if bad.len() < 20 {
                                        bad.push(format!("server {server}: {status} {body}"));
                                    }
                                }
                            }
                        }
                        Err(_) => {
                            tally.transport[server][p].fetch_add(1, Ordering::SeqCst);
                            // A stopped server refuses at once: do not spin.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
            });
        }
        Load {
            tally,
            stop,
            phase,
            tasks,
        }
    }

    /// Waits (bounded) for the load to end: at once (`stop`: only the requests in flight are
    /// awaited) or after all `total` requests.
    async fn join(mut self, stop: bool) -> Arc<Tally> {
        if stop {
            self.stop.store(true, Ordering::SeqCst);
        }
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(done) = self.tasks.join_next().await {
                done.expect("load task");
            }
        })
        .await
        .expect("load tasks finish within 30 s");
        self.tally
    }
}

/// Waits (bounded) until `cond` holds, polling.
async fn until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One more request to `base` must be refused for quota.
async fn assert_refused(client: &reqwest::Client, base: &str, key: &str) {
    let res = client
        .get(format!("{base}{PRESET}"))
        .header("X-Twin-Key", key)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "MONTHLY_QUOTA_EXCEEDED", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_never_serve_past_the_quota() {
    const L: u64 = 300;
    let started = Instant::now();
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let migrated = run_ok(db.url(), &["migrate"]);
    assert!(migrated.contains("applied 0 migration(s)"), "{migrated}");
    let (key, key_id) = provision(&db, L as i64).await;

    let client = client();
    let mut a = Server::start(db.url(), "replica-a", free_port(), dir.path());
    let mut b = Server::start(db.url(), "replica-b", free_port(), dir.path());
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;

    // 2×L requests, half to each replica, CONCURRENCY at a time.
    let load_started = Instant::now();
    let load = Load::start(&client, [a.base(), b.base()], &key, 2 * L);
    let tally = load.join(false).await;
    let load_time = load_started.elapsed();

    let unexpected = tally.unexpected();
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:#?}");
    assert_eq!(
        tally.transport(),
        0,
        "no connection errors on live replicas"
    );
    let (ok, refused) = (tally.ok(), tally.quota());
    assert_eq!(ok + refused, 2 * L);
    let per_replica = [server_sum(&tally.ok, 0), server_sum(&tally.ok, 1)];
    eprintln!(
        "quota {L}: {ok} × 200 ({} on A, {} on B), {refused} × 429, overshoot {}, \
         under-delivery {}; load {load_time:?}",
        per_replica[0],
        per_replica[1],
        ok.saturating_sub(L),
        L.saturating_sub(ok),
    );
    assert!(
        ok <= L,
        "overshoot: {ok} requests served with a quota of {L}"
    );
    // Each replica received L requests and the load continued past the limit on both, so no
    // unit can be left leased anywhere: exactly L succeed.
    assert_eq!(ok, L, "under-delivery without any crash");
    assert!(
        per_replica.iter().all(|&n| n > 0),
        "both replicas served: {per_replica:?}"
    );

    // Both replicas now refuse, and the database agrees that exactly L were used.
    assert_refused(&client, &a.base(), &key).await;
    assert_refused(&client, &b.base(), &key).await;
    assert_eq!(quota_used(&db, &key_id).await, L);
    drop((a, b));
    eprintln!(
        "two_server_processes_never_serve_past_the_quota: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_never_causes_overshoot() {
    const L: u64 = 500;
    let started = Instant::now();
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    run_ok(db.url(), &["migrate"]);
    let (key, key_id) = provision(&db, L as i64).await;

    let client = client();
    let mut survivor = Server::start(db.url(), "survivor", free_port(), dir.path());
    let victim_port = free_port();
    let mut victim = Server::start(db.url(), "victim", victim_port, dir.path());
    survivor.wait_ready(&client).await;
    victim.wait_ready(&client).await;

    // Phase 0: both up. Kill the victim once a fifth of the quota is served, load running.
    let load = Load::start(&client, [survivor.base(), victim.base()], &key, u64::MAX);
    let tally = load.tally.clone();
    until(
        "a fifth of the quota served",
        Duration::from_secs(20),
        || tally.ok() >= L / 5,
    )
    .await;
    load.phase.store(1, Ordering::SeqCst);
    victim.kill9();
    let killed_at = Instant::now();
    let reserved_at_kill = quota_used(&db, &key_id).await;

    // Phase 1: down. Restart on the same port; phase 2 once it is ready again.
    let mut restarted = Server::start(db.url(), "restarted", victim_port, dir.path());
    restarted.wait_ready(&client).await;
    let downtime = killed_at.elapsed();
    load.phase.store(2, Ordering::SeqCst);
    let refused_before = [server_sum(&tally.quota, 0), server_sum(&tally.quota, 1)];
    until(
        "both processes refusing after the restart",
        Duration::from_secs(30),
        || {
            server_sum(&tally.quota, 0) > refused_before[0]
                && server_sum(&tally.quota, 1) > refused_before[1]
        },
    )
    .await;
    let tally = load.join(true).await;

    let unexpected = tally.unexpected();
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:#?}");
    let errors =
        |server: usize, phase: usize| tally.transport[server][phase].load(Ordering::SeqCst);
    assert_eq!(
        server_sum(&tally.transport, 0),
        0,
        "the survivor never failed a request"
    );
    assert_eq!(
        errors(1, 2),
        0,
        "the restarted process never failed a request"
    );
    // Requests that were in flight on the victim when it died: each may have spent a unit
    // without an answer. At most CONCURRENCY were in flight.
    let lost_in_flight = errors(1, 0);
    assert!(lost_in_flight <= CONCURRENCY as u64, "{lost_in_flight}");

    let ok = tally.ok();
    let reserved = quota_used(&db, &key_id).await;
    let ok_victim = tally.ok[1][0].load(Ordering::SeqCst);
    // Phase-1 requests reach the restarted process once it listens, a little before its
    // readiness is observed.
    let ok_restarted =
        tally.ok[1][1].load(Ordering::SeqCst) + tally.ok[1][2].load(Ordering::SeqCst);
    eprintln!(
        "quota {L}: {ok} × 200 (survivor {}, victim {ok_victim}, restarted {ok_restarted}), \
         {} × 429; \
         overshoot {}, under-delivery {} \
         (bound {MAX_BLOCK} stranded + {lost_in_flight} lost in flight); \
         reserved in the database at kill {reserved_at_kill}, at the end {reserved}; \
         {} connection errors while down; downtime {downtime:?}",
        server_sum(&tally.ok, 0),
        tally.quota(),
        ok.saturating_sub(L),
        L.saturating_sub(ok),
        errors(1, 1),
    );
    assert!(
        ok <= L,
        "overshoot after a crash: {ok} served with a quota of {L}"
    );
    assert!(
        reserved <= L,
        "the database reserved {reserved} units of {L}"
    );
    assert!(
        ok + lost_in_flight + MAX_BLOCK >= L,
        "under-delivery {} beyond the bound of one block ({MAX_BLOCK}) plus {lost_in_flight} \
         requests lost in flight",
        L - ok
    );
    assert_refused(&client, &survivor.base(), &key).await;
    assert_refused(&client, &restarted.base(), &key).await;
    drop((survivor, restarted));
    eprintln!("kill -9 part: {:?}", started.elapsed());

    // A graceful stop (SIGTERM) gives the unspent lease back: the database then counts
    // exactly the requests served.
    let (key, key_id) = provision(&db, 10_000).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server = Server::start(db.url(), "graceful", free_port(), dir.path());
    server.wait_ready(&client).await;
    const SERVED: u64 = 7;
    let mut cost = 0;
    for _ in 0..SERVED {
        let res = client
            .get(format!("{}{PRESET}", server.base()))
            .header("X-Twin-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let price: twin_meter::Credits = res.headers()["x-twin-spend-cost"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        cost += price.micros();
        res.bytes().await.unwrap();
    }
    let leased = quota_used(&db, &key_id).await;
    let spend_leased = spend_used(&db, &key_id).await;
    // Idle connections would hold the graceful shutdown until its timeout.
    drop(client);
    let (status, took) = server.terminate().await;
    assert!(
        status.success(),
        "SIGTERM stops cleanly ({status}):\n{}",
        server.stderr()
    );
    let after = quota_used(&db, &key_id).await;
    eprintln!(
        "graceful stop: {SERVED} served, {leased} reserved before SIGTERM, {after} after; \
         stopped in {took:?}"
    );
    assert!(
        leased > SERVED,
        "a lease block was outstanding before the stop ({leased})"
    );
    assert_eq!(after, SERVED, "SIGTERM returned every unspent unit");
    let spend_after = spend_used(&db, &key_id).await;
    eprintln!(
        "graceful stop: {cost} micro-credits spent, {spend_leased} reserved before SIGTERM, \
         {spend_after} after"
    );
    assert!(cost > 0, "the preset has a price");
    assert!(
        spend_leased > cost,
        "a credit lease was outstanding ({spend_leased})"
    );
    assert_eq!(spend_after, cost, "SIGTERM returned every unspent credit");
    eprintln!(
        "a_killed_server_never_causes_overshoot: {:?}",
        started.elapsed()
    );
}
