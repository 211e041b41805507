use super::*;
use proptest::prelude::*;
use time::macros::datetime;

const W: i64 = WINDOW_MS;
/// 2026-01-01T00:00:00Z in Unix milliseconds.
const BASE: i64 = 1_767_225_600_000;

/// The admission rule evaluated from the full history of admitted requests rather than from the
/// two-bucket state: `p·(W − e) + (c + 1)·W ≤ L·W`.
fn reference_allows(admitted: &[i64], limit: u32, t: i64) -> bool {
    let (p, c) = history_counts(admitted, t);
    let e = t.rem_euclid(W);
    i128::from(p) * i128::from(W - e) + i128::from(c + 1) * i128::from(W)
        <= i128::from(limit) * i128::from(W)
}

/// Requests admitted in the fixed minute before `t`'s and in `t`'s own minute (up to `t`).
fn history_counts(admitted: &[i64], t: i64) -> (u32, u32) {
    let m = t.div_euclid(W);
    let count = |minute: i64| {
        admitted
            .iter()
            .filter(|&&a| a <= t && a.div_euclid(W) == minute)
            .count() as u32
    };
    (count(m - 1), count(m))
}

/// The most requests in any half-open interval `[s, s + W)` (the maximum is reached with `s` at
/// an admitted request), and the most in any fixed minute.
fn max_counts(admitted: &[i64]) -> (usize, usize) {
    let mut sliding = 0;
    let mut j = 0;
    for i in 0..admitted.len() {
        j = j.max(i);
        while j < admitted.len() && admitted[j] < admitted[i] + W {
            j += 1;
        }
        sliding = sliding.max(j - i);
    }
    let mut fixed = 0;
    let mut run = 0;
    for (i, t) in admitted.iter().enumerate() {
        if i > 0 && admitted[i - 1].div_euclid(W) == t.div_euclid(W) {
            run += 1;
        } else {
            run = 1;
        }
        fixed = fixed.max(run);
    }
    (sliding, fixed)
}

/// Sorted arrival times: bursts (gaps of 0 ms), close arrivals, and gaps of over two minutes.
fn arrivals(max_len: usize) -> impl Strategy<Value = Vec<i64>> {
    let gap = prop_oneof![
        3 => Just(0i64),
        3 => 0i64..50,
        2 => 0i64..5_000,
        1 => 0i64..70_000,
        1 => 110_000i64..200_000,
    ];
    (0i64..W, prop::collection::vec(gap, 0..max_len)).prop_map(|(phase, gaps)| {
        let mut t = BASE + phase;
        gaps.into_iter()
            .map(|g| {
                t += g;
                t
            })
            .collect()
    })
}

