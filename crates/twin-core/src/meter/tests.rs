//! The meter as a state machine, over an in-memory database with exact counters.
//!
//! Unit tests pin single behaviours; the property test runs several replicas (several
//! [`Meter`]s over one [`FakeDb`]) through random interleavings of concurrent requests,
//! crashes, sweeps, returns, outages, clock advances and spend-period changes, and checks the
//! module's claims: nothing is admitted past a limit, the rate window keeps its bounds, and
//! what a lease strands when it ends without going back stays within the documented bound.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;
use twin_meter::rate::{RateReservation, RateWindow};
use twin_store::{KeyCounters, KeyEnv, KeyRecord, ScopeSet, StoreError, StoredHash};

use super::*;

/// What the fake database knows: exact reserved counts per allowance, counter and period, and
/// who reserved and released what (per replica incarnation, for the under-delivery bound).
#[derive(Default)]
struct Db {
    /// Reserved units by `(kind, counter, period start ms)`.
    used: HashMap<(Allowance, String, i64), i64>,
    /// Net units reserved by `(origin, kind, counter, period start ms)`.
    by_origin: HashMap<(usize, Allowance, String, i64), i64>,
    /// Releases that failed, by the same key.
    failed_releases: HashMap<(usize, Allowance, String, i64), u32>,
    rate: HashMap<String, RateWindow>,
    /// Statements made (reservations and releases).
    statements: u64,
    /// The database is unreachable: every call fails.
    down: bool,
    /// How many times each call yields before acting, cycled: the interleaving.
    delays: Vec<u8>,
    cursor: usize,
}

/// An in-memory [`Reservations`] with the store's rules, shared by every replica; each
/// replica's handle carries its `origin` so the test can account per replica.
#[derive(Clone, Default)]
struct FakeDb {
    db: Arc<Mutex<Db>>,
    origin: usize,
}

impl FakeDb {
    fn with_delays(delays: Vec<u8>) -> Self {
        let fake = FakeDb::default();
        fake.db().delays = delays;
        fake
    }

    fn replica(&self, origin: usize) -> Self {
        FakeDb {
            db: self.db.clone(),
            origin,
        }
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db.lock().unwrap()
    }

    fn used(&self, kind: Allowance, counter: &str, period: OffsetDateTime) -> i64 {
        let key = (kind, counter.to_owned(), ms(period));
        self.db().used.get(&key).copied().unwrap_or(0)
    }

    fn statements(&self) -> u64 {
        self.db().statements
    }

    /// Lets other tasks run for a while, as a round trip would.
    async fn round_trip(&self) {
        let n = {
            let mut db = self.db();
            let n = db.delays.get(db.cursor % db.delays.len().max(1)).copied();
            db.cursor += 1;
            n.unwrap_or(0)
        };
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    }
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("down".into())
}

impl Reservations for FakeDb {
    async fn reserve(
        &self,
        kind: Allowance,
        counter: &str,
        period_start: OffsetDateTime,
        limit: Option<i64>,
        want: i64,
        min: i64,
    ) -> Result<Grant, StoreError> {
        self.round_trip().await;
        let mut db = self.db();
        db.statements += 1;
        if db.down {
            return Err(unavailable());
        }
        let period = ms(period_start);
        let slot = db
            .used
            .entry((kind, counter.to_owned(), period))
            .or_default();
        let min = min.max(1);
        let want = want.max(min);
        let granted = match limit {
            None => want,
            Some(limit) if *slot + want <= limit => want,
            Some(limit) => {
                // The store's rule when less is left than asked: a share of what is left.
                let left = limit - *slot;
                if left < min {
                    0
                } else {
                    want.min(twin_meter::lease::share(left, min))
                }
            }
        };
        *slot += granted;
        let used = *slot;
        *db.by_origin
            .entry((self.origin, kind, counter.to_owned(), period))
            .or_default() += granted;
        Ok(Grant { granted, used })
    }

