//! The usage endpoints (`GET /v1/keys/{id}/usage`, `GET /v1/keys/{id}/recent`) and the raw
//! log's retention, over real HTTP, on SQLite and PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{T0, TestServer, error_of};
use serde_json::{Value, json};
use time::OffsetDateTime;
use twin_meter::Clock;
use twin_store::testing::TestDb;
use twin_store::{KeyEnv, Scope, UsageEntry};

const PRESET: &str = "/v1/public/twin/preset/{slug}";

/// An owner on the professional plan with a ready twin, a manager key holding every scope and
/// a `twin:read` key whose usage the tests read. Returns (manager, caller, caller's id).
async fn setup(srv: &TestServer, owner: &str) -> (String, String, String) {
    srv.owner(owner, "professional").await;
    srv.snapshot(owner, twin_store::SnapshotStatus::Ready, None)
        .await;
    let (manager, _) = srv
        .key_with(
            owner,
            KeyEnv::Live,
            &[
                Scope::TwinRead,
                Scope::KeysRead,
                Scope::KeysWrite,
                Scope::UsageRead,
                Scope::AccountRead,
            ],
            10_000,
        )
        .await;
    let (caller, id) = srv
        .key_with(owner, KeyEnv::Live, &[Scope::TwinRead], 10_000)
        .await;
    (manager, caller, id)
}

/// `GET path` as `key`, expecting 200 and a JSON body.
async fn json_of(srv: &TestServer, path: &str, key: &str) -> Value {
    let res = srv.get(path, key).await;
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.unwrap()
}

async fn usage(srv: &TestServer, manager: &str, id: &str, query: &str) -> Value {
    json_of(srv, &format!("/v1/keys/{id}/usage{query}"), manager).await
}

async fn recent(srv: &TestServer, manager: &str, id: &str, query: &str) -> Value {
    json_of(srv, &format!("/v1/keys/{id}/recent{query}"), manager).await
}

/// `[(field value, calls)]` of a breakdown, in the order served.
fn pairs(list: &Value, field: &str) -> Vec<(Value, i64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| (item[field].clone(), item["calls"].as_i64().unwrap()))
        .collect()
}

/// Micro-credits of a `"12.345678"` string (checking its shape).
fn micros(credits: &Value) -> i64 {
    let s = credits.as_str().expect("credits are a string");
    let (whole, frac) = s.split_once('.').expect("a decimal point");
    assert_eq!(frac.len(), 6, "six decimals in {s}");
    whole.parse::<i64>().unwrap() * 1_000_000 + frac.parse::<i64>().unwrap()
}

/// A logged request of `key` on `owner` at `at`, written straight into the store.
fn entry(owner: &str, key: &str, at: OffsetDateTime, status: u16, cost: i64) -> UsageEntry {
    UsageEntry {
        key_id: key.into(),
        owner_id: owner.into(),
        at,
        method: "GET".into(),
        route: PRESET.into(),
        status,
        cost,
        duration_us: 1_500,
        variant: Some("claude".into()),
        format: Some("txt".into()),
        client_id: None,
    }
}

