//! The OpenAPI document's own promises (SPEC §11 "The OpenAPI document is exact"): stable,
//! unique operationIds, enums where the server takes a closed set, and the headers every
//! response carries. The live checks (validator, schemathesis, generated SDKs) run from
//! `contract/run.sh`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

fn doc() -> Value {
    twin_http::openapi()
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op));
        }
    }
    out
}

#[test]
fn every_operation_has_its_stable_operation_id() {
    let doc = doc();
    let ids: BTreeMap<String, String> = operations(&doc)
        .into_iter()
        .map(|(m, p, op)| {
            (
                format!("{m} {p}"),
                op["operationId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    // Renaming one breaks every generated SDK's method name: this list only grows.
    let expected: BTreeMap<String, String> = [
        ("GET /dashboard/login", "showSignIn"),
        ("POST /dashboard/login", "redeemLoginLink"),
        (
            "GET /.well-known/oauth-authorization-server",
            "getAuthorizationServerMetadata",
        ),
        (
            "GET /.well-known/oauth-protected-resource",
            "getProtectedResourceMetadata",
        ),
        ("GET /oauth/authorize", "authorize"),
        ("POST /oauth/introspect", "introspectToken"),
        ("POST /oauth/register", "registerOAuthClientDynamically"),
        ("POST /oauth/revoke", "revokeToken"),
        ("POST /oauth/token", "requestToken"),
        ("GET /livez", "getLivez"),
        ("GET /readyz", "getReadyz"),
        ("GET /v1/account", "getAccount"),
        ("GET /v1/account/usage", "getAccountUsage"),
        ("GET /v1/admin/metrics", "getMetrics"),
        ("POST /v1/admin/oauth-clients", "createOAuthClient"),
        ("GET /v1/admin/oauth-clients", "listOAuthClients"),
        ("DELETE /v1/admin/oauth-clients/{id}", "deleteOAuthClient"),
        ("POST /v1/admin/owners", "provisionOwner"),
        ("GET /v1/admin/owners/{id}", "getOwner"),
        ("PATCH /v1/admin/owners/{id}", "updateOwner"),
        ("POST /v1/admin/owners/{id}/keys", "createOwnerKey"),
        ("POST /v1/admin/owners/{id}/login-links", "createLoginLink"),
        ("POST /v1/admin/owners/{id}/snapshots", "createSnapshot"),
        ("PATCH /v1/admin/snapshots/{id}", "updateSnapshot"),
        ("GET /v1/keys", "listKeys"),
        ("POST /v1/keys", "createKey"),
        ("GET /v1/keys/{id}", "getKey"),
        ("DELETE /v1/keys/{id}", "revokeKey"),
        ("PATCH /v1/keys/{id}", "updateKey"),
        ("GET /v1/keys/{id}/recent", "listRecentCalls"),
        ("POST /v1/keys/{id}/rotate", "rotateKey"),
        ("GET /v1/keys/{id}/usage", "getKeyUsage"),
        ("GET /v1/public/twin/health", "getHealth"),
        ("GET /v1/public/twin/historic", "listSnapshots"),
        ("GET /v1/public/twin/me", "getMe"),
        ("GET /v1/public/twin/preset/{slug}", "getPreset"),
        ("GET /v1/public/twin/snapshots/{id}", "getSnapshot"),
        ("GET /v1/webhooks", "listWebhooks"),
        ("POST /v1/webhooks", "createWebhook"),
        ("GET /v1/webhooks/{id}", "getWebhook"),
        ("PATCH /v1/webhooks/{id}", "updateWebhook"),
        ("DELETE /v1/webhooks/{id}", "deleteWebhook"),
        (
            "POST /v1/webhooks/{id}/rotate-secret",
            "rotateWebhookSecret",
        ),
        ("POST /v1/webhooks/{id}/test", "testWebhook"),
        ("GET /v1/webhooks/{id}/deliveries", "listWebhookDeliveries"),
        (
            "POST /v1/webhooks/{id}/deliveries/{deliveryId}/redeliver",
            "redeliverWebhook",
        ),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(ids, expected);
}

#[test]
fn closed_sets_are_enums_under_their_wire_names() {
    let doc = doc();
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} documents {name}"))["schema"]
            .clone()
    };
    let preset = "/v1/public/twin/preset/{slug}";
    assert_eq!(
        param(preset, "format")["enum"],
        json!(["txt", "md", "json", "yaml"])
    );
    assert_eq!(
        param(preset, "lang")["enum"],
        json!(["es", "en", "fr", "de", "it", "pt"])
    );
    assert_eq!(
        param(preset, "variant")["enum"],
        json!(["claude", "gpt", "gemini", "generic"])
    );
    assert_eq!(param(preset, "includeNarratives")["type"], "boolean");
    param(preset, "purchaseId");
    assert_eq!(
        param("/v1/keys", "status")["enum"],
        json!(["active", "disabled", "expired", "revoked"])
    );
    assert_eq!(
        (
            param("/v1/keys", "limit")["minimum"].clone(),
            param("/v1/keys", "limit")["maximum"].clone()
        ),
        (json!(1), json!(100))
    );
    assert_eq!(
        param("/v1/keys/{id}/usage", "since")["enum"],
        json!(["day", "week", "month", "all"])
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["Scope"]["enum"],
        json!([
            "twin:read",
            "keys:read",
            "keys:write",
            "usage:read",
            "account:read",
            "webhooks:read",
            "webhooks:write"
        ])
    );
    assert_eq!(schemas["KeyEnv"]["enum"], json!(["live", "test"]));
    assert_eq!(
        schemas["Period"]["enum"],
        json!(["day", "week", "month", "forever"])
    );
    assert_eq!(
        schemas["ProvisionOwnerBody"]["properties"]["plan"]["enum"],
        json!(["free", "professional"])
    );
    let name = &schemas["CreateKeyBody"]["properties"]["name"];
    assert_eq!(
        (name["minLength"].clone(), name["maxLength"].clone()),
        (json!(1), json!(64))
    );
    for body in [
        "CreateKeyBody",
        "UpdateKeyBody",
        "ProvisionOwnerBody",
        "CreateSnapshotBody",
    ] {
        assert_eq!(
            schemas[body]["additionalProperties"],
            json!(false),
            "{body} refuses unknown fields, so the document says so"
        );
    }
}

#[test]
fn every_response_documents_its_request_id_and_authenticated_ones_their_quota() {
    let doc = doc();
    for (method, path, op) in operations(&doc) {
        let keyed = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("twinKey").is_some()));
        for (status, response) in op["responses"].as_object().unwrap() {
            let headers = &response["headers"];
            assert!(
                headers["X-Request-Id"].is_object(),
                "{method} {path} {status} documents X-Request-Id"
            );
            if keyed && status.starts_with('2') {
                assert!(
                    headers["X-Twin-Quota-Remaining"].is_object(),
                    "{method} {path} {status} documents the quota headers"
                );
            }
            if status == "429" {
                assert!(headers["Retry-After"].is_object(), "{method} {path} 429");
            }
        }
        if keyed {
            for status in ["400", "401", "403", "429"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} documents {status}"
                );
            }
        }
    }
}
