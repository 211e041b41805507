//! Malformed input and an unreachable database never yield anything but the error envelope,
//! over real HTTP on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{Replica, T0, TestServer, assert_no_internals, error_of};
use reqwest::header::HeaderValue;
use twin_meter::ManualClock;
use twin_store::testing::TestDb;
use twin_store::{Backend, Store, StoreConfig};

/// Reads an envelope, checks its common fields and that it leaks nothing.
async fn envelope(res: reqwest::Response) -> (u16, serde_json::Value) {
    let (status, err) = error_of(res).await;
    assert_no_internals(&err.to_string());
    (status, err)
}

async fn a_key_that_is_not_utf8_is_an_invalid_format(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    for bytes in [
        &b"atk_live_\xff\xfe"[..],
        b"\x80\x81\x82",
        b"atk_live_0123abcd_0123456789abcdef0123456789abcd\xe9f",
    ] {
        for header in ["X-Twin-Key", "X-API-Key"] {
            let res = srv
                .client
                .get(srv.url("/v1/public/twin/health"))
                .header(header, HeaderValue::from_bytes(bytes).unwrap())
                .send()
                .await
                .unwrap();
            let (status, err) = envelope(res).await;
            assert_eq!(
                (status, err["code"].as_str()),
                (401, Some("INVALID_API_KEY_FORMAT")),
                "{header}: {bytes:?}"
            );
        }
    }
    let mut bearer = b"Bearer ".to_vec();
    bearer.extend_from_slice(b"\xc3\x28garbage");
    let res = srv
        .client
        .get(srv.url("/v1/public/twin/me"))
        .header("Authorization", HeaderValue::from_bytes(&bearer).unwrap())
        .send()
        .await
        .unwrap();
    let (status, err) = envelope(res).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (401, Some("INVALID_API_KEY_FORMAT"))
    );
}

async fn a_20kb_key_header_answers_401_in_the_envelope(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = srv.ready_owner("ana").await;
    let huge = "a".repeat(20 * 1024);
    let res = srv.get("/v1/public/twin/health", &huge).await;
    let (status, err) = envelope(res).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (401, Some("INVALID_API_KEY_FORMAT"))
    );
    // A big unrelated header does not get in the way of a good key.
    let res = srv
        .client
        .get(srv.url("/v1/public/twin/health"))
        .header("X-Twin-Key", &key)
        .header("X-Padding", &huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// actix-http refuses a request head past 128 KiB or with more than 96 headers with a bare
/// `431 Request Header Fields Too Large` (empty body, `Connection: close`) before any
/// application code runs, so that answer cannot carry the envelope; it must still be a 431
/// that leaks nothing, and the server must keep serving.
async fn headers_past_the_servers_limits_answer_431_and_the_server_stays_up(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = srv.ready_owner("ana").await;
    let enormous = "a".repeat(256 * 1024);
    let too_big = srv
        .client
        .get(srv.url("/v1/public/twin/health"))
        .header("X-Twin-Key", &key)
        .header("X-Padding", &enormous);
    let mut too_many = srv
        .client
        .get(srv.url("/v1/public/twin/health"))
        .header("X-Twin-Key", &key);
    for i in 0..120 {
        too_many = too_many.header(format!("X-Extra-{i}"), "v");
    }
    for (what, request) in [("a 256 KiB header", too_big), ("120 headers", too_many)] {
        match request.send().await {
            Ok(res) => {
                assert_eq!(res.status(), 431, "{what}");
                let body = res.text().await.unwrap_or_default();
                assert_no_internals(&body);
            }
            // The server may close the connection after its answer while the client is
            // still writing the oversized head; that is a refusal too.
            Err(e) => assert!(
                !e.is_timeout(),
                "{what}: the server must answer promptly: {e}"
            ),
        }
    }
    let res = srv.get("/v1/public/twin/health", &key).await;
    assert_eq!(res.status(), 200, "the server is still up");
}

async fn authorization_basic_alone_is_a_missing_key(db: TestDb) {
    let srv = TestServer::start(db).await;
    srv.ready_owner("ana").await;
    for value in ["Basic dXNlcjpwYXNz", "Digest username=\"x\"", "Token abc"] {
        let res = srv
            .client
            .get(srv.url("/v1/public/twin/me"))
            .header("Authorization", value)
            .send()
            .await
            .unwrap();
        let (status, err) = envelope(res).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (401, Some("MISSING_API_KEY")),
            "{value}"
        );
    }
}

async fn garbage_and_very_long_paths_answer_404_in_the_envelope(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = srv.ready_owner("ana").await;
    let long_id = "a".repeat(8 * 1024);
    for path in [
        "/v1/public/twin/snapshots/%ff%fe".to_owned(),
        "/v1/public/twin/snapshots/%00".to_owned(),
        "/v1/public/twin/snapshots/snap_1%00".to_owned(),
        "/v1/public/twin/snapshots/..%2f..%2fetc%2fpasswd".to_owned(),
        "/v1/public/twin/snapshots/%zz".to_owned(),
        "/v1/public/twin/preset/%ff%fe".to_owned(),
        "/v1/public/twin/preset/%c3%28".to_owned(),
        format!("/v1/public/twin/snapshots/{long_id}"),
        format!("/v1/public/twin/preset/{long_id}"),
        format!("/{long_id}"),
        "/%ff/%fe/%00".to_owned(),
    ] {
        let res = srv.get(&path, &key).await;
        let (status, err) = envelope(res).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{}",
            &path[..path.len().min(80)]
        );
    }
}

