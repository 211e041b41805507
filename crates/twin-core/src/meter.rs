//! In-memory metering backed by database leases (SPEC §6, §12).
//!
//! Each replica admits requests from local allowances — quota units, rate slots and credits —
//! that it reserved in the database beforehand (`Store::reserve_*`, each one atomic). Spending
//! from memory costs no round trip; a new reservation is needed only when an allowance runs
//! out, so the database sees about one statement per `block` requests. Because a unit is
//! reserved before it is spent, no replica can serve past a limit, also after a crash (which
//! can only strand reserved-but-unspent units: under-delivery, never over-delivery).
//!
//! Block sizes shrink as a limit nears: a quota reservation asks for at most 1/16 of what is
//! left (at least 1, at most `max_block`, 4096 by default), so at the boundary every unit is reserved one at a
//! time and replicas share the last units exactly. Unspent allowances of an idle key go back to
//! the database after `idle_release` when they matter to other replicas — when what the key
//! has left in the database is less than 16 times what this replica holds — and otherwise
//! after `idle_forget`. Far from a limit, holding a block costs nobody anything, while giving
//! it back and reserving it again would put every key of a large rotation (say 10,000 keys,
//! each called every few seconds) back on the slow path of round trips.
//!
//! Per request, for one key, the three allowances are checked in the spec's order (rate →
//! quota → spend) under the key's lock and then spent together: a refused request spends
//! nothing.
//!
//! Refills happen ahead of need: when an allowance that is far from its limit (its next block
//! would be at least [`PREFETCH_MIN_BLOCK`] units) falls to a quarter of that block, a
//! background task reserves the next block while requests go on spending what is left. So a
//! busy key does not wait on the database at all in the steady state; only a key's first
//! request, the first request of a new rate minute and the last stretch before a limit (where
//! blocks shrink toward one unit and replicas share the rest exactly) reserve on the request
//! path. A crash can then strand at most one block plus a quarter of one per allowance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use twin_meter::rate::{RateDecision, RateWindow};
use twin_meter::{Credits, Period, QuotaSnapshot};
use twin_store::{KeyRecord, Store, StoreError};

/// Metering settings.
#[derive(Debug, Clone, Copy)]
pub struct MeterConfig {
    /// Largest quota (and rate) block one reservation takes.
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

/// An allowance whose next block would be smaller than this is not refilled ahead: near a
/// limit, units are reserved one request at a time so replicas share the rest exactly.
pub const PREFETCH_MIN_BLOCK: i64 = 64;

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
    /// Requests per minute (0 = no limit).
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

#[derive(Debug, Default)]
struct QuotaLease {
    month: i64,
    /// Units reserved in the database by all replicas, as of our last reservation.
    reserved: i64,
    /// Of those, ours and not yet spent.
    unused: i64,
    /// The database said the quota is spent: refuse locally until then (another replica
    /// may return unspent units after its idle delay, so this is short).
    spent_until: Option<std::time::Instant>,
    /// A background reservation is in flight.
    refilling: bool,
}

#[derive(Debug, Default)]
struct RateLease {
    valid_until_ms: i64,
    /// The window is full until then (Unix ms): other replicas can only add to it.
    full_until_ms: i64,
    unused: u32,
    /// The window as of our last reservation, for headers.
    window: RateWindow,
    /// A background reservation is in flight.
    refilling: bool,
}

impl RateLease {
    /// The stored window as of our last reservation, if we made one.
    fn known(&self) -> Option<RateWindow> {
        (self.window.minute != 0).then_some(self.window)
    }

