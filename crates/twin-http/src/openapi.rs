//! The OpenAPI document's fixed parts: info, security schemes, shared schemas. Paths are
//! collected from the routes by utoipa-actix-web (see `router.rs`).

use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes,
    SecurityScheme,
};
use utoipa::{Modify, OpenApi};

/// The base document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Twin API",
        description = "Serve each user's twin (a personal context profile) to integrators as a \
                       ready-to-inject LLM system prompt, behind API keys that are scoped, metered \
                       and revocable.\n\nEvery error body is `{\"error\": {type, code, message, \
                       requestId, …}}`; every response carries `X-Request-Id`; every authenticated \
                       response carries the `X-Twin-Quota-*` headers.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(crate::error::ErrorEnvelope, crate::error::ErrorBody, crate::error::ErrorCode)),
    tags(
        (name = "public", description = "The public twin API (scope `twin:read`)"),
        (name = "keys", description = "The owner's keys (scopes `keys:read`, `keys:write`)"),
        (name = "account", description = "The owner's profile and usage (scope `account:read`)"),
        (name = "webhooks", description = "Webhook endpoints and their deliveries (scopes `webhooks:read`, `webhooks:write`); events are signed as Standard Webhooks"),
        (name = "oauth", description = "OAuth 2.1 for third-party apps (SPEC §14): discovery, registration, consent, tokens, revocation, introspection. Errors are OAuth's `{error, error_description}`, not the envelope"),
        (name = "admin", description = "The operator API: owners, plans, snapshots, keys on an owner's behalf, login links (admin token)"),
        (name = "dashboard", description = "Dashboard login (one-time links issued by an operator)"),
        (name = "ops", description = "Liveness and readiness"),
    ),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "twinKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Twin-Key",
                "An API key: atk_<live|test>_<8 hex>_<32 hex>",
            ))),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "The same key, in the alternative header",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The same key as a bearer token, or an OAuth access token (ato_live_…, SPEC §14) with the scopes its grant holds",
                    ))
                    .build(),
            ),
        );
        // How an app gets such an access token (SPEC §14): the authorization code flow with
        // PKCE (S256). The token is then sent as `bearer`.
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::AuthorizationCode(AuthorizationCode::with_refresh_url(
                    "/oauth/authorize",
                    "/oauth/token",
                    Scopes::from_iter([
                        ("twin:read", "Read the owner's twin (profile and presets)"),
                        ("account:read", "Read the owner's account (plan and usage)"),
                    ]),
                    "/oauth/token",
                ))],
                "OAuth 2.1 authorization code with PKCE (S256 only); discovery at /.well-known/oauth-authorization-server",
            )),
        );
        components.add_security_scheme(
            "adminToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An operator's admin token (TWIN_ADMIN_TOKEN)"))
                    .build(),
            ),
        );
    }
}

