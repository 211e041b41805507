//! The block policy of lease-backed metering: how much one reservation asks for, when a
//! replica refills ahead of need, and when the units it holds matter to other replicas.
//!
//! A replica reserves quota units, credits and rate slots in the shared database in blocks
//! and spends them from memory. The sizes here are what keeps that exact near a limit: a block
//! is at most [`SHARE_DIVISOR`]⁻¹ of what is left, so as the limit nears blocks shrink to one
//! unit and replicas share the last units exactly. The storage layer applies the same
//! [`share`] rule when a reservation finds less left than it asked for, and the application
//! core uses [`block`], [`prefetch`] and [`holds_contended`] for its leases: one rule, in one
//! place, for both.
//!
//! Everything is counted in *units*: one quota unit, one rate slot, or one micro-credit. A
//! request needs `unit` of them at once (1 for the quota and the rate, its price for spend).

/// A block is at most `1/SHARE_DIVISOR` of what is left.
pub const SHARE_DIVISOR: i64 = 16;

/// An allowance whose next block would be smaller than this many requests' worth is not
/// refilled ahead: near a limit, units are reserved one request at a time so replicas share the
/// rest exactly.
pub const PREFETCH_MIN_BLOCK: i64 = 64;

/// The share of `left` units one reservation takes when others compete for them: `left / 16`,
/// but never less than `min` (the least useful grant, one request's `unit`).
///
/// ```
/// use twin_meter::lease::share;
/// assert_eq!(share(1_000, 1), 62);
/// assert_eq!(share(10, 1), 1);
/// assert_eq!(share(10, 3), 3);
/// ```
pub const fn share(left: i64, min: i64) -> i64 {
    let s = left / SHARE_DIVISOR;
    if s < min { min } else { s }
}

/// How many units to ask for when `left` are left (`None`: no limit), for requests needing
/// `unit` each, with blocks of at most `max_block` requests' worth: the [`share`] of what is
/// left, between one request's worth and `max_block` requests' worth.
///
/// ```
/// use twin_meter::lease::block;
/// assert_eq!(block(Some(10_000_000), 1, 4096), 4096);
/// assert_eq!(block(Some(1_000), 1, 4096), 62);
/// assert_eq!(block(Some(3), 1, 4096), 1);
/// assert_eq!(block(None, 5, 4096), 5 * 4096);
/// assert_eq!(block(Some(-7), 2, 4096), 2, "a limit lowered below what is reserved");
/// ```
pub fn block(left: Option<i64>, unit: i64, max_block: i64) -> i64 {
    let unit = unit.max(1);
    let most = unit.saturating_mul(max_block.max(1));
    match left {
        Some(left) => share(left, unit).min(most),
        None => most,
    }
}

/// Whether to reserve the next block ahead of need, and how big: when the next block (as
/// [`block`] sizes it) is at least [`PREFETCH_MIN_BLOCK`] requests' worth and what is held has
/// fallen to a quarter of it.
///
/// ```
/// use twin_meter::lease::prefetch;
/// assert_eq!(prefetch(Some(1_000_000), 1, 4096, 1024), Some(4096));
/// assert_eq!(prefetch(Some(1_000_000), 1, 4096, 1025), None, "more than a quarter held");
/// assert_eq!(prefetch(Some(1_000), 1, 4096, 0), None, "62 units: too close to the limit");
/// ```
pub fn prefetch(left: Option<i64>, unit: i64, max_block: i64, held: i64) -> Option<i64> {
    let want = block(left, unit, max_block);
    (want >= unit.max(1).saturating_mul(PREFETCH_MIN_BLOCK) && held <= want / 4).then_some(want)
}

/// Whether `held` unspent units are a sizeable share (over 1/17) of the `left` units the
/// limit still allows beyond everything reserved: then another replica may be refused while
/// this one sits on them, so they should go back soon when idle. Without a limit nobody can be
/// refused for them.
///
/// ```
/// use twin_meter::lease::holds_contended;
/// assert!(holds_contended(Some(938), 61));
/// assert!(!holds_contended(Some(999_744), 255));
/// assert!(!holds_contended(None, 1_000));
/// assert!(!holds_contended(Some(0), 0));
/// ```
pub fn holds_contended(left: Option<i64>, held: i64) -> bool {
    held > 0 && left.is_some_and(|left| left < held.saturating_mul(SHARE_DIVISOR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_block_is_one_request_to_max_block_requests_and_never_more_than_a_share(
            left in -1_000i64..10_000_000,
            unit in 1i64..1_000,
            max_block in 1i64..5_000,
        ) {
            let b = block(Some(left), unit, max_block);
            prop_assert!(b >= unit);
            prop_assert!(b <= unit * max_block);
            if left >= unit * SHARE_DIVISOR {
                prop_assert!(b <= left / SHARE_DIVISOR, "at most 1/16 of what is left");
            }
        }

        #[test]
        fn a_prefetch_happens_only_far_from_the_limit(
            left in 0i64..10_000_000,
            max_block in 1i64..5_000,
            held in 0i64..10_000,
        ) {
            if let Some(want) = prefetch(Some(left), 1, max_block, held) {
                prop_assert!(want >= PREFETCH_MIN_BLOCK);
                prop_assert!(left >= PREFETCH_MIN_BLOCK * SHARE_DIVISOR);
                prop_assert!(held <= want / 4);
            }
        }
    }
}
