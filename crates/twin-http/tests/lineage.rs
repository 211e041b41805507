//! Rotation lineage (SPEC §2): a rotated key and its successor draw on one quota counter,
//! one rate window and one spend period — on every replica, also at the exact boundary —
//! while usage stays attributed to the key that made the call. Real HTTP, both backends
//! (the two-replica case on PostgreSQL, where replicas share a database).

mod common;

use common::{ALL, TestServer, send};
use futures_util::future::{Either, join_all};
use serde_json::{Value, json};
use twin_store::testing::TestDb;
use twin_store::{KeyEnv, KeySpec};

const PRESET: &str = "/v1/public/twin/preset/estandar?format=json";

/// Rotates `key_id` with an hour's grace through the owner API; returns the successor's
/// plaintext and id.
async fn rotate(srv: &TestServer, admin: &str, key_id: &str) -> (String, String) {
    let res = send(
        srv,
        reqwest::Method::POST,
        &format!("/v1/keys/{key_id}/rotate"),
        admin,
        Some(json!({"gracePeriodSeconds": 3600})),
    )
    .await;
    assert_eq!(res.status(), 201, "rotation succeeds");
    let body: Value = res.json().await.unwrap();
    (
        body["key"].as_str().unwrap().to_owned(),
        body["id"].as_str().unwrap().to_owned(),
    )
}

/// An owner with a ready twin, a full-scope manager key and a `twin:read` key adjusted by
/// `adjust`; returns (manager, key plaintext, key id).
async fn setup(srv: &TestServer, adjust: impl FnOnce(&mut KeySpec)) -> (String, String, String) {
    srv.ready_owner("ana").await;
    let (admin, _) = srv.key_with("ana", KeyEnv::Live, ALL, 10_000).await;
    let (key, id) = srv.key_custom("ana", adjust).await;
    (admin, key, id)
}

/// Fires `n` calls to `path` at once, alternating between `a` and `b`; returns how many of
/// each were answered 200.
async fn fire(srv: &TestServer, path: &str, a: &str, b: &str, n: usize) -> (usize, usize) {
    let calls = (0..n).map(|i| srv.get(path, if i % 2 == 0 { a } else { b }));
    let responses = join_all(calls).await;
    let ok = |parity: usize| {
        responses
            .iter()
            .enumerate()
            .filter(|(i, r)| i % 2 == parity && r.status() == 200)
            .count()
    };
    (ok(0), ok(1))
}

async fn a_rotated_key_and_its_successor_share_one_monthly_quota(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (admin, old, old_id) = setup(&srv, |k| k.monthly_quota = 5).await;
    // Two of five spent before the rotation.
    for _ in 0..2 {
        assert_eq!(srv.get("/v1/public/twin/me", &old).await.status(), 200);
    }
    let (new, new_id) = rotate(&srv, &admin, &old_id).await;
    let (ok_old, ok_new) = fire(&srv, "/v1/public/twin/me", &old, &new, 40).await;
    assert_eq!(
        ok_old + ok_new,
        3,
        "both keys together get what was left of one quota (old {ok_old}, new {ok_new})"
    );
    // Usage stays with the key that made each call.
    srv.usage.flush().await;
    let usage = |id: String| {
        let srv = &srv;
        let admin = &admin;
        async move {
            let body: Value = send(
                srv,
                reqwest::Method::GET,
                &format!("/v1/keys/{id}/usage?since=month"),
                admin,
                None,
            )
            .await
            .json()
            .await
            .unwrap();
            body["byStatus"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .filter(|r| r["status"] == 200)
                        .map(|r| r["calls"].as_i64().unwrap())
                        .sum::<i64>()
                })
                .unwrap_or_else(|| body["byStatus"]["200"].as_i64().unwrap_or(0))
        }
    };
    assert_eq!(usage(old_id.clone()).await, 2 + ok_old as i64);
    assert_eq!(usage(new_id.clone()).await, ok_new as i64);
    // Both views report the shared counter.
    for id in [&old_id, &new_id] {
        let view: Value = send(
            &srv,
            reqwest::Method::GET,
            &format!("/v1/keys/{id}"),
            &admin,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(view["quotaUsed"], 5, "key {id} shows the lineage's usage");
    }
}

async fn a_rotated_key_and_its_successor_share_one_rate_window_and_spend_period(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (admin, rate_old, rate_id) = setup(&srv, |k| k.rate_limit_rpm = 4).await;
    let (spend_old, spend_id) = srv
        .key_custom("ana", |k| k.spend_limit = Some(3_000_000))
        .await;
    let (rate_new, _) = rotate(&srv, &admin, &rate_id).await;
    let (spend_new, _) = rotate(&srv, &admin, &spend_id).await;
    let (a, b) = fire(&srv, "/v1/public/twin/health", &rate_old, &rate_new, 20).await;
    assert_eq!(
        a + b,
        4,
        "one window of 4 per minute for both keys ({a} + {b})"
    );
    let (a, b) = fire(&srv, PRESET, &spend_old, &spend_new, 20).await;
    assert_eq!(
        a + b,
        3,
        "one spend cap of 3 credits for both keys ({a} + {b})"
    );
}

async fn the_shared_quota_holds_exactly_across_two_replicas(db: TestDb) {
    if db.backend() != twin_store::Backend::Postgres {
        return;
    }
    let srv = TestServer::start(db).await;
    let (admin, old, old_id) = setup(&srv, |k| k.monthly_quota = 25).await;
    let replica = srv.start_replica().await;
    let (new, _) = rotate(&srv, &admin, &old_id).await;
    // The old key on this server, the new one on the replica, all at once.
    let calls = (0..80).map(|i| {
        if i % 2 == 0 {
            Either::Left(srv.get("/v1/public/twin/me", &old))
        } else {
            Either::Right(replica.get("/v1/public/twin/me", &new))
        }
    });
    let ok = join_all(calls)
        .await
        .iter()
        .filter(|r| r.status() == 200)
        .count();
    assert_eq!(ok, 25, "exactly the lineage's quota, never more");
}

twin_store::backend_tests!(
    a_rotated_key_and_its_successor_share_one_monthly_quota,
    a_rotated_key_and_its_successor_share_one_rate_window_and_spend_period,
    the_shared_quota_holds_exactly_across_two_replicas,
);
