//! OAuth for third-party apps over HTTP (SPEC §14), on both backends: discovery, dynamic
//! registration, the consent page and its form, the code exchange with S256 PKCE, the access
//! token on the public API (metered as a key), refresh rotation and reuse detection,
//! revocation and introspection, the dashboard's *Connected apps* page, and the refusals
//! (wrong redirect URI, missing or `plain` PKCE, a reused code, a scope apps cannot have,
//! CSRF on the consent form, an expired token).

mod common;

use base64::Engine as _;
use common::TestServer;
use reqwest::redirect::Policy;
use sha2::{Digest, Sha256};
use twin_store::testing::TestDb;

const ADMIN: &str = "oauth-admin-token-0123456789abcdef";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXkdBjftJeZ4CVP";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

struct Owner {
    srv: TestServer,
    client: reqwest::Client,
    session: String,
    csrf: String,
}

impl Owner {
    async fn start(db: TestDb) -> Owner {
        let srv = TestServer::start_with(db, |state| {
            state.admin_tokens = vec![ADMIN.to_owned()];
            state.oauth.registration_open = true;
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
        Owner {
            srv,
            client,
            session,
            csrf,
        }
    }

    async fn page(&self, path: &str) -> String {
        let res = self
            .client
            .get(self.srv.url(path))
            .header("Cookie", &self.session)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    async fn register(&self, body: serde_json::Value) -> serde_json::Value {
        let res = self
            .client
            .post(self.srv.url("/oauth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    }

    async fn public_client(&self) -> String {
        let info = self
            .register(serde_json::json!({
                "client_name": "Acme CRM",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
            }))
            .await;
        assert!(info.get("client_secret").is_none());
        info["client_id"].as_str().unwrap().to_owned()
    }

    fn authorize_query(&self, client_id: &str, extra: &[(&str, &str)]) -> String {
        let challenge = challenge(VERIFIER);
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "twin:read"),
            ("state", "s-123"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            pairs.retain(|(name, _)| name != k);
            if !v.is_empty() {
                pairs.push((k, v));
            }
        }
        serde_urlencoded::to_string(&pairs).unwrap()
    }

    /// Submits the consent form as the page does, with `decision`.
    async fn decide(&self, query: &str, decision: &str, csrf: &str) -> reqwest::Response {
        let mut fields: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        fields.push(("csrf".into(), csrf.into()));
        fields.push(("decision".into(), decision.into()));
        self.client
            .post(self.srv.url("/oauth/authorize"))
            .header("Cookie", &self.session)
            .header("Origin", &self.srv.base)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&fields).unwrap())
            .send()
            .await
            .unwrap()
    }

    /// The consent page, approved: the code.
    async fn code(&self, client_id: &str) -> String {
        let query = self.authorize_query(client_id, &[]);
        let page = self.page(&format!("/oauth/authorize?{query}")).await;
        assert!(
            page.contains("Acme CRM") || page.contains("Vault app"),
            "{page}"
        );
        assert!(
            page.contains(r#"name="decision" value="approve""#),
            "{page}"
        );
        let res = self.decide(&query, "approve", &self.csrf).await;
        assert_eq!(res.status(), 303);
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(REDIRECT), "{location}");
        let url = url::Url::parse(&location).unwrap();
        let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "s-123");
        params["code"].clone()
    }

    async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.srv.url("/oauth/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap());
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        req.send().await.unwrap()
    }

    async fn exchange(&self, client_id: &str, code: &str) -> reqwest::Response {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", client_id),
            ],
            None,
        )
        .await
    }

    async fn api(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.srv.url(path))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
    }
}

async fn oauth_error(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    (status, body["error"].as_str().unwrap().to_owned())
}

