//! The owner API (`/v1/keys`, `/v1/account`) over real HTTP, on SQLite and PostgreSQL.

mod common;

use common::{ALL, TestServer, error_of, send};
use serde_json::{Value, json};
use twin_store::testing::TestDb;
use twin_store::{KeyEnv, Scope};

async fn manager(srv: &TestServer, owner: &str) -> String {
    srv.owner(owner, "professional").await;
    srv.key_with(owner, KeyEnv::Live, ALL, 10_000).await.0
}

async fn create_returns_the_plaintext_once_and_listings_never_show_it(db: TestDb) {
    let srv = TestServer::start(db).await;
    let admin = manager(&srv, "ana").await;
    let res = send(
        &srv,
        reqwest::Method::POST,
        "/v1/keys",
        &admin,
        Some(json!({
            "name": "CRM", "scopes": ["twin:read"], "monthlyQuota": 500, "rateLimitRpm": 30,
            "spendLimit": "12.5", "spendPeriod": "week", "expiresInDays": 30
        })),
    )
    .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let plaintext = created["key"].as_str().unwrap().to_owned();
    assert!(plaintext.starts_with("atk_live_"));
    assert!(created["warning"].as_str().unwrap().contains("only once"));
    assert_eq!(
        created["prefix"],
        format!("atk_live_{}", created["id"].as_str().unwrap())
    );
    assert_eq!(created["spendLimit"], "12.500000");
    assert_eq!(created["spendPeriod"], "week");
    assert_eq!(created["monthlyQuota"], 500);
    assert_eq!(created["status"], "active");
    assert_eq!(created["expiresAt"], "2026-12-15T12:00:00Z");
    // The new key works.
    assert_eq!(
        srv.get("/v1/public/twin/health", &plaintext).await.status(),
        200
    );
    // Reading and listing never show the plaintext or a hash.
    let id = created["id"].as_str().unwrap();
    let one = send(
        &srv,
        reqwest::Method::GET,
        &format!("/v1/keys/{id}"),
        &admin,
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    let list = send(&srv, reqwest::Method::GET, "/v1/keys", &admin, None)
        .await
        .text()
        .await
        .unwrap();
    for body in [&one, &list] {
        assert!(!body.contains(&plaintext[18..]), "no secret");
        assert!(!body.to_lowercase().contains("hash"), "no hash field");
    }
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    for field in [
        "id",
        "prefix",
        "name",
        "env",
        "scopes",
        "status",
        "createdAt",
        "lastUsedAt",
        "expiresAt",
        "revokedAt",
        "usageCount",
        "monthlyQuota",
        "quotaUsed",
        "rateLimitRpm",
        "spendLimit",
        "spendPeriod",
        "spendPeriodUsed",
        "spendPeriodStart",
    ] {
        assert!(list["items"][0].get(field).is_some(), "{field}");
    }
}

async fn create_validates_every_field(db: TestDb) {
    let srv = TestServer::start(db).await;
    let admin = manager(&srv, "ana").await;
    for (body, parameter) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(65)}), "name"),
        (json!({"name": "ok", "env": "prod"}), "env"),
        (json!({"name": "ok", "scopes": ["root"]}), "scopes"),
        (json!({"name": "ok", "scopes": []}), "scopes"),
        (
            json!({"name": "ok", "expiresAt": "2020-01-01T00:00:00Z"}),
            "expiresAt",
        ),
        (json!({"name": "ok", "expiresAt": "tomorrow"}), "expiresAt"),
        (json!({"name": "ok", "expiresInDays": 0}), "expiresInDays"),
        (
            json!({"name": "ok", "expiresInDays": 3651}),
            "expiresInDays",
        ),
        (json!({"name": "ok", "monthlyQuota": 0}), "monthlyQuota"),
        (
            json!({"name": "ok", "monthlyQuota": 1_000_001}),
            "monthlyQuota",
        ),
        (json!({"name": "ok", "rateLimitRpm": -1}), "rateLimitRpm"),
        (
            json!({"name": "ok", "spendLimit": "1.1234567"}),
            "spendLimit",
        ),
        (json!({"name": "ok", "spendLimit": "-1"}), "spendLimit"),
        (json!({"name": "ok", "spendPeriod": "year"}), "spendPeriod"),
        (json!({"name": "ok", "unknown": 1}), "unknown"),
        (
            json!({"name": "ok", "monthlyQuota": "many"}),
            "monthlyQuota",
        ),
        (json!({"name": "   "}), "name"),
    ] {
        let res = send(
            &srv,
            reqwest::Method::POST,
            "/v1/keys",
            &admin,
            Some(body.clone()),
        )
        .await;
        let (status, err) = error_of(res).await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (400, "INVALID_PARAMETER"),
            "{body}"
        );
        assert_eq!(err["parameter"], parameter, "{body}");
    }
    let res = srv
        .client
        .post(srv.url("/v1/keys"))
        .header("X-Twin-Key", &admin)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, 400);
}