/// Runs `times` through [`decide_at_ms`], checking every decision against the history, and
/// returns the admitted times.
fn simulate(limit: u32, times: &[i64]) -> Result<Vec<i64>, TestCaseError> {
    let mut state = RateWindow::default();
    let mut admitted = Vec::new();
    for &t in times {
        let (p, c) = history_counts(&admitted, t);
        let d = decide_at_ms(state, limit, t);
        prop_assert_eq!(d.allowed, reference_allows(&admitted, limit, t));
        if d.allowed {
            admitted.push(t);
        } else {
            // Guarantee 3: refusals only happen once p + c has reached the limit.
            prop_assert!(p + c >= limit, "refused with p={} c={} L={}", p, c, limit);
            prop_assert!(d.retry_after_ms >= 1);
            prop_assert!(d.retry_after_secs() >= 1);
        }
        // The state machine agrees with counts taken from the history.
        prop_assert_eq!(d.state.minute, t.div_euclid(W));
        prop_assert_eq!(
            (d.state.previous, d.state.current),
            history_counts(&admitted, t)
        );
        // Remaining is exactly how many more would be admitted now.
        let mut probe = admitted.clone();
        let mut more = 0;
        while reference_allows(&probe, limit, t) {
            probe.push(t);
            more += 1;
        }
        prop_assert_eq!(d.remaining, more);
        // The reported next slot is the first millisecond at which a request would be
        // admitted, if none arrives meanwhile.
        let next = t + i64::try_from(d.retry_after_ms).unwrap();
        prop_assert!(reference_allows(&admitted, limit, next));
        if d.retry_after_ms > 0 {
            prop_assert!(!reference_allows(&admitted, limit, next - 1));
            prop_assert_eq!(
                d.reset_at_unix_secs,
                next.div_euclid(1000) + i64::from(next % 1000 != 0)
            );
        }
        prop_assert_eq!(
            d.retry_after_secs(),
            d.retry_after_ms.div_ceil(1000).max(u64::from(!d.allowed))
        );
        prop_assert_eq!(d.retry_after_ms == 0, d.remaining > 0);
        state = d.state;
    }
    Ok(admitted)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Worst-case bound: ≤ L per fixed minute and ≤ 2L − 1 per sliding 60 s interval.
    #[test]
    fn never_more_than_2l_minus_1_in_any_sliding_minute(limit in 1u32..=12, times in arrivals(300)) {
        let admitted = simulate(limit, &times)?;
        let (sliding, fixed) = max_counts(&admitted);
        prop_assert!(fixed <= limit as usize, "{} in one fixed minute, L={}", fixed, limit);
        prop_assert!(sliding < 2 * limit as usize, "{} in a sliding minute, L={}", sliding, limit);
    }

    /// The same bounds hold when replicas take slots in batches and spend them before the
    /// minute they were counted in ends.
    #[test]
    fn reservations_used_within_their_minute_keep_the_bound(
        limit in 1u32..=12,
        requests in arrivals(300).prop_flat_map(|times| {
            let n = times.len();
            (Just(times), prop::collection::vec((0usize..3, 1u32..6), n))
        }),
    ) {
        let (times, who) = requests;
        let mut state = RateWindow::default();
        let mut replicas = [(0u32, i64::MIN); 3];
        let mut admitted = Vec::new();
        for (&t, &(r, batch)) in times.iter().zip(&who) {
            let (slots, valid_until) = &mut replicas[r];
            if t >= *valid_until {
                *slots = 0;
            }
            if *slots == 0 {
                let res = reserve_at_ms(state, limit, t, batch);
                prop_assert!(res.granted <= batch);
                state = res.state;
                *slots = res.granted;
                *valid_until = res.valid_until_unix_ms;
            }
            if *slots > 0 {
                *slots -= 1;
                admitted.push(t);
            }
        }
        let (sliding, fixed) = max_counts(&admitted);
        prop_assert!(fixed <= limit as usize);
        prop_assert!(sliding < 2 * limit as usize);
    }

    /// Reserving k slots is the same as admitting k requests one by one at the same instant.
    #[test]
    fn reserve_equals_repeated_decide(
        limit in 0u32..20,
        previous in 0u32..30,
        current in 0u32..30,
        offset in -2 * W..4 * W,
        want in 0u32..40,
    ) {
        let state = RateWindow { minute: BASE / W, previous, current };
        let now = BASE + offset;
        let res = reserve_at_ms(state, limit, now, want);
        let mut s = state;
        let mut admitted = 0;
        for _ in 0..want {
            let d = decide_at_ms(s, limit, now);
            s = d.state;
            if !d.allowed {
                break;
            }
            admitted += 1;
        }
        prop_assert_eq!(res.granted, admitted);
        if limit > 0 && want > 0 {
            prop_assert_eq!(res.state, s);
            prop_assert!(res.valid_until_unix_ms > now);
        }
    }

    /// Whatever the state (limits lowered below the counts, clocks behind the stored minute),
    /// a refusal reports a wait of at least a millisecond, after which a request is admitted.
    #[test]
    fn refusals_always_name_a_future_instant_that_admits(
        limit in 1u32..100,
        previous in 0u32..1_000,
        current in 0u32..1_000,
        offset in -3 * W..3 * W,
    ) {
        let state = RateWindow { minute: BASE / W, previous, current };
        let now = BASE + offset;
        let d = decide_at_ms(state, limit, now);
        if !d.allowed {
            prop_assert!(d.retry_after_ms >= 1);
            prop_assert!(d.reset_at_unix_secs * 1000 > now);
            let later = now + i64::try_from(d.retry_after_ms).unwrap();
            prop_assert!(decide_at_ms(d.state, limit, later).allowed);
            prop_assert!(!decide_at_ms(d.state, limit, later - 1).allowed);
        }
        // The state never moves to an earlier minute.
        prop_assert!(d.state.minute >= state.minute);
    }
}

