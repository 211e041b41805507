//! Rate limit and spend cap over real HTTP, on SQLite and PostgreSQL (SPEC §6).

mod common;

use common::{TestServer, error_of};
use std::sync::Arc;

use futures_util::future::join_all;
use time::Duration;
use time::macros::datetime;
use twin_core::meter::{Meter, MeterConfig};
use twin_meter::Clock;
use twin_store::testing::TestDb;
use twin_store::{KeyEnv, SnapshotStatus};

const PRESET: &str = "/v1/public/twin/preset/estandar";

async fn the_rate_limit_refuses_past_the_window_and_recovers(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    // Start of a minute, so the window's previous bucket is empty.
    srv.clock.set(datetime!(2026-11-15 12:00:00 UTC));
    let (key, _) = srv.key_custom("ana", |k| k.rate_limit_rpm = 5).await;
    for i in 0..5 {
        // /health is rate limited too.
        let path = if i % 2 == 0 {
            "/v1/public/twin/health"
        } else {
            PRESET
        };
        let res = srv.get(path, &key).await;
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(res.headers()["x-ratelimit-limit"], "5");
        let remaining: u32 = res.headers()["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(remaining, 4 - i, "remaining after request {i}");
        assert!(res.headers().contains_key("x-ratelimit-reset"));
    }
    let res = srv.get(PRESET, &key).await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let quota_used = res.headers()["x-twin-quota-used"]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, err) = error_of(res).await;
    assert_eq!(
        (
            status,
            err["code"].as_str().unwrap(),
            err["type"].as_str().unwrap()
        ),
        (429, "RATE_LIMITED", "RATE_LIMITED")
    );
    let retry_ms = err["retryAfterMs"].as_u64().unwrap();
    assert!(
        retry_ms > 0 && retry_after == retry_ms.div_ceil(1000),
        "{retry_ms} ms vs {retry_after} s"
    );
    assert_eq!(quota_used, "2", "a rate-limited request consumes no quota");
    // Two minutes later the window is empty again.
    srv.clock.advance(Duration::minutes(2));
    assert_eq!(srv.get(PRESET, &key).await.status(), 200);
}

async fn a_zero_rate_limit_disables_it(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    let (key, _) = srv.key_custom("ana", |k| k.rate_limit_rpm = 0).await;
    for _ in 0..30 {
        let res = srv.get("/v1/public/twin/health", &key).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-ratelimit-limit"], "0");
    }
}

async fn concurrent_requests_never_pass_the_rate_limit(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    srv.clock.set(datetime!(2026-11-15 12:00:00 UTC));
    let (key, _) = srv.key_custom("ana", |k| k.rate_limit_rpm = 7).await;
    let responses = join_all((0..40).map(|_| srv.get("/v1/public/twin/health", &key))).await;
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    let limited = responses.iter().filter(|r| r.status() == 429).count();
    assert_eq!((ok, limited), (7, 33));
}

