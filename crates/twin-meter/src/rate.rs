//! The per-minute rate limit (SPEC §6 "Rate limit"): a sliding 60-second window, approximated
//! by a weighted two-bucket counter.
//!
//! # Algorithm
//!
//! Time is cut into fixed minutes `m = ⌊t / W⌋` with `W = 60 s`. The state, [`RateWindow`],
//! is three integers: the current minute `m`, the number `p` of requests admitted in minute
//! `m − 1` and the number `c` admitted so far in minute `m`. A request at time `t`, `e = t − m·W`
//! into its minute (whole milliseconds, `0 ≤ e < W`), is admitted when the estimate of the
//! sliding window plus itself fits under the limit `L`:
//!
//! ```text
//! p · (W − e) / W  +  c  +  1  ≤  L        computed exactly as   p·(W − e) + (c + 1)·W ≤ L·W
//! ```
//!
//! i.e. the previous minute's requests are assumed to be spread evenly over it, and only the
//! part of it still inside the sliding window is counted. When the minute changes the buckets
//! roll (`p ← c, c ← 0`); after a gap of two minutes or more both are zero. An admitted request
//! increments `c`; a refused one changes nothing. `L = 0` disables the limit.
//!
//! The state is small and the rule is integer arithmetic, so the storage layer can evaluate it
//! atomically in one statement (or a compare-and-swap on the three columns) against the shared
//! database; [`decide`] is the reference it must agree with.
//!
//! An exact sliding window needs the times of the last `L` admitted requests (a log of up to
//! `L` entries per key, rewritten on every request), which is what the approximation avoids.
//!
//! # Worst-case error (proved here, checked by brute-force property tests)
//!
//! 1. **At most `L` requests are admitted in any fixed minute**, because `p·(W − e) ≥ 0`
//!    forces `c + 1 ≤ L`.
//! 2. **At most `2L − 1` requests are admitted in any sliding 60-second interval** `[s, s + W)`
//!    (for `L ≥ 1`), and this is attained for every `L ≤ 30 000`: the limiter can let through
//!    up to `L − 1` requests more than an exact sliding window would.
//!
//!    *Proof.* If the interval lies inside one fixed minute, (1) gives `≤ L`. Otherwise it
//!    covers the end of minute `m − 1` (holding `a` of the admitted requests, `a ≤ p ≤ L`) and
//!    the start of minute `m` (holding `b`). If `a = 0` or `b = 0` the count is `≤ L`. Else let
//!    `r` be the last of the `b`, admitted at `e_r < W` into minute `m`. Every request admitted
//!    in minute `m` before `r` lies in `[m·W, t_r]`, inside the interval, so `r` saw `c = b − 1`
//!    and was admitted because `p·(W − e_r) + b·W ≤ L·W`. Hence
//!    `b ≤ L − p·(W − e_r)/W ≤ L − a·(W − e_r)/W`, and
//!    `a + b ≤ L + a·e_r/W < L + a ≤ 2L`; being an integer, `a + b ≤ 2L − 1`. ∎
//!
//!    *Attained:* with minute `m − 2` empty, `L` requests at the last millisecond of minute
//!    `m − 1` are all admitted; at `e = W − 2 ms` in minute `m` the estimate of those is
//!    `L·2 ms/W < 1`, so `L − 1` more are admitted; both groups lie within one 60-second
//!    interval (they are `W − 1 ms` apart).
//! 3. **On the other side**, the estimate can refuse a request that an exact window would
//!    admit (it keeps counting a fraction of the previous minute's requests even if they all
//!    happened at its very start). What is guaranteed: a request is always admitted when fewer
//!    than `L` requests were admitted in the previous and current fixed minutes together
//!    (`p + c < L`). Under steady traffic the estimate is close to the exact count.
//!
//! Decisions use the clock of whoever decides. If replicas' clocks disagree, a decision whose
//! clock is behind the stored minute is taken as made at the start of that minute (the
//! conservative side: the previous minute then weighs fully), so the state never moves back.
//!
//! # Reported values
//!
//! * `X-RateLimit-Remaining`: how many more requests would be admitted at this instant.
//! * `X-RateLimit-Reset`: the Unix second (rounded up) at which the next request would be
//!   admitted if none arrives meanwhile: "now" while `remaining > 0`.
//! * `retryAfterMs` / `Retry-After`: the wait until then, in milliseconds and in whole seconds
//!   rounded up (at least 1 s when refused).
//!
//! Others' requests can only add to the counters, so a refusal stays valid until
//! `now + retry_after_ms` whatever other replicas do (unless the key's limit is raised): a
//! replica may cache a refusal until then without asking the database again.

use serde::Serialize;
use time::OffsetDateTime;

/// Length of the sliding window and of the fixed buckets, in milliseconds.
pub const WINDOW_MS: i64 = 60_000;

