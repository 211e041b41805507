//! `GET /dashboard/login?token=…` shows the sign-in page of a one-time login link;
//! `POST /dashboard/login` (its button) redeems the link for a session cookie.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
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
    /// The page's language (the switcher's links); default from `Accept-Language`.
    #[param(inline)]
    #[allow(dead_code)]
    lang: Option<twin_render::Lang>,
}

fn invalid_link() -> ApiError {
    ApiError::from(twin_core::login::invalid_link())
}

/// The `Set-Cookie` value of a new session: `HttpOnly` (no script reads it),
/// `SameSite=Strict` (no other site's page sends it), `Path=/`, `Max-Age` of the session,
/// and `Secure` when the request came over TLS (directly or through a proxy that says so).
pub fn session_cookie(token: &str, secure: bool) -> String {
    let mut cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}",
        SESSION_TTL.whole_seconds()
    );
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The headers of every dashboard page: no caching of account data, no script or style from
/// anywhere but the server itself (and no inline script), no framing, no referrer (the
/// sign-in page's URL holds a token).
pub fn page_headers(res: &mut actix_web::HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
}

/// The sign-in page a login link opens: a button, nothing consumed. Mail scanners and link
/// previews that fetch the link do not burn it; only the button's POST does.
fn sign_in_page(token: Option<&str>, lang: twin_render::Lang, path: &str) -> maud::Markup {
    use super::i18n::Msg;
    let body = maud::html! {
        @if let Some(token) = token {
            p { (Msg::SignInExplain.t(lang)) }
            form method="post" action="/dashboard/login" {
                input type="hidden" name="token" value=(token);
                button type="submit" { (Msg::SignIn.t(lang)) }
            }
        } @else {
            p { (Msg::LinkInvalid.t(lang)) }
        }
    };
    super::public_page(
        lang,
        Msg::SignIn.t(lang),
        Msg::SignInTitle.t(lang),
        Some(path),
        body,
    )
}

/// Shows the sign-in page of a one-time login link. Consumes nothing: the page's button
/// does (`POST /dashboard/login`).
#[utoipa::path(
    operation_id = "showSignIn",
    tag = "dashboard",
    params(LoginParams),
    responses(
        (status = 200, description = "The sign-in page (HTML) with its button", content_type = "text/html"),
        (status = 400, description = "A page (HTML) saying the link is not valid: no token, or not 64 hex", content_type = "text/html"),
    )
)]
#[get("/dashboard/login")]
pub async fn show(req: HttpRequest) -> HttpResponse {
    // The switcher keeps the token: `/dashboard/login?token=…&lang=xx`.
    let switch_path = match token_of(&req) {
        Some(token) => format!("/dashboard/login?token={token}&"),
        None => "/dashboard/login?".to_owned(),
    };
    // A malformed link still gets a page (saying so), not an API error.
    let params: Option<LoginParams> = parse_query(&req).ok();
    let token = params
        .as_ref()
        .map(|p| p.token.as_str())
        .filter(|t| twin_core::login::is_token(t));
    // A link that cannot be one is a 400, still as a page a person can read.
    let res = match token {
        Some(_) => HttpResponse::Ok(),
        None => HttpResponse::BadRequest(),
    };
    let page = sign_in_page(token, super::i18n::pick(&req).0, &switch_path);
    super::html_response(res, page)
}

/// The request's `token` parameter, if it looks like one (for the switcher's links).
fn token_of(req: &HttpRequest) -> Option<String> {
    req.query_string()
        .split('&')
        .find_map(|p| p.strip_prefix("token="))
        .filter(|t| twin_core::login::is_token(t))
        .map(str::to_owned)
}

/// The sign-in form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInForm {
    /// The token of the login link (64 hex).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub token: String,
}

/// Redeems a one-time login link (the sign-in page's button): opens a dashboard session with
/// a fresh id, sets its cookie and redirects to the dashboard. A link works once, within
/// 15 minutes of being issued. The request must come from the server's own page (`Origin`).
#[utoipa::path(
    operation_id = "redeemLoginLink",
    tag = "dashboard",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: `Set-Cookie: twin_session=…; HttpOnly; SameSite=Lax; Path=/; Max-Age=43200[; Secure]`, `Location: /dashboard/` (or back to the OAuth consent page that sent the owner to sign in)", headers(
            ("Set-Cookie" = String, description = "The session cookie"),
            ("Location" = String, description = "/dashboard/"),
        )),
        (status = 401, description = "INVALID_OR_REVOKED_API_KEY: unknown, used or expired link", body = crate::error::ErrorEnvelope),
        (status = 403, description = "CSRF_FAILED: the request did not come from this server's page (Origin)", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/dashboard/login")]
pub async fn redeem(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !state.web.same_origin(&req) {
        return Err(ApiError::new(
            crate::error::ErrorCode::CsrfFailed,
            "sign in from the page of your login link",
        ));
    }
    // Whatever is wrong with the form, the answer is the same: it does not sign anyone in.
    let form: SignInForm = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| serde_urlencoded::from_str(text).ok())
        .ok_or_else(invalid_link)?;
    let session = redeem_login_link(&state, &form.token).await?;
    let secure = state.web.is_tls(&req);
    // Back to the consent page that asked the owner to sign in, if one did; only that path.
    let back = super::cookie(req.headers(), crate::oauth::RETURN_COOKIE)
        .and_then(|v| {
            url::form_urlencoded::parse(format!("v={v}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        })
        .filter(|v| v.starts_with("/oauth/authorize?") && !v.contains(['\r', '\n']));
    let mut res = HttpResponse::SeeOther();
    page_headers(&mut res);
    if back.is_some() {
        res.append_header((
            header::SET_COOKIE,
            format!(
                "{}=; HttpOnly; SameSite=Lax; Path=/dashboard/login; Max-Age=0",
                crate::oauth::RETURN_COOKIE
            ),
        ));
    }
    Ok(res
        .insert_header((header::LOCATION, back.as_deref().unwrap_or(DASHBOARD_HOME)))
        .append_header((header::SET_COOKIE, session_cookie(&session.token, secure)))
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
            "twin_session=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=43200"
        );
        assert_eq!(session_cookie("abc", true), format!("{plain}; Secure"));
    }
}