#[test]
fn the_2l_minus_1_bound_is_attained() {
    for limit in [1u32, 2, 3, 10, 60, 1_000, 30_000] {
        let minute = BASE / W + 10;
        let late = minute * W - 1; // last millisecond of minute m − 1
        let later = minute * W + W - 2; // e = W − 2 ms in minute m
        let mut state = RateWindow::default();
        let mut admitted = 0u64;
        for t in std::iter::repeat_n(late, limit as usize + 5)
            .chain(std::iter::repeat_n(later, limit as usize + 5))
        {
            let d = decide_at_ms(state, limit, t);
            state = d.state;
            admitted += u64::from(d.allowed);
        }
        assert!(later - late < W, "both groups fit in one 60 s interval");
        assert_eq!(admitted, 2 * u64::from(limit) - 1, "L = {limit}");
    }
}

#[test]
fn buckets_roll_after_one_minute_and_clear_after_two() {
    let m = BASE / W;
    let state = RateWindow {
        minute: m,
        previous: 7,
        current: 3,
    };
    let one = decide_at_ms(state, 100, (m + 1) * W + 5);
    assert_eq!(
        one.state,
        RateWindow {
            minute: m + 1,
            previous: 3,
            current: 1
        }
    );
    let two = decide_at_ms(state, 100, (m + 2) * W);
    assert_eq!(
        two.state,
        RateWindow {
            minute: m + 2,
            previous: 0,
            current: 1
        }
    );
    let same = decide_at_ms(state, 100, m * W + W - 1);
    assert_eq!(
        same.state,
        RateWindow {
            minute: m,
            previous: 7,
            current: 4
        }
    );
}

#[test]
fn a_clock_behind_the_stored_minute_never_rolls_back() {
    let m = BASE / W;
    let state = RateWindow {
        minute: m,
        previous: 2,
        current: 0,
    };
    // 10 s before the stored minute: taken as its start, where the previous minute weighs fully.
    let d = decide_at_ms(state, 2, m * W - 10_000);
    assert!(!d.allowed);
    assert_eq!(d.state, state);
    // One slot frees half-way through the stored minute: 10 s + 30 s from "now".
    assert_eq!(d.retry_after_ms, 40_000);
}

#[test]
fn limit_zero_disables_and_leaves_the_state_alone() {
    let state = RateWindow {
        minute: 5,
        previous: u32::MAX,
        current: u32::MAX,
    };
    let d = decide(state, 0, datetime!(2026-01-01 0:00:00.5 UTC));
    assert!(d.allowed);
    assert_eq!(d.state, state);
    assert_eq!(d.retry_after_ms, 0);
    assert_eq!(d.retry_after_secs(), 0);
    assert_eq!(
        d.reset_at_unix_secs,
        datetime!(2026-01-01 0:00:01 UTC).unix_timestamp()
    );
    assert_eq!(d.headers()[0], ("X-RateLimit-Limit", "0".to_owned()));
    assert_eq!(d.exceeded(), None);
    let r = reserve(state, 0, datetime!(2026-01-01 0:00 UTC), 17);
    assert_eq!((r.granted, r.state), (17, state));
}

#[test]
fn headers_and_error_fields_of_a_refusal() {
    let now = datetime!(2026-03-01 10:00:45.250 UTC);
    let mut state = RateWindow::default();
    for _ in 0..3 {
        state = decide(state, 3, now).state;
    }
    let d = decide(state, 3, now);
    assert!(!d.allowed);
    // The three requests weigh fully until 10:01:00, then fade: a slot frees when
    // 3·(W − e)/W ≤ 2, i.e. at 10:01:20.
    assert_eq!(d.retry_after_ms, 34_750);
    assert_eq!(d.retry_after_secs(), 35);
    assert_eq!(
        d.headers(),
        [
            ("X-RateLimit-Limit", "3".to_owned()),
            ("X-RateLimit-Remaining", "0".to_owned()),
            (
                "X-RateLimit-Reset",
                datetime!(2026-03-01 10:01:20 UTC)
                    .unix_timestamp()
                    .to_string()
            ),
        ]
    );
    assert_eq!(
        serde_json::to_value(d.exceeded().unwrap()).unwrap(),
        serde_json::json!({ "retryAfterMs": 34_750 })
    );
}

#[test]
fn unix_ms_rounds_down_before_the_epoch() {
    assert_eq!(unix_ms(datetime!(1969-12-31 23:59:59.9995 UTC)), -1);
    assert_eq!(unix_ms(datetime!(1970-01-01 0:00:00.0019 UTC)), 1);
}
