//! `POST /v1/admin/owners/{id}/login-links`: a one-time dashboard login link.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Serialize;
use serde_json::json;
use time::Duration;
use twin_store::NewLoginLink;
use utoipa::ToSchema;

use super::{OPERATOR, audit, require_admin};
use crate::dashboard::{random_token, token_hash};
use crate::error::ApiError;
use crate::state::AppState;
use crate::time_fmt::iso;

/// How long a login link works: 15 minutes.
pub const LOGIN_LINK_TTL: Duration = Duration::minutes(15);

/// A login link, to hand to the owner.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginLink {
    /// The URL to open; it works once, within 15 minutes.
    #[schema(example = "https://twin.example.com/dashboard/login?token=9f2c…")]
    pub url: String,
    /// When it stops working.
    pub expires_at: String,
}

/// Issues a one-time login link for `owner_id` under `base_url` and audits it; shared by the
/// admin API and the CLI. Only the SHA-256 of the token is stored.
pub async fn issue_login_link(
    state: &AppState,
    owner_id: &str,
    base_url: &str,
    actor: &str,
) -> Result<LoginLink, ApiError> {
    let token = random_token()?;
    let expires_at = state.clock.now() + LOGIN_LINK_TTL;
    state
        .store
        .create_login_link(NewLoginLink {
            token_hash: token_hash(&token),
            owner_id: owner_id.to_owned(),
            created_by: actor.to_owned(),
            expires_at,
        })
        .await?;
    audit(
        state,
        owner_id,
        "login_link.issued",
        actor,
        json!({ "expiresAt": iso(expires_at) }),
    )
    .await?;
    Ok(LoginLink {
        url: format!(
            "{}/dashboard/login?token={token}",
            base_url.trim_end_matches('/')
        ),
        expires_at: iso(expires_at),
    })
}

/// The base URL of this server as the request reached it (scheme and host, honouring
/// `Forwarded` / `X-Forwarded-*` from a proxy in front).
pub fn request_base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// Issues a one-time dashboard login link for an owner: valid 15 minutes, single use.
/// Opening it sets the dashboard session cookie.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Owner id")),
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "The link", body = LoginLink),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown owner, or the admin API is disabled", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/owners/{id}/login-links")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let link = issue_login_link(&state, &id, &request_base_url(&req), OPERATOR).await?;
    Ok(HttpResponse::Created().json(link))
}
