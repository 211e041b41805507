//! A real server on port 0 over a fresh database, and helpers to provision owners, twins and
//! keys through the store.
#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use time::OffsetDateTime;
use time::macros::datetime;
use twin_http::{AppState, ServerOptions};
use twin_keys::KeyFormat;
use twin_meter::ManualClock;
use twin_store::testing::TestDb;
use twin_store::{
    KeyEnv, KeySpec, NewOwner, NewSnapshot, Scope, ScopeSet, SnapshotStatus, Store, StoreConfig,
};

/// The instant tests start at (mid-month, so month-boundary tests can move the clock).
pub const T0: OffsetDateTime = datetime!(2026-11-15 12:00 UTC);

/// A running server.
pub struct TestServer {
    pub base: String,
    pub db: TestDb,
    pub clock: ManualClock,
    pub client: reqwest::Client,
    pub usage: twin_core::usage::UsageLogger,
    handle: ServerHandle,
}

impl TestServer {
    /// Starts a server on `db` with default settings.
    pub async fn start(db: TestDb) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    /// Starts a server on `db`, letting the test adjust the state first.
    pub async fn start_with(db: TestDb, adjust: impl FnOnce(&mut AppState)) -> TestServer {
        let clock = ManualClock::new(T0);
        let store = db.store().clone().with_clock(Arc::new(clock.clone()));
        let mut state = AppState::new(store);
        state.clock = Arc::new(clock.clone());
        adjust(&mut state);
        let usage = state.usage.clone();
        let (base, handle) = spawn(state);
        TestServer {
            base,
            db,
            clock,
            client: reqwest::Client::new(),
            usage,
            handle,
        }
    }

    /// Starts a second server instance on this server's database, as another replica would
    /// run: its own connection pool (a fresh [`Store::connect`] on the same URL), sharing
    /// only the database and this server's clock.
    pub async fn start_replica(&self) -> Replica {
        let store = Store::connect(StoreConfig::new(self.db.url()))
            .await
            .expect("connect the replica's store");
        Replica::start(store, self.clock.clone())
    }