async fn a_key_cannot_grant_scopes_it_lacks(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    let (writer, _) = srv
        .key_with(
            "ana",
            KeyEnv::Live,
            &[Scope::KeysWrite, Scope::TwinRead],
            100,
        )
        .await;
    let res = send(
        &srv,
        reqwest::Method::POST,
        "/v1/keys",
        &writer,
        Some(json!({"name": "x", "scopes": ["twin:read", "usage:read"]})),
    )
    .await;
    let (status, err) = error_of(res).await;
    assert_eq!(
        (
            status,
            err["code"].as_str().unwrap(),
            err["requiredScope"].as_str().unwrap()
        ),
        (403, "MISSING_SCOPE", "usage:read")
    );
    // Within its own scopes it may create, and then it may not widen that key either.
    let res = send(
        &srv,
        reqwest::Method::POST,
        "/v1/keys",
        &writer,
        Some(json!({"name": "x", "scopes": ["twin:read"]})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = send(
        &srv,
        reqwest::Method::PATCH,
        &format!("/v1/keys/{id}"),
        &writer,
        Some(json!({"scopes": ["account:read"]})),
    )
    .await;
    let (status, err) = error_of(res).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "MISSING_SCOPE")
    );
    // A key without keys:write cannot create at all; without keys:read cannot list.
    let (reader, _) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 100)
        .await;
    let (status, err) = error_of(
        send(
            &srv,
            reqwest::Method::POST,
            "/v1/keys",
            &reader,
            Some(json!({"name": "x"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["requiredScope"].as_str().unwrap()),
        (403, "keys:write")
    );
    let (status, err) =
        error_of(send(&srv, reqwest::Method::GET, "/v1/keys", &reader, None).await).await;
    assert_eq!(
        (status, err["requiredScope"].as_str().unwrap()),
        (403, "keys:read")
    );
}

async fn plan_limits_apply(db: TestDb) {
    let srv = TestServer::start_with(db, |state| {
        state.plans.plans[1].max_keys = 2;
    })
    .await;
    let admin = manager(&srv, "ana").await;
    let res = send(
        &srv,
        reqwest::Method::POST,
        "/v1/keys",
        &admin,
        Some(json!({"name": "second"})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let res = send(
        &srv,
        reqwest::Method::POST,
        "/v1/keys",
        &admin,
        Some(json!({"name": "third"})),
    )
    .await;
    let (status, err) = error_of(res).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "KEY_LIMIT_REACHED")
    );
    // Revoking one frees a slot.
    let list: Value = send(&srv, reqwest::Method::GET, "/v1/keys", &admin, None)
        .await
        .json()
        .await
        .unwrap();
    let second = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "second")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        send(
            &srv,
            reqwest::Method::DELETE,
            &format!("/v1/keys/{second}"),
            &admin,
            None
        )
        .await
        .status(),
        200
    );
    let res = send(
        &srv,
        reqwest::Method::POST,
        "/v1/keys",
        &admin,
        Some(json!({"name": "third"})),
    )
    .await;
    assert_eq!(res.status(), 201);
}

