//! The owner dashboard (SPEC §13): server-rendered pages under `/dashboard/` that work without
//! JavaScript, signed in with a one-time login link (`login.rs`). Every page is built from the
//! core's use cases and read models (`twin_core::keys`, `twin_core::reports`), so the
//! dashboard shows and changes exactly what the owner API does.
//!
//! Tokens (login links, sessions) are 32 random bytes from the OS CSPRNG, written as 64
//! lowercase hex characters; only their SHA-256 is stored, so a copy of the database opens
//! no session. Every state-changing form carries the session's CSRF token and must come from
//! the server's own origin.

/// The value of a step that may end the request early, or the answer (a page, a redirect)
/// to send instead. Shared by every page module below.
macro_rules! or_answer {
    ($step:expr) => {
        match $step {
            Ok(value) => value,
            Err(answer) => return answer,
        }
    };
}

mod alerts;
pub mod apps;
pub mod assets;
pub mod chart;
pub mod i18n;
pub mod login;
pub mod pages;
pub mod webhooks;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use maud::{DOCTYPE, Markup, html};
use subtle::ConstantTimeEq;
use twin_meter::plans::Plan;
use twin_render::Lang;
use twin_store::Owner;

pub use twin_core::login::SESSION_TTL;

use self::i18n::{LANG_COOKIE, Msg};
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "twin_session";

/// Where a redeemed link sends the browser.
pub const DASHBOARD_HOME: &str = "/dashboard/";

/// Where a request without a session is sent.
pub const SIGNED_OUT: &str = "/dashboard/signed-out";

/// A signed-in page's context: who, in which language, with which CSRF token.
#[derive(Debug, Clone)]
pub struct Page {
    /// The owner signed in.
    pub owner: Arc<Owner>,
    /// The owner's plan.
    pub plan: Arc<Plan>,
    /// The session's CSRF token (in every form and in `<meta name="csrf-token">`).
    pub csrf: String,
    /// The page's language.
    pub lang: Lang,
    /// Whether the language came from `?lang=` (the page then remembers it in a cookie).
    pub remember_lang: bool,
    /// The session token's hash (for sign-out).
    pub(crate) session_hash: Vec<u8>,
    /// The request's path, for the language switcher's links.
    pub path: String,
}

impl Page {
    /// The text of `msg` in the page's language.
    pub fn t(&self, msg: Msg) -> &'static str {
        msg.t(self.lang)
    }
}

/// The value of the cookie `name`, if the request carries one (the server sets only a few
/// small cookies, so actix's cookie jar is not needed).
pub(crate) fn cookie<'a>(
    headers: &'a actix_web::http::header::HeaderMap,
    name: &str,
) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// The session cookie's value, if the request carries one.
pub(crate) fn session_token(req: &HttpRequest) -> Option<&str> {
    cookie(req.headers(), SESSION_COOKIE)
}

/// A valid dashboard session: whose it is, its CSRF token, its token's hash.
pub(crate) struct Session {
    pub(crate) owner: Owner,
    pub(crate) plan: Plan,
    pub(crate) csrf: String,
    pub(crate) hash: Vec<u8>,
}