    async fn release(
        &self,
        kind: Allowance,
        counter: &str,
        period_start: OffsetDateTime,
        units: i64,
    ) -> Result<(), StoreError> {
        self.round_trip().await;
        let mut db = self.db();
        db.statements += 1;
        let key = (kind, counter.to_owned(), ms(period_start));
        if db.down {
            *db.failed_releases
                .entry((self.origin, key.0, key.1, key.2))
                .or_default() += 1;
            return Err(unavailable());
        }
        if let Some(slot) = db.used.get_mut(&key)
            && *slot >= units
        {
            *slot -= units;
            *db.by_origin
                .entry((self.origin, key.0, key.1, key.2))
                .or_default() -= units;
        }
        Ok(())
    }

    async fn reserve_rate(
        &self,
        counter: &str,
        limit: u32,
        now: OffsetDateTime,
        want: u32,
        _known: Option<RateWindow>,
    ) -> Result<RateReservation, StoreError> {
        self.round_trip().await;
        let mut db = self.db();
        db.statements += 1;
        if db.down {
            return Err(unavailable());
        }
        let state = db.rate.entry(counter.to_owned()).or_default();
        let r = twin_meter::reserve_at_ms(*state, limit, ms(now), want);
        *state = r.state;
        Ok(r)
    }
}

fn key(id: &str, quota: i64, rate: i64, cap: Option<i64>) -> KeyRecord {
    let now = datetime!(2026-01-01 00:00 UTC);
    KeyRecord {
        id: id.into(),
        owner_id: "o".into(),
        env: KeyEnv::Live,
        name: "n".into(),
        prefix: format!("atk_live_{id}"),
        hash: StoredHash {
            algorithm: twin_keys::HashAlgorithm::Sha256,
            pepper_version: None,
            digest: vec![],
        },
        scopes: ScopeSet::default_for_new_keys(),
        is_active: true,
        created_at: now,
        updated_at: now,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        usage_count: 0,
        monthly_quota: quota,
        rate_limit_rpm: rate,
        spend_limit: cap,
        spend_period: Period::Month,
        created_by: "test".into(),
        rotated_from: None,
        counter_id: id.into(),
        rotated_to: None,
        meta: None,
        alerts: Default::default(),
        grant_id: None,
        counters: KeyCounters::default(),
    }
}

fn config(max_block: i64) -> MeterConfig {
    MeterConfig {
        max_block,
        idle_release: Duration::ZERO,
        idle_forget: Duration::from_secs(3600),
    }
}

const NOW: OffsetDateTime = datetime!(2026-03-10 12:00:00 UTC);

fn month(now: OffsetDateTime) -> OffsetDateTime {
    twin_meter::month_start(now)
}

async fn admit_n(meter: &Meter<FakeDb>, key: &KeyRecord, n: usize, cost: i64) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        if meter.admit(key, cost, true, NOW).await.is_ok() {
            ok += 1;
        }
    }
    ok
}

#[tokio::test]
async fn a_busy_key_reserves_in_blocks_and_spends_from_memory() {
    let db = FakeDb::default();
    let meter = Meter::new(db.clone(), config(256));
    let k = key("k1", 1_000_000, 0, None);
    assert_eq!(admit_n(&meter, &k, 1_000, 0).await, 1_000);
    // A first block of 256, then refills ahead of need: a handful of statements.
    assert!(db.statements() <= 8, "{} statements", db.statements());
    let reserved = db.used(Allowance::Quota, "k1", month(NOW));
    assert!((1_000..=1_000 + 2 * 256).contains(&reserved), "{reserved}");
    let (charge, headers) = meter.admit(&k, 0, true, NOW).await.unwrap();
    assert!(charge.quota);
    assert_eq!(headers.quota.used, 1_001);
}

#[tokio::test]
async fn replicas_share_the_last_units_exactly() {
    let db = FakeDb::default();
    let (a, b) = (
        Meter::new(db.replica(1), config(4096)),
        Meter::new(db.replica(2), config(4096)),
    );
    let k = key("k1", 100, 0, None);
    let mut ok = 0;
    for _ in 0..200 {
        ok += admit_n(&a, &k, 1, 0).await + admit_n(&b, &k, 1, 0).await;
    }
    // Blocks shrink to one unit near the limit, so both replicas get the last ones.
    assert_eq!(ok, 100);
    assert_eq!(db.used(Allowance::Quota, "k1", month(NOW)), 100);
    assert!(matches!(
        a.admit(&k, 0, true, NOW).await,
        Err((Denial::Quota, _))
    ));
}