async fn disable_revoke_and_rotate_take_effect_on_the_next_request(db: TestDb) {
    let srv = TestServer::start(db).await;
    let admin = manager(&srv, "ana").await;
    let (key, id) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 100)
        .await;
    let patch = |active: bool| json!({"isActive": active});
    let res = send(
        &srv,
        reqwest::Method::PATCH,
        &format!("/v1/keys/{id}"),
        &admin,
        Some(patch(false)),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "disabled");
    assert_eq!(srv.get("/v1/public/twin/health", &key).await.status(), 401);
    send(
        &srv,
        reqwest::Method::PATCH,
        &format!("/v1/keys/{id}"),
        &admin,
        Some(patch(true)),
    )
    .await;
    assert_eq!(srv.get("/v1/public/twin/health", &key).await.status(), 200);

    // Rotation with a grace period: both work, then the old one expires.
    let res = send(
        &srv,
        reqwest::Method::POST,
        &format!("/v1/keys/{id}/rotate"),
        &admin,
        Some(json!({"gracePeriodSeconds": 60})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let rotated: Value = res.json().await.unwrap();
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    assert_eq!(rotated["rotatedFrom"], id.as_str());
    assert_eq!(rotated["oldKeyExpiresAt"], "2026-11-15T12:01:00Z");
    assert_eq!(rotated["monthlyQuota"], 100);
    assert_eq!(srv.get("/v1/public/twin/health", &key).await.status(), 200);
    assert_eq!(
        srv.get("/v1/public/twin/health", &new_key).await.status(),
        200
    );
    srv.clock.advance(time::Duration::seconds(61));
    assert_eq!(srv.get("/v1/public/twin/health", &key).await.status(), 401);
    assert_eq!(
        srv.get("/v1/public/twin/health", &new_key).await.status(),
        200
    );
    let bad = send(
        &srv,
        reqwest::Method::POST,
        &format!("/v1/keys/{id}/rotate"),
        &admin,
        Some(json!({"gracePeriodSeconds": 604801})),
    )
    .await;
    assert_eq!(error_of(bad).await.0, 400);

    // Revocation is immediate and idempotent.
    let new_id = rotated["id"].as_str().unwrap();
    let first: Value = send(
        &srv,
        reqwest::Method::DELETE,
        &format!("/v1/keys/{new_id}"),
        &admin,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(first["status"], "revoked");
    assert_eq!(
        srv.get("/v1/public/twin/health", &new_key).await.status(),
        401
    );
    srv.clock.advance(time::Duration::seconds(5));
    let second: Value = send(
        &srv,
        reqwest::Method::DELETE,
        &format!("/v1/keys/{new_id}"),
        &admin,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(first, second);
    let res = send(
        &srv,
        reqwest::Method::PATCH,
        &format!("/v1/keys/{new_id}"),
        &admin,
        Some(patch(true)),
    )
    .await;
    assert_eq!(error_of(res).await.0, 409, "a revoked key stays revoked");
    // Every step is in the audit trail, with who did it.
    let events: Vec<String> = srv
        .store()
        .list_audit("ana")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    for expected in [
        "key.created",
        "key.disabled",
        "key.enabled",
        "key.rotated",
        "key.revoked",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} in {events:?}"
        );
    }
    let actor = srv
        .store()
        .list_audit("ana")
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event == "key.revoked")
        .unwrap()
        .actor;
    assert!(
        actor.starts_with("atk_live_") && actor.len() == 17,
        "the actor is the caller's prefix: {actor}"
    );
}

async fn rotation_keeps_the_quota_used(db: TestDb) {
    let srv = TestServer::start(db).await;
    let admin = manager(&srv, "ana").await;
    srv.snapshot("ana", twin_store::SnapshotStatus::Ready, None)
        .await;
    let (key, id) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 3)
        .await;
    for _ in 0..3 {
        assert_eq!(srv.get("/v1/public/twin/me", &key).await.status(), 200);
    }
    let rotated: Value = send(
        &srv,
        reqwest::Method::POST,
        &format!("/v1/keys/{id}/rotate"),
        &admin,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let (status, err) = error_of(
        srv.get("/v1/public/twin/me", rotated["key"].as_str().unwrap())
            .await,
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (429, "MONTHLY_QUOTA_EXCEEDED"),
        "rotating does not reset the quota"
    );
}

async fn another_owners_key_is_indistinguishable_from_an_unknown_one(db: TestDb) {
    let srv = TestServer::start(db).await;
    let ana = manager(&srv, "ana").await;
    srv.owner("bob", "professional").await;
    let (bobs_key, bobs_id) = srv
        .key_with("bob", KeyEnv::Live, &[Scope::TwinRead], 10)
        .await;
    for (method, suffix, body) in [
        (reqwest::Method::GET, "", None),
        (reqwest::Method::PATCH, "", Some(json!({"isActive": false}))),
        (reqwest::Method::DELETE, "", None),
        (reqwest::Method::POST, "/rotate", None),
    ] {
        let theirs = error_of(
            send(
                &srv,
                method.clone(),
                &format!("/v1/keys/{bobs_id}{suffix}"),
                &ana,
                body.clone(),
            )
            .await,
        )
        .await;
        let unknown = error_of(
            send(
                &srv,
                method.clone(),
                &format!("/v1/keys/ffffffff{suffix}"),
                &ana,
                body,
            )
            .await,
        )
        .await;
        assert_eq!(theirs.0, 404, "{method} {suffix}");
        let strip = |mut v: Value| {
            v.as_object_mut().unwrap().remove("requestId");
            v
        };
        assert_eq!(strip(theirs.1), strip(unknown.1), "{method} {suffix}");
    }
    // Bob's key is untouched.
    assert_eq!(
        srv.get("/v1/public/twin/health", &bobs_key).await.status(),
        200
    );
}

