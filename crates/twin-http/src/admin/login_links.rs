//! `POST /v1/admin/owners/{id}/login-links`: a one-time dashboard login link.

use actix_web::{HttpRequest, HttpResponse, post, web};
use twin_core::login::{LoginLink, issue_login_link};

use super::{OPERATOR, require_admin};
use crate::error::ApiError;
use crate::state::AppState;

/// Issues a one-time dashboard login link for an owner: valid 15 minutes, single use.
/// Opening it sets the dashboard session cookie.
#[utoipa::path(
    operation_id = "createLoginLink",
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
    crate::query::no_query(&req)?;
    // Built from TWIN_PUBLIC_URL, never from the request's Host: a forged Host must not turn
    // an operator's link into one that hands the token to another site.
    let link = issue_login_link(&state, &id, state.web.base_url(), OPERATOR).await?;
    Ok(HttpResponse::Created().json(link))
}
