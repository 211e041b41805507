//! The owner dashboard over HTTP (SPEC §13), on both backends: sign-in, the key journey
//! through the pages' forms (create → shown once → works → disable → refused → enable →
//! rotate → both work → revoke → refused), recent calls, languages, CSRF and origin checks,
//! sign-out. The same journey runs in a real browser from `dashboard-e2e/`.

mod common;

use common::TestServer;
use reqwest::redirect::Policy;
use twin_store::testing::TestDb;

const ADMIN: &str = "dashboard-admin-token-0123456789";

struct Browser {
    srv: TestServer,
    client: reqwest::Client,
    session: String,
    csrf: String,
}

impl Browser {
    async fn sign_in(db: TestDb) -> Browser {
        let srv = TestServer::start_with(db, |state| {
            state.admin_tokens = vec![ADMIN.to_owned()];
        })
        .await;
        srv.owner("ana", "professional").await;
        srv.snapshot("ana", twin_store::SnapshotStatus::Ready, None)
            .await;
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        let (session, csrf) = common::dashboard_session(&srv, &client, ADMIN, "ana").await;
        Browser {
            srv,
            client,
            session,
            csrf,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.srv.url(path))
            .header("Cookie", &self.session)
            .send()
            .await
            .unwrap()
    }

    async fn page(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    /// Submits a form as the page would: the session, the CSRF field, the server's origin.
    async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.client
            .post(self.srv.url(path))
            .header("Cookie", &self.session)
            .header("Origin", &self.srv.base)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&all).unwrap())
            .send()
            .await
            .unwrap()
    }

    /// Follows a 303 to the page that shows a new key once, and returns the plaintext.
    async fn shown_once(&self, res: reqwest::Response) -> (String, String) {
        assert_eq!(res.status(), 303);
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("Max-Age=60"),
            "{cookie}"
        );
        let flash = cookie.split(';').next().unwrap();
        let page = self
            .client
            .get(self.srv.url(&location))
            .header("Cookie", format!("{}; {flash}", self.session))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(
            page.headers()
                .get_all("set-cookie")
                .iter()
                .any(|c| c.to_str().unwrap().starts_with("twin_new_key=;")),
            "the page clears the one-time cookie"
        );
        let html = page.text().await.unwrap();
        let key = html
            .split(r#"<code id="new-key">"#)
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("the plaintext is on the page")
            .to_owned();
        // Reloading shows it no more.
        let again = self.page(&location).await;
        assert!(!again.contains(&key), "shown once only");
        let id = key.split('_').nth(2).unwrap().to_owned();
        (key, id)
    }
}