/// The request's dashboard session; `Ok(None)` when it carries none, or one that is
/// malformed, unknown or expired. Shared by the pages and the owner API.
pub(crate) async fn current_session(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<Session>, crate::error::ApiError> {
    let Some(token) = session_token(req).filter(|t| twin_core::login::is_token(t)) else {
        return Ok(None);
    };
    let hash = twin_core::login::token_hash(token);
    let Some(session) = state.store.find_session(&hash, state.clock.now()).await? else {
        return Ok(None);
    };
    let owner = match state.store.get_owner(&session.owner_id).await {
        Ok(owner) => owner,
        Err(twin_store::StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let plan = state.plan(&owner.plan);
    Ok(Some(Session {
        owner,
        plan,
        csrf: session.csrf_token,
        hash,
    }))
}

/// Whether `sent` is the session's CSRF token (compared in constant time).
pub(crate) fn csrf_matches(expected: &str, sent: &[u8]) -> bool {
    sent.len() == expected.len() && bool::from(sent.ct_eq(expected.as_bytes()))
}

/// The signed-in page context, or the redirect to the signed-out page.
pub async fn signed_in(req: &HttpRequest, state: &AppState) -> Result<Page, HttpResponse> {
    let session = match current_session(req, state).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return Err(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, SIGNED_OUT))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish());
        }
        Err(e) => return Err(problem_page(req, &e)),
    };
    let (lang, remember_lang) = i18n::pick(req);
    Ok(Page {
        owner: Arc::new(session.owner),
        plan: Arc::new(session.plan),
        csrf: session.csrf,
        lang,
        remember_lang,
        session_hash: session.hash,
        path: req.path().to_owned(),
    })
}

/// A state-changing form's checks: a session, the server's own origin, the session's CSRF
/// token in the form's `csrf` field. Refused: 403 with a page saying so, nothing changed.
pub async fn signed_in_post(
    req: &HttpRequest,
    state: &AppState,
    csrf: Option<&str>,
) -> Result<Page, HttpResponse> {
    let page = signed_in(req, state).await?;
    let token_ok = csrf_matches(&page.csrf, csrf.unwrap_or_default().as_bytes());
    if !state.web.same_origin(req) || !token_ok {
        let err = crate::error::ApiError::new(
            crate::error::ErrorCode::CsrfFailed,
            "this form did not come from your dashboard; reload the page and try again",
        );
        return Err(page.respond_status(
            actix_web::http::StatusCode::FORBIDDEN,
            page.t(Msg::Problem),
            problem_body(&page, &err),
        ));
    }
    Ok(page)
}

/// What a confirmation page asks about: the thing concerned, the warning, and the form
/// (POST with the CSRF token) whose button does it; Cancel goes back to `cancel`.
pub(crate) struct Confirm<'a> {
    pub title: Msg,
    pub subject: Markup,
    pub warning: Msg,
    pub action: &'a str,
    pub button: Msg,
    pub danger: bool,
    pub cancel: &'a str,
}

impl Page {
    /// A confirmation step before something that cannot be undone.
    pub(crate) fn confirm(&self, c: Confirm<'_>) -> HttpResponse {
        let body = maud::html! {
            p { (c.subject) }
            p.warning { (self.t(c.warning)) }
            div.toolbar {
                form.inline method="post" action=(c.action) {
                    input type="hidden" name="csrf" value=(self.csrf);
                    @if c.danger {
                        button.danger type="submit" { (self.t(c.button)) }
                    } @else {
                        button type="submit" { (self.t(c.button)) }
                    }
                }
                a.button.secondary href=(c.cancel) { (self.t(Msg::Cancel)) }
            }
        };
        self.respond(self.t(c.title), body)
    }

    /// A full page: the shell (navigation, language switcher, sign-out) around `body`.
    pub fn respond(&self, title: &str, body: Markup) -> HttpResponse {
        self.respond_status(actix_web::http::StatusCode::OK, title, body)
    }