    /// Adds a reservation's slots. Slots counted in a later minute than those held replace
    /// them (the held ones expire now); a reservation of an earlier minute, landing late, is
    /// dropped.
    fn apply(&mut self, r: &twin_meter::rate::RateReservation) {
        if r.valid_until_unix_ms == self.valid_until_ms {
            self.window = r.state;
            self.unused = self.unused.saturating_add(r.granted);
        } else if r.valid_until_unix_ms > self.valid_until_ms {
            self.window = r.state;
            self.valid_until_ms = r.valid_until_unix_ms;
            self.unused = r.granted;
        }
    }
}

#[derive(Debug, Default)]
struct SpendLease {
    period_start: i64,
    reserved: i64,
    unused: i64,
    /// The cap was reached for requests of this cost: refuse them locally until then.
    spent_until: Option<(std::time::Instant, i64)>,
    /// A background reservation is in flight.
    refilling: bool,
}

/// How long a "spent" answer from the database is trusted before asking again.
const SPENT_MEMORY: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct KeyLeases {
    quota: QuotaLease,
    rate: RateLease,
    spend: SpendLease,
    last_used: Option<std::time::Instant>,
    /// The entry was removed from the meter and its allowances given back: a refill landing
    /// afterwards gives its grant straight back too.
    detached: bool,
    /// The key's monthly quota and spend cap as of its last request.
    quota_limit: i64,
    spend_cap: Option<i64>,
}

impl KeyLeases {
    /// Whether the unspent allowances held here are a sizeable share (over 1/17) of what the
    /// key has left in the database, as of our last reservation: then another replica may be
    /// refused while we sit on them.
    fn holds_contended_units(&self) -> bool {
        let quota = self.quota.unused > 0
            && self.quota.reserved >= 0
            && self.quota_limit - self.quota.reserved < self.quota.unused.saturating_mul(16);
        let spend = self.spend.unused > 0
            && self.spend.reserved >= 0
            && self.spend_cap.is_some_and(|cap| {
                cap - self.spend.reserved < self.spend.unused.saturating_mul(16)
            });
        quota || spend
    }
}

/// A key's metering state: the allowances behind a plain mutex (held only briefly, never
/// across a database call) and a gate held by whoever is reserving for the key.
#[derive(Default)]
struct KeyEntry {
    state: Mutex<KeyLeases>,
    gate: Arc<tokio::sync::Mutex<()>>,
}

type Entry = Arc<KeyEntry>;

fn lock(entry: &Entry) -> std::sync::MutexGuard<'_, KeyLeases> {
    entry.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// One admission's fixed inputs.
struct Ask<'a> {
    key: &'a KeyRecord,
    cost: i64,
    counted: bool,
    now: OffsetDateTime,
    now_ms: i64,
    month: OffsetDateTime,
    month_ms: i64,
    period: Period,
    period_start: OffsetDateTime,
    period_start_ms: i64,
    rate_limit: u32,
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
    /// Quota units must be reserved first.
    Quota { want: i64 },
    /// Credits must be reserved first (`min`: what this request still lacks).
    Spend { want: i64, min: i64 },
}

