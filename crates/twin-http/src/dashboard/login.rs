//! `GET /dashboard/login?token=…`: redeem a one-time login link for a session cookie.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde_json::json;
use twin_store::{AuditEvent, NewSession};

use super::{DASHBOARD_HOME, SESSION_COOKIE, SESSION_TTL, is_token, random_token, token_hash};
use crate::error::{ApiError, ErrorCode};
use crate::query::Query;
use crate::state::AppState;

/// The audit trail's actor for a login through a link.
const ACTOR: &str = "login-link";

fn invalid_link() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidOrRevokedApiKey,
        "this login link is not valid: unknown, already used or expired; ask for a new one",
    )
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
    tag = "dashboard",
    params(("token" = String, Query, description = "The token of the login link (64 hex)")),
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
    let query = Query::parse(&req).map_err(|_| invalid_link())?.0;
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    if !is_token(token) {
        return Err(invalid_link());
    }
    let now = state.clock.now();
    let session_token = random_token()?;
    let session = NewSession {
        token_hash: token_hash(&session_token),
        csrf_token: random_token()?,
        expires_at: now + SESSION_TTL,
    };
    let Some(opened) = state
        .store
        .redeem_login_link(&token_hash(token), session, now)
        .await?
    else {
        return Err(invalid_link());
    };
    state
        .store
        .record_audit(AuditEvent {
            owner_id: opened.owner_id.clone(),
            key_id: None,
            event: "dashboard.login".into(),
            actor: ACTOR.into(),
            detail: Some(
                json!({ "sessionExpiresAt": twin_core::time_fmt::iso(opened.expires_at) })
                    .to_string(),
            ),
            at: now,
        })
        .await?;
    let secure = req.connection_info().scheme() == "https";
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, DASHBOARD_HOME))
        .insert_header((header::SET_COOKIE, session_cookie(&session_token, secure)))
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
