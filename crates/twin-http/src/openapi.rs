//! The OpenAPI document's fixed parts: info, security schemes, shared schemas. Paths are
//! collected from the routes by utoipa-actix-web (see `router.rs`).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
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
                    .description(Some("The same key as a bearer token"))
                    .build(),
            ),
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
