//! One authorization rule per action (SPEC §2 "Scopes"), tried from the attacker's side: a
//! key that holds some management scope tries to reach further than its own scopes and
//! environment. Real HTTP, both backends.

mod common;

use common::{ALL, TestServer, error_of, send};
use serde_json::{Value, json};
use twin_store::testing::TestDb;
use twin_store::{KeyEnv, Scope};

/// Asserts a 403 `MISSING_SCOPE` whose body carries no plaintext key.
async fn refused(res: reqwest::Response) {
    let (status, err) = error_of(res).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "MISSING_SCOPE")
    );
    assert!(err.get("key").is_none(), "no plaintext in a refusal");
}

async fn a_narrow_key_cannot_rotate_or_change_a_wider_key(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    srv.snapshot("ana", twin_store::SnapshotStatus::Ready, None)
        .await;
    let (_, full_id) = srv.key_with("ana", KeyEnv::Live, ALL, 10_000).await;
    let (narrow, narrow_id) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::KeysWrite], 10_000)
        .await;

    // Rotating the full-scope key would hand the attacker a full-scope plaintext.
    refused(
        send(
            &srv,
            reqwest::Method::POST,
            &format!("/v1/keys/{full_id}/rotate"),
            &narrow,
            Some(json!({"gracePeriodSeconds": 60})),
        )
        .await,
    )
    .await;
    // Changing it (here: its limits) is refused as well.
    refused(
        send(
            &srv,
            reqwest::Method::PATCH,
            &format!("/v1/keys/{full_id}"),
            &narrow,
            Some(json!({"monthlyQuota": 5})),
        )
        .await,
    )
    .await;
    // The full key is untouched and still the only full key.
    let keys = srv
        .store()
        .list_keys("ana", None, common::T0, 100, None)
        .await
        .unwrap()
        .items;
    assert_eq!(keys.len(), 2, "no key was issued");
    let full = keys.iter().find(|k| k.id == full_id).unwrap();
    assert_eq!(full.monthly_quota, 10_000);
    assert!(full.expires_at.is_none());

    // Within its reach the narrow key works: it rotates itself.
    let res = send(
        &srv,
        reqwest::Method::POST,
        &format!("/v1/keys/{narrow_id}/rotate"),
        &narrow,
        None,
    )
    .await;
    assert_eq!(res.status(), 201);
    let rotated: Value = res.json().await.unwrap();
    assert_eq!(rotated["scopes"], json!(["keys:write"]));
}

