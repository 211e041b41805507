//! The OAuth server's endpoints (SPEC §14): the discovery documents (RFC 8414, RFC 9728),
//! dynamic registration (RFC 7591), `/oauth/authorize` with the consent page in the
//! dashboard's shell and languages, `/oauth/token`, `/oauth/revoke` (RFC 7009) and
//! `/oauth/introspect` (RFC 7662). Errors are answered in OAuth's shape
//! (`{"error", "error_description"}`), not the API's envelope. The flow itself lives in
//! `twin_core::oauth`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::html;
use twin_core::oauth::flow::{Introspector, basic_credentials};
use twin_core::oauth::{
    Authorization, AuthorizeFailure, AuthorizeQuery, ClientInfo, IntrospectRequest, Introspection,
    OAuthError, Registrar, RegistrationRequest, RevokeRequest, TokenRequest, TokenResponse,
    approve, check_authorize, deny, introspect, register, revoke, token,
};

use crate::dashboard::i18n::Msg;
use crate::dashboard::{self, see_other, signed_in};
use crate::state::AppState;

/// The cookie that brings the owner back to the consent page after signing in.
pub const RETURN_COOKIE: &str = "twin_return";

/// An OAuth error answer: its status, `no-store`, and for `invalid_client` a
/// `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2).
pub fn oauth_error(err: &OAuthError) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(err.status())
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if err.error == "invalid_client" {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"twin-api\""));
    }
    res.json(err)
}

fn ok_json(status: actix_web::http::StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// A form body, refusing a repeated parameter (RFC 6749 §3.1) and another content type.
fn form<T: serde::de::DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, OAuthError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::new(
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    pairs_into(body)
}

fn pairs_into<T: serde::de::DeserializeOwned>(text: &[u8]) -> Result<T, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(text)
        .map_err(|_| OAuthError::new("invalid_request", "the parameters are not well formed"))?;
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &pairs {
        if !seen.insert(name.as_str()) {
            return Err(OAuthError::new(
                "invalid_request",
                format!("parameter {name:?} is repeated"),
            ));
        }
    }
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|_| OAuthError::new("invalid_request", "the parameters are not well formed"))
}

fn basic(req: &HttpRequest) -> Result<Option<(String, String)>, OAuthError> {
    match req.headers().get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(v) => {
            let text = v.to_str().unwrap_or_default();
            if text.len() > 6 && text[..6].eq_ignore_ascii_case("basic ") {
                basic_credentials(&format!("Basic {}", &text[6..]))
                    .map(Some)
                    .ok_or_else(|| {
                        OAuthError::new("invalid_client", "the Basic credentials are malformed")
                    })
            } else {
                Ok(None)
            }
        }
    }
}

/// RFC 8414 authorization server metadata: every OAuth endpoint of this server, S256 only,
/// the grantable scopes; `registration_endpoint` only while dynamic registration is open.
#[utoipa::path(
    operation_id = "getAuthorizationServerMetadata",
    tag = "oauth",
    responses(
        (status = 200, description = "The metadata document (JSON)", body = Object),
    )
)]
#[get("/.well-known/oauth-authorization-server")]
pub async fn server_metadata(state: web::Data<AppState>) -> HttpResponse {
    let base = state.web.base_url();
    let mut doc = serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["twin:read", "account:read"],
        "service_documentation": format!("{base}/docs/"),
    });
    if state.oauth.registration_open {
        doc["registration_endpoint"] = format!("{base}/oauth/register").into();
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(doc)
}

/// RFC 9728 protected resource metadata: the API, and which server grants tokens for it.
#[utoipa::path(
    operation_id = "getProtectedResourceMetadata",
    tag = "oauth",
    responses(
        (status = 200, description = "The metadata document (JSON)", body = Object),
    )
)]
#[get("/.well-known/oauth-protected-resource")]
pub async fn resource_metadata(state: web::Data<AppState>) -> HttpResponse {
    let base = state.web.base_url();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(serde_json::json!({
            "resource": base,
            "authorization_servers": [base],
            "scopes_supported": ["twin:read", "account:read"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Twin API",
            "resource_documentation": format!("{base}/docs/"),
        }))
}

/// `WWW-Authenticate` of a 401 from the API (RFC 9728 §5.1).
pub fn www_authenticate(state: &AppState) -> String {
    format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
        state.web.base_url()
    )
}

