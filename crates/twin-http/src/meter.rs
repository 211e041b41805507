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

type Entry = Arc<tokio::sync::Mutex<KeyLeases>>;

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
    pub async fn admit(
        &self,
        key: &KeyRecord,
        cost: i64,
        counted: bool,
        now: OffsetDateTime,
    ) -> Result<(Charge, MeterHeaders), (Denial, MeterHeaders)> {
        let entry = self.entry(&key.id);
        let mut leases = entry.lock().await;
        leases.last_used = Some(std::time::Instant::now());
        leases.quota_limit = key.monthly_quota;
        leases.spend_cap = key.spend_limit;
        let now_ms = ms(now);
        let month = twin_meter::month_start(now);
        let period: Period = key.spend_period.parse().unwrap_or_default();
        let period_start = period.start(now);
        let rate_limit = u32::try_from(key.rate_limit_rpm).unwrap_or(u32::MAX);

        // Roll allowances that belong to a past period: they were counted in that period
        // and are simply dropped.
        if leases.quota.month != ms(month) {
            leases.quota = QuotaLease {
                month: ms(month),
                reserved: -1,
                ..Default::default()
            };
        }
        if leases.spend.period_start != ms(period_start) {
            leases.spend = SpendLease {
                period_start: ms(period_start),
                reserved: -1,
                ..Default::default()
            };
        }
        if leases.rate.valid_until_ms <= now_ms {
            leases.rate.unused = 0;
        }

        // 1. Rate. A window known to be full stays full until its next free slot: other
        // replicas can only add to it, so the database need not be asked again before then.
        if rate_limit > 0 && leases.rate.unused == 0 && now_ms < leases.rate.full_until_ms {
            let d = twin_meter::decide_at_ms(leases.rate.window, rate_limit, now_ms);
            let retry_after_ms = u64::try_from(leases.rate.full_until_ms - now_ms)
                .unwrap_or(1)
                .max(1);
            let headers = self.headers(&leases, key, rate_limit, Some(&d), cost, period, now);
            return Err((Denial::Rate { retry_after_ms }, headers));
        }
        if rate_limit > 0 && leases.rate.unused == 0 {
            let want = u32::try_from((i64::from(rate_limit) / 16).clamp(1, self.config.max_block))
                .unwrap_or(1);
            match self
                .store
                .reserve_rate(&key.id, rate_limit, now, want, leases.rate.known())
                .await
            {
                Ok(r) => {
                    leases.rate.window = r.state;
                    leases.rate.valid_until_ms = r.valid_until_unix_ms;
                    leases.rate.unused = r.granted;
                    if r.granted == 0 {
                        let d = twin_meter::decide_at_ms(r.state, rate_limit, now_ms);
                        leases.rate.full_until_ms =
                            now_ms + i64::try_from(d.retry_after_ms.max(1)).unwrap_or(1);
                        let headers =
                            self.headers(&leases, key, rate_limit, Some(&d), cost, period, now);
                        return Err((
                            Denial::Rate {
                                retry_after_ms: d.retry_after_ms.max(1),
                            },
                            headers,
                        ));
                    }
                }
                Err(e) => {
                    let headers = self.headers(&leases, key, rate_limit, None, cost, period, now);
                    return Err((Denial::Store(e), headers));
                }
            }
        }

        // 2. Monthly quota. A quota the database just called spent is refused locally for a
        // moment, so a client calling past its quota costs no round trips.
        let instant = std::time::Instant::now();
        if counted
            && leases.quota.unused == 0
            && leases.quota.spent_until.is_some_and(|t| instant < t)
        {
            let headers = self.headers(&leases, key, rate_limit, None, cost, period, now);
            return Err((Denial::Quota, headers));
        }
        if counted && leases.quota.unused == 0 {
            let limit = key.monthly_quota;
            let left = if leases.quota.reserved < 0 {
                limit
            } else {
                limit - leases.quota.reserved
            };
            let want = (left / 16).clamp(1, self.config.max_block);
            match self.store.reserve_quota(&key.id, month, limit, want).await {
                Ok(g) => {
                    leases.quota.reserved = g.used;
                    leases.quota.unused += g.granted;
                    if g.granted == 0 {
                        leases.quota.spent_until = Some(instant + SPENT_MEMORY);
                        let headers =
                            self.headers(&leases, key, rate_limit, None, cost, period, now);
                        return Err((Denial::Quota, headers));
                    }
                }
                Err(e) => {
                    let headers = self.headers(&leases, key, rate_limit, None, cost, period, now);
                    return Err((Denial::Store(e), headers));
                }
            }
        } else if leases.quota.reserved < 0 {
            // First sight of this key in the month on this replica: report the stored count.
            leases.quota.reserved = key.counters.quota_used_in(month);
        }

        // 3. Spend. As for the quota, a cap the database just called reached is refused
        // locally for a moment (for requests costing at least as much).
        if cost > 0
            && leases.spend.unused < cost
            && leases
                .spend
                .spent_until
                .is_some_and(|(t, c)| instant < t && cost >= c)
        {
            let headers = self.headers(&leases, key, rate_limit, None, cost, period, now);
            return Err((Denial::Spend, headers));
        }
        if cost > 0 && leases.spend.unused < cost {
            let cap = key.spend_limit;
            let left = match cap {
                Some(cap) if leases.spend.reserved >= 0 => cap - leases.spend.reserved,
                Some(cap) => cap,
                None => i64::MAX / 4,
            };
            let want = (left / 16).clamp(cost, cost.saturating_mul(self.config.max_block));
            match self
                .store
                .reserve_spend(&key.id, period_start, cap, want, cost - leases.spend.unused)
                .await
            {
                Ok(g) => {
                    leases.spend.reserved = g.used;
                    leases.spend.unused += g.granted;
                    if leases.spend.unused < cost {
                        leases.spend.spent_until = Some((instant + SPENT_MEMORY, cost));
                        let headers =
                            self.headers(&leases, key, rate_limit, None, cost, period, now);
                        return Err((Denial::Spend, headers));
                    }
                }
                Err(e) => {
                    let headers = self.headers(&leases, key, rate_limit, None, cost, period, now);
                    return Err((Denial::Store(e), headers));
                }
            }
        } else if leases.spend.reserved < 0 {
            leases.spend.reserved = key.counters.spend_used_in(period_start);
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
        self.refill_ahead(&entry, &mut leases, key, rate_limit, counted, cost, now);
        let headers = self.headers(&leases, key, rate_limit, None, cost, period, now);
        Ok((charge, headers))
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
                    let grant = store
                        .reserve_quota(&key_id, from_ms(month), limit, want)
                        .await;
                    let mut leases = entry.lock().await;
                    leases.quota.refilling = false;
                    let Ok(g) = grant else { return };
                    if leases.detached {
                        // Nobody will spend it here: give it back at once.
                        let _ = store
                            .release_quota(&key_id, from_ms(month), g.granted)
                            .await;
                    } else if leases.quota.month == month {
                        leases.quota.reserved = leases.quota.reserved.max(g.used);
                        leases.quota.unused += g.granted;
                    }
                    // A grant of a month that has ended was counted in it and is dropped.
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
                    let grant = store
                        .reserve_spend(&key_id, from_ms(start), cap, want, cost)
                        .await;
                    let mut leases = entry.lock().await;
                    leases.spend.refilling = false;
                    let Ok(g) = grant else { return };
                    if leases.detached {
                        let _ = store
                            .release_spend(&key_id, from_ms(start), g.granted)
                            .await;
                    } else if leases.spend.period_start == start {
                        leases.spend.reserved = leases.spend.reserved.max(g.used);
                        leases.spend.unused += g.granted;
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
                    let reservation = store
                        .reserve_rate(&key_id, rate_limit, now, want, known)
                        .await;
                    let mut leases = entry.lock().await;
                    leases.rate.refilling = false;
                    let Ok(r) = reservation else { return };
                    if leases.detached || r.granted == 0 {
                        // Rate slots are never given back: they expire with their minute.
                        return;
                    }
                    if r.valid_until_unix_ms == leases.rate.valid_until_ms {
                        leases.rate.window = r.state;
                        leases.rate.unused = leases.rate.unused.saturating_add(r.granted);
                    } else if r.valid_until_unix_ms > leases.rate.valid_until_ms {
                        // Counted in a later minute than the slots held: those expire now.
                        leases.rate.window = r.state;
                        leases.rate.valid_until_ms = r.valid_until_unix_ms;
                        leases.rate.unused = r.granted;
                    }
                });
            }
        }
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
            && let Ok(leases) = entry.try_lock()
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
        match entry.as_ref().and_then(|e| e.try_lock().ok()) {
            Some(leases) if leases.quota.month == ms(twin_meter::month_start(now)) => {
                (leases.quota.unused, leases.spend.unused)
            }
            _ => (0, 0),
        }
    }

    /// Gives back what a request spent when its answer must not count (425, 5xx).
    pub async fn refund(&self, key_id: &str, charge: Charge) {
        let entry = self.entry(key_id);
        let mut leases = entry.lock().await;
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
            let mut leases = entry.lock().await;
            leases.detached = true;
            self.give_back(key_id, &mut leases).await;
        }
    }

    /// [`Meter::forget`] from synchronous code: the key's allowances are detached at once
    /// and given back by a background task.
    pub fn forget_now(self: &Arc<Self>, key_id: &str) {
        let entry = {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.remove(key_id)
        };
        if let (Some(entry), Ok(rt)) = (entry, tokio::runtime::Handle::try_current()) {
            let meter = self.clone();
            let key_id = key_id.to_owned();
            rt.spawn(async move {
                let mut leases = entry.lock().await;
                leases.detached = true;
                meter.give_back(&key_id, &mut leases).await;
            });
        }
    }

    async fn give_back(&self, key_id: &str, leases: &mut KeyLeases) {
        if leases.quota.unused > 0 {
            let month = from_ms(leases.quota.month);
            if self
                .store
                .release_quota(key_id, month, leases.quota.unused)
                .await
                .is_ok()
            {
                leases.quota.reserved -= leases.quota.unused;
                leases.quota.unused = 0;
            }
        }
        if leases.spend.unused > 0 {
            let start = from_ms(leases.spend.period_start);
            if self
                .store
                .release_spend(key_id, start, leases.spend.unused)
                .await
                .is_ok()
            {
                leases.spend.reserved -= leases.spend.unused;
                leases.spend.unused = 0;
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
            let Ok(mut leases) = entry.try_lock() else {
                continue;
            };
            let idle_for = leases.last_used.map_or(Duration::MAX, |t| t.elapsed());
            let release = idle_for >= self.config.idle_forget
                || (idle_for >= self.config.idle_release && leases.holds_contended_units());
            if release {
                self.give_back(&key_id, &mut leases).await;
                drop(leases);
                let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(current) = keys.get(&key_id)
                    && Arc::ptr_eq(current, &entry)
                    && Arc::strong_count(&entry) <= 2
                {
                    keys.remove(&key_id);
                }
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
            let mut leases = entry.lock().await;
            leases.detached = true;
            self.give_back(&key_id, &mut leases).await;
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
