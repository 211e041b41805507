//! Alerts and webhooks over real HTTP, on SQLite and PostgreSQL (SPEC §15): the endpoints
//! API, every event type end to end to a real receiver that verifies each signature with
//! the Standard Webhooks library, retries, the backlog of a stopped receiver, and the SSRF
//! rules.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use common::{ALL, TestServer, error_of, send};
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use twin_store::testing::TestDb;
use twin_store::{KeyEnv, Scope, SnapshotStatus};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Verifies the signature with the `standardwebhooks` crate (timestamp tolerance
    /// included).
    fn verify(&self, secret: &str) -> bool {
        let mut map = reqwest::header::HeaderMap::new();
        for (n, v) in &self.headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &map)
            .is_ok()
    }
}

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<Got>>,
    /// Answer 500 to this many requests first.
    fail: AtomicUsize,
}

/// A receiver on a fixed port that can be stopped and started again.
struct Receiver {
    port: u16,
    inbox: Arc<Inbox>,
    handle: Option<ServerHandle>,
}

async fn receive(req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    let got = Got {
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
    };
    inbox.got.lock().unwrap().push(got);
    if inbox
        .fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return HttpResponse::InternalServerError().body("receiver is failing on purpose");
    }
    HttpResponse::Ok().body("ok")
}

impl Receiver {
    async fn start() -> Receiver {
        let mut r = Receiver {
            port: 0,
            inbox: Arc::default(),
            handle: None,
        };
        r.resume();
        r
    }

