//! The owner API's credential matrix, and secrets that must never be stored or logged
//! (issue 4's security tests), over real HTTP on SQLite and PostgreSQL.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{ALL, TestServer, error_of};
use reqwest::Method;
use serde_json::{Value, json};
use twin_store::testing::TestDb;
use twin_store::{KeyEnv, KeyPatch, Scope};

/// Every owner route with the scope it needs (the target key is Ana's own `target`).
fn owner_routes(target: &str) -> Vec<(Method, String, Option<Value>, &'static str)> {
    vec![
        (
            Method::POST,
            "/v1/keys".into(),
            Some(json!({"name": "x"})),
            "keys:write",
        ),
        (Method::GET, "/v1/keys".into(), None, "keys:read"),
        (Method::GET, format!("/v1/keys/{target}"), None, "keys:read"),
        (
            Method::PATCH,
            format!("/v1/keys/{target}"),
            Some(json!({"name": "y"})),
            "keys:write",
        ),
        (
            Method::DELETE,
            format!("/v1/keys/{target}"),
            None,
            "keys:write",
        ),
        (
            Method::POST,
            format!("/v1/keys/{target}/rotate"),
            None,
            "keys:write",
        ),
        (
            Method::GET,
            format!("/v1/keys/{target}/usage"),
            None,
            "usage:read",
        ),
        (
            Method::GET,
            format!("/v1/keys/{target}/recent"),
            None,
            "usage:read",
        ),
        (Method::GET, "/v1/account".into(), None, "account:read"),
        (
            Method::GET,
            "/v1/account/usage".into(),
            None,
            "account:read",
        ),
    ]
}

async fn call(
    srv: &TestServer,
    method: &Method,
    path: &str,
    body: &Option<Value>,
    key: Option<&str>,
) -> reqwest::Response {
    let mut req = srv.client.request(method.clone(), srv.url(path));
    if let Some(key) = key {
        req = req.header("X-Twin-Key", key);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.unwrap()
}

async fn every_owner_route_refuses_every_bad_credential(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    srv.owner("bob", "professional").await;
    let (_, target) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 10)
        .await;
    let store = srv.store();
    let (disabled, id) = srv.key_with("ana", KeyEnv::Live, ALL, 10).await;
    store
        .update_key(
            "ana",
            &id,
            KeyPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (expired, id) = srv.key_with("ana", KeyEnv::Live, ALL, 10).await;
    store
        .update_key(
            "ana",
            &id,
            KeyPatch {
                expires_at: Some(Some(common::T0)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (revoked, id) = srv.key_with("ana", KeyEnv::Live, ALL, 10).await;
    store.revoke_key("ana", &id).await.unwrap();
    let (bobs, _) = srv.key_with("bob", KeyEnv::Live, ALL, 1000).await;
    let (scopeless, _) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 1000)
        .await;
    let cases: [(&str, Option<&str>, u16, &str); 6] = [
        ("no credential", None, 401, "MISSING_API_KEY"),
        (
            "malformed",
            Some("atk_live_nothex!!_0"),
            401,
            "INVALID_API_KEY_FORMAT",
        ),
        (
            "disabled",
            Some(&disabled),
            401,
            "INVALID_OR_REVOKED_API_KEY",
        ),
        ("expired", Some(&expired), 401, "INVALID_OR_REVOKED_API_KEY"),
        ("revoked", Some(&revoked), 401, "INVALID_OR_REVOKED_API_KEY"),
        ("without the scope", Some(&scopeless), 403, "MISSING_SCOPE"),
    ];
    for (method, path, body, scope) in owner_routes(&target) {
        for (case, key, status, code) in cases {
            let (got, err) = error_of(call(&srv, &method, &path, &body, key).await).await;
            assert_eq!(
                (got, err["code"].as_str().unwrap()),
                (status, code),
                "{method} {path} with {case}"
            );
            if code == "MISSING_SCOPE" {
                assert_eq!(err["requiredScope"], scope, "{method} {path}");
            }
        }
        // Another owner's key with every scope: Ana's key stays out of reach.
        if path.contains(&target) {
            let (got, err) = error_of(call(&srv, &method, &path, &body, Some(&bobs)).await).await;
            assert_eq!(
                (got, err["code"].as_str().unwrap()),
                (404, "NOT_FOUND"),
                "{method} {path} as Bob"
            );
        }
    }
    // Nothing of Ana's changed: the target key is as it was.
    let key = store.get_owner_key("ana", &target).await.unwrap();
    assert_eq!((key.name.as_str(), key.revoked_at), ("test key", None));
}

/// A log sink shared by every test of this file.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured_logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let sink = Captured::default();
        let writer = sink.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .try_init()
            .ok();
        sink
    })
}

async fn no_plaintext_key_is_stored_or_logged(db: TestDb) {
    let logs = captured_logs();
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    let (admin, _) = srv.key_with("ana", KeyEnv::Live, ALL, 1000).await;
    let mut secrets = vec![admin.clone()];
    // Keys made every way the API makes them, then used, rotated, revoked, and misused.
    let created: Value = call(
        &srv,
        &Method::POST,
        "/v1/keys",
        &Some(json!({"name": "made"})),
        Some(&admin),
    )
    .await
    .json()
    .await
    .unwrap();
    let made = created["key"].as_str().unwrap().to_owned();
    secrets.push(made.clone());
    srv.get("/v1/public/twin/preset/estandar", &made).await;
    let id = created["id"].as_str().unwrap();
    let rotated: Value = call(
        &srv,
        &Method::POST,
        &format!("/v1/keys/{id}/rotate"),
        &None,
        Some(&admin),
    )
    .await
    .json()
    .await
    .unwrap();
    let new = rotated["key"].as_str().unwrap().to_owned();
    secrets.push(new.clone());
    srv.get("/v1/public/twin/health", &new).await;
    call(
        &srv,
        &Method::DELETE,
        &format!("/v1/keys/{}", rotated["id"].as_str().unwrap()),
        &None,
        Some(&admin),
    )
    .await;
    srv.get("/v1/public/twin/health", &new).await; // now revoked: a 401
    srv.usage.flush().await;

    // The database: every text and binary column of every table.
    let dump = srv.store().dump_for_tests().await.unwrap();
    assert!(dump.len() > 1000, "the dump has content");
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    for secret in &secrets {
        // The 32-character secret is what matters; the display prefix is allowed anywhere.
        let tail = &secret[18..];
        assert!(!dump.contains(tail), "a plaintext key is stored");
        assert!(!logs.contains(tail), "a plaintext key is logged");
    }
}

twin_store::backend_tests!(
    every_owner_route_refuses_every_bad_credential,
    no_plaintext_key_is_stored_or_logged
);
