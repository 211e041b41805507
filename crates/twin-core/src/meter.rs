//! In-memory metering backed by database leases (SPEC §6, §12).
//!
//! Each replica admits requests from local allowances — quota units, rate slots and credits —
//! that it reserved in the database beforehand, through [`Reservations`] (implemented by
//! [`Store`]: each reservation is one atomic statement). Spending from memory costs no round
//! trip; a new reservation is needed only when an allowance runs out, so the database sees
//! about one statement per block of requests. Because a unit is reserved before it is spent,
//! no replica can serve past a limit, also after a crash (which can only strand
//! reserved-but-unspent units: under-delivery, never over-delivery).
//!
//! # The state machine
//!
//! Per key, a replica holds a [`Lease`] for each counted allowance ([`Allowance::Quota`], in
//! requests, and [`Allowance::Spend`], in micro-credits; they differ only in their unit and
//! period) and a rate lease (slots of one fixed minute). A lease belongs to one period (the
//! month, the spend period): a request of a later period rolls it over, dropping what it held
//! (it was counted in its own period). A lease is
//!
//! * *unknown* until its first reservation or admission of the period (`reserved` is `None`);
//! * *holding* `unused` units reserved from the database and not yet spent;
//! * *spent* for a moment after the database granted too little ([`SPENT_MEMORY`]): requests
//!   needing at least as much are refused without asking again;
//! * *refilling* while a background reservation is in flight (at most one per allowance);
//! * *detached* once the meter forgets the key (its limits changed, it went idle, shutdown):
//!   everything unspent goes back to the database, and grants landing later go straight back.
//!
//! Block sizes follow [`twin_meter::lease`], the same rule the store uses: a reservation asks
//! for at most 1/16 of what is left (at least one request's worth, at most `max_block`
//! requests' worth, 4096 by default), so at the boundary every unit is reserved one at a time
//! and replicas share the last units exactly. Unspent allowances of an idle key go back to the
//! database after `idle_release` when they matter to other replicas — when what the key has
//! left in the database is less than 16 times what this replica holds — and otherwise after
//! `idle_forget`. Far from a limit, holding a block costs nobody anything, while giving it back
//! and reserving it again would put every key of a large rotation (say 10,000 keys, each called
//! every few seconds) back on the slow path of round trips.
//!
//! Per request, for one key, the three allowances are checked in the spec's order (rate →
//! quota → spend) under the key's lock and then spent together: a refused request spends
//! nothing.
//!
//! Refills happen ahead of need: when an allowance that is far from its limit (its next block
//! would be at least [`PREFETCH_MIN_BLOCK`] requests' worth) falls to a quarter of that block,
//! a background task reserves the next block while requests go on spending what is left. So a
//! busy key does not wait on the database at all in the steady state; only a key's first
//! request, the first request of a new rate minute and the last stretch before a limit (where
//! blocks shrink toward one unit and replicas share the rest exactly) reserve on the request
//! path.
//!
//! # The under-delivery bound
//!
//! A lease that ends without going back to the database — its replica crashed, or its period
//! ended while it was held — strands what it held. Per key and replica that is at most **two
//! blocks**: one reservation made by a request that found the lease empty, plus one refill
//! that was in flight meanwhile (reservations for a key are serialized by a fair gate, so no
//! third can land before the refill). In units:
//!
//! * quota: at most `2 × max_block` requests (and at most 2/16 of what was left);
//! * spend: at most `(2 × max_block + 1) × c − 1` micro-credits, `c` the largest price of the
//!   key's requests (a request reserves when it lacks fewer than `c`);
//! * rate: slots are never given back; they expire with their fixed minute, so a crash costs
//!   at most the rest of that minute's window and the limits of [`twin_meter::rate`] (at most
//!   `L` per fixed minute, `2L − 1` per sliding 60 s) hold across any number of replicas.
//!
//! A refund (an answer that must not count, 425 or 5xx) puts the unit back into the lease,
//! which can raise what a crash strands by the requests in flight at that moment.
//!
//! The property test in `meter/tests.rs` runs several replicas over an exact in-memory
//! database, with random interleavings, crashes, sweeps, returns and period changes, and
//! checks that nothing is served past a limit and that what is stranded stays within this
//! bound.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
pub use twin_meter::lease::PREFETCH_MIN_BLOCK;
use twin_meter::rate::{RateDecision, RateReservation, RateWindow};
use twin_meter::{Credits, Period, QuotaSnapshot};
pub use twin_store::Grant;
use twin_store::{KeyRecord, Store, StoreError};

#[cfg(test)]
mod tests;

/// The counted allowances a [`Lease`] can hold: they differ only in their unit and period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Allowance {
    /// The monthly quota, in requests.
    Quota,
    /// The spend cap, in micro-credits per spend period.
    Spend,
}

impl Allowance {
    /// Both, in the order a request is checked against them.
    pub const ALL: [Allowance; 2] = [Allowance::Quota, Allowance::Spend];