/// The metering engine of one replica.
pub struct Meter {
    store: Store,
    config: MeterConfig,
    keys: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Meter {
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

impl Meter {
    /// A meter over `store`.
    pub fn new(store: Store, config: MeterConfig) -> Self {
        Meter {
            store,
            config,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// How many keys have metering state in memory.
    pub fn key_count(&self) -> u64 {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).len() as u64
    }

    fn entry(&self, key_id: &str) -> Entry {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = keys.get(key_id) {
            return entry.clone();
        }
        keys.entry(key_id.to_owned()).or_default().clone()
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
        let entry = self.entry(&key.id);
        let period: Period = key.spend_period.parse().unwrap_or_default();
        let month = twin_meter::month_start(now);
        let period_start = period.start(now);
        let ask = Ask {
            key,
            cost,
            counted,
            now,
            now_ms: ms(now),
            month,
            month_ms: ms(month),
            period,
            period_start,
            period_start_ms: ms(period_start),
            rate_limit: u32::try_from(key.rate_limit_rpm).unwrap_or(u32::MAX),
        };
        let (mut entry, mut step) = self.begin(entry, &ask);
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
                (entry, step) = self.begin(self.entry(&key.id), &ask);
                continue;
            };
            step = match need {
                Step::Done(result) => return result,
                Step::Rate { want, known } => {
                    let reserved = self
                        .store
                        .reserve_rate(&key.id, ask.rate_limit, now, want, known)
                        .await;
                    let mut leases = lock(&entry);
                    if leases.detached {
                        // The key was forgotten meanwhile (its limits changed): start over on
                        // a fresh entry. Rate slots are not given back.
                        drop(leases);
                        drop(gate);
                        (entry, step) = self.begin(self.entry(&key.id), &ask);
                        continue;
                    }
                    match reserved {
                        Ok(r) => {
                            leases.rate.apply(&r);
                            if leases.rate.unused == 0 {
                                let d =
                                    twin_meter::decide_at_ms(r.state, ask.rate_limit, ask.now_ms);
                                let retry_after_ms = d.retry_after_ms.max(1);
                                leases.rate.full_until_ms =
                                    ask.now_ms + i64::try_from(retry_after_ms).unwrap_or(1);
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
                Step::Quota { want } => {
                    let granted = self
                        .store
                        .reserve_quota(&key.id, month, key.monthly_quota, want)
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
                            if leases.quota.month == ask.month_ms {
                                leases.quota.reserved = leases.quota.reserved.max(g.used);
                                leases.quota.unused += g.granted;
                            }
                            if leases.quota.unused == 0 {
                                leases.quota.spent_until =
                                    Some(std::time::Instant::now() + SPENT_MEMORY);
                                let headers = self.headers_for(&leases, &ask, None);
                                return Err((Denial::Quota, headers));
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
                            let _ = self.store.release_quota(&key.id, month, g.granted).await;
                            (entry, step) = self.begin(self.entry(&key.id), &ask);
                            continue;
                        }
                    }
                }
                Step::Spend { want, min } => {
                    let granted = self
                        .store
                        .reserve_spend(&key.id, period_start, key.spend_limit, want, min)
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
                            if leases.spend.period_start == ask.period_start_ms {
                                leases.spend.reserved = leases.spend.reserved.max(g.used);
                                leases.spend.unused += g.granted;
                            }
                            if leases.spend.unused < cost {
                                leases.spend.spent_until =
                                    Some((std::time::Instant::now() + SPENT_MEMORY, cost));
                                let headers = self.headers_for(&leases, &ask, None);
                                return Err((Denial::Spend, headers));
                            }
                            Some(self.step(&entry, &mut leases, &ask))
                        }
                    };
                    match next {
                        Some(next) => next,
                        None => {
                            drop(gate);
                            let _ = self
                                .store
                                .release_spend(&key.id, period_start, g.granted)
                                .await;
                            (entry, step) = self.begin(self.entry(&key.id), &ask);
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
                    leases.last_used = Some(std::time::Instant::now());
                    leases.quota_limit = ask.key.monthly_quota;
                    leases.spend_cap = ask.key.spend_limit;
                    Some(self.step(&entry, &mut leases, ask))
                } else {
                    None
                }
            };
            match step {
                Some(step) => return (entry, step),
                None => entry = self.entry(&ask.key.id),
            }
        }
    }

    /// One pass over the key's allowances under its lock: spends them all (rate → quota →
    /// spend, all or nothing), refuses from what is known locally, or names the first one
    /// that needs a reservation.
    fn step(&self, entry: &Entry, leases: &mut KeyLeases, ask: &Ask<'_>) -> Step {
        let (key, cost, counted, rate_limit) = (ask.key, ask.cost, ask.counted, ask.rate_limit);
        // Roll allowances that belong to a past period: they were counted in that period
        // and are simply dropped.
        if leases.quota.month != ask.month_ms {
            leases.quota = QuotaLease {
                month: ask.month_ms,
                reserved: -1,
                ..Default::default()
            };
        }
        if leases.spend.period_start != ask.period_start_ms {
            leases.spend = SpendLease {
                period_start: ask.period_start_ms,
                reserved: -1,
                ..Default::default()
            };
        }
        if leases.rate.valid_until_ms <= ask.now_ms {
            leases.rate.unused = 0;
        }

        // 1. Rate. A window known to be full stays full until its next free slot: other
        // replicas can only add to it, so the database need not be asked again before then.
        if rate_limit > 0 && leases.rate.unused == 0 {
            if ask.now_ms < leases.rate.full_until_ms {
                let d = twin_meter::decide_at_ms(leases.rate.window, rate_limit, ask.now_ms);
                let retry_after_ms = u64::try_from(leases.rate.full_until_ms - ask.now_ms)
                    .unwrap_or(1)
                    .max(1);
                let headers = self.headers_for(leases, ask, Some(&d));
                return Step::Done(Err((Denial::Rate { retry_after_ms }, headers)));
            }
            let want = u32::try_from((i64::from(rate_limit) / 16).clamp(1, self.config.max_block))
                .unwrap_or(1);
            return Step::Rate {
                want,
                known: leases.rate.known(),
            };
        }

        // 2. Monthly quota. A quota the database just called spent is refused locally for a
        // moment, so a client calling past its quota costs no round trips.
        if counted && leases.quota.unused == 0 {
            if leases
                .quota
                .spent_until
                .is_some_and(|t| std::time::Instant::now() < t)
            {
                let headers = self.headers_for(leases, ask, None);
                return Step::Done(Err((Denial::Quota, headers)));
            }
            let left = if leases.quota.reserved < 0 {
                key.monthly_quota
            } else {
                key.monthly_quota - leases.quota.reserved
            };
            return Step::Quota {
                want: (left / 16).clamp(1, self.config.max_block),
            };
        }
        if leases.quota.reserved < 0 {
            // First sight of this key in the month on this replica: report the stored count.
            leases.quota.reserved = key.counters.quota_used_in(ask.month);
        }

        // 3. Spend. As for the quota, a cap the database just called reached is refused
        // locally for a moment (for requests costing at least as much).
        if cost > 0 && leases.spend.unused < cost {
            if leases
                .spend
                .spent_until
                .is_some_and(|(t, c)| std::time::Instant::now() < t && cost >= c)
            {
                let headers = self.headers_for(leases, ask, None);
                return Step::Done(Err((Denial::Spend, headers)));
            }
            let left = match key.spend_limit {
                Some(cap) if leases.spend.reserved >= 0 => cap - leases.spend.reserved,
                Some(cap) => cap,
                None => i64::MAX / 4,
            };
            return Step::Spend {
                want: (left / 16).clamp(cost, cost.saturating_mul(self.config.max_block)),
                min: cost - leases.spend.unused,
            };
        }
        if leases.spend.reserved < 0 {
            leases.spend.reserved = key.counters.spend_used_in(ask.period_start);
        }

        // Everything is available: spend it together.
        if rate_limit > 0 {
            leases.rate.unused -= 1;
        }
        let mut charge = Charge::default();
        if counted {
            leases.quota.unused -= 1;
            charge.quota = true;
        }
        if cost > 0 {
            leases.spend.unused -= cost;
            charge.credits = cost;
        }
        self.refill_ahead(entry, leases, key, rate_limit, counted, cost, ask.now);
        let headers = self.headers_for(leases, ask, None);
        Step::Done(Ok((charge, headers)))
    }

    /// Starts background reservations for allowances running low (see the module docs).
    #[allow(clippy::too_many_arguments)]
    fn refill_ahead(
        &self,
        entry: &Entry,
        leases: &mut KeyLeases,
        key: &KeyRecord,
        rate_limit: u32,
        counted: bool,
        cost: i64,
        now: OffsetDateTime,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if counted && !leases.quota.refilling && leases.quota.reserved >= 0 {
            let left = key.monthly_quota - leases.quota.reserved;
            let want = (left / 16).clamp(1, self.config.max_block);
            if want >= PREFETCH_MIN_BLOCK && leases.quota.unused <= want / 4 {
                leases.quota.refilling = true;
                let (store, entry, key_id) = (self.store.clone(), entry.clone(), key.id.clone());
                let (month, limit) = (leases.quota.month, key.monthly_quota);
                runtime.spawn(async move {
                    let _gate = entry.gate.clone().lock_owned().await;
                    let grant = store
                        .reserve_quota(&key_id, from_ms(month), limit, want)
                        .await;
                    let detached = {
                        let mut leases = lock(&entry);
                        leases.quota.refilling = false;
                        let Ok(g) = grant else { return };
                        if !leases.detached && leases.quota.month == month {
                            leases.quota.reserved = leases.quota.reserved.max(g.used);
                            leases.quota.unused += g.granted;
                        }
                        // A grant of a month that has ended was counted in it and is dropped.
                        leases.detached.then_some(g.granted)
                    };
                    if let Some(units) = detached {
                        // Nobody will spend it here: give it back at once.
                        let _ = store.release_quota(&key_id, from_ms(month), units).await;
                    }
                });
            }
        }
        if cost > 0 && !leases.spend.refilling && leases.spend.reserved >= 0 {
            let left = match key.spend_limit {
                Some(cap) => cap - leases.spend.reserved,
                None => i64::MAX / 4,
            };
            let want = (left / 16).clamp(cost, cost.saturating_mul(self.config.max_block));
            if want >= cost.saturating_mul(PREFETCH_MIN_BLOCK) && leases.spend.unused <= want / 4 {
                leases.spend.refilling = true;
                let (store, entry, key_id) = (self.store.clone(), entry.clone(), key.id.clone());
                let (start, cap) = (leases.spend.period_start, key.spend_limit);
                runtime.spawn(async move {
                    let _gate = entry.gate.clone().lock_owned().await;
                    let grant = store
                        .reserve_spend(&key_id, from_ms(start), cap, want, cost)
                        .await;
                    let detached = {
                        let mut leases = lock(&entry);
                        leases.spend.refilling = false;
                        let Ok(g) = grant else { return };
                        if !leases.detached && leases.spend.period_start == start {
                            leases.spend.reserved = leases.spend.reserved.max(g.used);
                            leases.spend.unused += g.granted;
                        }
                        leases.detached.then_some(g.granted)
                    };
                    if let Some(micros) = detached {
                        let _ = store.release_spend(&key_id, from_ms(start), micros).await;
                    }
                });
            }
        }
        let now_ms = ms(now);
        if rate_limit > 0 && !leases.rate.refilling && leases.rate.valid_until_ms > now_ms {
            let want = (i64::from(rate_limit) / 16).clamp(1, self.config.max_block);
            if want >= PREFETCH_MIN_BLOCK && i64::from(leases.rate.unused) <= want / 4 {
                leases.rate.refilling = true;
                let (store, entry, key_id) = (self.store.clone(), entry.clone(), key.id.clone());
                let want = u32::try_from(want).unwrap_or(1);
                let known = leases.rate.known();
                runtime.spawn(async move {
                    let _gate = entry.gate.clone().lock_owned().await;
                    let reservation = store
                        .reserve_rate(&key_id, rate_limit, now, want, known)
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
            ask.rate_limit,
            decision,
            ask.cost,
            ask.period,
            ask.now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn headers(
        &self,
        leases: &KeyLeases,
        key: &KeyRecord,
        rate_limit: u32,
        decision: Option<&RateDecision>,
        cost: i64,
        period: Period,
        now: OffsetDateTime,
    ) -> MeterHeaders {
        let reserved = leases.quota.reserved.max(0);
        let used = u64::try_from(reserved - leases.quota.unused).unwrap_or(0);
        let limit = u64::try_from(key.monthly_quota).unwrap_or(0);
        let rate = if rate_limit == 0 {
            RateHeaders {
                limit: 0,
                remaining: 0,
                reset: now.unix_timestamp(),
            }
        } else {
            let d = decision.copied().unwrap_or_else(|| {
                twin_meter::decide_at_ms(leases.rate.window, rate_limit, ms(now))
            });
            // `decide` describes a hypothetical next request: what it would leave is one less
            // than the free capacity.
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
        };
        let spend_used = (leases.spend.reserved.max(0) - leases.spend.unused).max(0);
        MeterHeaders {
            quota: QuotaSnapshot::for_month(limit, used, now),
            rate,
            spend: SpendHeaders {
                cost: Credits::from_micros(cost).unwrap_or(Credits::ZERO),
                used: Credits::from_micros(spend_used).unwrap_or(Credits::ZERO),
                limit: key.spend_limit.and_then(Credits::from_micros),
                reset: period.next_reset(now),
            },
        }
    }

    /// Header values for a request refused before metering (scope, plan): what this replica
    /// knows of the key, spending nothing.
    pub fn peek(&self, key: &KeyRecord, cost: i64, now: OffsetDateTime) -> MeterHeaders {
        let period: Period = key.spend_period.parse().unwrap_or_default();
        let rate_limit = u32::try_from(key.rate_limit_rpm).unwrap_or(u32::MAX);
        let entry = {
            let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.get(&key.id).cloned()
        };
        let month = ms(twin_meter::month_start(now));
        let period_start = ms(period.start(now));
        if let Some(entry) = entry
            && let Ok(leases) = entry.state.try_lock()
            && leases.quota.month == month
            && leases.quota.reserved >= 0
            && leases.spend.period_start == period_start
            && leases.spend.reserved >= 0
        {
            return self.headers(&leases, key, rate_limit, None, cost, period, now);
        }
        let mut leases = KeyLeases::default();
        leases.quota.reserved = key.counters.quota_used_in(twin_meter::month_start(now));
        leases.spend.reserved = key.counters.spend_used_in(period.start(now));
        let mut headers = self.headers(&leases, key, rate_limit, None, cost, period, now);
        if rate_limit > 0 {
            // Nothing known locally about the window: report the full limit.
            headers.rate.remaining = rate_limit;
            headers.rate.reset = now.unix_timestamp();
        }
        headers
    }

    /// This replica's reserved-but-unspent quota units and micro-credits of a key, to report
    /// spent amounts rather than reserved ones.
    pub fn local_unused(&self, key_id: &str, now: OffsetDateTime) -> (i64, i64) {
        let entry = {
            let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.get(key_id).cloned()
        };
        match entry.as_ref().and_then(|e| e.state.try_lock().ok()) {
            Some(leases) if leases.quota.month == ms(twin_meter::month_start(now)) => {
                (leases.quota.unused, leases.spend.unused)
            }
            _ => (0, 0),
        }
    }

    /// Gives back what a request spent when its answer must not count (425, 5xx).
    pub async fn refund(&self, key_id: &str, charge: Charge) {
        let entry = self.entry(key_id);
        let mut leases = lock(&entry);
        if charge.quota {
            leases.quota.unused += 1;
        }
        leases.spend.unused += charge.credits;
    }

    /// Drops every cached allowance of a key after giving it back (its limits changed).
    pub async fn forget(&self, key_id: &str) {
        let entry = {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.remove(key_id)
        };
        if let Some(entry) = entry {
            lock(&entry).detached = true;
            self.give_back(key_id, &entry).await;
        }
    }

    /// [`Meter::forget`] from synchronous code: the key's allowances are detached at once
    /// and given back by a background task.
    pub fn forget_now(self: &Arc<Self>, key_id: &str) {
        let entry = {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.remove(key_id)
        };
        if let Some(entry) = entry {
            lock(&entry).detached = true;
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let meter = self.clone();
                let key_id = key_id.to_owned();
                rt.spawn(async move { meter.give_back(&key_id, &entry).await });
            }
        }
    }

    /// Returns the key's unspent quota units and credits to the database. What cannot be
    /// returned (the database is down) stays held, to be returned later.
    async fn give_back(&self, key_id: &str, entry: &Entry) {
        let (units, month, micros, start) = {
            let mut leases = lock(entry);
            let units = std::mem::take(&mut leases.quota.unused);
            leases.quota.reserved -= units;
            let micros = std::mem::take(&mut leases.spend.unused);
            leases.spend.reserved -= micros;
            (units, leases.quota.month, micros, leases.spend.period_start)
        };
        if units > 0
            && self
                .store
                .release_quota(key_id, from_ms(month), units)
                .await
                .is_err()
        {
            let mut leases = lock(entry);
            if leases.quota.month == month {
                leases.quota.unused += units;
                leases.quota.reserved += units;
            }
        }
        if micros > 0
            && self
                .store
                .release_spend(key_id, from_ms(start), micros)
                .await
                .is_err()
        {
            let mut leases = lock(entry);
            if leases.spend.period_start == start {
                leases.spend.unused += micros;
                leases.spend.reserved += micros;
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
                self.give_back(&key_id, &entry).await;
            }
        }
    }

    /// Gives every allowance back (graceful shutdown).
    pub async fn release_all(&self) {
        let all: Vec<(String, Entry)> = {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.drain().collect()
        };
        for (key_id, entry) in all {
            lock(&entry).detached = true;
            self.give_back(&key_id, &entry).await;
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