#[tokio::test]
async fn a_crash_strands_at_most_what_the_replica_held_and_a_return_gives_it_back() {
    let db = FakeDb::default();
    let k = key("k1", 10_000, 0, Some(1_000_000));
    {
        let crashed = Meter::new(db.replica(1), config(64));
        assert_eq!(admit_n(&crashed, &k, 10, 3).await, 10);
        // Dropped without returning anything: a crash.
    }
    let stranded = db.used(Allowance::Quota, "k1", month(NOW)) - 10;
    assert!((1..=2 * 64).contains(&stranded), "{stranded}");
    let spend_stranded = db.used(Allowance::Spend, "k1", month(NOW)) - 30;
    assert!(spend_stranded < (2 * 64 + 1) * 3, "{spend_stranded}");

    let survivor = Meter::new(db.replica(2), config(64));
    assert_eq!(admit_n(&survivor, &k, 10, 3).await, 10);
    survivor.release_all().await;
    assert_eq!(
        db.used(Allowance::Quota, "k1", month(NOW)),
        20 + stranded,
        "a graceful return leaves exactly what was spent"
    );
    assert_eq!(survivor.key_count(), 0);
}

#[tokio::test]
async fn the_spend_cap_is_never_overshot_and_a_refusal_spends_no_quota() {
    let db = FakeDb::default();
    let meter = Meter::new(db.clone(), config(4096));
    let k = key("k1", 1_000, 0, Some(10));
    assert_eq!(admit_n(&meter, &k, 10, 3).await, 3, "3 × 3 ≤ 10 < 4 × 3");
    assert!(matches!(
        meter.admit(&k, 3, true, NOW).await,
        Err((Denial::Spend, _))
    ));
    // One micro-credit is left: a cheaper request still fits.
    assert!(meter.admit(&k, 1, true, NOW).await.is_ok());
    let (charge, headers) = meter.admit(&k, 0, true, NOW).await.unwrap();
    assert_eq!((charge.quota, charge.credits), (true, 0));
    assert_eq!(headers.spend.used, Credits::from_micros(10).unwrap());
    // 3 + 1 + 1 admitted and the refused ones did not count.
    assert_eq!(headers.quota.used, 5);
}

#[tokio::test]
async fn a_new_month_starts_from_zero_and_drops_the_old_lease() {
    let db = FakeDb::default();
    let meter = Meter::new(db.clone(), config(4096));
    let k = key("k1", 2, 0, None);
    let end = datetime!(2026-03-31 23:59:59 UTC);
    let next = datetime!(2026-04-01 00:00:00 UTC);
    assert!(meter.admit(&k, 0, true, end).await.is_ok());
    assert!(meter.admit(&k, 0, true, end).await.is_ok());
    assert!(matches!(
        meter.admit(&k, 0, true, end).await,
        Err((Denial::Quota, _))
    ));
    let (_, headers) = meter.admit(&k, 0, true, next).await.unwrap();
    assert_eq!(headers.quota.used, 1);
    assert_eq!(db.used(Allowance::Quota, "k1", month(next)), 1);
}

#[tokio::test]
async fn a_refund_puts_the_unit_back_and_forget_returns_everything() {
    let db = FakeDb::default();
    let meter = Meter::new(db.clone(), config(4096));
    let k = key("k1", 1, 0, Some(5));
    let (charge, _) = meter.admit(&k, 5, true, NOW).await.unwrap();
    assert!(matches!(
        meter.admit(&k, 5, true, NOW).await,
        Err((Denial::Quota, _))
    ));
    meter.refund("k1", charge).await;
    assert!(meter.admit(&k, 5, true, NOW).await.is_ok());
    meter.refund("k1", charge).await;
    meter.forget("k1").await;
    assert_eq!(db.used(Allowance::Quota, "k1", month(NOW)), 0);
    assert_eq!(db.used(Allowance::Spend, "k1", month(NOW)), 0);
}

