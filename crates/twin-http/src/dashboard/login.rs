//! `GET /dashboard/login?token=…`: redeem a one-time login link for a session cookie.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use twin_core::login::redeem_login_link;
use utoipa::IntoParams;

use super::{DASHBOARD_HOME, SESSION_COOKIE, SESSION_TTL};
use crate::error::ApiError;
use crate::query::parse_query;
use crate::state::AppState;

/// The login link's query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LoginParams {
    /// The token of the login link (64 hex).
    #[param(pattern = "^[0-9a-f]{64}$")]
    token: String,
}

fn invalid_link() -> ApiError {
    ApiError::from(twin_core::login::invalid_link())
}

/// The `Set-Cookie` value of a new session: `HttpOnly` (no script reads it),
/// `SameSite=Strict` (no other site's page sends it), `Path=/`, `Max-Age` of the session,
/// and `Secure` when the request came over TLS (directly or through a proxy that says so).
pub fn session_cookie(token: &str, secure: bool) -> String {
    let mut cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.whole_seconds()
    );
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Redeems a one-time login link: opens a dashboard session, sets its cookie and redirects
/// to the dashboard. A link works once, within 15 minutes of being issued.
#[utoipa::path(
    operation_id = "redeemLoginLink",
    tag = "dashboard",
    params(LoginParams),
    responses(
        (status = 303, description = "Logged in: `Set-Cookie: twin_session=…; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200[; Secure]`, `Location: /dashboard/`", headers(
            ("Set-Cookie" = String, description = "The session cookie"),
            ("Location" = String, description = "/dashboard/"),
        )),
        (status = 401, description = "INVALID_OR_REVOKED_API_KEY: unknown, used or expired link", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/dashboard/login")]
pub async fn redeem(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // Whatever is wrong with the link, the answer is the same: it does not log anyone in.
    let params: LoginParams = parse_query(&req).map_err(|_| invalid_link())?;
    let session = redeem_login_link(&state, &params.token).await?;
    let secure = req.connection_info().scheme() == "https";
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, DASHBOARD_HOME))
        .insert_header((header::SET_COOKIE, session_cookie(&session.token, secure)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // The token is in this URL; do not let it travel on in a Referer.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let plain = session_cookie("abc", false);
        assert_eq!(
            plain,
            "twin_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"
        );
        assert_eq!(session_cookie("abc", true), format!("{plain}; Secure"));
    }
}