/// What every operation of a kind shares, added once here instead of on each handler: the
/// error statuses any authenticated call can meet, `X-Request-Id` on every response, the
/// quota headers on every authenticated one, `Retry-After` where a retry is asked for; and
/// the configured plans as the enum of `plan`.
pub(crate) fn finish(api: utoipa::openapi::OpenApi, plans: &[&str]) -> serde_json::Value {
    use serde_json::{Value, json};

    let mut doc = serde_json::to_value(&api).expect("the OpenAPI document serializes");
    // Alert thresholds are parsed as JSON numbers and checked as whole percentages; say so.
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for schema in schemas.values_mut() {
            if let Some(items) = schema.pointer_mut("/properties/alertThresholds/items") {
                *items = json!({ "type": "integer", "minimum": 1, "maximum": 100 });
            }
        }
    }
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
        })
    };
    let key_errors = [
        (
            "400",
            "INVALID_PARAMETER: a parameter or body field the server refuses, named in `parameter`",
        ),
        ("401", "INVALID_OR_REVOKED_API_KEY or MISSING_API_KEY"),
        (
            "402",
            "SPEND_LIMIT_EXCEEDED: the key's spend cap for its period is reached",
        ),
        ("403", "MISSING_SCOPE or PLAN_REQUIRED"),
        (
            "429",
            "MONTHLY_QUOTA_EXCEEDED or RATE_LIMITED (with Retry-After)",
        ),
        ("503", "The database is unreachable"),
    ];
    let admin_errors = [
        (
            "400",
            "INVALID_PARAMETER: a parameter or body field the server refuses, named in `parameter`",
        ),
        ("401", "Missing or wrong admin token"),
        ("403", "Not an admin credential"),
        (
            "404",
            "The admin API is disabled (no TWIN_ADMIN_TOKEN), or an unknown resource",
        ),
        ("503", "The database is unreachable"),
    ];
    let header =
        |ty: &str, description: &str| json!({"schema": {"type": ty}, "description": description});
    let schemes = |op: &Value, name: &str| {
        op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|req| req.get(name).is_some()))
    };
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for op in item.values_mut() {
                let (key, admin) = (schemes(op, "twinKey"), schemes(op, "adminToken"));
                let Some(responses) = op["responses"].as_object_mut() else {
                    continue;
                };
                let shared: &[(&str, &str)] = if key {
                    &key_errors
                } else if admin {
                    &admin_errors
                } else {
                    &[]
                };
                for (status, description) in shared {
                    responses
                        .entry(*status)
                        .or_insert_with(|| error(description));
                }
                for (status, response) in responses.iter_mut() {
                    let Some(response) = response.as_object_mut() else {
                        continue;
                    };
                    let headers = response
                        .entry("headers")
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .expect("headers is an object");
                    headers.insert(
                        "X-Request-Id".into(),
                        header(
                            "string",
                            "This request's id (also in every error body as `requestId`)",
                        ),
                    );
                    if key && status != "401" {
                        for (name, ty, description) in [
                            ("X-Twin-Quota-Limit", "integer", "The key's monthly quota"),
                            (
                                "X-Twin-Quota-Used",
                                "integer",
                                "Requests counted this month",
                            ),
                            (
                                "X-Twin-Quota-Remaining",
                                "integer",
                                "Requests left this month",
                            ),
                            (
                                "X-Twin-Quota-Reset",
                                "string",
                                "When the quota resets (ISO 8601)",
                            ),
                        ] {
                            headers
                                .entry(name)
                                .or_insert_with(|| header(ty, description));
                        }
                    }
                    if ["425", "429", "503"].contains(&status.as_str()) {
                        headers.insert(
                            "Retry-After".into(),
                            header("integer", "Seconds to wait before retrying"),
                        );
                    }
                }
            }
        }
    }
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("the document has schemas");
    // A free-form object (key metadata) says so, or generators make it `Record<string, never>`.
    for schema in schemas.values_mut() {
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for property in properties.values_mut() {
            let object = match &property["type"] {
                Value::String(t) => t == "object",
                Value::Array(ts) => ts.iter().any(|t| t == "object"),
                _ => false,
            };
            if object
                && property.get("properties").is_none()
                && property.get("additionalProperties").is_none()
            {
                property["additionalProperties"] = Value::Bool(true);
            }
        }
    }
    // The twin document is the published PCP schema; its `$defs` become components of their
    // own (`TwinLang`, `TwinText`, …), which every generator resolves.
    let mut pcp: Value =
        serde_json::from_str(twin_render::PCP_SCHEMA_JSON).expect("the PCP schema is JSON");
    let defs = pcp
        .as_object_mut()
        .and_then(|p| {
            p.remove("$schema");
            p.remove("$id");
            p.remove("$defs")
        })
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    let component = |def: &str| {
        let mut name = String::from("Twin");
        for part in def.split(['_', '-']) {
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                name.extend(first.to_uppercase());
                name.push_str(chars.as_str());
            }
        }
        name
    };
    let mut text = pcp.to_string();
    let mut hoisted = Vec::new();
    for (def, schema) in &defs {
        hoisted.push((component(def), schema.to_string()));
    }
    for (def, _) in &defs {
        let from = format!("\"#/$defs/{def}\"");
        let to = format!("\"#/components/schemas/{}\"", component(def));
        text = text.replace(&from, &to);
        for (_, schema) in &mut hoisted {
            *schema = schema.replace(&from, &to);
        }
    }
    schemas.insert(
        "TwinDocument".into(),
        serde_json::from_str(&text).expect("the re-rooted PCP schema is JSON"),
    );
    for (name, schema) in hoisted {
        schemas.insert(
            name,
            serde_json::from_str(&schema).expect("a PCP definition is JSON"),
        );
    }
    for body in ["CreateSnapshotBody", "UpdateSnapshotBody"] {
        if let Some(document) = schemas
            .get_mut(body)
            .and_then(|b| b["properties"].get_mut("document"))
        {
            let description = document["description"].clone();
            *document = json!({
                "oneOf": [{"$ref": "#/components/schemas/TwinDocument"}, {"type": "null"}],
                "description": description,
            });
        }
    }
    // What a field's type cannot say: `ready` needs a document; one expiry, not two.
    if let Some(body) = schemas.get_mut("CreateSnapshotBody") {
        body["if"] = json!({"properties": {"status": {"const": "ready"}}, "required": ["status"]});
        body["then"] =
            json!({"required": ["document"], "properties": {"document": {"type": "object"}}});
    }
    if let Some(body) = schemas.get_mut("CreateKeyBody") {
        body["not"] = json!({
            "required": ["expiresAt", "expiresInDays"],
            "properties": {"expiresAt": {"type": "string"}, "expiresInDays": {"type": "number"}},
        });
    }
    let slugs: Vec<Value> = plans.iter().map(|p| json!(p)).collect();
    for (schema, nullable) in [("ProvisionOwnerBody", false), ("UpdateOwnerBody", true)] {
        if let Some(plan) = doc["components"]["schemas"][schema]["properties"].get_mut("plan") {
            let mut values = slugs.clone();
            if nullable {
                values.push(Value::Null);
            }
            plan["enum"] = Value::Array(values);
        }
    }
    doc
}
