//! Probes, request ids, unknown routes and methods, the OpenAPI document and the bundled
//! Swagger UI, over real HTTP on SQLite and PostgreSQL.

mod common;

use common::{TestServer, error_of};
use twin_store::testing::TestDb;

/// The five public endpoints, as the OpenAPI document names their paths.
const PUBLIC_PATHS: [&str; 5] = [
    "/v1/public/twin/health",
    "/v1/public/twin/me",
    "/v1/public/twin/historic",
    "/v1/public/twin/snapshots/{id}",
    "/v1/public/twin/preset/{slug}",
];

fn request_id(res: &reqwest::Response) -> String {
    res.headers()
        .get("x-request-id")
        .expect("X-Request-Id on every response")
        .to_str()
        .unwrap()
        .to_owned()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn livez_and_readyz_answer_200_without_a_key(db: TestDb) {
    let srv = TestServer::start(db).await;
    let mut ids = Vec::new();
    for (path, status) in [("/livez", "ok"), ("/readyz", "ready")] {
        let res = srv.client.get(srv.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let id = request_id(&res);
        assert!(id.starts_with("req_"), "a generated id: {id}");
        assert!(
            !res.headers().contains_key("x-twin-quota-used"),
            "probes are not metered"
        );
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], status, "{path}");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "each request has its own id");
}

async fn a_sane_caller_request_id_is_echoed_and_others_are_replaced(db: TestDb) {
    let srv = TestServer::start(db).await;
    let url = srv.url("/livez");
    for sane in ["abc-123", "lb.7f3a_Z-9", &"a".repeat(64)] {
        let res = srv
            .client
            .get(&url)
            .header("X-Request-Id", sane)
            .send()
            .await
            .unwrap();
        assert_eq!(request_id(&res), sane);
    }
    // The echoed id is also the one in an error body.
    let res = srv
        .client
        .get(srv.url("/v1/public/twin/me"))
        .header("X-Request-Id", "trace-42")
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(res).await;
    assert_eq!((status, err["requestId"].as_str()), (401, Some("trace-42")));

    for insane in ["has space", "semi;colon", "<script>", "", &"a".repeat(65)] {
        let res = srv
            .client
            .get(&url)
            .header("X-Request-Id", insane)
            .send()
            .await
            .unwrap();
        let id = request_id(&res);
        assert_ne!(id, insane);
        assert!(id.starts_with("req_"), "{insane:?} replaced by {id}");
    }
}

async fn an_unknown_route_answers_404_in_the_envelope(db: TestDb) {
    let srv = TestServer::start(db).await;
    for path in [
        "/nope",
        "/v1/public/twin",
        "/v1/public/twin/",
        "/v1/public/twin/unknown",
        "/v1/public/twin/preset",
        "/livez/extra",
        "/docs/no-such-file.js",
    ] {
        let res = srv.client.get(srv.url(path)).send().await.unwrap();
        let (status, err) = error_of(res).await;
        assert_eq!(
            (status, err["type"].as_str(), err["code"].as_str()),
            (404, Some("NOT_FOUND"), Some("NOT_FOUND")),
            "{path}"
        );
    }
}

async fn a_wrong_method_answers_405_in_the_envelope_with_allow(db: TestDb) {
    let srv = TestServer::start(db).await;
    let key = srv.ready_owner("ana").await;
    for (method, path) in [
        (reqwest::Method::POST, "/v1/public/twin/health"),
        (reqwest::Method::PUT, "/v1/public/twin/preset/estandar"),
        (reqwest::Method::DELETE, "/livez"),
        (reqwest::Method::POST, "/readyz"),
        (reqwest::Method::POST, "/openapi.json"),
    ] {
        let res = srv
            .client
            .request(method.clone(), srv.url(path))
            .header("X-Twin-Key", &key)
            .send()
            .await
            .unwrap();
        let allow = res
            .headers()
            .get("allow")
            .unwrap_or_else(|| panic!("Allow on {method} {path}"))
            .to_str()
            .unwrap()
            .to_owned();
        assert!(allow.contains("GET"), "{method} {path}: Allow: {allow}");
        let (status, err) = error_of(res).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (405, Some("METHOD_NOT_ALLOWED")),
            "{method} {path}"
        );
    }
    // A refused method consumed nothing.
    let res = srv.get("/v1/public/twin/health", &key).await;
    assert_eq!(res.headers()["x-twin-quota-used"], "0");
}