    fn denial(self) -> Denial {
        match self {
            Allowance::Quota => Denial::Quota,
            Allowance::Spend => Denial::Spend,
        }
    }
}

/// The reservations the meter makes in the shared database, each one atomic. [`Store`]
/// implements it; tests use an in-memory database with exact counters.
///
/// `counter` names the row that holds the counters (see [`counter_id`]). Periods are named by
/// their start. Implementations must never grant past `limit`, counting every replica's
/// reservations.
pub trait Reservations: Clone + Send + Sync + 'static {
    /// Reserves up to `want` units of `kind` for the period starting at `period_start`, within
    /// `limit` (`None`: no limit). Grants fewer when fewer are left (never fewer than `min`,
    /// one request's worth, except 0 when not even that is left).
    fn reserve(
        &self,
        kind: Allowance,
        counter: &str,
        period_start: OffsetDateTime,
        limit: Option<i64>,
        want: i64,
        min: i64,
    ) -> impl Future<Output = Result<Grant, StoreError>> + Send;

    /// Gives back `units` reserved and unspent units of `kind` of the period starting at
    /// `period_start` (nothing when that period is over).
    fn release(
        &self,
        kind: Allowance,
        counter: &str,
        period_start: OffsetDateTime,
        units: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reserves up to `want` slots of the per-minute window of `limit` at `now`; `known` is
    /// the window as of the caller's previous reservation.
    fn reserve_rate(
        &self,
        counter: &str,
        limit: u32,
        now: OffsetDateTime,
        want: u32,
        known: Option<RateWindow>,
    ) -> impl Future<Output = Result<RateReservation, StoreError>> + Send;
}

impl Reservations for Store {
    async fn reserve(
        &self,
        kind: Allowance,
        counter: &str,
        period_start: OffsetDateTime,
        limit: Option<i64>,
        want: i64,
        min: i64,
    ) -> Result<Grant, StoreError> {
        match kind {
            // A quota always has a limit; `None` would mean "no limit" all the same.
            Allowance::Quota => {
                let limit = limit.unwrap_or(i64::MAX);
                Store::reserve_quota(self, counter, period_start, limit, want).await
            }
            Allowance::Spend => {
                Store::reserve_spend(self, counter, period_start, limit, want, min).await
            }
        }
    }

    async fn release(
        &self,
        kind: Allowance,
        counter: &str,
        period_start: OffsetDateTime,
        units: i64,
    ) -> Result<(), StoreError> {
        match kind {
            Allowance::Quota => Store::release_quota(self, counter, period_start, units).await,
            Allowance::Spend => Store::release_spend(self, counter, period_start, units).await,
        }
    }

    fn reserve_rate(
        &self,
        counter: &str,
        limit: u32,
        now: OffsetDateTime,
        want: u32,
        known: Option<RateWindow>,
    ) -> impl Future<Output = Result<RateReservation, StoreError>> + Send {
        Store::reserve_rate(self, counter, limit, now, want, known)
    }
}

/// The database row a key's allowances are reserved from: every reservation and release of
/// the meter names its row through this one function.
pub fn counter_id(key: &KeyRecord) -> &str {
    &key.counter_id
}

/// Metering settings.
#[derive(Debug, Clone, Copy)]
pub struct MeterConfig {
    /// Largest block one reservation takes, in requests (quota, rate) or requests' worth of
    /// credits (spend).
    pub max_block: i64,
    /// How long a key may sit idle before its unspent allowances are returned, when other
    /// replicas may need them (the key is near a limit).
    pub idle_release: Duration,
    /// How long a key may sit idle before its allowances are returned and its state
    /// forgotten in any case (memory follows the keys used within this time).
    pub idle_forget: Duration,
}

impl Default for MeterConfig {
    fn default() -> Self {
        MeterConfig {
            max_block: 4096,
            idle_release: Duration::from_secs(2),
            idle_forget: Duration::from_secs(60),
        }
    }
}

/// What one admitted request spent, so a 425 or 5xx answer can give it back.
#[derive(Debug, Clone, Copy, Default)]
pub struct Charge {
    /// One quota unit was spent.
    pub quota: bool,
    /// Micro-credits spent.
    pub credits: i64,
}

/// The metering state to report in response headers.
#[derive(Debug, Clone)]
pub struct MeterHeaders {
    /// Monthly quota.
    pub quota: QuotaSnapshot,
    /// Rate limit (limit 0 = disabled).
    pub rate: RateHeaders,
    /// Spend.
    pub spend: SpendHeaders,
}

/// Values of the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct RateHeaders {
    /// Requests per minute (0 = no limit, as the header says it).
    pub limit: u32,
    /// Requests left in the window (approximate across replicas; exact on one).
    pub remaining: u32,
    /// Unix seconds when a slot frees.
    pub reset: i64,
}

/// Values of the `X-Twin-Spend-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct SpendHeaders {
    /// This request's cost.
    pub cost: Credits,
    /// Spent in the period (this request included).
    pub used: Credits,
    /// The cap, if any.
    pub limit: Option<Credits>,
    /// When the period resets (`None` for `forever`).
    pub reset: Option<OffsetDateTime>,
}

