//! The public twin API over real HTTP, on SQLite and PostgreSQL.

mod common;

use common::{TestServer, error_of};
use twin_store::testing::TestDb;
use twin_store::{KeyEnv, KeyPatch, OwnerPatch, Scope, SnapshotStatus};

async fn health_reports_the_key_and_costs_nothing(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = srv.ready_owner("ana").await;
    for _ in 0..3 {
        let res = srv.get("/v1/public/twin/health", &key).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().contains_key("x-request-id"));
        assert_eq!(res.headers()["x-twin-quota-used"], "0", "health is free");
        assert_eq!(res.headers()["x-twin-quota-limit"], "10000");
        assert_eq!(res.headers()["x-twin-quota-remaining"], "10000");
        assert_eq!(res.headers()["x-twin-quota-reset"], "2026-12-01T00:00:00Z");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["ok"], true);
        assert_eq!(body["userId"], "ana");
        assert_eq!(body["apiKeyId"].as_str().unwrap(), &key[9..17]);
        assert_eq!(body["scopes"], serde_json::json!(["twin:read"]));
        assert_eq!(body["serverTime"], "2026-11-15T12:00:00Z");
    }
}

async fn the_key_is_accepted_in_each_header_and_conflicts_are_refused(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = srv.ready_owner("ana").await;
    let other = srv.key("ana").await;
    let url = srv.url("/v1/public/twin/health");
    for (name, value) in [
        ("X-Twin-Key", key.clone()),
        ("X-API-Key", key.clone()),
        ("Authorization", format!("Bearer {key}")),
    ] {
        let res = srv
            .client
            .get(&url)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{name}");
    }
    // The same key twice is fine; two different keys are refused even if both are valid.
    let res = srv
        .client
        .get(&url)
        .header("X-Twin-Key", &key)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = srv
        .client
        .get(&url)
        .header("X-Twin-Key", &key)
        .header("X-API-Key", &other)
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (401, "CONFLICTING_CREDENTIALS")
    );
    // A bad credential never falls back to a good one.
    let res = srv
        .client
        .get(&url)
        .header("X-Twin-Key", "garbage")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (401, "CONFLICTING_CREDENTIALS")
    );
}

async fn bad_keys_get_the_right_401(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = srv.ready_owner("ana").await;
    let url = srv.url("/v1/public/twin/me");
    let res = srv.client.get(&url).send().await.unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!(
        (
            status,
            err["code"].as_str().unwrap(),
            err["type"].as_str().unwrap()
        ),
        (401, "MISSING_API_KEY", "UNAUTHORIZED")
    );

    for malformed in [
        "atk_live_123",
        "sk_live_abc",
        &key.to_uppercase(),
        &format!("{key}0"),
        "atk_prod_0123abcd_0123456789abcdef0123456789abcdef",
    ] {
        let (status, err) = error_of(srv.get("/v1/public/twin/me", malformed).await).await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (401, "INVALID_API_KEY_FORMAT"),
            "{malformed}"
        );
    }
    // One changed secret character breaks the checksum: rejected like an unknown key.
    let mut chars: Vec<char> = key.chars().collect();
    chars[20] = if chars[20] == 'a' { 'b' } else { 'a' };
    let tampered: String = chars.into_iter().collect();
    let (status, err) = error_of(srv.get("/v1/public/twin/me", &tampered).await).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (401, "INVALID_OR_REVOKED_API_KEY")
    );
    // A well-formed key with a valid checksum that was never issued.
    let unknown = twin_keys::KeyFormat::twin().generate("live").unwrap();
    let (status, err) =
        error_of(srv.get("/v1/public/twin/me", unknown.expose_secret()).await).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (401, "INVALID_OR_REVOKED_API_KEY")
    );

    // Disabled, expired and revoked keys all answer the same, and disabling is reversible.
    let store = srv.store();
    let (disabled, disabled_id) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 10)
        .await;
    store
        .update_key(
            "ana",
            &disabled_id,
            KeyPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (expired, expired_id) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 10)
        .await;
    store
        .update_key(
            "ana",
            &expired_id,
            KeyPatch {
                expires_at: Some(Some(common::T0)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (revoked, revoked_id) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 10)
        .await;
    store.revoke_key("ana", &revoked_id).await.unwrap();
    let mut bodies = Vec::new();
    for k in [&disabled, &expired, &revoked] {
        let (status, err) = error_of(srv.get("/v1/public/twin/health", k).await).await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (401, "INVALID_OR_REVOKED_API_KEY")
        );
        bodies.push(err["message"].clone());
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "no oracle in the message either"
    );
    store
        .update_key(
            "ana",
            &disabled_id,
            KeyPatch {
                is_active: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        srv.get("/v1/public/twin/health", &disabled).await.status(),
        200
    );
}

async fn scope_and_plan_are_checked_before_the_quota(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    let (no_scope, _) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::KeysRead], 10)
        .await;
    let res = srv.get("/v1/public/twin/preset/estandar", &no_scope).await;
    assert_eq!(res.headers()["x-twin-quota-used"], "0");
    let (status, err) = error_of(res).await;
    assert_eq!(
        (
            status,
            err["code"].as_str().unwrap(),
            err["requiredScope"].as_str().unwrap()
        ),
        (403, "MISSING_SCOPE", "twin:read")
    );

    let key = srv.key("ana").await;
    srv.store()
        .update_owner(
            "ana",
            OwnerPatch {
                plan: Some("free".into()),
                email: None,
            },
        )
        .await
        .unwrap();
    let res = srv.get("/v1/public/twin/preset/estandar", &key).await;
    assert_eq!(
        res.headers()["x-twin-quota-used"],
        "0",
        "a refused request consumes nothing"
    );
    let (status, err) = error_of(res).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "PLAN_REQUIRED")
    );
    // Upgrading again brings the same key back.
    srv.store()
        .update_owner(
            "ana",
            OwnerPatch {
                plan: Some("professional".into()),
                email: None,
            },
        )
        .await
        .unwrap();
    let res = srv.get("/v1/public/twin/preset/estandar", &key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-twin-quota-used"], "1");
}