async fn openapi_json_documents_the_public_api_and_matches_the_committed_copy(db: TestDb) {
    let srv = TestServer::start(db).await;
    let res = srv
        .client
        .get(srv.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    let doc: serde_json::Value = res.json().await.expect("valid JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "openapi: {}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Twin API");
    assert!(doc["info"]["version"].is_string());
    for path in PUBLIC_PATHS {
        let get = &doc["paths"][path]["get"];
        assert!(get.is_object(), "GET {path} is documented");
        assert!(
            get["security"].is_array(),
            "GET {path} names its security schemes"
        );
        assert!(
            get["responses"]["401"].is_object(),
            "GET {path} documents its 401"
        );
    }
    for path in ["/livez", "/readyz"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    let schemas = &doc["components"]["schemas"];
    for name in ["ErrorEnvelope", "ErrorBody", "ErrorCode"] {
        assert!(schemas[name].is_object(), "schema {name}");
    }
    let codes: Vec<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode lists the codes")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for code in [
        "MISSING_API_KEY",
        "INVALID_API_KEY_FORMAT",
        "INVALID_OR_REVOKED_API_KEY",
        "CONFLICTING_CREDENTIALS",
        "MONTHLY_QUOTA_EXCEEDED",
        "SERVICE_UNAVAILABLE",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["twinKey"]["in"], "header");
    assert_eq!(schemes["twinKey"]["name"], "X-Twin-Key");
    assert_eq!(schemes["apiKey"]["name"], "X-API-Key");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");

    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");
    let committed = std::fs::read_to_string(committed_path)
        .unwrap_or_else(|e| panic!("{committed_path}: {e}; run `cargo xtask openapi generate`"));
    let committed: serde_json::Value =
        serde_json::from_str(&committed).expect("the committed copy is JSON");
    let paths = |d: &serde_json::Value| -> Vec<String> {
        d["paths"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert!(
        committed == doc,
        "openapi/openapi.json differs from GET /openapi.json: run `cargo xtask openapi \
         generate`\n committed paths: {:?}\n served paths:    {:?}",
        paths(&committed),
        paths(&doc)
    );
}

async fn swagger_ui_is_served_from_the_server_itself_with_the_validator_off(db: TestDb) {
    let srv = TestServer::start(db).await;
    let res = srv.client.get(srv.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "it is Swagger UI");

    // Every asset the page names is relative and loads from this server.
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attr) {
            let rest = &html[at + attr.len()..];
            let value = &rest[..rest.find('"').unwrap()];
            assets.push(value.to_owned());
        }
    }
    assert!(
        assets.iter().any(|a| a.ends_with("swagger-initializer.js")),
        "{assets:?}"
    );
    for asset in &assets {
        assert!(
            !asset.contains("//"),
            "{asset} is loaded from outside the server"
        );
        let path = format!("/docs/{}", asset.trim_start_matches("./"));
        let res = srv.client.get(srv.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(!res.bytes().await.unwrap().is_empty(), "{path}");
    }

    let init = srv
        .client
        .get(srv.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let compact: String = init.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        compact.contains(r#""validatorUrl":"none""#),
        "no call to the public validator: {init}"
    );
    assert!(compact.contains(r#""/openapi.json""#), "{init}");
    assert!(
        !init.contains("http://") && !init.contains("https://"),
        "no external URL in the initializer: {init}"
    );

    // `/docs` without the slash leads to the same page.
    let res = no_redirects().get(srv.url("/docs")).send().await.unwrap();
    if res.status().is_redirection() {
        let location = res.headers()["location"].to_str().unwrap();
        assert!(
            location == "/docs/" || location == srv.url("/docs/"),
            "redirects to {location}"
        );
    } else {
        assert_eq!(res.status(), 200, "/docs serves or redirects");
        assert!(res.text().await.unwrap().contains("swagger-ui"));
    }
}

twin_store::backend_tests!(
    livez_and_readyz_answer_200_without_a_key,
    a_sane_caller_request_id_is_echoed_and_others_are_replaced,
    an_unknown_route_answers_404_in_the_envelope,
    a_wrong_method_answers_405_in_the_envelope_with_allow,
    openapi_json_documents_the_public_api_and_matches_the_committed_copy,
    swagger_ui_is_served_from_the_server_itself_with_the_validator_off,
);