async fn without_a_session_every_page_sends_to_the_signed_out_page(db: TestDb) {
    let srv = TestServer::start(db).await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    for path in ["/dashboard/", "/dashboard/keys/new", "/dashboard/account"] {
        let res = client.get(srv.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(res.headers()["location"], "/dashboard/signed-out");
    }
    let res = client
        .post(srv.url("/dashboard/keys"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = client
        .get(srv.url("/dashboard/signed-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}

async fn the_key_journey_through_the_pages(db: TestDb) {
    let b = Browser::sign_in(db).await;
    let home = b.get("/dashboard/").await;
    assert_eq!(home.headers()["cache-control"], "no-store");
    let csp = home.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = home.text().await.unwrap();
    assert!(html.contains("No keys yet."), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resource"
    );

    // Create: the plaintext once, then a working key.
    let res = b
        .submit(
            "/dashboard/keys",
            &[
                ("name", "CRM from the dashboard"),
                ("env", "live"),
                ("scopes", "twin:read"),
                ("scopes", "usage:read"),
                ("monthlyQuota", "500"),
                ("rateLimitRpm", "0"),
                ("spendPeriod", "month"),
                ("meta", r#"{"team": "crm"}"#),
            ],
        )
        .await;
    let (key, id) = b.shown_once(res).await;
    let api = |key: String| {
        let srv = &b.srv;
        async move { srv.get("/v1/public/twin/me", &key).await.status().as_u16() }
    };
    assert_eq!(api(key.clone()).await, 200);
    let list = b.page("/dashboard/").await;
    assert!(list.contains("CRM from the dashboard") && list.contains(&format!("atk_live_{id}")));
    assert!(!list.contains(&key), "the list never shows a plaintext");

    // Disable → refused; enable → works.
    let res = b
        .submit(
            &format!("/dashboard/keys/{id}/state"),
            &[("active", "false")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(api(key.clone()).await, 401);
    let res = b
        .submit(
            &format!("/dashboard/keys/{id}/state"),
            &[("active", "true")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(api(key.clone()).await, 200);

    // The limits editor.
    let res = b
        .submit(
            &format!("/dashboard/keys/{id}"),
            &[
                ("name", "CRM (renamed)"),
                ("scopes", "twin:read"),
                ("monthlyQuota", "700"),
                ("rateLimitRpm", "30"),
                ("spendLimit", "25"),
                ("spendPeriod", "week"),
                ("expiresAt", "2030-06-01T08:30"),
                ("meta", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let detail = res.text().await.unwrap();
    assert!(
        detail.contains("Saved.") && detail.contains("CRM (renamed)"),
        "{detail}"
    );
    let view: serde_json::Value = b
        .client
        .get(b.srv.url(&format!("/v1/keys/{id}")))
        .header("Cookie", &b.session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            &view["monthlyQuota"],
            &view["spendLimit"],
            &view["spendPeriod"],
            &view["meta"]
        ),
        (
            &serde_json::json!(700),
            &serde_json::json!("25.000000"),
            &serde_json::json!("week"),
            &serde_json::Value::Null
        )
    );

    // Rotate with a grace period: both keys work.
    let res = b
        .submit(
            &format!("/dashboard/keys/{id}/rotate"),
            &[("gracePeriodSeconds", "600")],
        )
        .await;
    let (new_key, new_id) = b.shown_once(res).await;
    assert_ne!(new_id, id);
    assert_eq!(api(key.clone()).await, 200);
    assert_eq!(api(new_key.clone()).await, 200);

    // The recent-calls panel shows the calls.
    b.srv.usage.flush().await;
    let detail = b.page(&format!("/dashboard/keys/{id}")).await;
    assert!(detail.contains("/v1/public/twin/me"), "recent calls listed");
    assert!(detail.contains("<svg"), "the chart is drawn by the server");

    // Revoke, after the confirmation step: refused.
    let confirm = b.page(&format!("/dashboard/keys/{new_id}/revoke")).await;
    assert!(confirm.contains("cannot be restored"));
    assert_eq!(
        api(new_key.clone()).await,
        200,
        "confirming is not revoking"
    );
    let res = b
        .submit(&format!("/dashboard/keys/{new_id}/revoke"), &[])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(api(new_key).await, 401);
}

async fn forged_forms_change_nothing(db: TestDb) {
    let b = Browser::sign_in(db).await;
    let forge = |csrf: Option<&str>, origin: Option<&str>| {
        let mut body = String::from("name=forged&scopes=twin:read");
        if let Some(csrf) = csrf {
            body.push_str(&format!("&csrf={csrf}"));
        }
        let mut req = b
            .client
            .post(b.srv.url("/dashboard/keys"))
            .header("Cookie", &b.session)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            req = req.header("Origin", origin);
        }
        req.send()
    };
    let own = b.srv.base.clone();
    for (csrf, origin) in [
        (None, Some(own.as_str())),
        (Some("0".repeat(64)), Some(own.as_str())),
        (Some(b.csrf.clone()), Some("https://evil.example")),
        (Some(b.csrf.clone()), None),
    ] {
        let res = forge(csrf.as_deref(), origin).await.unwrap();
        assert_eq!(res.status(), 403, "{csrf:?} {origin:?}");
    }
    let list = b.page("/dashboard/").await;
    assert!(!list.contains("forged"), "nothing was created");
    assert!(list.contains("No keys yet."));
}

async fn languages_and_sign_out(db: TestDb) {
    let b = Browser::sign_in(db).await;
    let res = b.get("/dashboard/?lang=de").await;
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("twin_lang=de")
    );
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"<html lang="de">"#) && html.contains("Deine API-Schlüssel"));
    let res = b
        .client
        .get(b.srv.url("/dashboard/account"))
        .header("Cookie", format!("{}; twin_lang=pt", b.session))
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("Conta"));
    let res = b
        .client
        .get(b.srv.url("/dashboard/"))
        .header("Cookie", &b.session)
        .header("Accept-Language", "fr-CH, en;q=0.5")
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("Vos clés d'API"));

    let res = b.submit("/dashboard/logout", &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/dashboard/signed-out");
    let res = b.get("/dashboard/").await;
    assert_eq!(res.status(), 303, "the session ended on the server");
}

async fn the_webhooks_pages(db: TestDb) {
    let b = Browser::sign_in(db).await;
    let html = b.page("/dashboard/webhooks").await;
    assert!(
        html.contains("No webhooks yet.") && html.contains("all events (*)"),
        "{html}"
    );
    // Without TWIN_WEBHOOKS_ALLOW_PRIVATE a loopback URL is refused, with the reason.
    let res = b
        .submit(
            "/dashboard/webhooks",
            &[("url", "http://127.0.0.1:9/hook"), ("events", "*")],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("only https://"));
    let store = b.srv.store();
    let endpoint = store
        .create_endpoint(twin_store::webhooks::NewEndpoint {
            owner_id: "ana".into(),
            url: "https://hooks.example.com/twin".into(),
            description: "crm".into(),
            events: vec!["key.created".into()],
            enabled: true,
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        })
        .await
        .unwrap();
    let html = b.page("/dashboard/webhooks").await;
    assert!(html.contains("https://hooks.example.com/twin") && html.contains("key.created"));
    assert!(!html.contains("whsec_"), "the secret is never shown again");
    let detail = format!("/dashboard/webhooks/{}", endpoint.id);
    // Ping: queued, shown in the log (no dispatcher runs in this server).
    let res = b.submit(&format!("{detail}/test"), &[]).await;
    assert_eq!(res.status(), 303);
    let html = b.page(&detail).await;
    assert!(html.contains("ping") && html.contains("pending"), "{html}");
    let delivery = store
        .list_deliveries("ana", &endpoint.id, 10, None)
        .await
        .unwrap()
        .items[0]
        .id
        .clone();
    let res = b
        .submit(&format!("{detail}/deliveries/{delivery}/redeliver"), &[])
        .await;
    assert_eq!(res.status(), 303);
    // The editor: description and events change; the URL stays.
    let res = b
        .submit(
            &detail,
            &[
                ("url", "https://hooks.example.com/twin"),
                ("description", "crm and billing"),
                ("events", "key.revoked"),
                ("events", "quota.threshold"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let changed = store.get_endpoint("ana", &endpoint.id).await.unwrap();
    assert_eq!(changed.description, "crm and billing");
    assert_eq!(changed.events, vec!["key.revoked", "quota.threshold"]);
    let res = b
        .submit(&detail, &[("url", "http://10.0.0.8/hook"), ("events", "*")])
        .await;
    assert_eq!(
        res.status(),
        400,
        "a refused URL is refused in the editor too"
    );
    assert_eq!(
        store.get_endpoint("ana", &endpoint.id).await.unwrap().url,
        "https://hooks.example.com/twin"
    );
    // Rotating the secret asks first, then shows the new secret once.
    let confirm = b.page(&format!("{detail}/rotate-secret")).await;
    assert!(confirm.contains("keeps signing for 24 hours"), "{confirm}");
    assert_eq!(
        store
            .get_endpoint("ana", &endpoint.id)
            .await
            .unwrap()
            .secret,
        endpoint.secret,
        "asking is not rotating"
    );
    let res = b.submit(&format!("{detail}/rotate-secret"), &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let secret = html
        .split(r#"<code id="new-secret">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new secret is on the page")
        .to_owned();
    assert!(secret.starts_with("whsec_") && secret != endpoint.secret);
    assert_eq!(
        store
            .get_endpoint("ana", &endpoint.id)
            .await
            .unwrap()
            .secret,
        secret
    );
    assert!(!b.page(&detail).await.contains(&secret), "shown once only");
    // Disable, then delete.
    assert_eq!(
        b.submit(&format!("{detail}/state"), &[("enabled", "false")])
            .await
            .status(),
        303
    );
    assert!(
        !store
            .get_endpoint("ana", &endpoint.id)
            .await
            .unwrap()
            .enabled
    );
    // A forged form (no CSRF token) changes nothing.
    let res = b
        .client
        .post(b.srv.url(&format!("{detail}/delete")))
        .header("Cookie", &b.session)
        .header("Origin", &b.srv.base)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(store.get_endpoint("ana", &endpoint.id).await.is_ok());
    let confirm = b.page(&format!("{detail}/delete")).await;
    assert!(confirm.contains("cannot be undone"), "{confirm}");
    assert!(
        store.get_endpoint("ana", &endpoint.id).await.is_ok(),
        "asking is not deleting"
    );
    assert_eq!(
        b.submit(&format!("{detail}/delete"), &[]).await.status(),
        303
    );
    assert!(store.get_endpoint("ana", &endpoint.id).await.is_err());
    assert_eq!(b.get(&detail).await.status(), 404);
}

async fn the_alert_settings_of_a_key(db: TestDb) {
    let b = Browser::sign_in(db).await;
    let form = b.page("/dashboard/keys/new").await;
    assert!(
        form.contains(r#"name="alertThresholds""#) && form.contains(r#"value="80, 100""#),
        "the form shows the default thresholds"
    );
    let view = |id: String| {
        let b = &b;
        async move {
            b.client
                .get(b.srv.url(&format!("/v1/keys/{id}")))
                .header("Cookie", &b.session)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    // Defaults kept: the key has the default thresholds and no rules.
    let base = [
        ("name", "plain"),
        ("scopes", "twin:read"),
        ("monthlyQuota", "500"),
        ("rateLimitRpm", "0"),
    ];
    let mut fields = base.to_vec();
    fields.extend([("alertThresholds", "80, 100"), ("highUsagePeriod", "hour")]);
    let (_, plain) = b
        .shown_once(b.submit("/dashboard/keys", &fields).await)
        .await;
    let v = view(plain).await;
    assert_eq!(
        (&v["alertThresholds"], &v["alerts"]),
        (&serde_json::json!([80, 100]), &serde_json::Value::Null)
    );
    // Chosen settings.
    let mut fields = base.to_vec();
    fields.extend([
        ("name", "watched"),
        ("alertThresholds", "90, 50%"),
        ("highUsageThreshold", "1000"),
        ("highUsagePeriod", "day"),
        ("failuresThreshold", ""),
        ("failuresPeriod", "hour"),
        ("unusualActivity", "true"),
    ]);
    let (_, id) = b
        .shown_once(b.submit("/dashboard/keys", &fields).await)
        .await;
    let v = view(id.clone()).await;
    assert_eq!(v["alertThresholds"], serde_json::json!([50, 90]));
    assert_eq!(
        v["alerts"],
        serde_json::json!({"highUsage": {"threshold": 1000, "period": "day"}, "unusualActivity": true})
    );
    // The key page shows them in its editor.
    let detail = b.page(&format!("/dashboard/keys/{id}")).await;
    assert!(detail.contains(r#"value="50, 90""#), "{detail}");
    assert!(detail.contains(r#"name="highUsageThreshold" min="1" max="1000000000" value="1000""#));
    assert!(detail.contains(r#"name="unusualActivity" value="true" checked"#));
    // A percentage out of range is refused, naming the field, and nothing changes.
    let editor = [
        ("name", "watched"),
        ("scopes", "twin:read"),
        ("monthlyQuota", "500"),
        ("rateLimitRpm", "0"),
        ("spendPeriod", "month"),
    ];
    let mut bad = editor.to_vec();
    bad.push(("alertThresholds", "120"));
    let res = b.submit(&format!("/dashboard/keys/{id}"), &bad).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("alertThresholds"));
    assert_eq!(
        view(id.clone()).await["alertThresholds"],
        serde_json::json!([50, 90])
    );
    // Emptied: no threshold alerts, no rules.
    let res = b.submit(&format!("/dashboard/keys/{id}"), &editor).await;
    assert_eq!(res.status(), 200);
    let v = view(id.clone()).await;
    assert_eq!(
        (&v["alertThresholds"], &v["alerts"]),
        (&serde_json::json!([]), &serde_json::Value::Null)
    );
}

twin_store::backend_tests!(
    the_alert_settings_of_a_key,
    the_webhooks_pages,
    without_a_session_every_page_sends_to_the_signed_out_page,
    the_key_journey_through_the_pages,
    forged_forms_change_nothing,
    languages_and_sign_out,
);