    fn resume(&mut self) {
        let inbox = web::Data::from(self.inbox.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(inbox.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .bind(("127.0.0.1", self.port))
        .unwrap();
        self.port = server.addrs()[0].port();
        let server = server.run();
        self.handle = Some(server.handle());
        tokio::spawn(server);
    }

    async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop(false).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn got(&self) -> Vec<Got> {
        self.inbox.got.lock().unwrap().clone()
    }

    /// The successfully answered events' bodies, in arrival order.
    fn events(&self) -> Vec<Value> {
        self.got().iter().map(Got::json).collect()
    }
}

fn fast_webhooks(state: &mut twin_http::AppState) {
    state.webhooks.allow_private = true;
    state.webhooks.retry_schedule = vec![Duration::from_millis(300); 7];
    state.webhooks.poll_interval = Duration::from_millis(100);
    state.webhooks.sweep_interval = Duration::from_millis(200);
    state.spawn_webhooks();
}

/// A server whose clock is the wall clock's now (receivers check signature timestamps
/// against theirs), webhooks on with fast retries and sweeps, private addresses allowed
/// (the receiver is on loopback).
async fn server(db: TestDb) -> TestServer {
    let srv = TestServer::start_with(db, fast_webhooks).await;
    srv.clock.set(OffsetDateTime::now_utc());
    srv
}

/// Advances the test clock with the wall clock (so retries come due) until `done`.
async fn wait_until(srv: &TestServer, what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..150 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        srv.clock.advance(time::Duration::milliseconds(100));
    }
    panic!("timed out waiting for {what}");
}

async fn create_endpoint(
    srv: &TestServer,
    key: &str,
    url: &str,
    events: Value,
) -> (String, String) {
    let res = send(
        srv,
        Method::POST,
        "/v1/webhooks",
        key,
        Some(json!({ "url": url, "events": events, "description": "test receiver" })),
    )
    .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (body["id"].as_str().unwrap().to_owned(), secret)
}

async fn manager(srv: &TestServer) -> String {
    srv.owner("ana", "professional").await;
    srv.snapshot("ana", SnapshotStatus::Ready, None).await;
    srv.key_with("ana", KeyEnv::Live, ALL, 10_000).await.0
}

async fn endpoints_are_managed_and_guarded(db: TestDb) {
    let srv = TestServer::start_with(db, |state| {
        let mut res = twin_core::webhooks::ssrf::Resolution::default();
        res.hosts.insert(
            "hooks.internal.test".into(),
            vec!["10.1.2.3".parse().unwrap()],
        );
        res.hosts.insert(
            "hooks.example.test".into(),
            vec!["93.184.216.34".parse().unwrap()],
        );
        state.webhooks.resolution = Arc::new(res);
    })
    .await;
    let key = manager(&srv).await;
    // SSRF: without TWIN_WEBHOOKS_ALLOW_PRIVATE these are refused, naming the field.
    for url in [
        "http://127.0.0.1/hook",
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://hooks.internal.test/hook",
        "https://localhost/hook",
        "ftp://hooks.example.test/",
    ] {
        let res = send(
            &srv,
            Method::POST,
            "/v1/webhooks",
            &key,
            Some(json!({ "url": url })),
        )
        .await;
        let (status, err) = error_of(res).await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (400, "INVALID_PARAMETER"),
            "{url}: {err}"
        );
        assert_eq!(err["parameter"], "url", "{url}: {err}");
    }
    let (id, secret) = create_endpoint(
        &srv,
        &key,
        "https://hooks.example.test/hook",
        json!(["key.created", "key.revoked"]),
    )
    .await;
    // The secret is shown once: reads never carry it.
    let res = send(&srv, Method::GET, &format!("/v1/webhooks/{id}"), &key, None).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(&secret) && !text.contains("whsec_"),
        "{text}"
    );
    let one: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(one["events"], json!(["key.created", "key.revoked"]));
    assert_eq!(one["enabled"], true);
    let list: Value = send(&srv, Method::GET, "/v1/webhooks", &key, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // PATCH: events, enabled; an unknown event type is refused with the allowed ones.
    let res = send(
        &srv,
        Method::PATCH,
        &format!("/v1/webhooks/{id}"),
        &key,
        Some(json!({ "events": ["*"], "enabled": false })),
    )
    .await;
    assert_eq!(res.status(), 200);
    let patched: Value = res.json().await.unwrap();
    assert_eq!(
        (patched["events"].clone(), patched["enabled"].clone()),
        (json!(["*"]), json!(false))
    );
    let res = send(
        &srv,
        Method::PATCH,
        &format!("/v1/webhooks/{id}"),
        &key,
        Some(json!({ "events": ["key.exploded"] })),
    )
    .await;
    let (status, err) = error_of(res).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (400, "INVALID_PARAMETER"),
        "{err}"
    );
    // A disabled endpoint cannot be pinged.
    let res = send(
        &srv,
        Method::POST,
        &format!("/v1/webhooks/{id}/test"),
        &key,
        None,
    )
    .await;
    assert_eq!(error_of(res).await.0, 409);
    // Rotation returns a new secret.
    let res = send(
        &srv,
        Method::POST,
        &format!("/v1/webhooks/{id}/rotate-secret"),
        &key,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(rotated["secret"].as_str().unwrap(), secret);
    // Scopes: reading needs webhooks:read, changing webhooks:write.
    let (reader, _) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::WebhooksRead], 100)
        .await;
    assert_eq!(
        send(&srv, Method::GET, "/v1/webhooks", &reader, None)
            .await
            .status(),
        200
    );
    let res = send(
        &srv,
        Method::DELETE,
        &format!("/v1/webhooks/{id}"),
        &reader,
        None,
    )
    .await;
    let (status, err) = error_of(res).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "MISSING_SCOPE")
    );
    let (plain, _) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::KeysWrite], 100)
        .await;
    assert_eq!(
        error_of(send(&srv, Method::GET, "/v1/webhooks", &plain, None).await)
            .await
            .0,
        403
    );
    // Another owner's endpoint does not exist for this owner.
    srv.owner("bo", "professional").await;
    let (other, _) = srv.key_with("bo", KeyEnv::Live, ALL, 100).await;
    for (method, path) in [
        (Method::GET, format!("/v1/webhooks/{id}")),
        (Method::DELETE, format!("/v1/webhooks/{id}")),
        (Method::GET, format!("/v1/webhooks/{id}/deliveries")),
    ] {
        assert_eq!(
            error_of(send(&srv, method, &path, &other, None).await)
                .await
                .0,
            404
        );
    }
    // Setting alerts on a key needs webhooks:write.
    let (keys_only, _) = srv
        .key_with(
            "ana",
            KeyEnv::Live,
            &[Scope::KeysWrite, Scope::TwinRead],
            100,
        )
        .await;
    let res = send(
        &srv,
        Method::POST,
        "/v1/keys",
        &keys_only,
        Some(json!({ "name": "x", "alertThresholds": [50] })),
    )
    .await;
    let (status, err) = error_of(res).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "MISSING_SCOPE")
    );
    // Delete.
    assert_eq!(
        send(
            &srv,
            Method::DELETE,
            &format!("/v1/webhooks/{id}"),
            &key,
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        error_of(send(&srv, Method::GET, &format!("/v1/webhooks/{id}"), &key, None).await)
            .await
            .0,
        404
    );
}

