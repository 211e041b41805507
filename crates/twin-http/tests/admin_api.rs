//! The operator API (`/v1/admin/*`) and the dashboard login link, over real HTTP, on SQLite
//! and PostgreSQL.

mod common;

use common::{ALL, TestServer, error_of};
use reqwest::Method;
use serde_json::{Value, json};
use time::Duration;
use twin_meter::Clock;
use twin_store::KeyEnv;
use twin_store::testing::TestDb;

const ADMIN: &str = "admin-token-0123456789abcdef";
const ADMIN_NEXT: &str = "admin-token-next-fedcba9876543210";

async fn start(db: TestDb) -> TestServer {
    TestServer::start_with(db, |state| {
        state.admin_tokens = vec![ADMIN.to_owned(), ADMIN_NEXT.to_owned()];
    })
    .await
}

/// An admin request with `token` as the bearer.
async fn admin(
    srv: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = srv.client.request(method, srv.url(path)).bearer_auth(ADMIN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn admin_json(
    srv: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let res = admin(srv, method.clone(), path, body).await;
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn sample() -> Value {
    serde_json::from_str(twin_render::SAMPLE_TWIN_JSON).unwrap()
}

async fn provisioning_with_issue_key_returns_a_working_first_key(db: TestDb) {
    let srv = start(db).await;
    let res = admin(
        &srv,
        Method::POST,
        "/v1/admin/owners",
        Some(json!({"ownerId": "ana", "email": "ana@example.com", "plan": "professional", "issueKey": true})),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().contains_key("x-request-id"));
    assert!(
        !res.headers()
            .keys()
            .any(|h| h.as_str().starts_with("x-twin-quota")),
        "admin requests are not metered"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ownerId"], "ana");
    assert_eq!(body["plan"], "professional");
    assert_eq!(body["status"], "provisioned");
    let key = body["apiKey"]["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("atk_live_"), "{key}");
    assert!(
        body["apiKey"]["warning"]
            .as_str()
            .is_some_and(|w| !w.is_empty())
    );
    assert_eq!(
        body["apiKey"]["scopes"].as_array().unwrap().len(),
        twin_store::Scope::ALL.len()
    );

    let res = srv.get("/v1/public/twin/health", &key).await;
    assert_eq!(res.status(), 200);
    let health: Value = res.json().await.unwrap();
    assert_eq!(health["userId"], "ana");

    // Without issueKey there is no apiKey field; a generated id is used when none is given.
    let body = admin_json(
        &srv,
        Method::POST,
        "/v1/admin/owners",
        Some(json!({"email": "bo@example.com", "plan": "free"})),
        201,
    )
    .await;
    assert!(body.get("apiKey").is_none(), "{body}");
    let generated = body["ownerId"].as_str().unwrap();
    assert!(generated.starts_with("own_"), "{generated}");

    // The operator's view.
    let view = admin_json(&srv, Method::GET, "/v1/admin/owners/ana", None, 200).await;
    assert_eq!(view["email"], "ana@example.com");
    assert_eq!(view["plan"]["slug"], "professional");
    assert_eq!(view["plan"]["apiAccess"], true);
    assert_eq!(view["activeKeys"], 1);
    assert_eq!(view["snapshotCount"], 0);
    assert_eq!(view["latestSnapshot"], Value::Null);

    // The audit trail names the operator.
    let audit = srv.store().list_audit("ana").await.unwrap();
    let events: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.event.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        events,
        vec![
            ("owner.provisioned", "operator"),
            ("key.created", "operator")
        ]
    );
}

async fn provisioning_refuses_bad_input_and_taken_ids(db: TestDb) {
    let srv = start(db).await;
    let ok = json!({"ownerId": "ana", "email": "ana@example.com", "plan": "professional"});
    admin_json(
        &srv,
        Method::POST,
        "/v1/admin/owners",
        Some(ok.clone()),
        201,
    )
    .await;

    let (status, err) =
        error_of(admin(&srv, Method::POST, "/v1/admin/owners", Some(ok)).await).await;
    assert_eq!((status, err["code"].as_str().unwrap()), (409, "CONFLICT"));

    let (status, err) = error_of(
        admin(
            &srv,
            Method::POST,
            "/v1/admin/owners",
            Some(json!({"email": "x@example.com", "plan": "gold"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (400, "INVALID_PARAMETER")
    );
    assert_eq!(err["parameter"], "plan");
    assert_eq!(err["allowed"], json!(["free", "professional"]));

    for (body, parameter) in [
        (json!({"email": "not-an-email", "plan": "free"}), "email"),
        (
            json!({"ownerId": "a/b", "email": "x@example.com", "plan": "free"}),
            "ownerId",
        ),
        // An unknown or missing field is named, not just "the body".
        (
            json!({"email": "x@example.com", "plan": "free", "extra": 1}),
            "extra",
        ),
        (json!({"email": "x@example.com"}), "plan"),
        (
            json!({"ownerId": "kim", "email": "x@example.com", "plan": "professional", "issueKey": {"name": ""}}),
            "name",
        ),
    ] {
        let (status, err) =
            error_of(admin(&srv, Method::POST, "/v1/admin/owners", Some(body.clone())).await).await;
        assert_eq!(
            (status, err["parameter"].as_str()),
            (400, Some(parameter)),
            "{body}: {err}"
        );
    }
    // A refused key body leaves no owner behind.
    let (status, _) = error_of(admin(&srv, Method::GET, "/v1/admin/owners/kim", None).await).await;
    assert_eq!(status, 404);

    // A free plan cannot come with a key; nothing is created.
    let (status, err) = error_of(
        admin(
            &srv,
            Method::POST,
            "/v1/admin/owners",
            Some(json!({"ownerId": "fay", "email": "fay@example.com", "plan": "free", "issueKey": true})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "PLAN_REQUIRED")
    );
    let (status, _) = error_of(admin(&srv, Method::GET, "/v1/admin/owners/fay", None).await).await;
    assert_eq!(status, 404);

    // A key body instead of `true` sets the first key's scopes.
    let body = admin_json(
        &srv,
        Method::POST,
        "/v1/admin/owners",
        Some(
            json!({"ownerId": "lee", "email": "lee@example.com", "plan": "professional",
                    "issueKey": {"name": "crm", "env": "test", "scopes": ["twin:read"]}}),
        ),
        201,
    )
    .await;
    assert_eq!(body["apiKey"]["name"], "crm");
    assert_eq!(body["apiKey"]["env"], "test");
    assert_eq!(body["apiKey"]["scopes"], json!(["twin:read"]));
}

async fn snapshots_move_from_pending_to_ready_and_are_served(db: TestDb) {
    let srv = start(db).await;
    let body = admin_json(
        &srv,
        Method::POST,
        "/v1/admin/owners",
        Some(json!({"ownerId": "ana", "email": "ana@example.com", "plan": "professional", "issueKey": true})),
        201,
    )
    .await;
    let key = body["apiKey"]["key"].as_str().unwrap().to_owned();

    let snap = admin_json(
        &srv,
        Method::POST,
        "/v1/admin/owners/ana/snapshots",
        Some(json!({"source": "purchase", "purchaseId": "p-1", "status": "pending"})),
        201,
    )
    .await;
    assert_eq!(snap["version"], 1);
    assert_eq!(snap["status"], "pending");
    assert_eq!(snap["purchaseId"], "p-1");
    assert_eq!(snap["source"], "purchase");
    assert_eq!(snap["createdAt"], "2026-11-15T12:00:00Z");
    let id = snap["id"].as_str().unwrap().to_owned();

    let res = srv.get("/v1/public/twin/preset/estandar", &key).await;
    assert_eq!(res.status(), 425);

    // Becoming ready needs a document; an invalid one is refused with its JSON path.
    let path = format!("/v1/admin/snapshots/{id}");
    let (status, err) =
        error_of(admin(&srv, Method::PATCH, &path, Some(json!({"status": "ready"}))).await).await;
    assert_eq!((status, err["parameter"].as_str()), (400, Some("document")));
    let mut bad = sample();
    bad["sections"][1]["key"] = json!("Bad Key!");
    let (status, err) = error_of(
        admin(
            &srv,
            Method::PATCH,
            &path,
            Some(json!({"status": "ready", "document": bad})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (400, "INVALID_PARAMETER")
    );
    assert_eq!(err["path"], "/sections/1/key");
    assert!(
        err["message"].as_str().unwrap().contains("/sections/1/key"),
        "{err}"
    );

    // Not-ready moves are refused and leave the snapshot as it was.
    let meta = admin_json(
        &srv,
        Method::PATCH,
        &path,
        Some(json!({"status": "generating"})),
        200,
    )
    .await;
    assert_eq!(meta["status"], "generating");
    let (status, err) = error_of(
        admin(
            &srv,
            Method::PATCH,
            &path,
            Some(json!({"status": "pending"})),
        )
        .await,
    )
    .await;
    assert_eq!((status, err["code"].as_str().unwrap()), (409, "CONFLICT"));
    let (status, err) =
        error_of(admin(&srv, Method::PATCH, &path, Some(json!({"status": "done"}))).await).await;
    assert_eq!((status, err["parameter"].as_str()), (400, Some("status")));
    assert_eq!(
        err["allowed"],
        json!(["pending", "generating", "ready", "failed"])
    );

    let meta = admin_json(
        &srv,
        Method::PATCH,
        &path,
        Some(json!({"status": "ready", "document": sample()})),
        200,
    )
    .await;
    assert_eq!(meta["status"], "ready");
    assert_eq!(meta["id"], id.as_str());
    let res = srv.get("/v1/public/twin/preset/estandar", &key).await;
    assert_eq!(res.status(), 200);

    // The same status again is a no-op; ready is final.
    admin_json(
        &srv,
        Method::PATCH,
        &path,
        Some(json!({"status": "ready"})),
        200,
    )
    .await;
    for body in [
        json!({"status": "failed"}),
        json!({"status": "ready", "document": sample()}),
    ] {
        let (status, err) = error_of(admin(&srv, Method::PATCH, &path, Some(body)).await).await;
        assert_eq!((status, err["code"].as_str().unwrap()), (409, "CONFLICT"));
    }

    // A ready snapshot needs a document at creation; a bad one is refused with its path.
    let snaps = "/v1/admin/owners/ana/snapshots";
    let (status, err) = error_of(
        admin(
            &srv,
            Method::POST,
            snaps,
            Some(json!({"source": "import", "status": "ready"})),
        )
        .await,
    )
    .await;
    assert_eq!((status, err["parameter"].as_str()), (400, Some("document")));
    let mut bad = sample();
    bad["schemaVersion"] = json!(2);
    let (status, err) = error_of(
        admin(
            &srv,
            Method::POST,
            snaps,
            Some(json!({"source": "import", "status": "ready", "document": bad})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["path"].as_str()),
        (400, Some("/schemaVersion"))
    );
    let meta = admin_json(
        &srv,
        Method::POST,
        snaps,
        Some(json!({"source": "import", "status": "ready", "document": sample()})),
        201,
    )
    .await;
    assert_eq!(meta["version"], 2, "versions increase per owner");

    let view = admin_json(&srv, Method::GET, "/v1/admin/owners/ana", None, 200).await;
    assert_eq!(view["snapshotCount"], 2);
    assert_eq!(view["latestSnapshot"]["version"], 2);

    // Unknown owner or snapshot: 404.
    let (status, _) = error_of(
        admin(
            &srv,
            Method::POST,
            "/v1/admin/owners/nobody/snapshots",
            Some(json!({"source": "x", "status": "pending"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = error_of(
        admin(
            &srv,
            Method::PATCH,
            "/v1/admin/snapshots/snap_0000000000000000",
            Some(json!({"status": "ready"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);

    let events: Vec<String> = srv
        .store()
        .list_audit("ana")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events.iter().filter(|e| *e == "snapshot.created").count(),
        2,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "snapshot.updated").count(),
        2,
        "{events:?}"
    );
}

async fn plan_downgrade_blocks_keys_and_upgrade_restores_them(db: TestDb) {
    let srv = start(db).await;
    let key = srv.ready_owner("ana").await;
    assert_eq!(srv.get("/v1/public/twin/health", &key).await.status(), 200);

    let view = admin_json(
        &srv,
        Method::PATCH,
        "/v1/admin/owners/ana",
        Some(json!({"plan": "free"})),
        200,
    )
    .await;
    assert_eq!(view["plan"]["slug"], "free");
    assert_eq!(view["plan"]["apiAccess"], false);
    let (status, err) = error_of(srv.get("/v1/public/twin/health", &key).await).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "PLAN_REQUIRED")
    );
    let (status, err) = error_of(srv.get("/v1/public/twin/preset/estandar", &key).await).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "PLAN_REQUIRED")
    );

    let view = admin_json(
        &srv,
        Method::PATCH,
        "/v1/admin/owners/ana",
        Some(json!({"plan": "professional", "email": "ana@new.example.com"})),
        200,
    )
    .await;
    assert_eq!(view["plan"]["slug"], "professional");
    assert_eq!(view["email"], "ana@new.example.com");
    assert_eq!(view["activeKeys"], 1, "the keys stayed stored");
    assert_eq!(
        srv.get("/v1/public/twin/preset/estandar", &key)
            .await
            .status(),
        200
    );

    let (status, err) = error_of(
        admin(
            &srv,
            Method::PATCH,
            "/v1/admin/owners/ana",
            Some(json!({"plan": "gold"})),
        )
        .await,
    )
    .await;
    assert_eq!((status, err["parameter"].as_str()), (400, Some("plan")));
    let (status, _) = error_of(
        admin(
            &srv,
            Method::PATCH,
            "/v1/admin/owners/nobody",
            Some(json!({"plan": "free"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);

    let events: Vec<String> = srv
        .store()
        .list_audit("ana")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("owner."))
            .collect::<Vec<_>>(),
        vec![
            "owner.plan_changed",
            "owner.plan_changed",
            "owner.email_changed"
        ]
    );
}

async fn operators_create_keys_with_any_scope_on_an_owners_behalf(db: TestDb) {
    let srv = start(db).await;
    srv.owner("ana", "professional").await;
    let created = admin_json(
        &srv,
        Method::POST,
        "/v1/admin/owners/ana/keys",
        Some(json!({"name": "ops", "scopes": ["twin:read", "keys:read", "keys:write", "usage:read", "account:read"],
                    "monthlyQuota": 500, "expiresInDays": 30})),
        201,
    )
    .await;
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(created["warning"].is_string());
    assert_eq!(created["monthlyQuota"], 500);
    assert_eq!(created["expiresAt"], "2026-12-15T12:00:00Z");
    assert!(created.get("hash").is_none() && created.get("keyHash").is_none());

    // The key works on the owner's own API with the scopes granted.
    let res = srv.get("/v1/keys", &key).await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["items"][0]["id"], created["id"]);

    let record = srv
        .store()
        .find_key(created["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(record.created_by, "operator");

    let (status, err) = error_of(
        admin(
            &srv,
            Method::POST,
            "/v1/admin/owners/ana/keys",
            Some(json!({"name": "x", "env": "prod"})),
        )
        .await,
    )
    .await;
    assert_eq!((status, err["parameter"].as_str()), (400, Some("env")));
    let (status, _) = error_of(
        admin(
            &srv,
            Method::POST,
            "/v1/admin/owners/nobody/keys",
            Some(json!({"name": "x"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);

    // A plan without API access cannot get keys.
    srv.owner("bo", "free").await;
    let (status, err) = error_of(
        admin(
            &srv,
            Method::POST,
            "/v1/admin/owners/bo/keys",
            Some(json!({"name": "x"})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (403, "PLAN_REQUIRED")
    );
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The sign-in page's button: the link's token, POSTed from the server's own origin.
/// The sign-in page's button, from `origin` when given.
async fn sign_in(
    srv: &TestServer,
    client: &reqwest::Client,
    url: &str,
    origin: Option<&str>,
) -> reqwest::Response {
    let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
    common::submit_sign_in(srv, client, url, &headers).await
}

async fn new_link(srv: &TestServer) -> String {
    let link = admin_json(
        srv,
        Method::POST,
        "/v1/admin/owners/ana/login-links",
        None,
        201,
    )
    .await;
    link["url"].as_str().unwrap().to_owned()
}

async fn login_links_open_a_session_once(db: TestDb) {
    let srv = start(db).await;
    srv.owner("ana", "professional").await;
    let link = admin_json(
        &srv,
        Method::POST,
        "/v1/admin/owners/ana/login-links",
        None,
        201,
    )
    .await;
    let url = link["url"].as_str().unwrap().to_owned();
    let prefix = format!("{}/dashboard/login?token=", srv.base);
    assert!(url.starts_with(&prefix), "{url}");
    let token = &url[prefix.len()..];
    assert_eq!(token.len(), 64);
    assert_eq!(link["expiresAt"], "2026-11-15T12:15:00Z");

    // Opening the link (a mail scanner's prefetch, a preview) shows a button and consumes
    // nothing, however often.
    let client = no_redirects();
    for _ in 0..3 {
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("set-cookie").is_none());
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.headers()["referrer-policy"], "same-origin");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        let page = res.text().await.unwrap();
        assert!(
            page.contains(r#"<form method="post" action="/dashboard/login">"#),
            "{page}"
        );
        assert!(page.contains(token), "the button carries the token");
    }

    // The button signs in.
    let res = sign_in(&srv, &client, &url, Some(&srv.base)).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/dashboard/");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = cookie
        .strip_prefix("twin_session=")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert_eq!(session.len(), 64);
    assert_ne!(session, token, "the session token is not the link token");
    let attrs: Vec<&str> = cookie.split("; ").skip(1).collect();
    assert_eq!(
        attrs,
        vec!["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"],
        "no Secure over plain HTTP"
    );

    // The session is stored under its hash.
    let found = srv
        .store()
        .find_session(&twin_core::login::token_hash(session), srv.clock.now())
        .await
        .unwrap()
        .expect("the session exists");
    assert_eq!(found.owner_id, "ana");

    // Single use.
    let (status, err) = error_of(sign_in(&srv, &client, &url, Some(&srv.base)).await).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (401, "INVALID_OR_REVOKED_API_KEY")
    );

    // A forwarded-proto header from a peer that is no trusted proxy changes nothing.
    let url = new_link(&srv).await;
    let headers = [
        ("Origin", srv.base.as_str()),
        ("X-Forwarded-Proto", "https"),
    ];
    let res = common::submit_sign_in(&srv, &client, &url, &headers).await;
    assert_eq!(res.status(), 303);
    assert!(
        !res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );

    // Expired after 15 minutes.
    let url = new_link(&srv).await;
    srv.clock.advance(Duration::minutes(15));
    let (status, _) = error_of(sign_in(&srv, &client, &url, Some(&srv.base)).await).await;
    assert_eq!(status, 401);

    // Made-up, malformed or missing tokens: the page says the link is not valid, and the
    // button's POST signs no one in.
    for (token, page_status) in [
        ("0".repeat(64), 200),
        ("abc".into(), 400),
        (String::new(), 400),
    ] {
        let url = srv.url(&format!("/dashboard/login?token={token}"));
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), page_status, "{token}");
        let (status, err) = error_of(sign_in(&srv, &client, &url, Some(&srv.base)).await).await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (401, "INVALID_OR_REVOKED_API_KEY"),
            "{token}"
        );
    }
    let page = client
        .get(srv.url("/dashboard/login?token=abc"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("not valid") && !page.contains("<form"),
        "{page}"
    );

    let (status, _) = error_of(
        admin(
            &srv,
            Method::POST,
            "/v1/admin/owners/nobody/login-links",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);

    let events: Vec<String> = srv
        .store()
        .list_audit("ana")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events.iter().filter(|e| *e == "login_link.issued").count(),
        3
    );
    assert_eq!(events.iter().filter(|e| *e == "dashboard.login").count(), 2);
}

async fn a_sign_in_from_another_origin_is_refused_and_burns_nothing(db: TestDb) {
    let srv = start(db).await;
    srv.owner("ana", "professional").await;
    let url = new_link(&srv).await;
    let client = no_redirects();
    for origin in [None, Some("https://evil.example"), Some("null")] {
        let (status, err) = error_of(sign_in(&srv, &client, &url, origin).await).await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (403, "CSRF_FAILED"),
            "{origin:?}"
        );
    }
    // The link still works from the server's own page.
    assert_eq!(
        sign_in(&srv, &client, &url, Some(&srv.base)).await.status(),
        303
    );
}

async fn links_use_the_public_url_and_only_trusted_proxies_count(db: TestDb) {
    let srv = TestServer::start_with(db, |state| {
        state.admin_tokens = vec![ADMIN.to_owned()];
        state.web.trusted_proxies = twin_http::WebConfig::parse_proxies("127.0.0.1").unwrap();
    })
    .await;
    srv.owner("ana", "professional").await;
    // A forged Host (and forwarded headers) do not change the link's base.
    let res = srv
        .client
        .post(srv.url("/v1/admin/owners/ana/login-links"))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let link: Value = res.json().await.unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/dashboard/login?token=", srv.base)),
        "{url}"
    );
    // Behind a trusted proxy that says TLS, the cookie is Secure.
    let headers = [
        ("Origin", srv.base.as_str()),
        ("X-Forwarded-Proto", "https"),
    ];
    let res = common::submit_sign_in(&srv, &no_redirects(), url, &headers).await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
}

async fn the_owner_api_accepts_the_dashboard_session_with_its_csrf_token(db: TestDb) {
    let srv = start(db).await;
    srv.owner("ana", "professional").await;
    let other = srv.ready_owner("bob").await;
    let client = no_redirects();
    let url = new_link(&srv).await;
    let res = sign_in(&srv, &client, &url, Some(&srv.base)).await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = cookie.split(';').next().unwrap().to_owned();
    let token = session.strip_prefix("twin_session=").unwrap();
    let csrf = srv
        .store()
        .find_session(&twin_core::login::token_hash(token), srv.clock.now())
        .await
        .unwrap()
        .unwrap()
        .csrf_token;
    let create = |csrf: Option<&str>, origin: Option<&str>| {
        let mut req = client
            .post(srv.url("/v1/keys"))
            .header("Cookie", &session)
            .header("Content-Type", "application/json")
            .body(r#"{"name": "from the dashboard", "scopes": ["twin:read", "keys:write"]}"#);
        if let Some(csrf) = csrf {
            req = req.header("X-CSRF-Token", csrf);
        }
        if let Some(origin) = origin {
            req = req.header("Origin", origin);
        }
        req.send()
    };
    // Reading needs no CSRF token.
    let res = client
        .get(srv.url("/v1/keys"))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    // A change without the token, with a wrong one, or from another origin: refused, nothing made.
    for (csrf, origin) in [
        (None, None),
        (Some("0".repeat(64)), None),
        (Some(csrf.clone()), Some("https://evil.example")),
    ] {
        let (status, err) = error_of(create(csrf.as_deref(), origin).await.unwrap()).await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (403, "CSRF_FAILED"),
            "{csrf:?} {origin:?}"
        );
    }
    let res = create(Some(&csrf), Some(&srv.base)).await.unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["name"], "from the dashboard");
    let keys: Value = client
        .get(srv.url("/v1/keys"))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        keys["items"].as_array().unwrap().len(),
        1,
        "exactly the one created"
    );
    // The session reaches its own owner's keys only.
    let bob_key = other.split('_').nth(2).unwrap();
    let res = client
        .get(srv.url(&format!("/v1/keys/{bob_key}")))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // A made-up session is no credential.
    let (status, err) = error_of(
        client
            .get(srv.url("/v1/keys"))
            .header("Cookie", format!("twin_session={}", "1".repeat(64)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (401, "INVALID_OR_REVOKED_API_KEY")
    );
}

async fn a_sign_in_is_same_origin_under_the_name_the_browser_used(db: TestDb) {
    // The public URL names the server one way; a browser reached it another way (no
    // TWIN_PUBLIC_URL behind a proxy, a server bound to 0.0.0.0). Its own origin counts.
    let srv = TestServer::start_with(db, |state| {
        state.admin_tokens = vec![ADMIN.to_owned()];
        state.web.public_url = twin_http::PublicUrl::parse("https://twin.example.com").ok();
    })
    .await;
    srv.owner("ana", "professional").await;
    let url = new_link(&srv).await;
    assert!(
        url.starts_with("https://twin.example.com/dashboard/login?token="),
        "{url}"
    );
    let client = no_redirects();
    // reqwest sends Host: 127.0.0.1:<port>, as a browser would for this address.
    let own = srv.base.clone();
    let res = sign_in(&srv, &client, &url, Some(&own)).await;
    assert_eq!(res.status(), 303);
    // Another site is still another site.
    let url = new_link(&srv).await;
    let (status, _) =
        error_of(sign_in(&srv, &client, &url, Some("https://evil.example")).await).await;
    assert_eq!(status, 403);
}

async fn concurrent_redemptions_of_one_link_open_one_session(db: TestDb) {
    let srv = start(db).await;
    srv.owner("ana", "professional").await;
    let url = new_link(&srv).await;
    let token = url.split("token=").nth(1).unwrap().to_owned();
    let client = no_redirects();
    let attempts = (0..12).map(|_| {
        let client = client.clone();
        let endpoint = srv.url("/dashboard/login");
        let origin = srv.base.clone();
        let token = token.clone();
        tokio::spawn(async move {
            client
                .post(endpoint)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Origin", origin)
                .body(format!("token={token}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort_unstable();
    let mut expected = vec![303];
    expected.extend([401; 11]);
    assert_eq!(statuses, expected, "exactly one redemption wins");
}

/// Every admin route, with a body that would succeed.
async fn admin_routes(srv: &TestServer) -> Vec<(Method, String, Option<Value>)> {
    srv.owner("ana", "professional").await;
    let snap = srv
        .snapshot("ana", twin_store::SnapshotStatus::Pending, None)
        .await;
    vec![
        (
            Method::POST,
            "/v1/admin/owners".into(),
            Some(json!({"ownerId": "new", "email": "n@example.com", "plan": "free"})),
        ),
        (Method::GET, "/v1/admin/owners/ana".into(), None),
        (
            Method::PATCH,
            "/v1/admin/owners/ana".into(),
            Some(json!({"plan": "professional", "email": "changed@example.com"})),
        ),
        (
            Method::POST,
            "/v1/admin/owners/ana/snapshots".into(),
            Some(json!({"source": "x", "status": "pending"})),
        ),
        (
            Method::PATCH,
            format!("/v1/admin/snapshots/{snap}"),
            Some(json!({"status": "failed"})),
        ),
        (
            Method::POST,
            "/v1/admin/owners/ana/keys".into(),
            Some(json!({"name": "x"})),
        ),
        (
            Method::POST,
            "/v1/admin/owners/ana/login-links".into(),
            None,
        ),
    ]
}

async fn the_admin_api_refuses_every_credential_but_an_admin_token(db: TestDb) {
    let srv = start(db).await;
    let routes = admin_routes(&srv).await;
    let (customer, _) = srv.key_with("ana", KeyEnv::Live, ALL, 10_000).await;
    let audit_before = srv.store().list_audit("ana").await.unwrap().len();

    type Cred = (&'static str, Vec<(&'static str, String)>, u16, &'static str);
    let cases: Vec<Cred> = vec![
        ("no credential", vec![], 401, "MISSING_API_KEY"),
        (
            "basic auth",
            vec![("Authorization", "Basic YWRtaW46YWRtaW4=".into())],
            401,
            "MISSING_API_KEY",
        ),
        (
            "wrong admin token",
            vec![("Authorization", "Bearer not-the-admin-token-at-all".into())],
            401,
            "INVALID_OR_REVOKED_API_KEY",
        ),
        (
            "admin token prefix",
            vec![(
                "Authorization",
                format!("Bearer {}", &ADMIN[..ADMIN.len() - 1]),
            )],
            401,
            "INVALID_OR_REVOKED_API_KEY",
        ),
        (
            "empty bearer",
            vec![("Authorization", "Bearer ".into())],
            401,
            "INVALID_OR_REVOKED_API_KEY",
        ),
        (
            "malformed key in X-Twin-Key",
            vec![("X-Twin-Key", "not-a-key".into())],
            403,
            "ADMIN_ONLY",
        ),
        (
            "malformed key in X-API-Key",
            vec![("X-API-Key", "atk_live_zz".into())],
            403,
            "ADMIN_ONLY",
        ),
        (
            "malformed key as bearer",
            vec![("Authorization", "Bearer atk_live_00000000_bad".into())],
            403,
            "ADMIN_ONLY",
        ),
        (
            "valid key in X-Twin-Key",
            vec![("X-Twin-Key", customer.clone())],
            403,
            "ADMIN_ONLY",
        ),
        (
            "valid key in X-API-Key",
            vec![("X-API-Key", customer.clone())],
            403,
            "ADMIN_ONLY",
        ),
        (
            "valid key as bearer",
            vec![("Authorization", format!("Bearer {customer}"))],
            403,
            "ADMIN_ONLY",
        ),
        (
            "valid key beside the admin token",
            vec![
                ("Authorization", format!("Bearer {ADMIN}")),
                ("X-Twin-Key", customer.clone()),
            ],
            403,
            "ADMIN_ONLY",
        ),
    ];
    for (method, path, body) in &routes {
        for (name, headers, status, code) in &cases {
            let mut req = srv.client.request(method.clone(), srv.url(path));
            for (h, v) in headers {
                req = req.header(*h, v);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            let res = req.send().await.unwrap();
            assert!(
                !res.headers()
                    .keys()
                    .any(|h| h.as_str().starts_with("x-twin-quota")),
                "{method} {path} {name}: no metering headers"
            );
            let (got, err) = error_of(res).await;
            assert_eq!(
                (got, err["code"].as_str().unwrap()),
                (*status, *code),
                "{method} {path} with {name}"
            );
        }
    }
    // Nothing was done: no owner provisioned, no audit event, the customer key spent nothing.
    assert!(srv.store().get_owner("new").await.is_err());
    assert_eq!(
        srv.store().list_audit("ana").await.unwrap().len(),
        audit_before
    );
    assert_eq!(
        srv.store().get_owner("ana").await.unwrap().email,
        "ana@example.com"
    );

    // Both configured tokens work (rotation); each route answers with success.
    for (i, (method, path, body)) in routes.iter().enumerate() {
        let token = if i % 2 == 0 { ADMIN } else { ADMIN_NEXT };
        let mut req = srv
            .client
            .request(method.clone(), srv.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.unwrap();
        assert!(
            res.status().is_success(),
            "{method} {path}: {}",
            res.status()
        );
    }
}

async fn the_admin_api_is_hidden_when_no_token_is_configured(db: TestDb) {
    let srv = TestServer::start(db).await;
    let routes = admin_routes(&srv).await;
    let (customer, _) = srv.key_with("ana", KeyEnv::Live, ALL, 10_000).await;
    for (method, path, body) in &routes {
        for headers in [
            vec![],
            vec![("Authorization", format!("Bearer {ADMIN}"))],
            vec![("X-Twin-Key", customer.clone())],
        ] {
            let mut req = srv.client.request(method.clone(), srv.url(path));
            for (h, v) in &headers {
                req = req.header(*h, v);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            let (status, err) = error_of(req.send().await.unwrap()).await;
            assert_eq!(
                (status, err["code"].as_str().unwrap()),
                (404, "NOT_FOUND"),
                "{method} {path} {headers:?}"
            );
        }
    }
    assert_eq!(
        srv.store().get_owner("ana").await.unwrap().email,
        "ana@example.com"
    );
}

twin_store::backend_tests!(
    provisioning_with_issue_key_returns_a_working_first_key,
    provisioning_refuses_bad_input_and_taken_ids,
    snapshots_move_from_pending_to_ready_and_are_served,
    plan_downgrade_blocks_keys_and_upgrade_restores_them,
    operators_create_keys_with_any_scope_on_an_owners_behalf,
    login_links_open_a_session_once,
    concurrent_redemptions_of_one_link_open_one_session,
    a_sign_in_from_another_origin_is_refused_and_burns_nothing,
    links_use_the_public_url_and_only_trusted_proxies_count,
    the_owner_api_accepts_the_dashboard_session_with_its_csrf_token,
    a_sign_in_is_same_origin_under_the_name_the_browser_used,
    the_admin_api_refuses_every_credential_but_an_admin_token,
    the_admin_api_is_hidden_when_no_token_is_configured,
);

#[test]
fn the_openapi_document_shows_every_admin_route_with_the_admin_token() {
    let doc = twin_http::openapi();
    for (method, path, success) in [
        ("post", "/v1/admin/owners", "201"),
        ("get", "/v1/admin/owners/{id}", "200"),
        ("patch", "/v1/admin/owners/{id}", "200"),
        ("post", "/v1/admin/owners/{id}/snapshots", "201"),
        ("patch", "/v1/admin/snapshots/{id}", "200"),
        ("post", "/v1/admin/owners/{id}/keys", "201"),
        ("post", "/v1/admin/owners/{id}/login-links", "201"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert_eq!(op["tags"], json!(["admin"]), "{method} {path}");
        assert_eq!(
            op["security"],
            json!([{"adminToken": []}]),
            "{method} {path}"
        );
        for status in [success, "401", "403", "404"] {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path} documents {status}"
            );
        }
    }
    let show = &doc["paths"]["/dashboard/login"]["get"];
    assert!(show["responses"]["200"]["content"]["text/html"].is_object());
    let redeem = &doc["paths"]["/dashboard/login"]["post"];
    assert!(
        ["303", "401", "403"]
            .iter()
            .all(|status| redeem["responses"][status].is_object())
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["adminToken"]["scheme"],
        "bearer"
    );
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        tags.contains(&"admin") && tags.contains(&"dashboard"),
        "{tags:?}"
    );
}