async fn a_test_key_manages_test_keys_only(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    srv.snapshot("ana", twin_store::SnapshotStatus::Ready, None)
        .await;
    let (_, live_id) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 10_000)
        .await;
    let (test_admin, _) = srv.key_with("ana", KeyEnv::Test, ALL, 10_000).await;

    // It cannot create a live key (which would serve the owner's real twin)…
    refused(
        send(
            &srv,
            reqwest::Method::POST,
            "/v1/keys",
            &test_admin,
            Some(json!({"name": "escalate", "env": "live"})),
        )
        .await,
    )
    .await;
    // … nor rotate, change or revoke a live one.
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            format!("/v1/keys/{live_id}/rotate"),
            None,
        ),
        (
            reqwest::Method::PATCH,
            format!("/v1/keys/{live_id}"),
            Some(json!({"isActive": false})),
        ),
        (reqwest::Method::DELETE, format!("/v1/keys/{live_id}"), None),
    ] {
        refused(send(&srv, method, &path, &test_admin, body).await).await;
    }
    let live = srv.store().find_key(&live_id).await.unwrap();
    assert!(live.is_active && live.revoked_at.is_none() && live.expires_at.is_none());
    let live_keys = srv
        .store()
        .list_keys("ana", None, common::T0, 100, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|k| k.env == KeyEnv::Live)
        .count();
    assert_eq!(live_keys, 1, "no live key was created");

    // Test keys it does manage.
    let res = send(
        &srv,
        reqwest::Method::POST,
        "/v1/keys",
        &test_admin,
        Some(json!({"name": "sandbox", "env": "test"})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert!(created["key"].as_str().unwrap().starts_with("atk_test_"));
}

async fn a_rotation_with_a_grace_period_counts_against_the_key_limit(db: TestDb) {
    let srv = TestServer::start_with(db, |state| {
        let pro = state
            .plans
            .plans
            .iter_mut()
            .find(|p| p.slug == "professional")
            .unwrap();
        pro.max_keys = 2;
    })
    .await;
    srv.owner("ana", "professional").await;
    let (admin, admin_id) = srv.key_with("ana", KeyEnv::Live, ALL, 10_000).await;
    srv.key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 10_000)
        .await;
    // Two active keys of two: a grace period would make three.
    let (status, err) = error_of(
        send(
            &srv,
            reqwest::Method::POST,
            &format!("/v1/keys/{admin_id}/rotate"),
            &admin,
            Some(json!({"gracePeriodSeconds": 3600})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "KEY_LIMIT_REACHED")
    );
    // Without one the old key stops at once: the count stays at two.
    let res = send(
        &srv,
        reqwest::Method::POST,
        &format!("/v1/keys/{admin_id}/rotate"),
        &admin,
        Some(json!({"gracePeriodSeconds": 0})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let active = srv
        .store()
        .count_active_keys("ana", common::T0)
        .await
        .unwrap();
    assert_eq!(active, 2);
}

async fn a_rotated_key_keeps_its_state_and_its_rotation_expiry(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    let (admin, _) = srv.key_with("ana", KeyEnv::Live, ALL, 10_000).await;
    let (_, id) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 10_000)
        .await;
    // Disable it, then rotate it: the successor is disabled too.
    let res = send(
        &srv,
        reqwest::Method::PATCH,
        &format!("/v1/keys/{id}"),
        &admin,
        Some(json!({"isActive": false})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = send(
        &srv,
        reqwest::Method::POST,
        &format!("/v1/keys/{id}/rotate"),
        &admin,
        Some(json!({"gracePeriodSeconds": 600})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let rotated: Value = res.json().await.unwrap();
    assert_eq!(rotated["status"], "disabled");
    assert_eq!(rotated["isActive"], false);
    let plaintext = rotated["key"].as_str().unwrap();
    assert_eq!(
        srv.get("/v1/public/twin/health", plaintext).await.status(),
        401,
        "a disabled key's successor does not work either"
    );
    // The expiry the rotation set cannot be lifted or pushed back…
    for body in [
        json!({"expiresAt": null}),
        json!({"expiresAt": "2030-01-01T00:00:00Z"}),
    ] {
        let (status, err) = error_of(
            send(
                &srv,
                reqwest::Method::PATCH,
                &format!("/v1/keys/{id}"),
                &admin,
                Some(body),
            )
            .await,
        )
        .await;
        assert_eq!((status, err["code"].as_str().unwrap()), (409, "CONFLICT"));
    }
    let old = srv.store().find_key(&id).await.unwrap();
    assert_eq!(
        old.expires_at,
        Some(common::T0 + time::Duration::seconds(600))
    );
    // … but it can be brought forward.
    let res = send(
        &srv,
        reqwest::Method::PATCH,
        &format!("/v1/keys/{id}"),
        &admin,
        Some(json!({"expiresAt": "2026-11-15T12:05:00Z"})),
    )
    .await;
    assert_eq!(res.status(), 200);
    // And a rotated key is not rotated a second time.
    let (status, _) = error_of(
        send(
            &srv,
            reqwest::Method::POST,
            &format!("/v1/keys/{id}/rotate"),
            &admin,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);
}

async fn the_key_limit_holds_under_concurrent_creation(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    let (admin, _) = srv.key_with("ana", KeyEnv::Live, ALL, 10_000).await;
    // The professional plan allows 50 active keys; the manager key is one of them.
    let calls = (0..80).map(|i| {
        send(
            &srv,
            reqwest::Method::POST,
            "/v1/keys",
            &admin,
            Some(json!({"name": format!("k{i}")})),
        )
    });
    let responses = futures_util::future::join_all(calls).await;
    let created = responses.iter().filter(|r| r.status() == 201).count();
    let refused = responses.iter().filter(|r| r.status() == 403).count();
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        (created, refused),
        (49, 31),
        "exactly up to the limit, the rest refused: {statuses:?}"
    );
    let active = srv
        .store()
        .count_active_keys("ana", common::T0)
        .await
        .unwrap();
    assert_eq!(active, 50);
}

twin_store::backend_tests!(
    a_narrow_key_cannot_rotate_or_change_a_wider_key,
    a_test_key_manages_test_keys_only,
    a_rotation_with_a_grace_period_counts_against_the_key_limit,
    a_rotated_key_keeps_its_state_and_its_rotation_expiry,
    the_key_limit_holds_under_concurrent_creation,
);