    /// The store the server uses (with the test clock).
    pub fn store(&self) -> Store {
        self.db
            .store()
            .clone()
            .with_clock(Arc::new(self.clock.clone()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `GET path` with `key` in `X-Twin-Key`.
    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("X-Twin-Key", key)
            .send()
            .await
            .unwrap()
    }

    /// Provisions an owner on `plan`.
    pub async fn owner(&self, id: &str, plan: &str) -> String {
        self.store()
            .create_owner(NewOwner {
                id: Some(id.into()),
                email: format!("{id}@example.com"),
                plan: plan.into(),
            })
            .await
            .unwrap()
            .id
    }

    /// Adds a snapshot; a ready one carries the sample twin.
    pub async fn snapshot(
        &self,
        owner: &str,
        status: SnapshotStatus,
        purchase: Option<&str>,
    ) -> String {
        self.store()
            .create_snapshot(
                owner,
                NewSnapshot {
                    source: "purchase".into(),
                    purchase_id: purchase.map(Into::into),
                    status,
                    document: (status == SnapshotStatus::Ready)
                        .then(|| twin_render::SAMPLE_TWIN_JSON.to_owned()),
                },
            )
            .await
            .unwrap()
            .id
    }

    /// Issues a key; returns (plaintext, key id).
    pub async fn key_with(
        &self,
        owner: &str,
        env: KeyEnv,
        scopes: &[Scope],
        quota: i64,
    ) -> (String, String) {
        self.key_custom(owner, |spec| {
            spec.env = env;
            spec.name = "test key".into();
            spec.scopes = ScopeSet::from_iter(scopes.iter().copied());
            spec.monthly_quota = quota;
        })
        .await
    }

    /// A live `twin:read` key (quota 10,000, no rate limit, no cap) adjusted by `adjust`;
    /// returns (plaintext, key id).
    pub async fn key_custom(
        &self,
        owner: &str,
        adjust: impl FnOnce(&mut KeySpec),
    ) -> (String, String) {
        let mut spec = KeySpec {
            owner_id: owner.into(),
            env: KeyEnv::Live,
            name: "custom key".into(),
            scopes: ScopeSet::from_iter([Scope::TwinRead]),
            expires_at: None,
            monthly_quota: 10_000,
            rate_limit_rpm: 0,
            spend_limit: None,
            spend_period: twin_meter::Period::Month,
            created_by: "test".into(),
            rotated_from: None,
            meta: None,
            alerts: Default::default(),
        };
        adjust(&mut spec);
        let (plain, record) = self
            .store()
            .issue_key(&KeyFormat::twin(), &twin_keys::KeyHasher::sha256(), spec)
            .await
            .unwrap();
        (plain.expose_secret().to_owned(), record.id)
    }

    /// A live `twin:read` key with a quota of 10,000.
    pub async fn key(&self, owner: &str) -> String {
        self.key_with(owner, KeyEnv::Live, &[Scope::TwinRead], 10_000)
            .await
            .0
    }

    /// An owner on the professional plan with a ready twin and a live key.
    pub async fn ready_owner(&self, id: &str) -> String {
        self.owner(id, "professional").await;
        self.snapshot(id, SnapshotStatus::Ready, None).await;
        self.key(id).await
    }
}

/// Binds port 0, starts a server with two workers on `state` and returns its base URL and
/// handle.
fn spawn(state: AppState) -> (String, ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = twin_http::serve(listener, state, ServerOptions { workers: Some(2) }).unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    (base, handle)
}

/// A server that does not own its database: a second replica on a [`TestServer`]'s
/// database, or a server on a store that cannot be reached.
pub struct Replica {
    pub base: String,
    pub client: reqwest::Client,
    handle: ServerHandle,
}

impl Replica {
    /// Starts a server on `store`, with `clock` as its time source.
    pub fn start(store: Store, clock: ManualClock) -> Replica {
        Self::start_with_sync(store, clock, twin_core::sync::SyncOptions::default())
    }

    /// [`Replica::start`], letting the test adjust the state first (webhook settings, …).
    pub fn start_configured(
        store: Store,
        clock: ManualClock,
        adjust: impl FnOnce(&mut AppState),
    ) -> Replica {
        let store = store.with_clock(Arc::new(clock.clone()));
        let mut state = AppState::new(store);
        state.clock = Arc::new(clock);
        adjust(&mut state);
        let (base, handle) = spawn(state);
        Replica {
            base,
            client: reqwest::Client::new(),
            handle,
        }
    }

    /// [`Replica::start`] with explicit change-feed settings.
    pub fn start_with_sync(
        store: Store,
        clock: ManualClock,
        sync: twin_core::sync::SyncOptions,
    ) -> Replica {
        let store = store.with_clock(Arc::new(clock.clone()));
        let mut state = AppState::with_sync(store, sync);
        state.clock = Arc::new(clock);
        let (base, handle) = spawn(state);
        Replica {
            base,
            client: reqwest::Client::new(),
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `GET path` with `key` in `X-Twin-Key`.
    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("X-Twin-Key", key)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}

/// Fails when an error body leaks internals: the database library or backend, a panic, or
/// SQL.
pub fn assert_no_internals(body: &str) {
    let lower = body.to_lowercase();
    for word in [
        "diesel",
        "sqlite",
        "postgres",
        "panicked",
        "deadpool",
        "select ",
        "insert into",
        "update ",
        "where ",
        "key_counters",
        "api_keys",
        "connection refused",
    ] {
        assert!(!lower.contains(word), "{word:?} leaked in {body}");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stopping is asynchronous; fire it and let the runtime finish it.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}

/// Reads an error envelope and checks its common fields against the response.
pub async fn error_of(res: reqwest::Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    let request_id = res
        .headers()
        .get("x-request-id")
        .expect("X-Request-Id")
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = res.json().await.expect("a JSON error body");
    let error = body.get("error").expect("an error envelope").clone();
    assert_eq!(
        error["requestId"],
        request_id.as_str(),
        "requestId matches the header"
    );
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error["type"].is_string());
    (status, error)
}

/// Every scope a key can hold.
pub const ALL: &[Scope] = &[
    Scope::TwinRead,
    Scope::KeysRead,
    Scope::KeysWrite,
    Scope::UsageRead,
    Scope::AccountRead,
    Scope::WebhooksRead,
    Scope::WebhooksWrite,
];

/// Sends `method path` with `key` in `X-Twin-Key` and an optional JSON body.
pub async fn send(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut req = srv
        .client
        .request(method, srv.url(path))
        .header("X-Twin-Key", key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// The sign-in page's button: POSTs the token of the login link `url` as its form does,
/// with `headers` (an `Origin`, a forwarded protocol, …).
pub async fn submit_sign_in(
    srv: &TestServer,
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let token = url.split("token=").nth(1).unwrap_or_default();
    let mut req = client
        .post(srv.url("/dashboard/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

/// Signs `owner` in to the dashboard as a browser would (an operator's login link, then its
/// page's button) with `admin_token`, and returns the session cookie (`twin_session=…`) and
/// the session's CSRF token.
#[allow(dead_code)]
pub async fn dashboard_session(
    srv: &TestServer,
    client: &reqwest::Client,
    admin_token: &str,
    owner: &str,
) -> (String, String) {
    let link: serde_json::Value = client
        .post(srv.url(&format!("/v1/admin/owners/{owner}/login-links")))
        .header("Authorization", format!("Bearer {admin_token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = link["url"].as_str().unwrap();
    let res = submit_sign_in(srv, client, url, &[("Origin", &srv.base)]).await;
    assert_eq!(res.status(), 303);
    let session = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = client
        .get(srv.url("/dashboard/"))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split(r#"<meta name="csrf-token" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("every page carries the CSRF token")
        .to_owned();
    (session, csrf)
}