#[tokio::test]
async fn an_outage_refuses_and_keeps_what_could_not_be_returned() {
    let db = FakeDb::default();
    let meter = Meter::new(db.clone(), config(4096));
    let k = key("k1", 1_000, 0, None);
    db.db().down = true;
    assert!(matches!(
        meter.admit(&k, 0, true, NOW).await,
        Err((Denial::Store(_), _))
    ));
    db.db().down = false;
    assert!(meter.admit(&k, 0, true, NOW).await.is_ok());
    db.db().down = true;
    meter.sweep().await; // contended (61 held of 938 left): tries to return, fails
    db.db().down = false;
    assert_eq!(db.used(Allowance::Quota, "k1", month(NOW)), 62);
}

#[tokio::test]
async fn the_rate_window_is_shared_and_a_full_window_is_refused_locally() {
    let db = FakeDb::default();
    let (a, b) = (
        Meter::new(db.replica(1), config(4096)),
        Meter::new(db.replica(2), config(4096)),
    );
    let k = key("k1", 1_000, 5, None);
    let mut ok = 0;
    for _ in 0..10 {
        ok += admit_n(&a, &k, 1, 0).await + admit_n(&b, &k, 1, 0).await;
    }
    assert_eq!(ok, 5);
    let before = db.statements();
    let refused = a.admit(&k, 0, true, NOW).await;
    assert!(matches!(refused, Err((Denial::Rate { .. }, _))));
    assert_eq!(db.statements(), before, "refused from memory");
}

// ---------------------------------------------------------------------------------------------
// The property test.

/// Prices a request can have (micro-credits).
const COSTS: [i64; 4] = [0, 1, 3, 7];
const C_MAX: i64 = 7;

#[derive(Debug, Clone)]
struct Req {
    replica: usize,
    key: usize,
    cost: usize,
    counted: bool,
    /// Requests made one after the other by this task.
    n: usize,
}

#[derive(Debug, Clone)]
enum Op {
    /// Tasks running at once, each making its requests in turn.
    Batch(Vec<Req>),
    /// Lets background refills run (or not).
    Yield(u8),
    /// The replica dies without returning anything and starts again empty.
    Crash(usize),
    /// An idle sweep.
    Sweep(usize),
    /// The replica forgets a key (its limits changed elsewhere), returning what it held.
    Forget(usize, usize),
    /// The database becomes unreachable, or reachable again.
    Outage(bool),
    /// The clock moves on (milliseconds).
    Advance(i64),
    /// The key's spend period changes (month ↔ day).
    ChangePeriod(usize),
}

