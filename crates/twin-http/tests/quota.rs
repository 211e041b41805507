//! The monthly quota (SPEC §6) over real HTTP, on SQLite and PostgreSQL: exact under
//! concurrency (one server, and two servers sharing one database), reset at the month
//! boundary, and which answers count.

mod common;

use std::collections::BTreeSet;

use common::{TestServer, error_of};
use time::macros::datetime;
use twin_store::testing::TestDb;
use twin_store::{KeyEnv, NewSnapshot, Scope, SnapshotStatus};

const PRESET: &str = "/v1/public/twin/preset/estandar";

/// What one answer said about the quota.
#[derive(Debug)]
struct Answer {
    status: u16,
    limit: u64,
    used: u64,
    remaining: u64,
    reset: String,
    body: serde_json::Value,
}

fn header_u64(res: &reqwest::Response, name: &str) -> u64 {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} on an authenticated answer"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is a number"))
}

async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let limit = header_u64(&res, "x-twin-quota-limit");
    let used = header_u64(&res, "x-twin-quota-used");
    let remaining = header_u64(&res, "x-twin-quota-remaining");
    let reset = res.headers()["x-twin-quota-reset"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = if status == 200 {
        serde_json::Value::Null
    } else {
        error_of(res).await.1
    };
    Answer {
        status,
        limit,
        used,
        remaining,
        reset,
        body,
    }
}

/// Sends `GET url` with `key` to every URL at once, each from its own task, and collects
/// the answers.
async fn fire_at_once(client: &reqwest::Client, urls: Vec<String>, key: &str) -> Vec<Answer> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(urls.len()));
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let client = client.clone();
            let key = key.to_owned();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let res = client
                    .get(url)
                    .header("X-Twin-Key", key)
                    .send()
                    .await
                    .unwrap();
                answer(res).await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in futures_util::future::join_all(tasks).await {
        answers.push(task.unwrap());
    }
    answers
}

/// Checks a burst's answers against a quota of `limit` that started unused: exactly `limit`
/// successes, each holding a distinct unit, and every other answer a 429 with `resetsAt`.
fn assert_exact(answers: &[Answer], limit: u64) {
    let ok: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(
        ok.len() as u64,
        limit,
        "exactly the quota succeeds; statuses: {:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(
        ok.len() + refused.len(),
        answers.len(),
        "nothing but 200 and 429: {:?}",
        answers
            .iter()
            .filter(|a| a.status != 200 && a.status != 429)
            .collect::<Vec<_>>()
    );
    // Each success was handed its own unit: the counter never handed out one twice.
    let units: BTreeSet<u64> = ok.iter().map(|a| a.used).collect();
    assert_eq!(units, (1..=limit).collect::<BTreeSet<u64>>());
    for a in answers {
        assert_eq!(a.limit, limit);
        assert!(a.used <= limit, "Used never passes the limit: {a:?}");
        assert_eq!(
            a.remaining,
            limit - a.used,
            "Remaining = Limit - Used: {a:?}"
        );
        assert_eq!(a.reset, "2026-12-01T00:00:00Z");
    }
    for a in refused {
        assert_eq!(a.body["code"], "MONTHLY_QUOTA_EXCEEDED");
        assert_eq!(a.body["type"], "RATE_LIMITED");
        assert_eq!(a.body["resetsAt"], "2026-12-01T00:00:00Z");
        assert_eq!((a.used, a.remaining), (limit, 0));
    }
}

/// A live `twin:read` key with `quota` on a professional owner with a ready twin.
async fn key_with_quota(srv: &TestServer, owner: &str, quota: i64) -> String {
    srv.owner(owner, "professional").await;
    srv.snapshot(owner, SnapshotStatus::Ready, None).await;
    srv.key_with(owner, KeyEnv::Live, &[Scope::TwinRead], quota)
        .await
        .0
}

