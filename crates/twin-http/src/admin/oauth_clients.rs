//! `POST/GET /v1/admin/oauth-clients`, `DELETE /v1/admin/oauth-clients/{id}`: the OAuth
//! clients an operator registers (SPEC §14), whatever `TWIN_OAUTH_REGISTRATION` says.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::Serialize;
use twin_core::input::parse_body;
use twin_core::oauth::{ClientInfo, CreateClientBody, OAuthError};
use utoipa::ToSchema;

use super::{read_body, require_admin};
use crate::error::ApiError;
use crate::state::AppState;

/// The registered clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    /// Oldest first.
    pub items: Vec<ClientInfo>,
}

/// An OAuth refusal of client metadata, as the API's envelope: `INVALID_PARAMETER` naming
/// the field the description starts with.
fn invalid(err: OAuthError) -> ApiError {
    match err.error {
        "invalid_redirect_uri" => {
            ApiError::invalid_parameter("redirect_uris", None, &err.error_description)
        }
        "invalid_client_metadata" => {
            let field = err
                .error_description
                .split([':', ' '])
                .next()
                .unwrap_or("body")
                .to_owned();
            ApiError::invalid_parameter(&field, None, &err.error_description)
        }
        "temporarily_unavailable" => {
            ApiError::from(twin_core::Error::unavailable(err.error_description))
        }
        _ => ApiError::internal(err.error_description),
    }
}

/// Registers an OAuth client. A confidential client's `client_secret` is in this answer
/// only (it is stored as a hash).
#[utoipa::path(
    operation_id = "createOAuthClient",
    tag = "admin",
    request_body = CreateClientBody,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Registered", body = ClientInfo),
        (status = 400, description = "INVALID_PARAMETER (redirect_uris, client_name, token_endpoint_auth_method)", body = crate::error::ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "The admin API is disabled (no admin token configured)", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/oauth-clients")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    crate::query::no_query(&req)?;
    let body: CreateClientBody = parse_body(&read_body(payload).await?)?;
    let info = twin_core::oauth::create_client(&state, body)
        .await
        .map_err(invalid)?;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(info))
}

/// Lists the registered OAuth clients (none removed), without secrets.
#[utoipa::path(
    operation_id = "listOAuthClients",
    tag = "admin",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The clients", body = ClientList),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "The admin API is disabled (no admin token configured)", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/oauth-clients")]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    crate::query::no_query(&req)?;
    let items = twin_core::oauth::list_clients(&state).await?;
    Ok(HttpResponse::Ok().json(ClientList { items }))
}

/// Removes an OAuth client and revokes every grant it holds: its tokens stop on every
/// replica as a revoked key's do.
#[utoipa::path(
    operation_id = "deleteOAuthClient",
    tag = "admin",
    params(("id" = String, Path, description = "Client id (cli_…)")),
    security(("adminToken" = [])),
    responses(
        (status = 204, description = "Removed; its grants are revoked"),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown client, or the admin API is disabled", body = crate::error::ErrorEnvelope),
    )
)]
#[delete("/oauth-clients/{id}")]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    crate::query::no_query(&req)?;
    twin_core::oauth::remove_client(&state, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
