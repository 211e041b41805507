//! `GET /v1/admin/metrics`: the usage logger's written/dropped/lost counters, behind the
//! admin token.

mod common;

use common::{TestServer, error_of};
use twin_store::testing::TestDb;

const TOKEN: &str = "metrics-admin-token-0123456789";

fn value(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing in {text}"))
        .parse()
        .unwrap()
}

async fn metrics_count_written_usage_entries_for_operators_only(db: TestDb) {
    let srv = TestServer::start_with(db, |state| state.admin_tokens = vec![TOKEN.into()]).await;
    let key = srv.ready_owner("ana").await;
    for _ in 0..5 {
        srv.get("/v1/public/twin/health", &key).await;
    }
    srv.usage.flush().await;
    let res = srv
        .client
        .get(srv.url("/v1/admin/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    assert_eq!(value(&text, "twin_usage_written_total"), 5);
    assert_eq!(value(&text, "twin_usage_dropped_total"), 0);
    assert_eq!(value(&text, "twin_usage_failed_total"), 0);
    assert!(text.contains("# TYPE twin_usage_dropped_total counter"));
    // Webhooks: attempts by outcome, and the shared outbox's depth and age.
    assert!(
        text.contains("twin_webhook_attempts_total{outcome=\"succeeded\"} 0"),
        "{text}"
    );
    assert_eq!(value(&text, "twin_webhook_queue_depth"), 0);
    let store = srv.store();
    let endpoint = store
        .create_endpoint(twin_store::webhooks::NewEndpoint {
            owner_id: "ana".into(),
            url: "https://example.invalid/hook".into(),
            description: String::new(),
            events: vec!["*".into()],
            enabled: true,
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        })
        .await
        .unwrap();
    let event =
        twin_store::webhooks::NewEvent::new("ana", "ping", store.now(), serde_json::json!({}))
            .unwrap();
    assert!(
        store
            .record_event(&event, Some(&endpoint.id))
            .await
            .unwrap()
    );
    srv.clock.advance(time::Duration::seconds(90));
    let text = srv
        .client
        .get(srv.url("/v1/admin/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(value(&text, "twin_webhook_queue_depth"), 1, "{text}");
    assert_eq!(
        value(&text, "twin_webhook_oldest_pending_seconds"),
        90,
        "{text}"
    );
    // A customer key is refused.
    let (status, err) = error_of(srv.get("/v1/admin/metrics", &key).await).await;
    assert_eq!((status, err["code"].as_str().unwrap()), (403, "ADMIN_ONLY"));
}

twin_store::backend_tests!(metrics_count_written_usage_entries_for_operators_only);