async fn account_and_monthly_usage(db: TestDb) {
    let srv = TestServer::start(db).await;
    let admin = manager(&srv, "ana").await;
    srv.snapshot("ana", twin_store::SnapshotStatus::Ready, None)
        .await;
    let account: Value = send(&srv, reqwest::Method::GET, "/v1/account", &admin, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(account["ownerId"], "ana");
    assert_eq!(account["email"], "ana@example.com");
    assert_eq!(
        account["plan"],
        json!({"slug": "professional", "name": "Professional", "apiAccess": true, "maxKeys": 50,
        "defaultMonthlyQuota": 10000, "maxMonthlyQuota": 1000000, "maxRateLimitRpm": 6000})
    );
    let (key, key_id) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 100)
        .await;
    for _ in 0..4 {
        srv.get("/v1/public/twin/preset/estandar", &key).await;
    }
    srv.usage.flush().await;
    let usage: Value = send(
        &srv,
        reqwest::Method::GET,
        "/v1/account/usage",
        &admin,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(usage["month"], "2026-11");
    let mine = usage["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["keyId"] == key_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(mine["calls"], 4);
    assert!(
        usage["totalCalls"].as_i64().unwrap() >= 5,
        "the account call itself is logged too"
    );
    let other: Value = send(
        &srv,
        reqwest::Method::GET,
        "/v1/account/usage?month=2026-10",
        &admin,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(other["totalCalls"], 0);
    let (status, err) = error_of(
        send(
            &srv,
            reqwest::Method::GET,
            "/v1/account/usage?month=2026-13",
            &admin,
            None,
        )
        .await,
    )
    .await;
    assert_eq!((status, err["parameter"].as_str().unwrap()), (400, "month"));
    // lastUsedAt and usageCount follow the log.
    let view: Value = send(
        &srv,
        reqwest::Method::GET,
        &format!("/v1/keys/{key_id}"),
        &admin,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(view["usageCount"], 4);
    assert_eq!(view["lastUsedAt"], "2026-11-15T12:00:00Z");
    assert_eq!(view["quotaUsed"], 4);
}

async fn metadata_is_set_on_create_and_patch_and_read_back_on_every_view(db: TestDb) {
    let srv = TestServer::start(db).await;
    let admin = manager(&srv, "ana").await;
    let meta = json!({"crmAccount": "acme-42", "tags": ["pilot"], "nested": {"n": 1}});
    let res = send(
        &srv,
        reqwest::Method::POST,
        "/v1/keys",
        &admin,
        Some(json!({"name": "CRM", "meta": meta})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["meta"], meta);
    let id = created["id"].as_str().unwrap().to_owned();
    let one: Value = send(
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
    assert_eq!(one["meta"], meta);
    let list: Value = send(&srv, reqwest::Method::GET, "/v1/keys", &admin, None)
        .await
        .json()
        .await
        .unwrap();
    let listed = list["items"]
        .as_array()
        .or_else(|| list["keys"].as_array())
        .or_else(|| list["data"].as_array())
        .expect("a list of keys")
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["meta"], meta);
    // PATCH replaces it; null clears it; a rotation carries it.
    let patched: Value = send(
        &srv,
        reqwest::Method::PATCH,
        &format!("/v1/keys/{id}"),
        &admin,
        Some(json!({"meta": {"crmAccount": "acme-43"}})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(patched["meta"], json!({"crmAccount": "acme-43"}));
    let rotated: Value = send(
        &srv,
        reqwest::Method::POST,
        &format!("/v1/keys/{id}/rotate"),
        &admin,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(rotated["meta"], json!({"crmAccount": "acme-43"}));
    let new_id = rotated["id"].as_str().unwrap();
    let cleared: Value = send(
        &srv,
        reqwest::Method::PATCH,
        &format!("/v1/keys/{new_id}"),
        &admin,
        Some(json!({"meta": null})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(cleared["meta"].is_null());
    // Not an object, or over 4 KiB: 400 naming `meta`.
    for bad in [
        json!([1, 2]),
        json!("text"),
        json!({"big": "x".repeat(4100)}),
    ] {
        let (status, err) = error_of(
            send(
                &srv,
                reqwest::Method::POST,
                "/v1/keys",
                &admin,
                Some(json!({"name": "bad", "meta": bad})),
            )
            .await,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(err["code"], "INVALID_PARAMETER");
    }
}

twin_store::backend_tests!(
    metadata_is_set_on_create_and_patch_and_read_back_on_every_view,
    create_returns_the_plaintext_once_and_listings_never_show_it,
    create_validates_every_field,
    a_key_cannot_grant_scopes_it_lacks,
    plan_limits_apply,
    disable_revoke_and_rotate_take_effect_on_the_next_request,
    rotation_keeps_the_quota_used,
    another_owners_key_is_indistinguishable_from_an_unknown_one,
    account_and_monthly_usage,
);