/// Why a request was refused.
#[derive(Debug)]
pub enum Denial {
    /// The per-minute window is full.
    Rate {
        /// Milliseconds until a slot frees.
        retry_after_ms: u64,
    },
    /// The monthly quota is spent.
    Quota,
    /// The cost would pass the period's cap.
    Spend,
    /// The store failed.
    Store(StoreError),
}

/// How long a "spent" answer from the database is trusted before asking again.
pub const SPENT_MEMORY: Duration = Duration::from_millis(500);

/// One replica's lease on a counted allowance of one key for one period (see the module
/// docs for its states).
#[derive(Debug, Default)]
struct Lease {
    /// Start of the period the lease belongs to (Unix ms).
    period: i64,
    /// The limit as of the key's last request (`None`: no limit).
    limit: Option<i64>,
    /// Units reserved in the database by all replicas, as of our last reservation (or the
    /// key's stored counters); `None` until known in this period.
    reserved: Option<i64>,
    /// Of those, ours and not yet spent.
    unused: i64,
    /// The database granted too little for requests needing this many units: refuse those
    /// locally until then (another replica may return unspent units after its idle delay, so
    /// this is short).
    spent_until: Option<(Instant, i64)>,
    /// A background reservation is in flight.
    refilling: bool,
    /// How many of the key's alert thresholds this replica saw reached in the period.
    alerted: usize,
}

impl Lease {
    /// Moves the lease to `period`. What it held in an earlier one was counted there and is
    /// dropped.
    fn roll(&mut self, period: i64) {
        if self.period != period {
            *self = Lease {
                period,
                limit: self.limit,
                ..Lease::default()
            };
        }
    }

    /// What the limit still allows beyond everything reserved (`None`: no limit).
    fn left(&self) -> Option<i64> {
        self.limit.map(|l| l - self.reserved.unwrap_or(0))
    }

    /// Adds a grant made for `period`; one for another period (the lease rolled meanwhile)
    /// was counted there and is dropped.
    fn apply(&mut self, period: i64, g: Grant) {
        if self.period == period {
            self.reserved = Some(self.reserved.map_or(g.used, |r| r.max(g.used)));
            self.unused += g.granted;
        }
    }

    /// Takes everything unspent, to give it back; returns it and the period it belongs to.
    fn take_unused(&mut self) -> (i64, i64) {
        let units = std::mem::take(&mut self.unused);
        self.reserved = self.reserved.map(|r| r - units);
        (units, self.period)
    }

    /// Puts back what [`Lease::take_unused`] took when it could not be returned.
    fn put_back(&mut self, period: i64, units: i64) {
        if self.period == period {
            self.unused += units;
            self.reserved = self.reserved.map(|r| r + units);
        }
    }

    /// Spent in the period as far as this replica knows: reserved by all, minus ours unspent.
    fn used(&self) -> i64 {
        (self.reserved.unwrap_or(0) - self.unused).max(0)
    }

    /// Whether the database recently refused a request needing `units`.
    fn known_spent(&self, units: i64) -> bool {
        self.spent_until
            .is_some_and(|(t, u)| units >= u && Instant::now() < t)
    }

    /// Whether what is held matters to other replicas (see [`twin_meter::lease::holds_contended`]).
    fn holds_contended(&self) -> bool {
        self.reserved.is_some() && twin_meter::lease::holds_contended(self.left(), self.unused)
    }
}

/// One replica's slots of a key's rate window.
#[derive(Debug, Default)]
struct RateLease {
    /// The slots must be used before this instant (Unix ms); 0 (long past) before the first
    /// reservation.
    valid_until_ms: i64,
    /// The window is full until then (Unix ms): other replicas can only add to it.
    full_until_ms: Option<i64>,
    unused: u32,
    /// The stored window as of our last reservation, if we made one (for headers, and as
    /// the store's compare-and-set hint).
    window: Option<RateWindow>,
    /// A background reservation is in flight.
    refilling: bool,
}

impl RateLease {
    /// Adds a reservation's slots. Slots counted in a later minute than those held replace
    /// them (the held ones expire now); a reservation of an earlier minute, landing late, is
    /// dropped.
    fn apply(&mut self, r: &RateReservation) {
        if r.valid_until_unix_ms == self.valid_until_ms {
            self.window = Some(r.state);
            self.unused = self.unused.saturating_add(r.granted);
        } else if r.valid_until_unix_ms > self.valid_until_ms {
            self.window = Some(r.state);
            self.valid_until_ms = r.valid_until_unix_ms;
            self.unused = r.granted;
        }
    }
}

#[derive(Debug, Default)]
struct KeyLeases {
    quota: Lease,
    spend: Lease,
    rate: RateLease,
    last_used: Option<Instant>,
    /// The entry was removed from the meter and its allowances given back: a refill landing
    /// afterwards gives its grant straight back too.
    detached: bool,
}