async fn key_events_arrive_signed_and_in_order(db: TestDb) {
    let srv = server(db).await;
    let rx = Receiver::start().await;
    let key = manager(&srv).await;
    let (hook, secret) = create_endpoint(&srv, &key, &rx.url(), json!(["*"])).await;
    let res = send(
        &srv,
        Method::POST,
        "/v1/keys",
        &key,
        Some(json!({ "name": "crm" })),
    )
    .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let plaintext = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/keys/{id}");
    assert_eq!(
        send(
            &srv,
            Method::PATCH,
            &path,
            &key,
            Some(json!({ "name": "crm 2" }))
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        send(
            &srv,
            Method::PATCH,
            &path,
            &key,
            Some(json!({ "isActive": false }))
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        send(
            &srv,
            Method::PATCH,
            &path,
            &key,
            Some(json!({ "isActive": true }))
        )
        .await
        .status(),
        200
    );
    let res = send(
        &srv,
        Method::POST,
        &format!("{path}/rotate"),
        &key,
        Some(json!({ "gracePeriodSeconds": 60 })),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    assert_eq!(
        send(&srv, Method::DELETE, &path, &key, None).await.status(),
        200
    );
    let res = send(
        &srv,
        Method::POST,
        &format!("/v1/webhooks/{hook}/test"),
        &key,
        None,
    )
    .await;
    assert_eq!(res.status(), 202);
    wait_until(&srv, "seven events", || rx.got().len() >= 7).await;
    let got = rx.got();
    let types: Vec<String> = got
        .iter()
        .map(|g| g.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "key.created",
            "key.updated",
            "key.disabled",
            "key.enabled",
            "key.rotated",
            "key.revoked",
            "ping"
        ],
    );
    for g in &got {
        assert!(g.verify(&secret), "signature of {:?}", g.json());
        assert!(g.header("webhook-id").starts_with("msg_"));
        let body = String::from_utf8(g.body.clone()).unwrap();
        assert!(
            !body.contains(&plaintext),
            "an event carries a key's secret"
        );
    }
    let created = got[0].json();
    assert_eq!(created["data"]["keyId"], id.as_str());
    assert_eq!(created["data"]["keyPrefix"], format!("atk_live_{id}"));
    assert!(created["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(got[1].json()["data"]["changed"], json!(["name"]));
    assert_eq!(got[4].json()["data"]["rotatedFrom"], id.as_str());
    // The delivery log, newest first.
    let log: Value = send(
        &srv,
        Method::GET,
        &format!("/v1/webhooks/{hook}/deliveries?limit=2"),
        &key,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["eventType"], "ping");
    assert_eq!(items[0]["status"], "succeeded");
    assert_eq!(items[0]["attempts"], 1);
    assert_eq!(items[0]["lastStatusCode"], 200);
    assert!(items[0]["latencyMs"].is_i64());
    let next = log["nextCursor"].as_str().unwrap();
    let page: Value = send(
        &srv,
        Method::GET,
        &format!("/v1/webhooks/{hook}/deliveries?cursor={next}"),
        &key,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    // Redelivery sends the same event (same webhook-id) again.
    let first = page["items"].as_array().unwrap().last().unwrap().clone();
    let res = send(
        &srv,
        Method::POST,
        &format!(
            "/v1/webhooks/{hook}/deliveries/{}/redeliver",
            first["id"].as_str().unwrap()
        ),
        &key,
        None,
    )
    .await;
    assert_eq!(res.status(), 202);
    wait_until(&srv, "the redelivery", || rx.got().len() >= 8).await;
    let again = rx.got()[7].clone();
    assert_eq!(
        again.header("webhook-id"),
        first["eventId"].as_str().unwrap()
    );
    assert!(again.verify(&secret));
    // Endpoints subscribed to other types get nothing of these.
    assert_eq!(
        rx.events()
            .iter()
            .filter(|e| e["type"] == "key.created")
            .count(),
        2
    );
}

async fn thresholds_fire_once_per_period(db: TestDb) {
    let srv = server(db).await;
    let rx = Receiver::start().await;
    let manage = manager(&srv).await;
    let (_, secret) = create_endpoint(
        &srv,
        &manage,
        &rx.url(),
        json!(["quota.threshold", "spend.threshold"]),
    )
    .await;
    // One key meets its quota (10 requests), the other its spend cap (4 credits a day; the
    // preset costs 1 credit each).
    let mut keys = Vec::new();
    for body in [
        json!({ "name": "quota", "monthlyQuota": 10, "alertThresholds": [50, 80, 100] }),
        json!({ "name": "spend", "monthlyQuota": 100, "alertThresholds": [100, 50, 80],
                "spendLimit": "4.000000", "spendPeriod": "day" }),
    ] {
        let res = send(&srv, Method::POST, "/v1/keys", &manage, Some(body)).await;
        assert_eq!(res.status(), 201);
        let created: Value = res.json().await.unwrap();
        assert_eq!(created["alertThresholds"], json!([50, 80, 100]));
        keys.push(created["key"].as_str().unwrap().to_owned());
    }
    for key in &keys {
        for _ in 0..12 {
            srv.get("/v1/public/twin/preset/estandar", key).await;
        }
    }
    wait_until(&srv, "the thresholds", || rx.events().len() >= 6).await;
    // Nothing more arrives for this period.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let events = rx.events();
    let quota: Vec<u64> = events
        .iter()
        .filter(|e| e["type"] == "quota.threshold")
        .map(|e| e["data"]["threshold"].as_u64().unwrap())
        .collect();
    assert_eq!(quota, [50, 80, 100], "{events:?}");
    let at_100 = events
        .iter()
        .find(|e| e["type"] == "quota.threshold" && e["data"]["threshold"] == 100)
        .unwrap();
    assert_eq!(
        (
            at_100["data"]["used"].clone(),
            at_100["data"]["limit"].clone()
        ),
        (json!(10), json!(10))
    );
    let spend: Vec<u64> = events
        .iter()
        .filter(|e| e["type"] == "spend.threshold")
        .map(|e| e["data"]["threshold"].as_u64().unwrap())
        .collect();
    assert_eq!(spend, [50, 80, 100], "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e["type"] != "quota.threshold" || e["data"]["name"] == "quota")
    );
    let spent = events
        .iter()
        .find(|e| e["type"] == "spend.threshold" && e["data"]["threshold"] == 50)
        .unwrap();
    assert_eq!(
        (
            spent["data"]["used"].clone(),
            spent["data"]["limit"].clone()
        ),
        (json!("2.000000"), json!("4.000000"))
    );
    assert!(rx.got().iter().all(|g| g.verify(&secret)));
}

async fn a_failing_receiver_gets_the_event_later(db: TestDb) {
    let srv = server(db).await;
    let rx = Receiver::start().await;
    rx.inbox.fail.store(3, Ordering::SeqCst);
    let key = manager(&srv).await;
    let (hook, secret) = create_endpoint(&srv, &key, &rx.url(), json!(["*"])).await;
    send(
        &srv,
        Method::POST,
        &format!("/v1/webhooks/{hook}/test"),
        &key,
        None,
    )
    .await;
    wait_until(&srv, "the fourth attempt", || rx.got().len() >= 4).await;
    let got = rx.got();
    // The same event every time: one webhook-id, each attempt signed.
    assert!(
        got.iter()
            .all(|g| g.header("webhook-id") == got[0].header("webhook-id"))
    );
    assert!(got.iter().all(|g| g.verify(&secret)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log: Value = send(
        &srv,
        Method::GET,
        &format!("/v1/webhooks/{hook}/deliveries"),
        &key,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let d = &log["items"][0];
    assert_eq!(
        (
            d["status"].clone(),
            d["attempts"].clone(),
            d["lastStatusCode"].clone()
        ),
        (json!("succeeded"), json!(4), json!(200)),
        "{d}"
    );
}

async fn a_stopped_receiver_gets_its_backlog_in_order(db: TestDb) {
    let srv = server(db).await;
    let mut rx = Receiver::start().await;
    let key = manager(&srv).await;
    let (hook, secret) = create_endpoint(&srv, &key, &rx.url(), json!(["key.created"])).await;
    rx.stop().await;
    for name in ["one", "two", "three"] {
        let res = send(
            &srv,
            Method::POST,
            "/v1/keys",
            &key,
            Some(json!({ "name": name })),
        )
        .await;
        assert_eq!(res.status(), 201);
    }
    // Every delivery fails at least once while the receiver is down.
    let store = srv.store();
    let owner = "ana".to_owned();
    for _ in 0..100 {
        let page = store
            .list_deliveries(&owner, &hook, 10, None)
            .await
            .unwrap();
        if page.items.len() == 3 && page.items.iter().all(|d| d.attempts >= 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        srv.clock.advance(time::Duration::milliseconds(100));
    }
    let page = store
        .list_deliveries(&owner, &hook, 10, None)
        .await
        .unwrap();
    assert!(
        page.items
            .iter()
            .all(|d| d.attempts >= 1 && d.status == "pending" && d.last_error.is_some()),
        "{page:?}"
    );
    rx.resume();
    wait_until(&srv, "the backlog", || rx.got().len() >= 3).await;
    // Every event arrives. The first success may overtake older events (each had its own
    // retry time); it makes the rest due at once, and those arrive in order.
    let names: Vec<String> = rx
        .events()
        .iter()
        .map(|e| e["data"]["name"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| ["one", "two", "three"].iter().position(|x| x == n));
    assert_eq!(sorted, ["one", "two", "three"], "{names:?}");
    let rest: Vec<&String> = names.iter().skip(1).collect();
    let mut rest_sorted = rest.clone();
    rest_sorted.sort_by_key(|n| ["one", "two", "three"].iter().position(|x| x == n));
    assert_eq!(
        rest, rest_sorted,
        "the backlog after the first success arrives in order"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rx.got().len(),
        3,
        "nothing is delivered twice once answered"
    );
    assert!(rx.got().iter().all(|g| g.verify(&secret)));
}

async fn rules_and_expiry_alert_once(db: TestDb) {
    let srv = server(db).await;
    let rx = Receiver::start().await;
    let manage = manager(&srv).await;
    create_endpoint(
        &srv,
        &manage,
        &rx.url(),
        json!([
            "usage.high",
            "failures.high",
            "activity.unusual",
            "key.expiring",
            "key.expired"
        ]),
    )
    .await;
    let res = send(
        &srv,
        Method::POST,
        "/v1/keys",
        &manage,
        Some(json!({
            "name": "watched",
            "alerts": {
                "highUsage": { "threshold": 3, "period": "hour" },
                "failures": { "threshold": 1, "period": "day" },
                "unusualActivity": true
            }
        })),
    )
    .await;
    assert_eq!(res.status(), 201);
    let watched: Value = res.json().await.unwrap();
    assert_eq!(
        watched["alerts"]["highUsage"],
        json!({ "threshold": 3, "period": "hour" })
    );
    let key = watched["key"].as_str().unwrap().to_owned();
    for _ in 0..101 {
        srv.get("/v1/public/twin/health", &key).await;
    }
    for _ in 0..2 {
        // A bad parameter: 400, a failure.
        srv.get("/v1/public/twin/preset/estandar?format=pdf", &key)
            .await;
    }
    // Expiry: one key in 3 days (the 7-day notice), one in a few seconds.
    let soon = (twin_meter::Clock::now(&srv.clock) + time::Duration::seconds(3))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for (name, body) in [
        (
            "in-3-days",
            json!({ "name": "in-3-days", "expiresInDays": 3 }),
        ),
        ("soon", json!({ "name": "soon", "expiresAt": soon })),
    ] {
        let res = send(&srv, Method::POST, "/v1/keys", &manage, Some(body)).await;
        assert_eq!(res.status(), 201, "{name}");
    }
    wait_until(&srv, "every alert", || {
        let types: Vec<Value> = rx.events().iter().map(|e| e["type"].clone()).collect();
        [
            "usage.high",
            "failures.high",
            "activity.unusual",
            "key.expired",
        ]
        .iter()
        .all(|t| types.contains(&json!(t)))
            && types.iter().filter(|t| *t == "key.expiring").count() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let events = rx.events();
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(
        (
            count("usage.high"),
            count("failures.high"),
            count("activity.unusual")
        ),
        (1, 1, 1),
        "{events:?}"
    );
    assert_eq!(count("key.expired"), 1);
    // "soon" gets the 1-day notice, then expires; "in-3-days" the 7-day notice.
    let expiring: Vec<(String, u64)> = events
        .iter()
        .filter(|e| e["type"] == "key.expiring")
        .map(|e| {
            (
                e["data"]["name"].as_str().unwrap().to_owned(),
                e["data"]["daysLeft"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        expiring.contains(&("in-3-days".into(), 7)) && expiring.contains(&("soon".into(), 1)),
        "{expiring:?}"
    );
    let usage = events.iter().find(|e| e["type"] == "usage.high").unwrap();
    assert_eq!(usage["data"]["threshold"], 3);
    assert!(usage["data"]["calls"].as_i64().unwrap() > 3);
}

twin_store::backend_tests!(
    endpoints_are_managed_and_guarded,
    key_events_arrive_signed_and_in_order,
    thresholds_fire_once_per_period,
    a_failing_receiver_gets_the_event_later,
    a_stopped_receiver_gets_its_backlog_in_order,
    rules_and_expiry_alert_once,
);

/// Two replicas on one PostgreSQL push one key over 80 % and 100 % at once, both running
/// dispatchers: each threshold event is delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_send_each_threshold_exactly_once() {
    let srv = server(TestDb::postgres().await).await;
    let store = twin_store::Store::connect(twin_store::StoreConfig::new(srv.db.url()))
        .await
        .unwrap();
    let other = common::Replica::start_configured(store, srv.clock.clone(), fast_webhooks);
    let rx = Receiver::start().await;
    let manage = manager(&srv).await;
    let (_, secret) = create_endpoint(&srv, &manage, &rx.url(), json!(["quota.threshold"])).await;
    let res = send(
        &srv,
        Method::POST,
        "/v1/keys",
        &manage,
        Some(json!({ "name": "shared", "monthlyQuota": 200, "rateLimitRpm": 0 })),
    )
    .await;
    let key = res.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = "/v1/public/twin/preset/estandar";
    let calls = (0..240).map(|i| {
        let (srv, other, key) = (&srv, &other, key.clone());
        async move {
            if i % 2 == 0 {
                srv.get(path, &key).await.status().as_u16()
            } else {
                other.get(path, &key).await.status().as_u16()
            }
        }
    });
    let statuses = futures_util::future::join_all(calls).await;
    // Never past the quota; a unit the other replica still holds comes back after its idle
    // delay, so a few more calls then take the quota to exactly 100 %.
    let mut served = statuses.iter().filter(|s| **s == 200).count();
    assert!((160..=200).contains(&served), "{statuses:?}");
    for _ in 0..20 {
        if served == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        if srv.get(path, &key).await.status() == 200 {
            served += 1;
        }
    }
    assert_eq!(served, 200, "the whole quota is served, never more");
    wait_until(&srv, "both thresholds", || rx.got().len() >= 2).await;
    // Time for any duplicate to arrive.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        srv.clock.advance(time::Duration::milliseconds(200));
    }
    let got = rx.got();
    let ids: std::collections::BTreeSet<&str> =
        got.iter().map(|g| g.header("webhook-id")).collect();
    let thresholds: Vec<u64> = {
        let mut t: Vec<u64> = got
            .iter()
            .map(|g| g.json()["data"]["threshold"].as_u64().unwrap())
            .collect();
        t.sort_unstable();
        t
    };
    assert_eq!(
        (got.len(), ids.len(), thresholds),
        (2, 2, vec![80, 100]),
        "{:?}",
        rx.events()
    );
    assert!(got.iter().all(|g| g.verify(&secret)));
}