async fn me_reports_plan_quota_and_latest_ready_snapshot(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    let key = srv.key("ana").await;
    let body: serde_json::Value = srv
        .get("/v1/public/twin/me", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["snapshot"], serde_json::Value::Null);
    assert_eq!(body["plan"]["slug"], "professional");
    assert_eq!(body["quota"]["used"], 1);
    let ready = srv.snapshot("ana", SnapshotStatus::Ready, Some("p1")).await;
    srv.snapshot("ana", SnapshotStatus::Pending, None).await;
    let res = srv.get("/v1/public/twin/me", &key).await;
    assert_eq!(res.headers()["x-twin-quota-used"], "2");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["snapshot"]["id"], ready.as_str());
    assert_eq!(body["snapshot"]["status"], "ready");
    assert_eq!(body["snapshot"]["purchaseId"], "p1");
    assert_eq!(
        body["quota"],
        serde_json::json!({"limit": 10000, "used": 2, "remaining": 9998, "resetsAt": "2026-12-01T00:00:00Z"})
    );
    assert_eq!(body["scopes"], serde_json::json!(["twin:read"]));
}

async fn historic_lists_snapshots_newest_first_with_pagination(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = srv.ready_owner("ana").await;
    for _ in 0..4 {
        srv.snapshot("ana", SnapshotStatus::Pending, None).await;
    }
    let page: serde_json::Value = srv
        .get("/v1/public/twin/historic?limit=3", &key)
        .await
        .json()
        .await
        .unwrap();
    let versions: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![5, 4, 3]);
    for field in [
        "id",
        "createdAt",
        "version",
        "source",
        "status",
        "purchaseId",
    ] {
        assert!(page["items"][0].get(field).is_some(), "{field}");
    }
    assert!(page["items"][0].get("document").is_none(), "never the PCP");
    let cursor = page["nextCursor"].as_str().unwrap();
    let page2: serde_json::Value = srv
        .get(
            &format!("/v1/public/twin/historic?limit=3&cursor={cursor}"),
            &key,
        )
        .await
        .json()
        .await
        .unwrap();
    let versions: Vec<i64> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![2, 1]);
    assert_eq!(page2["nextCursor"], serde_json::Value::Null);
    for bad in ["limit=0", "limit=101", "limit=x", "cursor=abc"] {
        let (status, err) = error_of(
            srv.get(&format!("/v1/public/twin/historic?{bad}"), &key)
                .await,
        )
        .await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (400, "INVALID_PARAMETER"),
            "{bad}"
        );
    }
}

async fn another_owners_snapshot_is_not_found(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = srv.ready_owner("ana").await;
    srv.owner("bob", "professional").await;
    let bobs = srv.snapshot("bob", SnapshotStatus::Ready, None).await;
    let mine = srv
        .store()
        .latest_ready_snapshot("ana")
        .await
        .unwrap()
        .unwrap()
        .id;
    let res = srv
        .get(&format!("/v1/public/twin/snapshots/{mine}"), &key)
        .await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["id"], mine.as_str());
    assert!(body.get("document").is_none());
    let (status_other, err_other) = error_of(
        srv.get(&format!("/v1/public/twin/snapshots/{bobs}"), &key)
            .await,
    )
    .await;
    let (status_unknown, err_unknown) =
        error_of(srv.get("/v1/public/twin/snapshots/snap_nope", &key).await).await;
    assert_eq!((status_other, status_unknown), (404, 404));
    assert_eq!(err_other["code"], err_unknown["code"]);
    assert_eq!(
        err_other["message"], err_unknown["message"],
        "indistinguishable from an unknown id"
    );
}

twin_store::backend_tests!(
    health_reports_the_key_and_costs_nothing,
    the_key_is_accepted_in_each_header_and_conflicts_are_refused,
    bad_keys_get_the_right_401,
    scope_and_plan_are_checked_before_the_quota,
    me_reports_plan_quota_and_latest_ready_snapshot,
    historic_lists_snapshots_newest_first_with_pagination,
    another_owners_snapshot_is_not_found,
);