impl KeyLeases {
    fn lease(&self, kind: Allowance) -> &Lease {
        match kind {
            Allowance::Quota => &self.quota,
            Allowance::Spend => &self.spend,
        }
    }

    fn lease_mut(&mut self, kind: Allowance) -> &mut Lease {
        match kind {
            Allowance::Quota => &mut self.quota,
            Allowance::Spend => &mut self.spend,
        }
    }

    /// Whether the unspent allowances held here may make another replica refuse a request.
    fn holds_contended_units(&self) -> bool {
        self.quota.holds_contended() || self.spend.holds_contended()
    }
}

/// A key's metering state: the allowances behind a plain mutex (held only briefly, never
/// across a database call) and a gate held by whoever is reserving for the key.
struct KeyEntry {
    /// The row reservations are made from ([`counter_id`]).
    counter: Box<str>,
    state: Mutex<KeyLeases>,
    gate: Arc<tokio::sync::Mutex<()>>,
}

type Entry = Arc<KeyEntry>;

fn lock(entry: &Entry) -> std::sync::MutexGuard<'_, KeyLeases> {
    entry.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one request needs of a counted allowance.
#[derive(Clone, Copy)]
struct Need {
    /// Units (0: the request does not draw on it).
    units: i64,
    period: OffsetDateTime,
    period_ms: i64,
    limit: Option<i64>,
}

/// One admission's fixed inputs.
struct Ask<'a> {
    key: &'a KeyRecord,
    now: OffsetDateTime,
    now_ms: i64,
    /// Quota, then spend (indexed by [`Allowance`]).
    needs: [Need; 2],
    spend_period: Period,
    rate: Option<NonZeroU32>,
}

impl Ask<'_> {
    fn need(&self, kind: Allowance) -> Need {
        self.needs[kind as usize]
    }

    fn cost(&self) -> i64 {
        self.need(Allowance::Spend).units
    }
}

/// What one pass over a key's allowances concluded.
enum Step {
    /// Admitted (everything spent) or refused.
    Done(Result<(Charge, MeterHeaders), (Denial, MeterHeaders)>),
    /// Rate slots must be reserved first.
    Rate {
        want: u32,
        known: Option<RateWindow>,
    },
    /// Units of `kind` must be reserved first (`min`: what this request still lacks).
    Reserve {
        kind: Allowance,
        want: i64,
        min: i64,
    },
}

/// The metering engine of one replica, over the database `R` holds its leases in.
pub struct Meter<R: Reservations = Store> {
    store: R,
    config: MeterConfig,
    keys: Mutex<HashMap<String, Entry>>,
    /// Where threshold crossings go (see [`crate::alerts`]); none: not watched.
    alerts: std::sync::OnceLock<crate::alerts::CrossingSender>,
}