async fn exactly_the_quota_succeeds_when_many_requests_arrive_at_once(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = key_with_quota(&srv, "ana", 7).await;
    let urls = vec![srv.url(PRESET); 60];
    let answers = fire_at_once(&srv.client, urls, &key).await;
    assert_exact(&answers, 7);

    // The store agrees: the month holds exactly 7, and the next request is still refused.
    let res = srv.get("/v1/public/twin/health", &key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-twin-quota-used"], "7");
    assert_eq!(res.headers()["x-twin-quota-remaining"], "0");
    assert_eq!(srv.get(PRESET, &key).await.status(), 429);
}

async fn two_servers_sharing_one_database_grant_exactly_the_quota(db: TestDb) {
    let srv = TestServer::start(db).await;
    let replica = srv.start_replica().await;
    let key = key_with_quota(&srv, "ana", 7).await;
    // Both replicas can serve the key.
    let res = replica.get("/v1/public/twin/health", &key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-twin-quota-used"], "0");

    // Interleave the two servers so both are in the race.
    let urls: Vec<String> = (0..60)
        .map(|i| {
            if i % 2 == 0 {
                srv.url(PRESET)
            } else {
                replica.url(PRESET)
            }
        })
        .collect();
    let answers = fire_at_once(&srv.client, urls, &key).await;
    assert_exact(&answers, 7);
    for url in [srv.url(PRESET), replica.url(PRESET)] {
        let res = srv
            .client
            .get(url)
            .header("X-Twin-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429, "neither replica serves past the limit");
        assert_eq!(res.headers()["x-twin-quota-used"], "7");
    }
}

async fn the_quota_resets_at_midnight_utc_on_the_first(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = key_with_quota(&srv, "ana", 3).await;
    for used in 1..=3 {
        let res = srv.get(PRESET, &key).await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["x-twin-quota-used"],
            used.to_string().as_str()
        );
    }
    let spent = answer(srv.get(PRESET, &key).await).await;
    assert_eq!(spent.status, 429);
    assert_eq!(spent.body["resetsAt"], "2026-12-01T00:00:00Z");

    // The last millisecond of November is still November.
    srv.clock.set(datetime!(2026-11-30 23:59:59.999 UTC));
    assert_eq!(srv.get(PRESET, &key).await.status(), 429);

    srv.clock.set(datetime!(2026-12-01 00:00:00 UTC));
    let res = answer(srv.get(PRESET, &key).await).await;
    assert_eq!(res.status, 200, "a new month, a new quota");
    assert_eq!((res.limit, res.used, res.remaining), (3, 1, 2));
    assert_eq!(res.reset, "2027-01-01T00:00:00Z");
    for _ in 0..2 {
        assert_eq!(srv.get(PRESET, &key).await.status(), 200);
    }
    let spent = answer(srv.get(PRESET, &key).await).await;
    assert_eq!(spent.status, 429);
    assert_eq!(spent.body["resetsAt"], "2027-01-01T00:00:00Z");
}

async fn health_never_consumes_the_quota_and_answers_when_it_is_spent(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = key_with_quota(&srv, "ana", 2).await;
    for _ in 0..5 {
        let res = answer(srv.get("/v1/public/twin/health", &key).await).await;
        assert_eq!((res.status, res.used, res.remaining), (200, 0, 2));
    }
    for _ in 0..2 {
        assert_eq!(srv.get(PRESET, &key).await.status(), 200);
    }
    assert_eq!(srv.get(PRESET, &key).await.status(), 429);
    let res = answer(srv.get("/v1/public/twin/health", &key).await).await;
    assert_eq!(
        (res.status, res.used, res.remaining),
        (200, 2, 0),
        "health still answers, and reports the spent quota"
    );
}

async fn answers_past_the_checks_count_even_when_they_are_client_errors(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = key_with_quota(&srv, "ana", 3).await;
    let res = answer(srv.get("/v1/public/twin/preset/no-such-preset", &key).await).await;
    assert_eq!(
        (res.status, res.body["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    assert_eq!((res.used, res.remaining), (1, 2), "a 404 counts");
    let res = answer(srv.get(&format!("{PRESET}?format=pdf"), &key).await).await;
    assert_eq!(
        (res.status, res.body["code"].as_str()),
        (400, Some("INVALID_PARAMETER"))
    );
    assert_eq!((res.used, res.remaining), (2, 1), "a 400 counts");
    let res = answer(srv.get("/v1/public/twin/snapshots/snap_nope", &key).await).await;
    assert_eq!((res.status, res.used, res.remaining), (404, 3, 0));
    // The quota is checked before the endpoint: an unknown slug is now refused as spent.
    let res = answer(srv.get("/v1/public/twin/preset/no-such-preset", &key).await).await;
    assert_eq!(
        (res.status, res.body["code"].as_str()),
        (429, Some("MONTHLY_QUOTA_EXCEEDED"))
    );
    assert_eq!((res.used, res.remaining), (3, 0));
}

async fn too_early_answers_do_not_count(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    srv.snapshot("ana", SnapshotStatus::Generating, None).await;
    let (key, _) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 2)
        .await;
    // More 425s than the quota holds: none of them is refused as spent.
    for _ in 0..4 {
        let res = srv.get(PRESET, &key).await;
        assert_eq!(res.headers()["retry-after"], "30");
        let res = answer(res).await;
        assert_eq!(
            (res.status, res.body["code"].as_str()),
            (425, Some("TWIN_NOT_READY"))
        );
        assert_eq!((res.used, res.remaining), (0, 2), "a 425 does not count");
    }
    srv.snapshot("ana", SnapshotStatus::Ready, None).await;
    let res = answer(srv.get(PRESET, &key).await).await;
    assert_eq!((res.status, res.used, res.remaining), (200, 1, 1));
}

async fn server_errors_do_not_count(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.owner("ana", "professional").await;
    // A ready snapshot whose stored document cannot be parsed makes rendering fail: a 500.
    srv.store()
        .create_snapshot(
            "ana",
            NewSnapshot {
                source: "purchase".into(),
                purchase_id: None,
                status: SnapshotStatus::Ready,
                document: Some("{ this is not a twin".into()),
            },
        )
        .await
        .unwrap();
    let (key, _) = srv
        .key_with("ana", KeyEnv::Live, &[Scope::TwinRead], 2)
        .await;
    for _ in 0..3 {
        let res = srv.get(PRESET, &key).await;
        let res = answer(res).await;
        assert_eq!(
            (res.status, res.body["code"].as_str()),
            (500, Some("INTERNAL_ERROR"))
        );
        assert_eq!((res.used, res.remaining), (0, 2), "a 5xx does not count");
        common::assert_no_internals(&res.body.to_string());
    }
    // The quota is intact: the next counted answer (a 404 that reads no document) is the
    // month's first.
    let res = answer(srv.get("/v1/public/twin/snapshots/snap_nope", &key).await).await;
    assert_eq!((res.status, res.used, res.remaining), (404, 1, 1));
}

twin_store::backend_tests!(
    exactly_the_quota_succeeds_when_many_requests_arrive_at_once,
    two_servers_sharing_one_database_grant_exactly_the_quota,
    the_quota_resets_at_midnight_utc_on_the_first,
    health_never_consumes_the_quota_and_answers_when_it_is_spent,
    answers_past_the_checks_count_even_when_they_are_client_errors,
    too_early_answers_do_not_count,
    server_errors_do_not_count,
);