    /// [`Page::respond`] with another status.
    pub fn respond_status(
        &self,
        status: actix_web::http::StatusCode,
        title: &str,
        body: Markup,
    ) -> HttpResponse {
        let nav = [
            ("/dashboard/", Msg::Keys),
            ("/dashboard/account", Msg::Account),
            ("/dashboard/apps", Msg::ConnectedApps),
            ("/dashboard/webhooks", Msg::Webhooks),
        ];
        let current = |href: &str| {
            if href == "/dashboard/" {
                self.path == "/dashboard/" || self.path.starts_with("/dashboard/keys")
            } else {
                self.path.starts_with(href)
            }
        };
        let markup = html! {
            (DOCTYPE)
            html lang=(self.lang.as_str()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="csrf-token" content=(self.csrf);
                    title { (title) " · Twin API" }
                    link rel="stylesheet" href=(assets::CSS_PATH);
                    link rel="icon" href=(assets::ICON_PATH);
                    script src=(assets::JS_PATH) defer {}
                }
                body {
                    header {
                        nav aria-label="Twin API" {
                            span.brand { "Twin API" }
                            ul {
                                @for (href, msg) in nav {
                                    li {
                                        @if current(href) {
                                            a href=(href) aria-current="page" { (self.t(msg)) }
                                        } @else {
                                            a href=(href) { (self.t(msg)) }
                                        }
                                    }
                                }
                            }
                        }
                        div.session {
                            span.owner { (self.owner.email) }
                            (language_switcher(self.lang, &self.path))
                            form method="post" action="/dashboard/logout" {
                                input type="hidden" name="csrf" value=(self.csrf);
                                button type="submit" { (self.t(Msg::SignOut)) }
                            }
                        }
                    }
                    main id="main" {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        };
        let mut res = HttpResponse::build(status);
        if self.remember_lang {
            res.insert_header((
                header::SET_COOKIE,
                format!(
                    "{LANG_COOKIE}={}; SameSite=Lax; Path=/dashboard; Max-Age=31536000",
                    self.lang.as_str()
                ),
            ));
        }
        html_response(res, markup)
    }
}

/// Links to the same page in each language.
pub fn language_switcher(current: Lang, path: &str) -> Markup {
    let sep = if path.ends_with('?') || path.ends_with('&') {
        ""
    } else {
        "?"
    };
    html! {
        nav.languages aria-label=(Msg::Language.t(current)) {
            ul {
                @for lang in Lang::ALL {
                    li {
                        @if *lang == current {
                            a href={ (path) (sep) "lang=" (lang.as_str()) } lang=(lang.as_str()) aria-current="true" { (i18n::native_name(*lang)) }
                        } @else {
                            a href={ (path) (sep) "lang=" (lang.as_str()) } lang=(lang.as_str()) hreflang=(lang.as_str()) { (i18n::native_name(*lang)) }
                        }
                    }
                }
            }
        }
    }
}

/// The body of a page that reports a refused action.
pub fn problem_body(page: &Page, err: &crate::error::ApiError) -> Markup {
    html! {
        div.problem role="alert" {
            p { (err.0.message()) }
        }
        p { a href="/dashboard/" { (page.t(Msg::BackToKeys)) } }
    }
}

/// A redirect after a form (Post/Redirect/Get), never cached.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// An HTML answer with the dashboard's headers (see [`login::page_headers`]).
pub(crate) fn html_response(
    mut res: actix_web::HttpResponseBuilder,
    markup: Markup,
) -> HttpResponse {
    login::page_headers(&mut res);
    res.content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// A page for someone not signed in (sign-in, signed out, a failure before any session is
/// known): the brand and, when `switch_path` is given, the language switcher above `body`.
pub(crate) fn public_page(
    lang: Lang,
    title: &str,
    heading: &str,
    switch_path: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.as_str()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Twin API" }
                link rel="stylesheet" href=(assets::CSS_PATH);
                link rel="icon" href=(assets::ICON_PATH);
            }
            body {
                @if let Some(path) = switch_path {
                    header { span.brand { "Twin API" } (language_switcher(lang, path)) }
                }
                main id="main" {
                    h1 { (heading) }
                    (body)
                }
            }
        }
    }
}

/// A page for a failure before any session is known (the database is down, say).
fn problem_page(req: &HttpRequest, err: &crate::error::ApiError) -> HttpResponse {
    let (lang, _) = i18n::pick(req);
    let problem = Msg::Problem.t(lang);
    html_response(
        HttpResponse::build(crate::error::status_of(err.0.code())),
        public_page(
            lang,
            problem,
            problem,
            None,
            html! { p { (err.0.message()) } },
        ),
    )
}