async fn usage_report_breaks_calls_down_by_route_status_variant_and_day(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (manager, caller, id) = setup(&srv, "ana").await;
    let mut expected = Vec::new();
    for (path, status) in [
        ("/v1/public/twin/preset/estandar?variant=claude", 200),
        ("/v1/public/twin/preset/estandar?variant=claude", 200),
        ("/v1/public/twin/preset/estandar?variant=claude", 200),
        ("/v1/public/twin/preset/estandar?variant=gpt", 200),
        (
            "/v1/public/twin/preset/estandar?variant=gpt&format=json",
            200,
        ),
        ("/v1/public/twin/preset/estandar", 200),
        ("/v1/public/twin/preset/no-such-preset?variant=gemini", 404),
        ("/v1/public/twin/preset/estandar?format=bogus", 400),
        ("/v1/public/twin/health", 200),
        ("/v1/public/twin/health", 200),
    ] {
        let res = srv.get(path, &caller).await;
        assert_eq!(res.status(), status, "{path}");
        expected.push(status);
    }
    srv.usage.flush().await;

    let report = usage(&srv, &manager, &id, "").await;
    assert_eq!(report["keyId"], id.as_str());
    assert_eq!(report["since"], "month", "the default period");
    assert_eq!(report["from"], "2026-11-01T00:00:00Z");
    assert_eq!(report["totalCalls"], 10);
    assert_eq!(report["successRate"].as_f64(), Some(0.8));
    assert_eq!(
        pairs(&report["byStatus"], "status"),
        [(json!(200), 8), (json!(400), 1), (json!(404), 1)]
    );
    assert_eq!(
        pairs(&report["byEndpoint"], "route"),
        [
            (json!("GET /v1/public/twin/preset/{slug}"), 8),
            (json!("GET /v1/public/twin/health"), 2),
        ]
    );
    // The default variant is recorded as such; the 404 had read its variant before the
    // preset was looked up; the 400 was refused before it had one, like health.
    assert_eq!(
        pairs(&report["byVariant"], "variant"),
        [
            (json!("claude"), 3),
            (json!("gpt"), 2),
            (json!("gemini"), 1),
            (json!("generic"), 1),
        ]
    );
    assert_eq!(pairs(&report["byDay"], "day"), [(json!("2026-11-15"), 10)]);
    // Costs are credit strings and every breakdown sums to the total.
    let total = micros(&report["totalCost"]);
    let by_endpoint: i64 = report["byEndpoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| micros(&e["cost"]))
        .sum();
    let by_day: i64 = report["byDay"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| micros(&d["cost"]))
        .sum();
    assert_eq!((by_endpoint, by_day), (total, total));
    // The manager's own calls are logged against the manager's key, not this one.
    let again = usage(&srv, &manager, &id, "?since=month").await;
    assert_eq!(again["totalCalls"], 10);
}

async fn costs_are_summed_per_route_and_day_as_credit_strings(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (manager, _, id) = setup(&srv, "ana").await;
    let store = srv.store();
    let yesterday = T0 - time::Duration::days(1);
    store
        .record_usage(&[
            entry("ana", &id, yesterday, 200, 1_500_000),
            entry("ana", &id, yesterday, 200, 1_500_000),
            entry("ana", &id, T0, 200, 250_000),
            entry("ana", &id, T0, 304, 1),
            UsageEntry {
                route: "/v1/public/twin/me".into(),
                variant: None,
                format: None,
                ..entry("ana", &id, T0, 500, 0)
            },
        ])
        .await
        .unwrap();
    let report = usage(&srv, &manager, &id, "?since=all").await;
    assert_eq!(report["from"], Value::Null);
    assert_eq!(report["totalCalls"], 5);
    assert_eq!(report["totalCost"], "3.250001");
    assert_eq!(
        report["successRate"].as_f64(),
        Some(0.8),
        "304 counts as success"
    );
    assert_eq!(
        report["byEndpoint"],
        json!([
            {"route": "GET /v1/public/twin/preset/{slug}", "calls": 4, "cost": "3.250001"},
            {"route": "GET /v1/public/twin/me", "calls": 1, "cost": "0.000000"},
        ])
    );
    assert_eq!(
        report["byDay"],
        json!([
            {"day": "2026-11-14", "calls": 2, "cost": "3.000000"},
            {"day": "2026-11-15", "calls": 3, "cost": "0.250001"},
        ])
    );
    assert_eq!(
        report["byVariant"],
        json!([{"variant": "claude", "calls": 4}])
    );
    let today = usage(&srv, &manager, &id, "?since=day").await;
    assert_eq!(
        (today["totalCalls"].as_i64(), today["totalCost"].as_str()),
        (Some(3), Some("0.250001"))
    );
}

async fn since_selects_the_current_day_week_or_month_or_everything(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (manager, caller, id) = setup(&srv, "ana").await;
    // Sunday 2026-11-15 (ISO week from Monday the 9th): three calls.
    for _ in 0..3 {
        srv.get("/v1/public/twin/health", &caller).await;
    }
    // Monday 2026-11-16, a new day and a new ISO week in the same month: two calls.
    srv.clock.set(time::macros::datetime!(2026-11-16 09:30 UTC));
    for _ in 0..2 {
        srv.get("/v1/public/twin/preset/estandar", &caller).await;
    }
    srv.usage.flush().await;
    let calls = |v: &Value| v["totalCalls"].as_i64().unwrap();

    let day = usage(&srv, &manager, &id, "?since=day").await;
    assert_eq!(
        (calls(&day), &day["from"]),
        (2, &json!("2026-11-16T00:00:00Z"))
    );
    assert_eq!(pairs(&day["byDay"], "day"), [(json!("2026-11-16"), 2)]);
    let week = usage(&srv, &manager, &id, "?since=week").await;
    assert_eq!(
        (calls(&week), &week["from"]),
        (2, &json!("2026-11-16T00:00:00Z"))
    );
    let month = usage(&srv, &manager, &id, "?since=month").await;
    assert_eq!(calls(&month), 5);
    assert_eq!(
        pairs(&month["byDay"], "day"),
        [(json!("2026-11-15"), 3), (json!("2026-11-16"), 2)]
    );
    let all = usage(&srv, &manager, &id, "?since=all").await;
    assert_eq!((calls(&all), &all["from"]), (5, &Value::Null));

    // Wednesday: the week still holds Monday's calls, the day holds none.
    srv.clock.advance(time::Duration::days(2));
    let day = usage(&srv, &manager, &id, "?since=day").await;
    assert_eq!(calls(&day), 0);
    assert_eq!(day["successRate"], Value::Null, "no calls, no rate");
    assert_eq!(day["totalCost"], "0.000000");
    assert_eq!(day["byDay"], json!([]));
    assert_eq!(calls(&usage(&srv, &manager, &id, "?since=week").await), 2);

    // December: the month starts empty, everything is still there.
    srv.clock.set(time::macros::datetime!(2026-12-01 00:00 UTC));
    let month = usage(&srv, &manager, &id, "").await;
    assert_eq!(
        (calls(&month), &month["from"]),
        (0, &json!("2026-12-01T00:00:00Z"))
    );
    assert_eq!(calls(&usage(&srv, &manager, &id, "?since=all").await), 5);
}

async fn recent_lists_calls_newest_first_and_clamps_the_limit(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (manager, caller, id) = setup(&srv, "ana").await;
    srv.get("/v1/public/twin/health", &caller).await;
    srv.clock.advance(time::Duration::milliseconds(1_234));
    srv.get(
        "/v1/public/twin/preset/estandar?variant=claude&format=json",
        &caller,
    )
    .await;
    srv.clock.advance(time::Duration::seconds(1));
    srv.get("/v1/public/twin/preset/no-such-preset", &caller)
        .await;
    srv.usage.flush().await;

    let page = recent(&srv, &manager, &id, "").await;
    assert_eq!((&page["keyId"], &page["limit"]), (&json!(id), &json!(50)));
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let summary: Vec<(&str, &str, i64)> = items
        .iter()
        .map(|c| {
            (
                c["at"].as_str().unwrap(),
                c["route"].as_str().unwrap(),
                c["status"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("2026-11-15T12:00:02.234Z", PRESET, 404),
            ("2026-11-15T12:00:01.234Z", PRESET, 200),
            ("2026-11-15T12:00:00Z", "/v1/public/twin/health", 200),
        ]
    );
    let preset = &items[1];
    assert_eq!(preset["method"], "GET");
    assert_eq!(preset["variant"], "claude");
    assert_eq!(preset["format"], "json");
    micros(&preset["cost"]);
    assert!(preset["durationMs"].as_f64().unwrap() >= 0.0);
    assert_eq!(items[2]["variant"], Value::Null);
    assert_eq!(items[2]["format"], Value::Null);

    let two = recent(&srv, &manager, &id, "?limit=2").await;
    assert_eq!(two["items"].as_array().unwrap().len(), 2);
    assert_eq!(two["items"][0]["status"], 404);

    // 250 more rows: the default is 50, anything above 200 is clamped to 200, below 1 to 1.
    let store = srv.store();
    let base = T0 - time::Duration::hours(1);
    let many: Vec<UsageEntry> = (0..250)
        .map(|i| entry("ana", &id, base + time::Duration::seconds(i), 200, 0))
        .collect();
    store.record_usage(&many).await.unwrap();
    let len = |v: &Value| v["items"].as_array().unwrap().len();
    assert_eq!(len(&recent(&srv, &manager, &id, "").await), 50);
    let clamped = recent(&srv, &manager, &id, "?limit=1000").await;
    assert_eq!((len(&clamped), &clamped["limit"]), (200, &json!(200)));
    // Still newest first: the three HTTP calls, then the seeded rows from the latest down.
    assert_eq!(clamped["items"][0]["status"], 404);
    assert_eq!(clamped["items"][3]["at"], "2026-11-15T11:04:09Z");
    assert_eq!(len(&recent(&srv, &manager, &id, "?limit=0").await), 1);
    assert_eq!(len(&recent(&srv, &manager, &id, "?limit=-3").await), 1);
}

async fn bad_parameters_are_refused_with_invalid_parameter(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (manager, _, id) = setup(&srv, "ana").await;
    let (status, err) = error_of(
        srv.get(&format!("/v1/keys/{id}/usage?since=year"), &manager)
            .await,
    )
    .await;
    assert_eq!(
        (status, &err["code"], &err["parameter"], &err["allowed"]),
        (
            400,
            &json!("INVALID_PARAMETER"),
            &json!("since"),
            &json!(["day", "week", "month", "all"])
        )
    );
    for bad in ["ten", "1.5", ""] {
        let (status, err) = error_of(
            srv.get(&format!("/v1/keys/{id}/recent?limit={bad}"), &manager)
                .await,
        )
        .await;
        assert_eq!(
            (status, &err["code"], &err["parameter"]),
            (400, &json!("INVALID_PARAMETER"), &json!("limit")),
            "limit={bad}"
        );
    }
}

async fn usage_endpoints_require_the_usage_read_scope(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (_, _, id) = setup(&srv, "ana").await;
    let (reader, _) = srv
        .key_with(
            "ana",
            KeyEnv::Live,
            &[Scope::KeysRead, Scope::TwinRead, Scope::AccountRead],
            100,
        )
        .await;
    for suffix in ["usage", "recent"] {
        let (status, err) =
            error_of(srv.get(&format!("/v1/keys/{id}/{suffix}"), &reader).await).await;
        assert_eq!(
            (status, &err["code"], &err["requiredScope"]),
            (403, &json!("MISSING_SCOPE"), &json!("usage:read")),
            "{suffix}"
        );
    }
    // Without a key at all it is a 401, whatever the query.
    let res = srv
        .client
        .get(srv.url(&format!("/v1/keys/{id}/usage?since=nonsense")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn another_owners_key_answers_404_like_an_unknown_one(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (manager, _, _) = setup(&srv, "ana").await;
    let (_, bobs_caller, bobs_id) = setup(&srv, "bob").await;
    srv.get("/v1/public/twin/health", &bobs_caller).await;
    srv.usage.flush().await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("requestId");
        v
    };
    for suffix in ["usage", "usage?since=all", "recent"] {
        let theirs = error_of(
            srv.get(&format!("/v1/keys/{bobs_id}/{suffix}"), &manager)
                .await,
        )
        .await;
        let unknown = error_of(
            srv.get(&format!("/v1/keys/ffffffff/{suffix}"), &manager)
                .await,
        )
        .await;
        assert_eq!(theirs.0, 404, "{suffix}");
        assert_eq!(strip(theirs.1), strip(unknown.1), "{suffix}");
    }
}

async fn retention_purges_old_raw_rows_but_keeps_the_roll_ups(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (manager, caller, id) = setup(&srv, "ana").await;
    let store = srv.store();
    let old = T0 - time::Duration::days(100);
    let kept = T0 - time::Duration::days(89);
    store
        .record_usage(&[
            entry("ana", &id, old, 200, 2_000_000),
            entry("ana", &id, old + time::Duration::minutes(1), 404, 0),
            entry("ana", &id, kept, 200, 1_000_000),
        ])
        .await
        .unwrap();
    srv.get("/v1/public/twin/health", &caller).await;
    srv.usage.flush().await;
    let before = usage(&srv, &manager, &id, "?since=all").await;
    assert_eq!(before["totalCalls"], 4);
    assert_eq!(
        recent(&srv, &manager, &id, "").await["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let deleted = twin_core::retention::purge_expired(&store, 90, srv.clock.now())
        .await
        .unwrap();
    assert_eq!(deleted, 2, "only the rows older than 90 days");
    let page = recent(&srv, &manager, &id, "").await;
    let ats: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["at"].as_str().unwrap())
        .collect();
    assert_eq!(ats, ["2026-11-15T12:00:00Z", "2026-08-18T12:00:00Z"]);
    // The roll-ups still hold every call, old days included.
    let after = usage(&srv, &manager, &id, "?since=all").await;
    assert_eq!(after, before);
    assert_eq!(
        after["byDay"][0],
        json!({"day": "2026-08-07", "calls": 2, "cost": "2.000000"})
    );
    // Running it again finds nothing more.
    assert_eq!(
        twin_core::retention::purge_expired(&store, 90, srv.clock.now())
            .await
            .unwrap(),
        0
    );
}

async fn the_retention_job_purges_at_start_by_the_clock_it_is_given(db: TestDb) {
    let srv = TestServer::start(db).await;
    let (manager, _, id) = setup(&srv, "ana").await;
    let store = srv.store();
    // More rows than one purge batch, all a day past a 30-day retention.
    let old = T0 - time::Duration::days(31);
    let rows: Vec<UsageEntry> = (0..(twin_core::retention::PURGE_BATCH + 10))
        .map(|i| entry("ana", &id, old + time::Duration::milliseconds(i), 200, 0))
        .collect();
    store.record_usage(&rows).await.unwrap();
    store
        .record_usage(&[entry("ana", &id, T0, 200, 0)])
        .await
        .unwrap();
    let job = twin_core::retention::spawn(store.clone(), 30, Arc::new(srv.clock.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = store.recent_calls(&id, 1000).await.unwrap();
        if left.len() == 1 {
            assert_eq!(left[0].at, T0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} rows left",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    job.abort();
    let report = usage(&srv, &manager, &id, "?since=all").await;
    assert_eq!(
        report["totalCalls"].as_i64(),
        Some(twin_core::retention::PURGE_BATCH + 11)
    );
    // Retention 0 keeps everything: the job ends without deleting.
    store
        .record_usage(&[entry("ana", &id, old, 200, 0)])
        .await
        .unwrap();
    twin_core::retention::spawn(store.clone(), 0, Arc::new(srv.clock.clone()))
        .await
        .unwrap();
    assert_eq!(store.recent_calls(&id, 1000).await.unwrap().len(), 2);
}

twin_store::backend_tests!(
    usage_report_breaks_calls_down_by_route_status_variant_and_day,
    costs_are_summed_per_route_and_day_as_credit_strings,
    since_selects_the_current_day_week_or_month_or_everything,
    recent_lists_calls_newest_first_and_clamps_the_limit,
    bad_parameters_are_refused_with_invalid_parameter,
    usage_endpoints_require_the_usage_read_scope,
    another_owners_key_answers_404_like_an_unknown_one,
    retention_purges_old_raw_rows_but_keeps_the_roll_ups,
    the_retention_job_purges_at_start_by_the_clock_it_is_given,
);