/// The default per-minute limit of a key.
pub const DEFAULT_RATE_LIMIT_RPM: u32 = 60;

/// Header carrying the per-minute limit (0: no limit).
pub const HEADER_RATE_LIMIT: &str = "X-RateLimit-Limit";
/// Header carrying how many more requests would be admitted now.
pub const HEADER_RATE_REMAINING: &str = "X-RateLimit-Remaining";
/// Header carrying the Unix second at which a slot frees.
pub const HEADER_RATE_RESET: &str = "X-RateLimit-Reset";

/// The stored state of one key's rate window: two fixed-minute buckets.
///
/// `Default` (minute 0, no requests) is a valid initial state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RateWindow {
    /// The fixed minute `current` counts: `⌊unix_ms / 60 000⌋`.
    pub minute: i64,
    /// Requests admitted in minute `minute − 1`.
    pub previous: u32,
    /// Requests admitted in minute `minute`.
    pub current: u32,
}

/// The outcome of one request against a [`RateWindow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request is admitted.
    pub allowed: bool,
    /// The limit it was decided under (0: disabled).
    pub limit: u32,
    /// How many more requests would be admitted at this instant (0 when disabled).
    pub remaining: u32,
    /// Unix second (rounded up) at which the next request would be admitted, if none arrives
    /// meanwhile.
    pub reset_at_unix_secs: i64,
    /// Milliseconds until then (0 if a request would be admitted now; at least 1 when refused).
    pub retry_after_ms: u64,
    /// The state to store: rolled to the current minute, and counting this request if it was
    /// admitted. When the limit is disabled this is the input state, unchanged, so nothing
    /// needs writing.
    pub state: RateWindow,
}

/// Several slots taken at once by [`reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateReservation {
    /// How many requests may be admitted (`≤` the number asked for).
    pub granted: u32,
    /// The slots must be used before this instant (Unix milliseconds, the end of the fixed
    /// minute they were counted in); unused ones are simply lost. `i64::MAX` when disabled.
    pub valid_until_unix_ms: i64,
    /// The state to store.
    pub state: RateWindow,
}

/// Extra fields of the 429 `RATE_LIMITED` error body (serialized in camelCase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimited {
    /// Milliseconds until a request would be admitted.
    pub retry_after_ms: u64,
}

/// Decides one request at `now` under `limit` requests per minute (0: disabled).
///
/// ```
/// use time::macros::datetime;
/// use twin_meter::{RateWindow, decide};
///
/// let mut state = RateWindow::default();
/// let now = datetime!(2026-05-01 12:00:30 UTC);
/// for _ in 0..2 {
///     let d = decide(state, 2, now);
///     assert!(d.allowed);
///     state = d.state;
/// }
/// let d = decide(state, 2, now);
/// assert!(!d.allowed);
/// // Both requests stay in the current minute's bucket until 12:01:00; from then on they
/// // are weighted by the part of that minute still inside the window, and a slot frees at
/// // 12:01:30.
/// assert_eq!(d.retry_after_ms, 60_000);
/// assert_eq!(d.retry_after_secs(), 60);
/// assert_eq!(d.reset_at_unix_secs, datetime!(2026-05-01 12:01:30 UTC).unix_timestamp());
/// ```
pub fn decide(state: RateWindow, limit: u32, now: OffsetDateTime) -> RateDecision {
    decide_at_ms(state, limit, unix_ms(now))
}

/// [`decide`] with `now` given in Unix milliseconds.
pub fn decide_at_ms(state: RateWindow, limit: u32, now_ms: i64) -> RateDecision {
    if limit == 0 {
        return RateDecision {
            allowed: true,
            limit,
            remaining: 0,
            reset_at_unix_secs: ceil_div(now_ms, 1_000),
            retry_after_ms: 0,
            state,
        };
    }
    let (rolled, elapsed) = state.at(now_ms);
    let capacity = rolled.capacity(limit, elapsed);
    let allowed = capacity >= 1;
    let next = if allowed {
        RateWindow {
            // capacity ≥ 1 means current + 1 ≤ limit, so this cannot overflow.
            current: rolled.current + 1,
            ..rolled
        }
    } else {
        rolled
    };
    let wait = next.wait_ms(limit, elapsed);
    let next_slot_ms = if wait == 0 {
        now_ms
    } else {
        rolled.minute * WINDOW_MS + elapsed + wait
    };
    let retry_after_ms = u64::try_from(next_slot_ms - now_ms).unwrap_or(0);
    RateDecision {
        allowed,
        limit,
        remaining: capacity.saturating_sub(1),
        reset_at_unix_secs: ceil_div(next_slot_ms, 1_000),
        retry_after_ms,
        state: next,
    }
}