async fn the_whole_flow_with_a_public_client(db: TestDb) {
    let o = Owner::start(db).await;
    let meta: serde_json::Value = o
        .client
        .get(o.srv.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], o.srv.base);
    assert_eq!(
        meta["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        meta["token_endpoint"],
        format!("{}/oauth/token", o.srv.base)
    );
    assert_eq!(
        meta["registration_endpoint"],
        format!("{}/oauth/register", o.srv.base)
    );
    let resource: serde_json::Value = o
        .client
        .get(o.srv.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        resource["authorization_servers"],
        serde_json::json!([o.srv.base])
    );

    // A 401 of the public API says where to start.
    let res = o.api("/v1/public/twin/preset/estandar", "nope").await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            o.srv.base
        )
    );

    let client_id = o.public_client().await;
    let code = o.code(&client_id).await;
    let res = o.exchange(&client_id, &code).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let tokens: serde_json::Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("ato_live_") && refresh.starts_with("atr_live_"));
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], "twin:read");

    // The token works on the public API like a key with its scopes, metered.
    let res = o.api("/v1/public/twin/preset/estandar", &access).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-ratelimit-limit"));
    let res = o.api("/v1/account", &access).await;
    assert_eq!(res.status(), 403, "account:read was not granted");
    // Usage is logged with the client's id.
    o.srv.usage.flush().await;
    let since = twin_meter::Clock::now(&o.srv.clock) - time::Duration::hours(1);
    assert_eq!(
        o.srv
            .store()
            .client_calls_since(&client_id, since)
            .await
            .unwrap(),
        2
    );
    // The grant's backing key is not among the owner's keys.
    let (owner_key, _) = o
        .srv
        .key_with(
            "ana",
            twin_store::KeyEnv::Live,
            &[twin_store::Scope::KeysRead],
            100,
        )
        .await;
    let keys: serde_json::Value = o
        .srv
        .get("/v1/keys", &owner_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys["items"].as_array().unwrap().len(), 1, "{keys}");

    // Refresh: new tokens; the old refresh token again kills the grant.
    let refreshed = o
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &client_id),
            ],
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: serde_json::Value = refreshed.json().await.unwrap();
    let access2 = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_ne!(access2, access);
    assert_eq!(
        o.api("/v1/public/twin/preset/estandar", &access2)
            .await
            .status(),
        200
    );
    let reuse = o
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &client_id),
            ],
            None,
        )
        .await;
    assert_eq!(oauth_error(reuse).await, (400, "invalid_grant".into()));
    assert_eq!(
        o.api("/v1/public/twin/preset/estandar", &access2)
            .await
            .status(),
        401
    );
    assert_eq!(
        o.api("/v1/public/twin/preset/estandar", &access)
            .await
            .status(),
        401
    );

    // A reused code: refused, and what it issued is revoked.
    let code = o.code(&client_id).await;
    let tokens: serde_json::Value = o.exchange(&client_id, &code).await.json().await.unwrap();
    let access3 = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        o.api("/v1/public/twin/preset/estandar", &access3)
            .await
            .status(),
        200
    );
    let again = o.exchange(&client_id, &code).await;
    assert_eq!(oauth_error(again).await, (400, "invalid_grant".into()));
    assert_eq!(
        o.api("/v1/public/twin/preset/estandar", &access3)
            .await
            .status(),
        401
    );

    // Connected apps: the live grant, revoked from the page.
    let code = o.code(&client_id).await;
    let tokens: serde_json::Value = o.exchange(&client_id, &code).await.json().await.unwrap();
    let access4 = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        o.api("/v1/public/twin/preset/estandar", &access4)
            .await
            .status(),
        200
    );
    let apps = o.page("/dashboard/apps").await;
    assert!(
        apps.contains("Acme CRM") && apps.contains("twin:read"),
        "{apps}"
    );
    let grant = apps
        .split("href=\"/dashboard/apps/")
        .filter_map(|part| part.split_once('"'))
        .find_map(|(path, _)| path.strip_suffix("/revoke"))
        .map(str::to_owned)
        .expect("a revoke button for the live grant");
    // The owner lowers the app's quota: the token is metered by it at once.
    let detail = o.page(&format!("/dashboard/apps/{grant}")).await;
    assert!(detail.contains(r#"name="monthlyQuota""#), "{detail}");
    let res = o
        .client
        .post(o.srv.url(&format!("/dashboard/apps/{grant}")))
        .header("Cookie", &o.session)
        .header("Origin", &o.srv.base)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&monthlyQuota=2&rateLimitRpm=60&spendLimit=",
            o.csrf
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Saved."));
    // One call of the two is spent; at most one more is served (the units this replica had
    // reserved under the old quota come back to the counter in the background), never more.
    let mut served = 0;
    let mut over = o.api("/v1/public/twin/preset/estandar", &access4).await;
    for _ in 0..3 {
        if over.status() != 200 {
            break;
        }
        served += 1;
        over = o.api("/v1/public/twin/preset/estandar", &access4).await;
    }
    assert!(served <= 1, "{served} calls served past the lowered quota");
    assert_eq!(over.status(), 429);
    let (_, err) = common::error_of(over).await;
    assert_eq!(err["code"], "MONTHLY_QUOTA_EXCEEDED", "{err}");
    let confirm = o.page(&format!("/dashboard/apps/{grant}/revoke")).await;
    assert!(confirm.contains("ask for your consent again"), "{confirm}");
    let res = o
        .client
        .post(o.srv.url(&format!("/dashboard/apps/{grant}/revoke")))
        .header("Cookie", &o.session)
        .header("Origin", &o.srv.base)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", o.csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        o.api("/v1/public/twin/preset/estandar", &access4)
            .await
            .status(),
        401
    );
}