async fn malformed_query_strings_and_unknown_parameters_answer_400(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = srv.ready_owner("ana").await;
    let preset = "/v1/public/twin/preset/estandar";
    let historic = "/v1/public/twin/historic";
    for (path, parameter) in [
        (format!("{preset}?format=%ff"), "format"),
        (format!("{preset}?lang=%c3%28"), "lang"),
        (format!("{preset}?format=txt&format=md"), "format"),
        // A NUL byte would reach the database as a 500 on PostgreSQL.
        (format!("{preset}?purchaseId=%00"), "purchaseId"),
        (format!("{preset}?purchaseId=p1%00x"), "purchaseId"),
        (format!("{historic}?limit=%zz"), "limit"),
        (format!("{historic}?cursor=%00"), "cursor"),
    ] {
        let res = srv.get(&path, &key).await;
        let (status, err) = envelope(res).await;
        assert_eq!(
            (status, err["code"].as_str(), err["parameter"].as_str()),
            (400, Some("INVALID_PARAMETER"), Some(parameter)),
            "{path}"
        );
    }
    // Names the endpoint does not take are refused, however they are spelled.
    for (query, parameter) in [
        ("utm_source=x", "utm_source"),
        ("%ff=%fe", "\u{fffd}"),
        ("a&&b=", "a"),
        ("x=%zz", "x"),
    ] {
        let res = srv.get(&format!("{preset}?{query}"), &key).await;
        let (status, err) = envelope(res).await;
        assert_eq!(
            (status, err["parameter"].as_str()),
            (400, Some(parameter)),
            "{query}"
        );
    }
    // An empty query string is no parameter at all.
    let res = srv.get(&format!("{preset}?"), &key).await;
    assert_eq!(res.status(), 200);
    // Endpoints that take no parameters refuse them too.
    for path in ["/v1/public/twin/me?verbose=1", "/v1/public/twin/health?x=1"] {
        let (status, err) = envelope(srv.get(path, &key).await).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (400, Some("INVALID_PARAMETER")),
            "{path}"
        );
    }
    assert_eq!(srv.get("/v1/public/twin/me?", &key).await.status(), 200);
}

/// A database URL on `backend` that cannot be reached.
fn unreachable_url(backend: Backend) -> String {
    match backend {
        // Nothing listens on port 1.
        Backend::Postgres => "postgres://postgres@127.0.0.1:1/x".into(),
        // A file in a directory that does not exist cannot be opened.
        Backend::Sqlite => {
            let dir = std::env::temp_dir()
                .join("twin-no-such-dir-7f3a")
                .join("deeper");
            format!("sqlite://{}", dir.join("twin.db").display())
        }
    }
}

async fn an_unreachable_database_answers_503_with_retry_after_and_no_internals(db: TestDb) {
    let mut config = StoreConfig::new(unreachable_url(db.backend()));
    config.timeout = Duration::from_millis(500);
    let store = Store::connect(config)
        .await
        .expect("connecting is lazy, so it succeeds");
    let srv = Replica::start(store, ManualClock::new(T0));
    let key = twin_keys::KeyFormat::twin().generate("live").unwrap();

    let started = std::time::Instant::now();
    for path in [
        "/v1/public/twin/health",
        "/v1/public/twin/me",
        "/v1/public/twin/preset/estandar",
    ] {
        let res = srv.get(path, key.expose_secret()).await;
        let retry_after: u64 = res
            .headers()
            .get("retry-after")
            .unwrap_or_else(|| panic!("Retry-After on {path}"))
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After in seconds");
        assert!(retry_after > 0);
        let (status, err) = envelope(res).await;
        assert_eq!(
            (status, err["type"].as_str(), err["code"].as_str()),
            (503, Some("UNAVAILABLE"), Some("SERVICE_UNAVAILABLE")),
            "{path}"
        );
    }
    let res = srv.client.get(srv.url("/readyz")).send().await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    let (status, err) = envelope(res).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (503, Some("SERVICE_UNAVAILABLE"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the store's timeout bounds every answer"
    );

    // Checks that need no database still answer as usual.
    let res = srv.client.get(srv.url("/livez")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the process is up");
    let res = srv.get("/v1/public/twin/health", "not-a-key").await;
    let (status, err) = envelope(res).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (401, Some("INVALID_API_KEY_FORMAT")),
        "the format is checked before any database access"
    );
}

twin_store::backend_tests!(
    a_key_that_is_not_utf8_is_an_invalid_format,
    a_20kb_key_header_answers_401_in_the_envelope,
    headers_past_the_servers_limits_answer_431_and_the_server_stays_up,
    authorization_basic_alone_is_a_missing_key,
    garbage_and_very_long_paths_answer_404_in_the_envelope,
    malformed_query_strings_and_unknown_parameters_answer_400,
    an_unreachable_database_answers_503_with_retry_after_and_no_internals,
);