/// Takes up to `want` slots at once at `now`, for a replica that admits requests from a local
/// allowance instead of asking the database every time.
///
/// Granting `k` slots is the same as admitting `k` requests one by one at `now`. The bounds in
/// the module documentation still hold as long as every granted slot is used before
/// [`RateReservation::valid_until_unix_ms`] (the end of the fixed minute the slots were counted
/// in); a slot used later would be counted in the wrong minute.
pub fn reserve(state: RateWindow, limit: u32, now: OffsetDateTime, want: u32) -> RateReservation {
    reserve_at_ms(state, limit, unix_ms(now), want)
}

/// [`reserve`] with `now` given in Unix milliseconds.
pub fn reserve_at_ms(state: RateWindow, limit: u32, now_ms: i64, want: u32) -> RateReservation {
    if limit == 0 {
        return RateReservation {
            granted: want,
            valid_until_unix_ms: i64::MAX,
            state,
        };
    }
    let (rolled, elapsed) = state.at(now_ms);
    let granted = rolled.capacity(limit, elapsed).min(want);
    RateReservation {
        granted,
        valid_until_unix_ms: (rolled.minute + 1) * WINDOW_MS,
        state: RateWindow {
            current: rolled.current + granted,
            ..rolled
        },
    }
}

impl RateWindow {
    /// The state as seen at `now_ms`, rolled to `now_ms`'s minute, and the milliseconds elapsed
    /// in that minute. A `now_ms` before the stored minute (a clock behind another replica's) is
    /// taken as the start of the stored minute.
    fn at(self, now_ms: i64) -> (RateWindow, i64) {
        let minute = now_ms.div_euclid(WINDOW_MS);
        if minute <= self.minute {
            let elapsed = if minute == self.minute {
                now_ms - minute * WINDOW_MS
            } else {
                0
            };
            (self, elapsed)
        } else {
            let previous = if self.minute.checked_add(1) == Some(minute) {
                self.current
            } else {
                0
            };
            let rolled = RateWindow {
                minute,
                previous,
                current: 0,
            };
            (rolled, now_ms - minute * WINDOW_MS)
        }
    }

    /// How many requests would be admitted one after the other at `elapsed` ms into this
    /// state's minute: the largest `k` with `p·(W − e) + (c + k)·W ≤ L·W`, or 0.
    fn capacity(self, limit: u32, elapsed: i64) -> u32 {
        let w = i128::from(WINDOW_MS);
        let budget = i128::from(limit) * w - i128::from(self.previous) * (w - i128::from(elapsed));
        if budget < 0 {
            return 0;
        }
        let fits = budget / w - i128::from(self.current);
        // 0 ≤ fits ≤ limit, so the conversion cannot fail.
        u32::try_from(fits.max(0)).unwrap_or(0)
    }

    /// Milliseconds from `elapsed` into this state's minute until one request would be
    /// admitted, assuming none arrives meanwhile. `limit` must be at least 1.
    fn wait_ms(self, limit: u32, elapsed: i64) -> i64 {
        let w = i128::from(WINDOW_MS);
        let (l, p, c) = (
            i128::from(limit),
            i128::from(self.previous),
            i128::from(self.current),
        );
        // Later in this minute: the first e' ≥ elapsed with p·(W − e') ≤ (L − c − 1)·W.
        if c < l {
            let slack = (l - c - 1) * w;
            let first = if p == 0 { 0 } else { w - (slack / p).min(w) };
            if first < w {
                return i64::try_from(first.max(i128::from(elapsed))).unwrap_or(WINDOW_MS)
                    - elapsed;
            }
        }
        // Next minute, where this minute's c becomes the previous bucket and nothing is
        // counted yet: the first e'' with c·(W − e'') ≤ (L − 1)·W.
        let to_next = WINDOW_MS - elapsed;
        let first = if c == 0 {
            0
        } else {
            w - (((l - 1) * w) / c).min(w)
        };
        if first < w {
            return to_next + i64::try_from(first).unwrap_or(WINDOW_MS);
        }
        // The minute after that, both buckets are empty.
        to_next + WINDOW_MS
    }
}

impl RateDecision {
    /// The `Retry-After` value in whole seconds: `retry_after_ms` rounded up, and at least 1
    /// when the request was refused.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after_ms.div_ceil(1_000);
        if self.allowed { secs } else { secs.max(1) }
    }

    /// The three `X-RateLimit-*` headers, in the order limit, remaining, reset.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_RATE_LIMIT, self.limit.to_string()),
            (HEADER_RATE_REMAINING, self.remaining.to_string()),
            (HEADER_RATE_RESET, self.reset_at_unix_secs.to_string()),
        ]
    }

    /// The extra fields of the 429 `RATE_LIMITED` error body, or `None` if admitted.
    pub fn exceeded(&self) -> Option<RateLimited> {
        (!self.allowed).then_some(RateLimited {
            retry_after_ms: self.retry_after_ms,
        })
    }
}

/// `t` in whole Unix milliseconds (rounded down).
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    // Every representable instant is within ±3.2e14 ms.
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

#[cfg(test)]
mod tests;