async fn refusals(db: TestDb) {
    let o = Owner::start(db).await;
    let client_id = o.public_client().await;
    // A redirect URI the client did not register: said on the page, sent nowhere.
    let query = o.authorize_query(&client_id, &[("redirect_uri", "https://evil.example/cb")]);
    let res = o
        .client
        .get(o.srv.url(&format!("/oauth/authorize?{query}")))
        .header("Cookie", &o.session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // An unknown client: likewise.
    let query = o.authorize_query("cli_0000000000000000", &[]);
    let res = o
        .client
        .get(o.srv.url(&format!("/oauth/authorize?{query}")))
        .header("Cookie", &o.session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Back to the client with an error: plain PKCE, no PKCE, a scope apps cannot have.
    for (extra, error) in [
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        (vec![("scope", "twin:read keys:write")], "invalid_scope"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
    ] {
        let query = o.authorize_query(&client_id, &extra);
        let res = o
            .client
            .get(o.srv.url(&format!("/oauth/authorize?{query}")))
            .header("Cookie", &o.session)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{extra:?}");
        let location = res.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with(REDIRECT)
                && location.contains(&format!("error={error}"))
                && location.contains("state=s-123"),
            "{extra:?}: {location}"
        );
    }
    // The consent form without its CSRF token changes nothing; deny says access_denied.
    let query = o.authorize_query(&client_id, &[]);
    assert_eq!(o.decide(&query, "approve", "forged").await.status(), 403);
    let res = o.decide(&query, "deny", &o.csrf).await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=access_denied")
    );
    // Not signed in: the page says how, and remembers where to come back.
    let res = o
        .client
        .get(o.srv.url(&format!("/oauth/authorize?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let back = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(back.starts_with("twin_return="), "{back}");
    // Signing in with that cookie comes back to the consent page.
    let link: serde_json::Value = o
        .client
        .post(o.srv.url("/v1/admin/owners/ana/login-links"))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = link["url"].as_str().unwrap();
    let res = common::submit_sign_in(
        &o.srv,
        &o.client,
        url,
        &[("Origin", &o.srv.base), ("Cookie", &back)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        format!("/oauth/authorize?{query}")
    );
    // Token endpoint: a wrong verifier, a wrong redirect URI.
    let code = o.code(&client_id).await;
    let res = o
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &"x".repeat(50)),
                ("client_id", &client_id),
            ],
            None,
        )
        .await;
    assert_eq!(oauth_error(res).await, (400, "invalid_grant".into()));
    let code = o.code(&client_id).await;
    let res = o
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/other"),
                ("code_verifier", VERIFIER),
                ("client_id", &client_id),
            ],
            None,
        )
        .await;
    assert_eq!(oauth_error(res).await, (400, "invalid_grant".into()));
    let res = o.token(&[("grant_type", "password")], None).await;
    assert_eq!(
        oauth_error(res).await,
        (400, "unsupported_grant_type".into())
    );
    let res = o
        .client
        .post(o.srv.url("/oauth/token"))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(res).await, (400, "invalid_request".into()));
    // A token reads its own owner's twin and nothing of another owner's.
    o.srv.owner("bob", "professional").await;
    o.srv
        .snapshot("bob", twin_store::SnapshotStatus::Ready, None)
        .await;
    let code = o.code(&client_id).await;
    let tokens: serde_json::Value = o.exchange(&client_id, &code).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let me: serde_json::Value = o
        .api("/v1/public/twin/me", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["userId"], "ana", "{me}");
    assert_eq!(me["env"], "live");
    assert_eq!(me["scopes"], serde_json::json!(["twin:read"]));
    // A downgrade to a plan without API access: 403 PLAN_REQUIRED, as for a key.
    let res = o
        .client
        .patch(o.srv.url("/v1/admin/owners/ana"))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .json(&serde_json::json!({"plan": "free"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, err) = common::error_of(o.api("/v1/public/twin/me", access).await).await;
    assert_eq!((status, err["code"].as_str()), (403, Some("PLAN_REQUIRED")));
    let res = o
        .client
        .patch(o.srv.url("/v1/admin/owners/ana"))
        .header("Authorization", format!("Bearer {ADMIN}"))
        .json(&serde_json::json!({"plan": "professional"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // An expired access token.
    assert_eq!(o.api("/v1/public/twin/me", access).await.status(), 200);
    o.srv.clock.advance(time::Duration::seconds(3601));
    assert_eq!(o.api("/v1/public/twin/me", access).await.status(), 401);
    // A registration with a redirect URI that is neither https nor loopback.
    let res = o
        .client
        .post(o.srv.url("/oauth/register"))
        .json(&serde_json::json!({"redirect_uris": ["http://crm.example.com/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(res).await, (400, "invalid_redirect_uri".into()));
}

async fn a_confidential_client_revokes_and_introspects(db: TestDb) {
    let o = Owner::start(db).await;
    let info = o
        .register(serde_json::json!({
            "client_name": "Vault app",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .await;
    let id = info["client_id"].as_str().unwrap().to_owned();
    let secret = info["client_secret"].as_str().unwrap().to_owned();
    let code = o.code(&id).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let res = o.token(&form, Some((&id, "wrong"))).await;
    assert_eq!(
        res.headers()["www-authenticate"],
        "Basic realm=\"twin-api\""
    );
    assert_eq!(oauth_error(res).await, (401, "invalid_client".into()));
    let code = o.code(&id).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let res = o.token(&form, Some((&id, &secret))).await;
    assert_eq!(res.status(), 200);
    let tokens: serde_json::Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let introspect = |token: String| {
        let o = &o;
        let (id, secret) = (id.clone(), secret.clone());
        async move {
            o.client
                .post(o.srv.url("/oauth/introspect"))
                .basic_auth(id, Some(secret))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("token={token}"))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let active = introspect(access.clone()).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], id.as_str());
    assert_eq!(active["sub"], "ana");
    let res = o
        .client
        .post(o.srv.url("/oauth/revoke"))
        .basic_auth(&id, Some(&secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("token={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(introspect(access.clone()).await["active"], false);
    assert_eq!(o.api("/v1/public/twin/me", &access).await.status(), 401);
}

async fn a_grant_revoked_on_one_replica_is_refused_on_another(db: TestDb) {
    let o = Owner::start(db).await;
    let store = o.srv.store();
    let endpoint = store
        .create_endpoint(twin_store::webhooks::NewEndpoint {
            owner_id: "ana".into(),
            url: "https://hooks.example.com/twin".into(),
            description: String::new(),
            events: vec!["grant.revoked".into()],
            enabled: true,
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        })
        .await
        .unwrap();
    let client_id = o.public_client().await;
    let code = o.code(&client_id).await;
    let tokens: serde_json::Value = o.exchange(&client_id, &code).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let replica = o.srv.start_replica().await;
    let on_replica = || {
        let (replica, access) = (&replica, access.clone());
        async move {
            replica
                .client
                .get(replica.url("/v1/public/twin/health"))
                .header("Authorization", format!("Bearer {access}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(on_replica().await, 200, "the replica has the grant cached");
    let res = o
        .client
        .post(o.srv.url("/oauth/revoke"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("token={access}&client_id={client_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        o.api("/v1/public/twin/health", &access).await.status(),
        401,
        "at once on the replica that revoked"
    );
    let limit = match o.srv.db.backend() {
        twin_store::Backend::Postgres => std::time::Duration::from_millis(1_000),
        twin_store::Backend::Sqlite => std::time::Duration::from_millis(2_000),
    };
    let start = std::time::Instant::now();
    while on_replica().await != 401 {
        assert!(
            start.elapsed() < limit,
            "the other replica still serves the grant"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    eprintln!(
        "grant revocation seen by the other replica after {:?}",
        start.elapsed()
    );
    // The owner's webhooks hear of it.
    let log = store
        .list_deliveries("ana", &endpoint.id, 10, None)
        .await
        .unwrap();
    let types: Vec<&str> = log.items.iter().map(|d| d.event_type.as_str()).collect();
    assert_eq!(types, vec!["grant.revoked"]);
}

async fn operators_register_and_remove_clients(db: TestDb) {
    let o = Owner::start(db).await;
    let admin = |method: reqwest::Method, path: &str| {
        o.client
            .request(method, o.srv.url(path))
            .header("Authorization", format!("Bearer {ADMIN}"))
    };
    let res = admin(reqwest::Method::POST, "/v1/admin/oauth-clients")
        .json(&serde_json::json!({"client_name": "Acme CRM", "redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let info: serde_json::Value = res.json().await.unwrap();
    assert_eq!(info["token_endpoint_auth_method"], "none");
    assert_eq!(info["registered_by"], "operator");
    let client_id = info["client_id"].as_str().unwrap().to_owned();
    let res = admin(reqwest::Method::POST, "/v1/admin/oauth-clients")
        .json(&serde_json::json!({"client_name": "Bad", "redirect_uris": ["ftp://x/cb"]}))
        .send()
        .await
        .unwrap();
    let (status, err) = common::error_of(res).await;
    assert_eq!(
        (status, err["parameter"].as_str()),
        (400, Some("redirect_uris"))
    );
    let list: serde_json::Value = admin(reqwest::Method::GET, "/v1/admin/oauth-clients")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // The operator's client goes through the flow; removing it revokes its grants.
    let code = o.code(&client_id).await;
    let tokens: serde_json::Value = o.exchange(&client_id, &code).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(o.api("/v1/public/twin/me", &access).await.status(), 200);
    let res = admin(
        reqwest::Method::DELETE,
        &format!("/v1/admin/oauth-clients/{client_id}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(o.api("/v1/public/twin/me", &access).await.status(), 401);
    let query = o.authorize_query(&client_id, &[]);
    let res = o
        .client
        .get(o.srv.url(&format!("/oauth/authorize?{query}")))
        .header("Cookie", &o.session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "a removed client cannot ask again");
    let res = admin(
        reqwest::Method::DELETE,
        &format!("/v1/admin/oauth-clients/{client_id}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 404);
}

async fn registration_is_closed_unless_the_operator_opens_it(db: TestDb) {
    let srv = TestServer::start(db).await;
    let meta: serde_json::Value = srv
        .client
        .get(srv.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(meta.get("registration_endpoint").is_none(), "{meta}");
    let res = srv
        .client
        .post(srv.url("/oauth/register"))
        .json(&serde_json::json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(res).await, (400, "access_denied".into()));
}

twin_store::backend_tests!(
    operators_register_and_remove_clients,
    registration_is_closed_unless_the_operator_opens_it,
    a_grant_revoked_on_one_replica_is_refused_on_another,
    the_whole_flow_with_a_public_client,
    refusals,
    a_confidential_client_revokes_and_introspects,
);