async fn the_spend_cap_is_never_overshot_and_recovers_next_period(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    let (key, _) = srv
        .key_custom("ana", |k| {
            k.spend_limit = Some(3_000_000);
            k.spend_period = twin_meter::Period::Day;
        })
        .await;
    for i in 1..=3 {
        let res = srv.get(PRESET, &key).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-twin-spend-cost"], "1.000000");
        assert_eq!(
            res.headers()["x-twin-spend-period-used"],
            format!("{i}.000000").as_str()
        );
        assert_eq!(res.headers()["x-twin-spend-period-limit"], "3.000000");
        assert_eq!(
            res.headers()["x-twin-spend-period-reset"],
            "2026-11-16T00:00:00Z"
        );
    }
    // Free endpoints still work at the cap.
    let res = srv.get("/v1/public/twin/me", &key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-twin-spend-cost"], "0.000000");
    let quota_before = res.headers()["x-twin-quota-used"]
        .to_str()
        .unwrap()
        .to_owned();
    let res = srv.get(PRESET, &key).await;
    assert_eq!(
        res.headers()["x-twin-quota-used"].to_str().unwrap(),
        quota_before,
        "a 402 consumes no quota"
    );
    let (status, err) = error_of(res).await;
    assert_eq!(
        (
            status,
            err["code"].as_str().unwrap(),
            err["type"].as_str().unwrap()
        ),
        (402, "SPEND_LIMIT_EXCEEDED", "PAYMENT_REQUIRED")
    );
    assert_eq!(err["periodUsed"], "3.000000");
    assert_eq!(err["periodLimit"], "3.000000");
    assert_eq!(err["periodResetAt"], "2026-11-16T00:00:00Z");
    // The next day the cap recovers by itself.
    srv.clock.set(datetime!(2026-11-16 00:00:01 UTC));
    let res = srv.get(PRESET, &key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-twin-spend-period-used"], "1.000000");
}

async fn a_quota_refusal_spends_no_credits(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    let (key, _) = srv
        .key_custom("ana", |k| {
            k.monthly_quota = 2;
            k.spend_limit = Some(10_000_000);
        })
        .await;
    for _ in 0..2 {
        assert_eq!(srv.get(PRESET, &key).await.status(), 200);
    }
    let res = srv.get(PRESET, &key).await;
    assert_eq!(res.headers()["x-twin-spend-period-used"], "2.000000");
    assert_eq!(error_of(res).await.1["code"], "MONTHLY_QUOTA_EXCEEDED");
}

async fn concurrent_requests_never_overshoot_the_spend_cap(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    let (key, _) = srv
        .key_custom("ana", |k| k.spend_limit = Some(5_500_000))
        .await;
    let responses = join_all((0..30).map(|_| srv.get(PRESET, &key))).await;
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    let refused = responses.iter().filter(|r| r.status() == 402).count();
    assert_eq!(
        (ok, refused),
        (5, 25),
        "5.5 credits buy exactly 5 presets at 1 credit"
    );
}

async fn test_keys_cost_nothing(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    let (key, _) = srv
        .key_custom("ana", |k| {
            k.env = KeyEnv::Test;
            k.spend_limit = Some(0);
        })
        .await;
    for _ in 0..3 {
        let res = srv.get(PRESET, &key).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-twin-spend-cost"], "0.000000");
        assert_eq!(res.headers()["x-twin-spend-period-used"], "0.000000");
    }
}

async fn prices_come_from_configuration(db: TestDb) {
    let srv = TestServer::start_with(db, |state| {
        state.prices.set("me", "0.25").unwrap();
        state.prices.set("preset", "2").unwrap();
    })
    .await;
    srv.ready_owner("ana").await;
    let (key, _) = srv.key_custom("ana", |_| {}).await;
    assert_eq!(
        srv.get("/v1/public/twin/me", &key).await.headers()["x-twin-spend-cost"],
        "0.250000"
    );
    let res = srv.get(PRESET, &key).await;
    assert_eq!(res.headers()["x-twin-spend-cost"], "2.000000");
    assert_eq!(res.headers()["x-twin-spend-period-used"], "2.250000");
    assert!(
        !res.headers().contains_key("x-twin-spend-period-limit"),
        "no cap, no limit header"
    );
}

async fn a_425_spends_neither_quota_nor_credits(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    srv.snapshot("ana", SnapshotStatus::Pending, None).await;
    let (key, _) = srv
        .key_custom("ana", |k| k.spend_limit = Some(1_000_000))
        .await;
    for _ in 0..3 {
        let res = srv.get(PRESET, &key).await;
        assert_eq!(res.status(), 425);
        assert_eq!(res.headers()["x-twin-quota-used"], "0");
        assert_eq!(res.headers()["x-twin-spend-period-used"], "0.000000");
    }
}

async fn two_replicas_share_the_rate_and_spend_limits(db: TestDb) {
    if db.backend() != twin_store::Backend::Postgres {
        return;
    }
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    srv.clock.set(datetime!(2026-11-15 12:00:00 UTC));
    let replica = srv.start_replica().await;
    let (rate_key, _) = srv.key_custom("ana", |k| k.rate_limit_rpm = 9).await;
    let (spend_key, _) = srv
        .key_custom("ana", |k| k.spend_limit = Some(6_000_000))
        .await;
    let mut calls = Vec::new();
    for i in 0..40 {
        let (path, key) = (PRESET, if i % 2 == 0 { &rate_key } else { &spend_key });
        if i % 4 < 2 {
            calls.push(futures_util::future::Either::Left(srv.get(path, key)));
        } else {
            calls.push(futures_util::future::Either::Right(replica.get(path, key)));
        }
    }
    let responses = join_all(calls).await;
    let ok_rate = responses
        .iter()
        .enumerate()
        .filter(|(i, r)| i % 2 == 0 && r.status() == 200)
        .count();
    let ok_spend = responses
        .iter()
        .enumerate()
        .filter(|(i, r)| i % 2 == 1 && r.status() == 200)
        .count();
    assert_eq!(ok_rate, 9, "the rate limit holds across replicas");
    assert_eq!(ok_spend, 6, "the spend cap holds across replicas");
}

/// Quota units reserved in the database for `key_id` this month (the test clock's).
async fn db_quota_reserved(srv: &TestServer, key_id: &str) -> i64 {
    let key = srv.store().find_key(key_id).await.unwrap();
    key.counters
        .quota_used_in(twin_meter::month_start(srv.clock.now()))
}

/// A server whose meter reserves blocks of at most 256 units and never releases idle keys
/// during the test.
async fn server_with_small_blocks(db: TestDb) -> TestServer {
    TestServer::start_with(db, |state| {
        state.meter = Arc::new(Meter::new(
            state.store.clone(),
            MeterConfig {
                max_block: 256,
                idle_release: std::time::Duration::from_secs(600),
                idle_forget: std::time::Duration::from_secs(600),
            },
        ));
    })
    .await
}

/// Far from the limit, the next block is reserved in the background once a quarter of the
/// current one is left, before any request needs it.
async fn the_next_quota_block_is_reserved_before_the_current_one_runs_out(db: TestDb) {
    let srv = server_with_small_blocks(db).await;
    srv.ready_owner("ana").await;
    let (key, key_id) = srv.key_custom("ana", |k| k.monthly_quota = 1_000_000).await;
    assert_eq!(srv.get(PRESET, &key).await.status(), 200);
    assert_eq!(
        db_quota_reserved(&srv, &key_id).await,
        256,
        "the first block"
    );
    // 191 more: 64 of the block left, a quarter of it.
    for _ in 0..191 {
        assert_eq!(srv.get(PRESET, &key).await.status(), 200);
    }
    let mut reserved = 0;
    for _ in 0..200 {
        reserved = db_quota_reserved(&srv, &key_id).await;
        if reserved > 256 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        reserved, 512,
        "the second block, reserved while 64 units were left"
    );
    // Spent from memory: no further reservation until the next low mark (512 - 64 = 448).
    for _ in 0..100 {
        assert_eq!(srv.get(PRESET, &key).await.status(), 200);
    }
    assert_eq!(db_quota_reserved(&srv, &key_id).await, 512);
    let res = srv.get(PRESET, &key).await;
    assert_eq!(
        res.headers()["x-twin-quota-used"],
        "293",
        "exact on one replica"
    );
}

/// Near the limit (blocks under 64 units) nothing is reserved ahead: the replicas share the
/// last units one small block at a time.
async fn nothing_is_reserved_ahead_near_the_limit(db: TestDb) {
    let srv = server_with_small_blocks(db).await;
    srv.ready_owner("ana").await;
    let (key, key_id) = srv.key_custom("ana", |k| k.monthly_quota = 1_000).await;
    // 1000 / 16 = 62 units: below the prefetch size.
    for _ in 0..62 {
        assert_eq!(srv.get(PRESET, &key).await.status(), 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(db_quota_reserved(&srv, &key_id).await, 62);
    assert_eq!(srv.get(PRESET, &key).await.status(), 200);
    // (1000 - 62) / 16 = 58 more, reserved by the request that needed them.
    assert_eq!(db_quota_reserved(&srv, &key_id).await, 120);
}

/// A server whose meter is `config` (no background sweeper: the test sweeps), and that meter.
async fn server_with_meter(db: TestDb, config: MeterConfig) -> (TestServer, Arc<Meter>) {
    let mut meter = None;
    let srv = TestServer::start_with(db, |state| {
        let m = Arc::new(Meter::new(state.store.clone(), config));
        state.meter = m.clone();
        meter = Some(m);
    })
    .await;
    (srv, meter.unwrap())
}

/// An idle key's block goes back after `idle_release` only when other replicas may need it
/// (near the limit); far from it, the block is kept until `idle_forget`.
async fn idle_blocks_are_returned_early_only_near_the_limit(db: TestDb) {
    let config = MeterConfig {
        max_block: 256,
        idle_release: std::time::Duration::from_millis(50),
        idle_forget: std::time::Duration::from_millis(400),
    };
    let (srv, meter) = server_with_meter(db, config).await;
    srv.ready_owner("ana").await;
    let (far, far_id) = srv.key_custom("ana", |k| k.monthly_quota = 1_000_000).await;
    let (near, near_id) = srv.key_custom("ana", |k| k.monthly_quota = 1_000).await;
    assert_eq!(srv.get(PRESET, &far).await.status(), 200);
    assert_eq!(srv.get(PRESET, &near).await.status(), 200);
    assert_eq!(db_quota_reserved(&srv, &far_id).await, 256);
    assert_eq!(db_quota_reserved(&srv, &near_id).await, 62);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    meter.sweep().await;
    // 61 units held against 938 left: returned. 255 against 999,744: kept.
    assert_eq!(db_quota_reserved(&srv, &near_id).await, 1);
    assert_eq!(db_quota_reserved(&srv, &far_id).await, 256);
    assert_eq!(meter.key_count(), 1, "the returned key is forgotten");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    meter.sweep().await;
    assert_eq!(db_quota_reserved(&srv, &far_id).await, 1);
    assert_eq!(meter.key_count(), 0);
}

twin_store::backend_tests!(
    the_rate_limit_refuses_past_the_window_and_recovers,
    a_zero_rate_limit_disables_it,
    concurrent_requests_never_pass_the_rate_limit,
    the_spend_cap_is_never_overshot_and_recovers_next_period,
    a_quota_refusal_spends_no_credits,
    concurrent_requests_never_overshoot_the_spend_cap,
    test_keys_cost_nothing,
    prices_come_from_configuration,
    a_425_spends_neither_quota_nor_credits,
    two_replicas_share_the_rate_and_spend_limits,
    the_next_quota_block_is_reserved_before_the_current_one_runs_out,
    nothing_is_reserved_ahead_near_the_limit,
    idle_blocks_are_returned_early_only_near_the_limit,
);