fn op(replicas: usize, keys: usize) -> impl Strategy<Value = Op> {
    let req = (
        0..replicas,
        0..keys,
        0..COSTS.len(),
        prop::bool::weighted(0.9),
        1usize..40,
    )
        .prop_map(|(replica, key, cost, counted, n)| Req {
            replica,
            key,
            cost,
            counted,
            n,
        });
    prop_oneof![
        8 => prop::collection::vec(req, 1..5).prop_map(Op::Batch),
        2 => (0u8..6).prop_map(Op::Yield),
        1 => (0..replicas).prop_map(Op::Crash),
        1 => (0..replicas).prop_map(Op::Sweep),
        1 => (0..replicas, 0..keys).prop_map(|(r, k)| Op::Forget(r, k)),
        1 => prop::bool::weighted(0.3).prop_map(Op::Outage),
        2 => prop_oneof![0i64..2_000, 20_000i64..90_000].prop_map(Op::Advance),
        1 => (0..keys).prop_map(Op::ChangePeriod),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    replicas: usize,
    max_block: i64,
    forget_idle_keys: bool,
    /// Per key: monthly quota, rate limit, spend cap.
    keys: Vec<(i64, i64, Option<i64>)>,
    ops: Vec<Op>,
    delays: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    let limits = (
        prop_oneof![1i64..40, 1_000i64..3_000],
        prop_oneof![Just(0i64), 1i64..30, 100i64..2_000],
        prop_oneof![
            Just(None),
            (1i64..60).prop_map(Some),
            (2_000i64..9_000).prop_map(Some)
        ],
    );
    (
        2usize..4,
        prop_oneof![Just(1i64), Just(4), Just(64), Just(256)],
        any::<bool>(),
        prop::collection::vec(limits, 1..3),
        prop::collection::vec(0u8..4, 1..16),
    )
        .prop_flat_map(|(replicas, max_block, forget, keys, delays)| {
            let n = keys.len();
            prop::collection::vec(op(replicas, n), 1..30).prop_map(move |ops| Case {
                replicas,
                max_block,
                forget_idle_keys: forget,
                keys: keys.clone(),
                ops,
                delays: delays.clone(),
            })
        })
}

/// One admitted request, as the test saw it.
struct Admitted {
    origin: usize,
    key: usize,
    at_ms: i64,
    month_ms: i64,
    spend_period_ms: i64,
    cost: i64,
    counted: bool,
}

/// Runs a case and checks every claim; returns a description of the first broken one.
async fn run(case: Case) -> Result<(), String> {
    let db = FakeDb::with_delays(case.delays.clone());
    let config = MeterConfig {
        max_block: case.max_block,
        idle_release: Duration::ZERO,
        idle_forget: if case.forget_idle_keys {
            Duration::ZERO
        } else {
            Duration::from_secs(3600)
        },
    };
    let mut keys: Vec<KeyRecord> = case
        .keys
        .iter()
        .enumerate()
        .map(|(i, &(quota, rate, cap))| key(&format!("k{i}"), quota, rate, cap))
        .collect();
    // Replica incarnations: origin ids are never reused, so a crashed one's account is kept.
    let mut next_origin = 0;
    let mut spawn_replica = |db: &FakeDb| {
        next_origin += 1;
        (
            next_origin,
            Arc::new(Meter::new(db.replica(next_origin), config)),
        )
    };
    let mut replicas: Vec<(usize, Arc<Meter<FakeDb>>)> =
        (0..case.replicas).map(|_| spawn_replica(&db)).collect();
    let mut crashed: HashSet<usize> = HashSet::new();
    let mut period_changes = vec![0u32; keys.len()];
    let mut now = datetime!(2026-01-31 23:57:00 UTC);
    let mut admitted: Vec<Admitted> = Vec::new();

    for op in case.ops {
        match op {
            Op::Batch(reqs) => {
                let mut tasks = tokio::task::JoinSet::new();
                for r in reqs {
                    let (origin, meter) = replicas[r.replica].clone();
                    let key = keys[r.key].clone();
                    let cost = COSTS[r.cost];
                    tasks.spawn(async move {
                        let mut ok = Vec::new();
                        for _ in 0..r.n {
                            if meter.admit(&key, cost, r.counted, now).await.is_ok() {
                                ok.push((origin, r.key, cost, r.counted));
                            }
                        }
                        ok
                    });
                }
                while let Some(done) = tasks.join_next().await {
                    for (origin, key, cost, counted) in done.map_err(|e| e.to_string())? {
                        let period: Period = keys[key].spend_period;
                        admitted.push(Admitted {
                            origin,
                            key,
                            at_ms: ms(now),
                            month_ms: ms(month(now)),
                            spend_period_ms: ms(period.start(now)),
                            cost,
                            counted,
                        });
                    }
                }
            }
            Op::Yield(n) => {
                for _ in 0..n {
                    tokio::task::yield_now().await;
                }
            }
            Op::Crash(r) => {
                crashed.insert(replicas[r].0);
                replicas[r] = spawn_replica(&db);
            }
            Op::Sweep(r) => replicas[r].1.sweep().await,
            Op::Forget(r, k) => replicas[r].1.forget(&keys[k].id).await,
            Op::Outage(down) => db.db().down = down,
            Op::Advance(d) => now += time::Duration::milliseconds(d),
            Op::ChangePeriod(k) => {
                let key = &mut keys[k];
                key.spend_period = if key.spend_period == Period::Month {
                    Period::Day
                } else {
                    Period::Month
                };
                period_changes[k] += 1;
            }
        }
    }

    // Nothing was served past a limit, per period, across all replicas.
    let mut quota_used: HashMap<(usize, i64), i64> = HashMap::new();
    let mut spend_used: HashMap<(usize, i64), i64> = HashMap::new();
    for a in &admitted {
        if a.counted {
            *quota_used.entry((a.key, a.month_ms)).or_default() += 1;
        }
        *spend_used.entry((a.key, a.spend_period_ms)).or_default() += a.cost;
    }
    for (&(k, month), &used) in &quota_used {
        let limit = case.keys[k].0;
        if used > limit {
            return Err(format!(
                "key {k} month {month}: {used} admitted, quota {limit}"
            ));
        }
    }
    for (&(k, period), &used) in &spend_used {
        if let Some(cap) = case.keys[k].2
            && used > cap
        {
            return Err(format!(
                "key {k} period {period}: {used} µ spent, cap {cap}"
            ));
        }
    }
    // The rate window: at most L per fixed minute and 2L − 1 per sliding 60 s.
    for (k, &(_, rate, _)) in case.keys.iter().enumerate() {
        if rate == 0 {
            continue;
        }
        let mut times: Vec<i64> = admitted
            .iter()
            .filter(|a| a.key == k)
            .map(|a| a.at_ms)
            .collect();
        times.sort_unstable();
        let mut per_minute: HashMap<i64, i64> = HashMap::new();
        for &t in &times {
            *per_minute.entry(t.div_euclid(60_000)).or_default() += 1;
        }
        if let Some((m, &n)) = per_minute.iter().find(|&(_, &n)| n > rate) {
            return Err(format!("key {k} minute {m}: {n} admitted, rate {rate}"));
        }
        let mut lo = 0;
        for hi in 0..times.len() {
            while times[hi] - times[lo] >= 60_000 {
                lo += 1;
            }
            let n = (hi - lo + 1) as i64;
            if n > 2 * rate - 1 {
                return Err(format!("key {k}: {n} admitted within 60 s, rate {rate}"));
            }
        }
    }

    // Under-delivery: the survivors return everything; what is left reserved beyond what was
    // spent is stranded, per replica incarnation, key, allowance and period.
    db.db().down = false;
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
    for (_, meter) in &replicas {
        meter.release_all().await;
    }
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
    let mut spent: HashMap<(usize, Allowance, String, i64), i64> = HashMap::new();
    for a in &admitted {
        let counter = keys[a.key].id.clone();
        if a.counted {
            *spent
                .entry((a.origin, Allowance::Quota, counter.clone(), a.month_ms))
                .or_default() += 1;
        }
        *spent
            .entry((a.origin, Allowance::Spend, counter, a.spend_period_ms))
            .or_default() += a.cost;
    }
    let final_month = ms(month(now));
    let final_spend: Vec<i64> = keys.iter().map(|k| ms(k.spend_period.start(now))).collect();
    let db_state = db.db();
    let mut all: HashSet<(usize, Allowance, String, i64)> =
        db_state.by_origin.keys().cloned().collect();
    all.extend(spent.keys().cloned());
    for id in all {
        let reserved = db_state.by_origin.get(&id).copied().unwrap_or(0);
        let used = spent.get(&id).copied().unwrap_or(0);
        let (origin, kind, counter, period) = &id;
        let stranded = reserved - used;
        if stranded < 0 {
            return Err(format!("{id:?}: spent {used} but reserved only {reserved}"));
        }
        let k: usize = counter[1..].parse().unwrap();
        let block = match kind {
            Allowance::Quota => 2 * case.max_block,
            Allowance::Spend => (2 * case.max_block + 1) * C_MAX - 1,
        };
        let current = match kind {
            Allowance::Quota => *period == final_month,
            Allowance::Spend => *period == final_spend[k] && period_changes[k] == 0,
        };
        let failed = db_state.failed_releases.get(&id).copied().unwrap_or(0);
        if !crashed.contains(origin) && current && failed == 0 {
            // A survivor whose lease never ended without a return strands nothing.
            if stranded != 0 {
                return Err(format!(
                    "{id:?}: a graceful return left {stranded} stranded"
                ));
            }
            continue;
        }
        // Each end without a return strands at most two blocks: the crash, a roll to the next
        // month or spend period (one per change of period, plus the clock's), a failed return.
        let ends = 1 + 1 + i64::from(period_changes[k]) + i64::from(failed);
        if stranded > ends * block {
            return Err(format!(
                "{id:?}: {stranded} stranded, more than {ends} × {block}"
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn replicas_crashing_and_returning_never_serve_past_a_limit_and_strand_little(case in case()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let result = runtime.block_on(run(case));
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
