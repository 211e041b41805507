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
//! the database after `idle_release`, so another replica can use them.
//!
//! Per request, for one key, the three allowances are checked in the spec's order (rate →
//! quota → spend) under the key's lock and then spent together: a refused request spends
//! nothing.

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
    /// How long a key may sit idle before its unspent allowances are returned.
    pub idle_release: Duration,
}

impl Default for MeterConfig {
    fn default() -> Self {
        MeterConfig {
            max_block: 4096,
            idle_release: Duration::from_secs(2),
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
}

#[derive(Debug, Default)]
struct RateLease {
    valid_until_ms: i64,
    /// The window is full until then (Unix ms): other replicas can only add to it.
    full_until_ms: i64,
    unused: u32,
    /// The window as of our last reservation, for headers.
    window: RateWindow,
}

#[derive(Debug, Default)]
struct SpendLease {
    period_start: i64,
    reserved: i64,
    unused: i64,
    /// The cap was reached for requests of this cost: refuse them locally until then.
    spent_until: Option<(std::time::Instant, i64)>,
}

/// How long a "spent" answer from the database is trusted before asking again.
const SPENT_MEMORY: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct KeyLeases {
    quota: QuotaLease,
    rate: RateLease,
    spend: SpendLease,
    last_used: Option<std::time::Instant>,
}

/// The metering engine of one replica.
pub struct Meter {
    store: Store,
    config: MeterConfig,
    keys: Mutex<HashMap<String, Arc<tokio::sync::Mutex<KeyLeases>>>>,
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

    fn entry(&self, key_id: &str) -> Arc<tokio::sync::Mutex<KeyLeases>> {
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
                .reserve_rate(&key.id, rate_limit, now, want)
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
        let headers = self.headers(&leases, key, rate_limit, None, cost, period, now);
        Ok((charge, headers))
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

    /// Returns the allowances of keys idle for `idle_release` and forgets those keys, so
    /// memory follows the set of active keys.
    pub async fn sweep(&self) {
        let idle: Vec<(String, Arc<tokio::sync::Mutex<KeyLeases>>)> = {
            let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        for (key_id, entry) in idle {
            let Ok(mut leases) = entry.try_lock() else {
                continue;
            };
            let is_idle = leases
                .last_used
                .is_none_or(|t| t.elapsed() >= self.config.idle_release);
            if is_idle {
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
        let all: Vec<(String, Arc<tokio::sync::Mutex<KeyLeases>>)> = {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.drain().collect()
        };
        for (key_id, entry) in all {
            let mut leases = entry.lock().await;
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