impl<R: Reservations> std::fmt::Debug for Meter<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(v: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn rate_limit_of(key: &KeyRecord) -> Option<NonZeroU32> {
    NonZeroU32::new(u32::try_from(key.rate_limit_rpm.max(0)).unwrap_or(u32::MAX))
}

fn stored_used(key: &KeyRecord, kind: Allowance, period: OffsetDateTime) -> i64 {
    match kind {
        Allowance::Quota => key.counters.quota_used_in(period),
        Allowance::Spend => key.counters.spend_used_in(period),
    }
}

impl<R: Reservations> Meter<R> {
    /// A meter over `store`.
    pub fn new(store: R, config: MeterConfig) -> Self {
        Meter {
            store,
            config,
            keys: Mutex::new(HashMap::new()),
            alerts: std::sync::OnceLock::new(),
        }
    }

    /// Hands threshold crossings to `sender` from now on (once; later calls are ignored).
    pub fn set_alerts(&self, sender: crate::alerts::CrossingSender) {
        let _ = self.alerts.set(sender);
    }

    /// After a spend: each of the key's thresholds that its quota or spend now reaches, and
    /// that this replica has not seen reached in the period, goes to the alerts channel. On
    /// the request path this is a comparison; the database hears of it in the background.
    fn watch_thresholds(&self, leases: &mut KeyLeases, ask: &Ask<'_>) {
        let Some(sender) = self.alerts.get() else {
            return;
        };
        let thresholds = ask.key.alerts.thresholds();
        if thresholds.is_empty() {
            return;
        }
        for kind in Allowance::ALL {
            let need = ask.need(kind);
            let lease = leases.lease_mut(kind);
            let (Some(limit), true) = (need.limit, need.units > 0) else {
                continue;
            };
            if limit <= 0 {
                continue;
            }
            let used = lease.used();
            while let Some(&pct) = thresholds.get(lease.alerted) {
                // used / limit >= pct / 100, in integers that cannot overflow.
                if i128::from(used) * 100 < i128::from(pct) * i128::from(limit) {
                    break;
                }
                lease.alerted += 1;
                let (period_start, resets_at) = match kind {
                    Allowance::Quota => (need.period, Some(twin_meter::next_month_start(ask.now))),
                    Allowance::Spend => (need.period, ask.spend_period.next_reset(ask.now)),
                };
                let _ = sender.send(crate::alerts::Crossing {
                    key_id: ask.key.id.clone(),
                    owner_id: ask.key.owner_id.clone(),
                    prefix: ask.key.prefix.clone(),
                    name: ask.key.name.clone(),
                    env: ask.key.env.as_str(),
                    counter_id: ask.key.counter_id.clone(),
                    allowance: kind,
                    threshold: pct,
                    used,
                    limit,
                    period_start,
                    resets_at,
                    at: ask.now,
                });
            }
        }
    }

    /// How many keys have metering state in memory.
    pub fn key_count(&self) -> u64 {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).len() as u64
    }

    /// The key's entry, created if needed. Entries are per key (the change feed and refunds
    /// name keys); each remembers the counter it reserves from.
    fn entry(&self, key: &KeyRecord) -> Entry {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = keys.get(&key.id) {
            return entry.clone();
        }
        keys.entry(key.id.clone())
            .or_insert_with(|| {
                Arc::new(KeyEntry {
                    counter: counter_id(key).into(),
                    state: Mutex::default(),
                    gate: Arc::default(),
                })
            })
            .clone()
    }

    fn existing(&self, key_id: &str) -> Option<Entry> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.get(key_id).cloned()
    }

    fn remove(&self, key_id: &str) -> Option<Entry> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.remove(key_id)
    }

    fn ask<'a>(
        &self,
        key: &'a KeyRecord,
        cost: i64,
        counted: bool,
        now: OffsetDateTime,
    ) -> Ask<'a> {
        let spend_period: Period = key.spend_period;
        let month = twin_meter::month_start(now);
        let period_start = spend_period.start(now);
        Ask {
            key,
            now,
            now_ms: ms(now),
            needs: [
                Need {
                    units: i64::from(counted),
                    period: month,
                    period_ms: ms(month),
                    limit: Some(key.monthly_quota),
                },
                Need {
                    units: cost.max(0),
                    period: period_start,
                    period_ms: ms(period_start),
                    limit: key.spend_limit,
                },
            ],
            spend_period,
            rate: rate_limit_of(key),
        }
    }

    /// Admits one request of `key` costing `cost` micro-credits; `counted` says whether it
    /// counts against the monthly quota (`/health` does not). Returns the charge and the
    /// header values, or the denial with the header values as they stand.
    ///
    /// The key's state is behind a plain mutex that is never held across a database call:
    /// a request that needs a reservation releases it, reserves, and comes back to spend, so
    /// the requests of a busy key never queue behind a round trip.
    pub async fn admit(
        &self,
        key: &KeyRecord,
        cost: i64,
        counted: bool,
        now: OffsetDateTime,
    ) -> Result<(Charge, MeterHeaders), (Denial, MeterHeaders)> {
        let ask = self.ask(key, cost, counted, now);
        let (mut entry, mut step) = self.begin(self.entry(key), &ask);
        // Each turn either finishes or reserves fresh units from the database, which are
        // finite in every period (a spend without a cap grants whatever is asked), so the
        // loop ends.
        loop {
            if let Step::Done(result) = step {
                return result;
            }
            // One reservation per key at a time on this replica (the background refill takes
            // the same gate), so grants are applied in the order the database made them and
            // the quota headers stay exact. Requests that find units keep spending meanwhile.
            let gate = entry.gate.clone().lock_owned().await;
            // A reservation that finished while we waited may have covered this request.
            let need = {
                let mut leases = lock(&entry);
                if leases.detached {
                    None
                } else {
                    Some(self.step(&entry, &mut leases, &ask))
                }
            };
            let Some(need) = need else {
                drop(gate);
                (entry, step) = self.begin(self.entry(key), &ask);
                continue;
            };
            step = match need {
                Step::Done(result) => return result,
                Step::Rate { want, known } => {
                    let limit = ask.rate.map_or(0, NonZeroU32::get);
                    let reserved = self
                        .store
                        .reserve_rate(&entry.counter, limit, now, want, known)
                        .await;
                    let mut leases = lock(&entry);
                    if leases.detached {
                        // The key was forgotten meanwhile (its limits changed): start over on
                        // a fresh entry. Rate slots are not given back.
                        drop(leases);
                        drop(gate);
                        (entry, step) = self.begin(self.entry(key), &ask);
                        continue;
                    }
                    match reserved {
                        Ok(r) => {
                            leases.rate.apply(&r);
                            if leases.rate.unused == 0 {
                                let d = twin_meter::decide_at_ms(r.state, limit, ask.now_ms);
                                let retry_after_ms = d.retry_after_ms.max(1);
                                leases.rate.full_until_ms =
                                    Some(ask.now_ms + i64::try_from(retry_after_ms).unwrap_or(1));
                                let headers = self.headers_for(&leases, &ask, Some(&d));
                                return Err((Denial::Rate { retry_after_ms }, headers));
                            }
                        }
                        Err(e) => {
                            let headers = self.headers_for(&leases, &ask, None);
                            return Err((Denial::Store(e), headers));
                        }
                    }
                    self.step(&entry, &mut leases, &ask)
                }
                Step::Reserve { kind, want, min } => {
                    let need = ask.need(kind);
                    let granted = self
                        .store
                        .reserve(kind, &entry.counter, need.period, need.limit, want, min)
                        .await;
                    let g = match granted {
                        Ok(g) => g,
                        Err(e) => {
                            let headers = self.headers_for(&lock(&entry), &ask, None);
                            return Err((Denial::Store(e), headers));
                        }
                    };
                    let next = {
                        let mut leases = lock(&entry);
                        if leases.detached {
                            None
                        } else {
                            let lease = leases.lease_mut(kind);
                            lease.apply(need.period_ms, g);
                            if lease.unused < need.units {
                                lease.spent_until =
                                    Some((Instant::now() + SPENT_MEMORY, need.units));
                                let headers = self.headers_for(&leases, &ask, None);
                                return Err((kind.denial(), headers));
                            }
                            Some(self.step(&entry, &mut leases, &ask))
                        }
                    };
                    match next {
                        Some(next) => next,
                        None => {
                            // Forgotten meanwhile: the grant goes back, and the request
                            // starts over on a fresh entry.
                            drop(gate);
                            let _ = self
                                .store
                                .release(kind, &entry.counter, need.period, g.granted)
                                .await;
                            (entry, step) = self.begin(self.entry(key), &ask);
                            continue;
                        }
                    }
                }
            };
        }
    }

    /// Marks the key used and makes the first pass over its allowances, on an entry that is
    /// still the meter's (one forgotten meanwhile is replaced by a fresh one).
    fn begin(&self, mut entry: Entry, ask: &Ask<'_>) -> (Entry, Step) {
        loop {
            let step = {
                let mut leases = lock(&entry);
                if !leases.detached {
                    leases.last_used = Some(Instant::now());
                    for kind in Allowance::ALL {
                        leases.lease_mut(kind).limit = ask.need(kind).limit;
                    }
                    Some(self.step(&entry, &mut leases, ask))
                } else {
                    None
                }
            };
            match step {
                Some(step) => return (entry, step),
                None => entry = self.entry(ask.key),
            }
        }
    }

    /// One pass over the key's allowances under its lock: spends them all (rate → quota →
    /// spend, all or nothing), refuses from what is known locally, or names the first one
    /// that needs a reservation.
    fn step(&self, entry: &Entry, leases: &mut KeyLeases, ask: &Ask<'_>) -> Step {
        // Roll allowances that belong to a past period: they were counted in that period
        // and are simply dropped.
        for kind in Allowance::ALL {
            leases.lease_mut(kind).roll(ask.need(kind).period_ms);
        }
        if leases.rate.valid_until_ms <= ask.now_ms {
            leases.rate.unused = 0;
        }

        // 1. Rate. A window known to be full stays full until its next free slot: other
        // replicas can only add to it, so the database need not be asked again before then.
        if let Some(limit) = ask.rate
            && leases.rate.unused == 0
        {
            if let Some(until) = leases.rate.full_until_ms
                && ask.now_ms < until
            {
                let window = leases.rate.window.unwrap_or_default();
                let d = twin_meter::decide_at_ms(window, limit.get(), ask.now_ms);
                let retry_after_ms = u64::try_from(until - ask.now_ms).unwrap_or(1).max(1);
                let headers = self.headers_for(leases, ask, Some(&d));
                return Step::Done(Err((Denial::Rate { retry_after_ms }, headers)));
            }
            let want =
                twin_meter::lease::block(Some(i64::from(limit.get())), 1, self.config.max_block);
            return Step::Rate {
                want: u32::try_from(want).unwrap_or(1),
                known: leases.rate.window,
            };
        }

        // 2. Monthly quota, then 3. spend. A limit the database just called reached is
        // refused locally for a moment (for requests needing at least as much), so a client
        // calling past its limit costs no round trips.
        for kind in Allowance::ALL {
            let need = ask.need(kind);
            let lease = leases.lease_mut(kind);
            if need.units > 0 && lease.unused < need.units {
                if lease.known_spent(need.units) {
                    let headers = self.headers_for(leases, ask, None);
                    return Step::Done(Err((kind.denial(), headers)));
                }
                return Step::Reserve {
                    kind,
                    want: twin_meter::lease::block(lease.left(), need.units, self.config.max_block),
                    min: need.units - lease.unused,
                };
            }
            if lease.reserved.is_none() {
                // First sight of this key in the period on this replica: report the stored
                // count.
                lease.reserved = Some(stored_used(ask.key, kind, need.period));
            }
        }

        // Everything is available: spend it together.
        if ask.rate.is_some() {
            leases.rate.unused -= 1;
        }
        for kind in Allowance::ALL {
            leases.lease_mut(kind).unused -= ask.need(kind).units;
        }
        let charge = Charge {
            quota: ask.need(Allowance::Quota).units > 0,
            credits: ask.cost(),
        };
        self.watch_thresholds(leases, ask);
        self.refill_ahead(entry, leases, ask);
        let headers = self.headers_for(leases, ask, None);
        Step::Done(Ok((charge, headers)))
    }

    /// Starts background reservations for allowances running low (see the module docs).
    fn refill_ahead(&self, entry: &Entry, leases: &mut KeyLeases, ask: &Ask<'_>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for kind in Allowance::ALL {
            let need = ask.need(kind);
            let lease = leases.lease_mut(kind);
            if need.units == 0 || lease.refilling || lease.reserved.is_none() {
                continue;
            }
            let Some(want) = twin_meter::lease::prefetch(
                lease.left(),
                need.units,
                self.config.max_block,
                lease.unused,
            ) else {
                continue;
            };
            lease.refilling = true;
            let (store, entry) = (self.store.clone(), entry.clone());
            let (period, limit) = (lease.period, lease.limit);
            runtime.spawn(async move {
                let _gate = entry.gate.clone().lock_owned().await;
                let grant = store
                    .reserve(
                        kind,
                        &entry.counter,
                        from_ms(period),
                        limit,
                        want,
                        need.units,
                    )
                    .await;
                let detached = {
                    let mut leases = lock(&entry);
                    leases.lease_mut(kind).refilling = false;
                    let Ok(g) = grant else { return };
                    if !leases.detached {
                        // A grant of a period that has ended was counted in it and is dropped.
                        leases.lease_mut(kind).apply(period, g);
                    }
                    leases.detached.then_some(g.granted)
                };
                if let Some(units) = detached {
                    // Nobody will spend it here: give it back at once.
                    let _ = store
                        .release(kind, &entry.counter, from_ms(period), units)
                        .await;
                }
            });
        }
        if let Some(limit) = ask.rate
            && !leases.rate.refilling
            && leases.rate.valid_until_ms > ask.now_ms
            && let Some(want) = twin_meter::lease::prefetch(
                Some(i64::from(limit.get())),
                1,
                self.config.max_block,
                i64::from(leases.rate.unused),
            )
        {
            // The window's size, not what is left of it, sizes a rate block: the store's
            // compare-and-set grants only what fits.
            leases.rate.refilling = true;
            let (store, entry) = (self.store.clone(), entry.clone());
            let want = u32::try_from(want).unwrap_or(1);
            let known = leases.rate.window;
            let now = ask.now;
            runtime.spawn(async move {
                let _gate = entry.gate.clone().lock_owned().await;
                let reservation = store
                    .reserve_rate(&entry.counter, limit.get(), now, want, known)
                    .await;
                let mut leases = lock(&entry);
                leases.rate.refilling = false;
                // Rate slots are never given back: they expire with their minute.
                if let Ok(r) = reservation
                    && !leases.detached
                    && r.granted > 0
                {
                    leases.rate.apply(&r);
                }
            });
        }
    }

    fn headers_for(
        &self,
        leases: &KeyLeases,
        ask: &Ask<'_>,
        decision: Option<&RateDecision>,
    ) -> MeterHeaders {
        self.headers(
            leases,
            ask.key,
            ask.rate,
            decision,
            ask.cost(),
            ask.spend_period,
            ask.now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn headers(
        &self,
        leases: &KeyLeases,
        key: &KeyRecord,
        rate_limit: Option<NonZeroU32>,
        decision: Option<&RateDecision>,
        cost: i64,
        period: Period,
        now: OffsetDateTime,
    ) -> MeterHeaders {
        let used = u64::try_from(leases.quota.used()).unwrap_or(0);
        let limit = u64::try_from(key.monthly_quota).unwrap_or(0);
        let rate = match rate_limit {
            None => RateHeaders {
                limit: 0,
                remaining: 0,
                reset: now.unix_timestamp(),
            },
            Some(rate_limit) => {
                let rate_limit = rate_limit.get();
                let d = decision.copied().unwrap_or_else(|| {
                    let window = leases.rate.window.unwrap_or_default();
                    twin_meter::decide_at_ms(window, rate_limit, ms(now))
                });
                // `decide` describes a hypothetical next request: what it would leave is one
                // less than the free capacity.
                let free = if d.allowed {
                    d.remaining.saturating_add(1)
                } else {
                    0
                };
                let remaining = if decision.is_some() {
                    0
                } else {
                    leases.rate.unused.saturating_add(free)
                };
                RateHeaders {
                    limit: rate_limit,
                    remaining: remaining.min(rate_limit),
                    reset: d.reset_at_unix_secs,
                }
            }
        };
        MeterHeaders {
            quota: QuotaSnapshot::for_month(limit, used, now),
            rate,
            spend: SpendHeaders {
                cost: Credits::from_micros(cost).unwrap_or(Credits::ZERO),
                used: Credits::from_micros(leases.spend.used()).unwrap_or(Credits::ZERO),
                limit: key.spend_limit.and_then(Credits::from_micros),
                reset: period.next_reset(now),
            },
        }
    }

    /// Header values for a request refused before metering (scope, plan): what this replica
    /// knows of the key, spending nothing.
    pub fn peek(&self, key: &KeyRecord, cost: i64, now: OffsetDateTime) -> MeterHeaders {
        let ask = self.ask(key, cost, false, now);
        let current = |leases: &KeyLeases| {
            Allowance::ALL.iter().all(|&kind| {
                let lease = leases.lease(kind);
                lease.period == ask.need(kind).period_ms && lease.reserved.is_some()
            })
        };
        if let Some(entry) = self.existing(&key.id)
            && let Ok(leases) = entry.state.try_lock()
            && current(&leases)
        {
            return self.headers_for(&leases, &ask, None);
        }
        let mut leases = KeyLeases::default();
        for kind in Allowance::ALL {
            leases.lease_mut(kind).reserved = Some(stored_used(key, kind, ask.need(kind).period));
        }
        let mut headers = self.headers_for(&leases, &ask, None);
        if let Some(limit) = ask.rate {
            // Nothing known locally about the window: report the full limit.
            headers.rate.remaining = limit.get();
            headers.rate.reset = now.unix_timestamp();
        }
        headers
    }

    /// This replica's reserved-but-unspent quota units and micro-credits of a key, to report
    /// spent amounts rather than reserved ones.
    pub fn local_unused(&self, key_id: &str, now: OffsetDateTime) -> (i64, i64) {
        match self
            .existing(key_id)
            .as_ref()
            .and_then(|e| e.state.try_lock().ok())
        {
            Some(leases) if leases.quota.period == ms(twin_meter::month_start(now)) => {
                (leases.quota.unused, leases.spend.unused)
            }
            _ => (0, 0),
        }
    }

    /// Gives back what a request spent when its answer must not count (425, 5xx). When the
    /// key was forgotten meanwhile, what it spent stays counted (under-delivery of one
    /// request).
    pub async fn refund(&self, key_id: &str, charge: Charge) {
        let Some(entry) = self.existing(key_id) else {
            return;
        };
        let mut leases = lock(&entry);
        if leases.detached {
            return;
        }
        if charge.quota {
            leases.quota.unused += 1;
        }
        leases.spend.unused += charge.credits;
    }

    /// Drops every cached allowance of a key after giving it back (its limits changed).
    pub async fn forget(&self, key_id: &str) {
        if let Some(entry) = self.remove(key_id) {
            lock(&entry).detached = true;
            self.give_back(&entry).await;
        }
    }

    /// [`Meter::forget`] from synchronous code: the key's allowances are detached at once
    /// and given back by a background task.
    pub fn forget_now(self: &Arc<Self>, key_id: &str) {
        if let Some(entry) = self.remove(key_id) {
            lock(&entry).detached = true;
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let meter = self.clone();
                rt.spawn(async move { meter.give_back(&entry).await });
            }
        }
    }

    /// Returns the key's unspent quota units and credits to the database. What cannot be
    /// returned (the database is down) stays held, to be returned later.
    async fn give_back(&self, entry: &Entry) {
        for kind in Allowance::ALL {
            let (units, period) = lock(entry).lease_mut(kind).take_unused();
            if units > 0
                && self
                    .store
                    .release(kind, &entry.counter, from_ms(period), units)
                    .await
                    .is_err()
            {
                lock(entry).lease_mut(kind).put_back(period, units);
            }
        }
        // Rate slots are not given back: they expire with their minute.
    }

    /// Returns the allowances of idle keys (see the module docs for when) and forgets those
    /// keys, so memory follows the set of active keys.
    pub async fn sweep(&self) {
        let all: Vec<(String, Entry)> = {
            let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        for (key_id, entry) in all {
            let release = {
                let leases = lock(&entry);
                let idle_for = leases.last_used.map_or(Duration::MAX, |t| t.elapsed());
                idle_for >= self.config.idle_forget
                    || (idle_for >= self.config.idle_release && leases.holds_contended_units())
            };
            if !release {
                continue;
            }
            // Forgotten first, so no request spends from the entry while it is emptied.
            let removed = {
                let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
                // Only while nobody else holds it (an admission in flight, a refill): the map
                // and this loop hold the only references.
                match keys.get(&key_id) {
                    Some(current)
                        if Arc::ptr_eq(current, &entry) && Arc::strong_count(&entry) <= 2 =>
                    {
                        keys.remove(&key_id)
                    }
                    _ => None,
                }
            };
            if removed.is_some() {
                lock(&entry).detached = true;
                self.give_back(&entry).await;
            }
        }
    }

    /// Gives every allowance back (graceful shutdown).
    pub async fn release_all(&self) {
        let all: Vec<Entry> = {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.drain().map(|(_, entry)| entry).collect()
        };
        for entry in all {
            lock(&entry).detached = true;
            self.give_back(&entry).await;
        }
    }

    /// Runs [`Meter::sweep`] every half `idle_release` on the current runtime.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let meter = Arc::downgrade(self);
        let every = (self.config.idle_release / 2).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                ticker.tick().await;
                let Some(meter) = meter.upgrade() else { return };
                meter.sweep().await;
            }
        });
    }
}