/// RFC 7591 dynamic client registration, when the operator opened it
/// (`TWIN_OAUTH_REGISTRATION=open`); closed, it answers `access_denied`.
#[utoipa::path(
    operation_id = "registerOAuthClientDynamically",
    tag = "oauth",
    request_body = RegistrationRequest,
    responses(
        (status = 201, description = "Registered; a confidential client's secret is in this answer only", body = ClientInfo),
        (status = 400, description = "invalid_redirect_uri, invalid_client_metadata, or access_denied (registration closed)", body = OAuthError),
    )
)]
#[post("/oauth/register")]
pub async fn register_client(state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let request: RegistrationRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return oauth_error(&OAuthError::new(
                "invalid_client_metadata",
                format!("the body is not RFC 7591 client metadata: {e}"),
            ));
        }
    };
    match register(&state, request, Registrar::Dynamic).await {
        Ok(info) => ok_json(actix_web::http::StatusCode::CREATED, &info),
        Err(e) => oauth_error(&e),
    }
}

/// A page about a request that cannot go back to the client (unknown client, bad
/// redirect URI): said to the owner, sent nowhere.
fn refused_page(req: &HttpRequest, err: &OAuthError) -> HttpResponse {
    let lang = dashboard::i18n::pick(req).0;
    let body = html! {
        p { code { (err.error) } ": " (err.error_description) }
        p { (Msg::OAuthRefused.t(lang)) }
    };
    dashboard::html_response(
        HttpResponse::BadRequest(),
        dashboard::public_page(
            lang,
            Msg::ConnectApp.t(lang),
            Msg::ConnectApp.t(lang),
            None,
            body,
        ),
    )
}

/// The authorization request of a query string or of the consent form's fields, checked;
/// or the answer for one that cannot go on (a page, or back to the client with `error`).
async fn checked_request(
    req: &HttpRequest,
    state: &AppState,
    text: &str,
) -> Result<Authorization, HttpResponse> {
    let query: AuthorizeQuery = pairs_into(text.as_bytes()).map_err(|e| refused_page(req, &e))?;
    check_authorize(state, &query)
        .await
        .map_err(|failure| match failure {
            AuthorizeFailure::Show(e) => refused_page(req, &e),
            AuthorizeFailure::Redirect(location) => see_other(&location),
        })
}

