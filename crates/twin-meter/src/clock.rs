//! Where "now" comes from.
//!
//! Every decision in this crate takes the current instant as an argument instead of reading the
//! system clock, so that it can be tested at month ends, leap days and minute boundaries without
//! waiting for them. Code that needs "now" holds a [`Clock`]: [`SystemClock`] in production,
//! [`ManualClock`] in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A source of the current instant.
///
/// Implementations must be cheap to call and safe to share between threads; the server calls
/// [`Clock::now`] on every request.
pub trait Clock: Send + Sync + 'static {
    /// The current instant. Implementations should return it in UTC, but callers must not rely
    /// on that: every function in this crate converts to UTC itself.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's wall clock, in UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

/// A clock that only moves when told to, for tests.
///
/// Cloning gives another handle to the **same** clock: a test keeps one handle and gives the
/// other to the code under test, then moves time with [`ManualClock::set`] or
/// [`ManualClock::advance`]. The instant is kept with microsecond precision (anything finer is
/// truncated) in an atomic, so handles can be used from any thread.
///
/// ```
/// use time::{Duration, macros::datetime};
/// use twin_meter::{Clock, ManualClock};
///
/// let clock = ManualClock::new(datetime!(2026-01-31 23:59:59 UTC));
/// let handle = clock.clone();
/// clock.advance(Duration::seconds(1));
/// assert_eq!(handle.now(), datetime!(2026-02-01 00:00:00 UTC));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    unix_micros: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock that reads `start` until it is moved.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            unix_micros: Arc::new(AtomicI64::new(to_micros(start))),
        }
    }

    /// A clock that reads the given Unix time (seconds) until it is moved.
    ///
    /// # Panics
    /// If `unix_secs` is outside the range [`OffsetDateTime`] can represent.
    pub fn at_unix(unix_secs: i64) -> Self {
        let start = OffsetDateTime::from_unix_timestamp(unix_secs)
            .expect("ManualClock::at_unix: timestamp out of range");
        Self::new(start)
    }

    /// Moves every handle of this clock to `t` (backwards is allowed).
    pub fn set(&self, t: OffsetDateTime) {
        self.unix_micros.store(to_micros(t), Ordering::SeqCst);
    }

    /// Moves every handle of this clock by `by` (negative moves it backwards) and returns the
    /// new instant.
    ///
    /// # Panics
    /// If the result is outside the range [`OffsetDateTime`] can represent.
    pub fn advance(&self, by: Duration) -> OffsetDateTime {
        let by_micros = i64::try_from(by.whole_microseconds())
            .expect("ManualClock::advance: duration out of range");
        let previous = self
            .unix_micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                m.checked_add(by_micros)
                    .filter(|&n| from_micros(n).is_some())
            })
            .expect("ManualClock::advance: instant out of range");
        from_micros(previous + by_micros).expect("checked above")
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        from_micros(self.unix_micros.load(Ordering::SeqCst))
            .expect("ManualClock only ever stores representable instants")
    }
}

fn to_micros(t: OffsetDateTime) -> i64 {
    // Every representable instant (years -9999..=9999) is within ±3.2e17 µs, far inside i64.
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000)).expect("fits in i64")
}

fn from_micros(micros: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_handles_share_one_instant() {
        let a = ManualClock::new(datetime!(2024-02-28 12:00 UTC));
        let b = a.clone();
        a.advance(Duration::days(1));
        assert_eq!(b.now(), datetime!(2024-02-29 12:00 UTC));
        b.set(datetime!(2000-01-01 0:00 UTC));
        assert_eq!(a.now(), datetime!(2000-01-01 0:00 UTC));
    }

    #[test]
    fn manual_clock_truncates_to_microseconds_and_can_go_backwards() {
        let c = ManualClock::new(datetime!(2026-05-01 0:00:00.123456789 UTC));
        assert_eq!(c.now(), datetime!(2026-05-01 0:00:00.123456 UTC));
        let t = c.advance(Duration::milliseconds(-124));
        assert_eq!(t, datetime!(2026-04-30 23:59:59.999456 UTC));
        assert_eq!(c.now(), t);
    }

    #[test]
    fn manual_clock_converts_offsets_to_the_same_instant() {
        let c = ManualClock::new(datetime!(2026-01-01 01:00 +01:00));
        assert_eq!(c.now(), datetime!(2026-01-01 00:00 UTC));
        assert_eq!(ManualClock::at_unix(0).now(), OffsetDateTime::UNIX_EPOCH);
    }

    #[test]
    fn clocks_work_behind_shared_pointers() {
        let shared: Arc<dyn Clock> = Arc::new(ManualClock::at_unix(86_400));
        assert_eq!(shared.now().unix_timestamp(), 86_400);
        let system: Box<dyn Clock> = Box::new(SystemClock);
        assert!(system.now().year() >= 2024);
    }
}
