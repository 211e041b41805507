//! Every route of the server, wired in one place.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, web};
use utoipa::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::{admin, dashboard, middleware, ops, owner, public, request_id};

/// Registers the documented routes.
pub fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(ops::livez)
        .service(ops::readyz)
        .service(
            scope::scope("/v1/public/twin")
                .service(public::health::health)
                .service(public::me::me)
                .service(public::historic::historic)
                .service(public::snapshot::snapshot)
                .service(public::preset::preset),
        )
        // Before the `/v1` scope: a scope that matches a prefix keeps the request.
        .service(
            scope::scope("/v1/admin")
                .service(admin::owners_create::create)
                .service(admin::owners_get::get)
                .service(admin::owners_update::update)
                .service(admin::snapshots_create::create)
                .service(admin::snapshots_update::update)
                .service(admin::keys_create::create)
                .service(admin::login_links::create)
                .service(admin::metrics::metrics)
                .service(admin::oauth_clients::create)
                .service(admin::oauth_clients::list)
                .service(admin::oauth_clients::remove),
        )
        .service(dashboard::login::show)
        .service(dashboard::login::redeem)
        // OAuth (SPEC §14): answered in OAuth's error shape.
        .service(crate::oauth::server_metadata)
        .service(crate::oauth::resource_metadata)
        .service(crate::oauth::register_client)
        .service(crate::oauth::authorize)
        .service(crate::oauth::token_endpoint)
        .service(crate::oauth::revoke_endpoint)
        .service(crate::oauth::introspect_endpoint)
        .service(
            scope::scope("/v1")
                .service(owner::keys_create::create)
                .service(owner::keys_list::list)
                .service(owner::keys_get::get)
                .service(owner::keys_update::update)
                .service(owner::keys_revoke::revoke)
                .service(owner::keys_rotate::rotate)
                .service(owner::key_usage::usage)
                .service(owner::key_recent::recent)
                .service(owner::account::account)
                .service(owner::account::usage)
                .service(owner::webhooks_create::create_webhook)
                .service(owner::webhooks_list::list_webhooks)
                .service(owner::webhooks_get::get_webhook)
                .service(owner::webhooks_update::update_webhook)
                .service(owner::webhooks_delete::delete_webhook)
                .service(owner::webhooks_rotate::rotate_webhook_secret)
                .service(owner::webhooks_test::test_webhook)
                .service(owner::webhook_deliveries::list_deliveries)
                .service(owner::webhook_deliveries::redeliver),
        );
}

/// The OpenAPI document of the whole API with the built-in plans: the committed
/// `openapi/openapi.json`.
pub fn openapi() -> serde_json::Value {
    openapi_for(&twin_meter::plans::PlanCatalog::builtin().slugs())
}

/// The OpenAPI document as a server with these plans serves it at `/openapi.json`. It is
/// JSON rather than utoipa's types because it says more than they can hold (`if`/`then`,
/// `not`, the PCP schema's `$defs`).
pub fn openapi_for(plans: &[&str]) -> serde_json::Value {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(crate::openapi::ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    crate::openapi::finish(api, plans)
}

/// The served document, serialized once.
#[derive(Debug, Clone)]
pub struct OpenApiJson(pub bytes::Bytes);

impl OpenApiJson {
    /// Serializes `doc`.
    pub fn new(doc: &serde_json::Value) -> Self {
        OpenApiJson(bytes::Bytes::from(doc.to_string()))
    }
}

async fn serve_openapi(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

async fn not_found() -> HttpResponse {
    ApiError::new(ErrorCode::NotFound, "no such route").to_response()
}

/// The application: routes, docs, error envelope and middleware.
pub fn app(
    state: web::Data<AppState>,
    openapi: web::Data<OpenApiJson>,
    allowed: web::Data<middleware::AllowedMethods>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(allowed)
        .app_data(web::PathConfig::default().error_handler(|_, _| {
            ApiError::invalid_parameter("path", None, "malformed path segment").into()
        }))
        .configure(|cfg| {
            routes(&mut ServiceConfig::new(cfg));
        })
        .service(
            SwaggerUi::new("/docs/{_:.*}")
                .config(Config::new(["/openapi.json"]).validator_url("none")),
        )
        .app_data(openapi)
        .route("/openapi.json", web::get().to(serve_openapi))
        // The dashboard's pages are HTML for people, not API operations: not in the document.
        .service(dashboard::assets::css)
        .service(dashboard::assets::js)
        .service(dashboard::assets::icon)
        .service(dashboard::pages::key_list)
        .service(dashboard::pages::new_key)
        .service(dashboard::pages::create)
        .service(dashboard::pages::confirm_revoke)
        .service(dashboard::pages::revoke)
        .service(dashboard::pages::set_state)
        .service(dashboard::pages::rotate)
        .service(dashboard::pages::show_created)
        .service(dashboard::pages::detail)
        .service(dashboard::pages::update)
        .service(dashboard::pages::account)
        .service(dashboard::apps::apps)
        .service(dashboard::webhooks::list)
        .service(dashboard::webhooks::create)
        .service(dashboard::webhooks::detail)
        .service(dashboard::webhooks::ping)
        .service(dashboard::webhooks::set_state)
        .service(dashboard::webhooks::confirm_delete)
        .service(dashboard::webhooks::delete)
        .service(dashboard::webhooks::confirm_rotate)
        .service(dashboard::webhooks::rotate)
        .service(dashboard::webhooks::update)
        .service(dashboard::webhooks::redeliver)
        // The consent form's answer is a dashboard form, not an API operation.
        .service(crate::oauth::decide)
        .service(dashboard::apps::revoke_app)
        .service(dashboard::apps::confirm_revoke_app)
        .service(dashboard::apps::detail)
        .service(dashboard::apps::update)
        .service(dashboard::pages::logout)
        .service(dashboard::pages::signed_out)
        .default_service(web::to(not_found))
        .wrap(actix_web::middleware::from_fn(middleware::metering))
        .wrap_fn(request_id::middleware)
}