/// The authorization endpoint: the consent page for a signed-in owner (its form's buttons
/// are `decision=approve` and `decision=deny`), or, not signed in, how to sign in and come
/// back. An unknown client or unregistered redirect URI is said on the page and redirected
/// nowhere; any other error goes back to the redirect URI with `error` and `state`.
#[utoipa::path(
    operation_id = "authorize",
    tag = "oauth",
    params(AuthorizeQuery),
    responses(
        (status = 200, description = "The consent page (HTML), or how to sign in first", content_type = "text/html"),
        (status = 303, description = "Back to the client's redirect URI with `error` and `state`", headers(("Location" = String, description = "redirect_uri?error=…&state=…"))),
        (status = 400, description = "A page (HTML): unknown client or redirect URI, sent nowhere", content_type = "text/html"),
    )
)]
#[get("/oauth/authorize")]
pub async fn authorize(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let auth = match checked_request(&req, &state, req.query_string()).await {
        Ok(auth) => auth,
        Err(answer) => return answer,
    };
    let Ok(page) = signed_in(&req, &state).await else {
        // Not signed in: say how, and come back here after signing in.
        let lang = dashboard::i18n::pick(&req).0;
        let back = format!("/oauth/authorize?{}", req.query_string());
        let body = html! {
            p { strong { (auth.client_name) } " " (Msg::WantsAccess.t(lang)) }
            p { (Msg::SignInToConsent.t(lang)) }
        };
        let mut res = dashboard::html_response(
            HttpResponse::Ok(),
            dashboard::public_page(
                lang,
                Msg::ConnectApp.t(lang),
                Msg::ConnectApp.t(lang),
                None,
                body,
            ),
        );
        let secure = if state.web.is_tls(&req) {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{RETURN_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/dashboard/login; Max-Age=900{secure}",
            url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        );
        if let Ok(value) = header::HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
        return res;
    };
    let hidden = [
        ("response_type", Some("code")),
        ("client_id", Some(auth.client_id.as_str())),
        ("redirect_uri", Some(auth.redirect_uri.as_str())),
        ("code_challenge", Some(auth.code_challenge.as_str())),
        ("code_challenge_method", Some("S256")),
        ("state", auth.state.as_deref()),
    ];
    let scope = auth
        .scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let body = html! {
        p { strong { (auth.client_name) } " " (page.t(Msg::WantsAccess)) }
        ul {
            @for s in &auth.scopes {
                li { code { (s.as_str()) } " — " (page.t(if s.as_str() == "twin:read" { Msg::ScopeTwinRead } else { Msg::ScopeAccountRead })) }
            }
        }
        p { (page.t(Msg::ConsentExplain)) " " code { (auth.redirect_uri) } }
        form method="post" action="/oauth/authorize" {
            input type="hidden" name="csrf" value=(page.csrf);
            @for (name, value) in hidden {
                @if let Some(value) = value { input type="hidden" name=(name) value=(value); }
            }
            input type="hidden" name="scope" value=(scope);
            div.toolbar {
                button type="submit" name="decision" value="approve" { (page.t(Msg::Approve)) }
                button.secondary type="submit" name="decision" value="deny" { (page.t(Msg::Deny)) }
            }
        }
    };
    let mut res = page.respond(page.t(Msg::ConnectApp), body);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// The consent form's answer: approve (a code) or deny, back to the client.
#[post("/oauth/authorize")]
pub async fn decide(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let csrf = fields
        .iter()
        .find(|(n, _)| n == "csrf")
        .map(|(_, v)| v.as_str());
    let page = match dashboard::signed_in_post(&req, &state, csrf).await {
        Ok(page) => page,
        Err(res) => return res,
    };
    let decision = fields
        .iter()
        .find(|(n, _)| n == "decision")
        .map(|(_, v)| v.clone());
    let params: Vec<(String, String)> = fields
        .into_iter()
        .filter(|(n, _)| n != "csrf" && n != "decision")
        .collect();
    let text = serde_urlencoded::to_string(&params).unwrap_or_default();
    // The form's fields are checked again, as a new request would be.
    let auth = match checked_request(&req, &state, &text).await {
        Ok(auth) => auth,
        Err(answer) => return answer,
    };
    match decision.as_deref() {
        Some("approve") => match approve(&state, &page.owner, &auth).await {
            Ok(location) => see_other(&location),
            Err(e) => dashboard::pages::refused(&page, &crate::error::ApiError::from(e)),
        },
        Some("deny") => see_other(&deny(&auth)),
        _ => refused_page(
            &req,
            &OAuthError::new("invalid_request", "decision must be approve or deny"),
        ),
    }
}

/// The token endpoint: `authorization_code` (with the PKCE verifier) and `refresh_token`
/// (each refresh token works once; presenting a used one revokes the grant). Confidential
/// clients authenticate with HTTP Basic or `client_secret`.
#[utoipa::path(
    operation_id = "requestToken",
    tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant, invalid_scope, unsupported_grant_type", body = OAuthError),
        (status = 401, description = "invalid_client", body = OAuthError),
    )
)]
#[post("/oauth/token")]
pub async fn token_endpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let result = async {
        let request: TokenRequest = form(&req, &body)?;
        token(&state, request, basic(&req)?).await
    }
    .await;
    match result {
        Ok(tokens) => ok_json(actix_web::http::StatusCode::OK, &tokens),
        Err(e) => oauth_error(&e),
    }
}

/// RFC 7009 revocation: either token of a grant revokes the whole grant; 200 whether or not
/// the token was known.
#[utoipa::path(
    operation_id = "revokeToken",
    tag = "oauth",
    request_body(content = RevokeRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked (or unknown)"),
        (status = 400, description = "invalid_request", body = OAuthError),
        (status = 401, description = "invalid_client", body = OAuthError),
    )
)]
#[post("/oauth/revoke")]
pub async fn revoke_endpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let result = async {
        let request: RevokeRequest = form(&req, &body)?;
        revoke(&state, request, basic(&req)?).await
    }
    .await;
    match result {
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => oauth_error(&e),
    }
}

/// RFC 7662 introspection, for confidential clients (their own tokens) and operators
/// (`Authorization: Bearer <admin token>`).
#[utoipa::path(
    operation_id = "introspectToken",
    tag = "oauth",
    request_body(content = IntrospectRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Whether the token is active, and its grant", body = Introspection),
        (status = 400, description = "invalid_request", body = OAuthError),
        (status = 401, description = "invalid_client", body = OAuthError),
    )
)]
#[post("/oauth/introspect")]
pub async fn introspect_endpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let result = async {
        let request: IntrospectRequest = form(&req, &body)?;
        let who = if crate::admin::require_admin(&req, &state).is_ok() {
            Introspector::Operator
        } else {
            Introspector::Client(basic(&req)?)
        };
        introspect(&state, request, who).await
    }
    .await;
    match result {
        Ok(answer) => ok_json(actix_web::http::StatusCode::OK, &answer),
        Err(e) => oauth_error(&e),
    }
}
