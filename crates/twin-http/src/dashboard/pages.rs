//! The dashboard's pages. Each handler checks the session (and, for a form, its CSRF token
//! and origin), calls a use case of the core, and renders the result; no key logic lives
//! here.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::{Markup, html};
use serde::Deserialize;
use twin_core::keys::create::create_key;
use twin_core::keys::revoke::revoke_key;
use twin_core::keys::rotate::rotate_key;
use twin_core::keys::spec::{CreateKeyBody, UpdateKeyBody};
use twin_core::keys::update::update_key;
use twin_core::keys::{Actor, CreatedKey, KeyView, list_keys};
use twin_core::reports::account::account_usage;
use twin_core::reports::activity::key_activity;
use twin_core::reports::key_usage::{KeyUsageReport, Since, key_usage_of};
use twin_core::reports::recent::recent_calls_of;
use twin_meter::Period;
use twin_store::{KeyEnv, KeyStatus, Scope};

use super::i18n::Msg;
use super::{
    Confirm, Page, SIGNED_OUT, alerts, chart, problem_body, see_other, signed_in, signed_in_post,
};
use crate::error::ApiError;
use crate::state::AppState;

/// A form POST: its fields, after the session, origin and CSRF checks of
/// [`signed_in_post`].
pub(super) async fn signed_in_form(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<(Page, Vec<(String, String)>), HttpResponse> {
    let fields = form_fields(body);
    let page = signed_in_post(req, state, field(&fields, "csrf")).await?;
    Ok((page, fields))
}

/// Who acts in the dashboard: the owner, on their own keys.
fn actor() -> Actor {
    Actor::unlimited("dashboard")
}

fn status_word(page: &Page, status: KeyStatus) -> &'static str {
    page.t(match status {
        KeyStatus::Active => Msg::Active,
        KeyStatus::Disabled => Msg::Disabled,
        KeyStatus::Expired => Msg::Expired,
        KeyStatus::Revoked => Msg::Revoked,
    })
}

fn env_word(page: &Page, env: KeyEnv) -> &'static str {
    page.t(match env {
        KeyEnv::Live => Msg::Live,
        KeyEnv::Test => Msg::Test,
    })
}

fn scopes_text(view: &KeyView) -> String {
    view.scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A date-time of the API (`2026-11-15T12:00:00Z`) as `2026-11-15 12:00 UTC`.
pub(super) fn when(iso: &str) -> String {
    match iso.split_once('T') {
        Some((date, time)) => format!("{date} {} UTC", time.get(..5).unwrap_or(time)),
        None => iso.to_owned(),
    }
}

fn micros(credits: &str) -> i64 {
    credits
        .parse::<twin_meter::Credits>()
        .map(twin_meter::Credits::micros)
        .unwrap_or(0)
}

/// A refused action: its page, with the core's message.
pub(crate) fn refused(page: &Page, err: &ApiError) -> HttpResponse {
    page.respond_status(
        crate::error::status_of(err.0.code()),
        page.t(Msg::Problem),
        problem_body(page, err),
    )
}

fn quota_bar(page: &Page, view: &KeyView) -> Markup {
    html! {
        label {
            span.visually-hidden { (page.t(Msg::Quota)) " " }
            progress value=(view.quota_used.min(view.monthly_quota)) max=(view.monthly_quota.max(1)) {}
        }
        " " (view.quota_used) " / " (view.monthly_quota)
    }
}

fn spend_bar(page: &Page, view: &KeyView) -> Markup {
    html! {
        @match &view.spend_limit {
            Some(limit) => {
                label {
                    span.visually-hidden { (page.t(Msg::Spend)) " " }
                    progress value=(micros(&view.spend_period_used).min(micros(limit))) max=(micros(limit).max(1)) {}
                }
                " " (view.spend_period_used) " / " (limit)
            }
            None => { (view.spend_period_used) " (" (page.t(Msg::NoCap)) ")" }
        }
    }
}

/// Query of the keys page.
#[derive(Debug, Deserialize)]
struct KeysQuery {
    status: Option<KeyStatus>,
    #[allow(dead_code)]
    lang: Option<String>,
}

/// The keys page: every key with its state, scopes, use and limits; filter by status.
#[get("/dashboard/")]
pub async fn key_list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    let query: KeysQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or(KeysQuery {
        status: None,
        lang: None,
    });
    let (items, _) = match list_keys(&state, &page.owner.id, query.status, 100, None).await {
        Ok(listed) => listed,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let filters = [
        (None, Msg::All),
        (Some(KeyStatus::Active), Msg::Active),
        (Some(KeyStatus::Disabled), Msg::Disabled),
        (Some(KeyStatus::Expired), Msg::Expired),
        (Some(KeyStatus::Revoked), Msg::Revoked),
    ];
    let body = html! {
        div.toolbar {
            a.button href="/dashboard/keys/new" { (page.t(Msg::CreateKey)) }
            nav aria-label=(page.t(Msg::Status)) {
                ul.filters {
                    @for (status, msg) in filters {
                        @let href = match status { Some(s) => format!("/dashboard/?status={}", s.as_str()), None => "/dashboard/".into() };
                        li {
                            @if status == query.status {
                                a href=(href) aria-current="true" { (page.t(msg)) }
                            } @else {
                                a href=(href) { (page.t(msg)) }
                            }
                        }
                    }
                }
            }
        }
        @if items.is_empty() {
            p { (page.t(Msg::NoKeys)) }
        } @else {
            table {
                thead {
                    tr {
                        th scope="col" { (page.t(Msg::Name)) }
                        th scope="col" { (page.t(Msg::Prefix)) }
                        th scope="col" { (page.t(Msg::Env)) }
                        th scope="col" { (page.t(Msg::Status)) }
                        th scope="col" { (page.t(Msg::Scopes)) }
                        th scope="col" { (page.t(Msg::Created)) }
                        th scope="col" { (page.t(Msg::LastUsed)) }
                        th scope="col" { (page.t(Msg::Quota)) }
                        th scope="col" { (page.t(Msg::Spend)) }
                    }
                }
                tbody {
                    @for key in &items {
                        tr {
                            td { a href={ "/dashboard/keys/" (key.id) } { (key.name) } }
                            td { code { (key.prefix) } }
                            td { (env_word(&page, key.env)) }
                            td { span class={ "status-" (key.status.as_str()) } { (status_word(&page, key.status)) } }
                            td { (scopes_text(key)) }
                            td { (when(&key.created_at)) }
                            td { @match &key.last_used_at { Some(t) => (when(t)), None => (page.t(Msg::Never)) } }
                            td { (quota_bar(&page, key)) }
                            td { (spend_bar(&page, key)) }
                        }
                    }
                }
            }
        }
    };
    page.respond(page.t(Msg::YourKeys), body)
}

fn scope_checkboxes(page: &Page, checked: &[Scope]) -> Markup {
    html! {
        fieldset {
            legend { (page.t(Msg::Scopes)) }
            @for scope in Scope::ALLOWED {
                @let id = format!("scope-{}", scope.replace(':', "-"));
                label for=(id) {
                    @if checked.iter().any(|s| s.as_str() == *scope) {
                        input type="checkbox" id=(id) name="scopes" value=(scope) checked;
                    } @else {
                        input type="checkbox" id=(id) name="scopes" value=(scope);
                    }
                    " " code { (scope) }
                }
            }
        }
    }
}

fn period_select(page: &Page, id: &str, current: Period) -> Markup {
    html! {
        div.field {
            label for=(id) { (page.t(Msg::SpendPeriod)) }
            select id=(id) name="spendPeriod" {
                @for period in Period::ALL {
                    @if period == current {
                        option value=(period.as_str()) selected { (period.as_str()) }
                    } @else {
                        option value=(period.as_str()) { (period.as_str()) }
                    }
                }
            }
        }
    }
}

/// The create-key form.
#[get("/dashboard/keys/new")]
pub async fn new_key(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    let plan = page.plan.clone();
    let body = html! {
        form method="post" action="/dashboard/keys" {
            input type="hidden" name="csrf" value=(page.csrf);
            div.field {
                label for="name" { (page.t(Msg::Name)) }
                input type="text" id="name" name="name" required maxlength="64" autocomplete="off";
            }
            div.field {
                label for="env" { (page.t(Msg::Env)) }
                select id="env" name="env" {
                    option value="live" selected { (page.t(Msg::Live)) }
                    option value="test" { (page.t(Msg::Test)) }
                }
            }
            (scope_checkboxes(&page, &[Scope::TwinRead]))
            div.field {
                label for="expiresInDays" { (page.t(Msg::ExpiresInDays)) " (" (page.t(Msg::Optional)) ")" }
                input type="number" id="expiresInDays" name="expiresInDays" min="1" max="3650";
            }
            div.field {
                label for="monthlyQuota" { (page.t(Msg::Quota)) }
                input type="number" id="monthlyQuota" name="monthlyQuota" min="1" max=(plan.max_monthly_quota) value=(plan.default_monthly_quota);
            }
            div.field {
                label for="rateLimitRpm" { (page.t(Msg::RateLimit)) }
                input type="number" id="rateLimitRpm" name="rateLimitRpm" min="0" max=(plan.max_rate_limit_rpm) value=(plan.default_rate_limit_rpm);
            }
            div.field {
                label for="spendLimit" { (page.t(Msg::SpendCap)) " (" (page.t(Msg::Optional)) ")" }
                input type="text" id="spendLimit" name="spendLimit" inputmode="decimal" placeholder="12.50";
            }
            (period_select(&page, "spendPeriod", Period::Month))
            (alerts::fields(&page, &twin_store::KeyAlerts::default()))
            div.field {
                label for="meta" { (page.t(Msg::Metadata)) " (" (page.t(Msg::Optional)) ")" }
                textarea id="meta" name="meta" rows="3" placeholder=r#"{"team": "crm"}"# {}
            }
            button type="submit" { (page.t(Msg::Create)) }
        }
    };
    page.respond(page.t(Msg::CreateKey), body)
}

/// The spellings of [`Period`], for a refused `spendPeriod`.
const PERIOD_NAMES: &[&str] = &["day", "week", "month", "forever"];

/// A form's fields, repeated names (`scopes`) collected.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
}

pub(super) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A form field as an integer, or a refusal naming it.
pub(super) fn number(fields: &[(String, String)], name: &str) -> Result<Option<i64>, ApiError> {
    field(fields, name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::invalid_parameter(name, None, "expected a whole number"))
        })
        .transpose()
}

fn scopes_of(fields: &[(String, String)]) -> Result<Vec<Scope>, ApiError> {
    fields
        .iter()
        .filter(|(n, _)| n == "scopes")
        .map(|(_, v)| {
            v.parse::<Scope>()
                .map_err(|_| ApiError::invalid_parameter("scopes", Some(Scope::ALLOWED), ""))
        })
        .collect()
}

fn meta_of(fields: &[(String, String)]) -> Result<Option<twin_store::KeyMeta>, ApiError> {
    field(fields, "meta")
        .map(|text| {
            serde_json::from_str::<twin_store::KeyMeta>(text).map_err(|_| {
                ApiError::invalid_parameter(
                    "meta",
                    None,
                    "a JSON object such as {\"team\": \"crm\"}",
                )
            })
        })
        .transpose()
}

fn enum_of<T: std::str::FromStr>(
    fields: &[(String, String)],
    name: &str,
    allowed: &'static [&'static str],
) -> Result<Option<T>, ApiError> {
    field(fields, name)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| ApiError::invalid_parameter(name, Some(allowed), ""))
        })
        .transpose()
}

/// The cookie that carries a new key's plaintext from the creating POST to the page that
/// shows it (Post/Redirect/Get): read once and cleared there, so reloading that page, or
/// going back, shows nothing, and no duplicate key is made. It lives 60 seconds at most,
/// only for that page's path, and every replica can read it (the browser carries it).
const NEW_KEY_COOKIE: &str = "twin_new_key";

/// The answer to a creation or rotation: to the page that shows the plaintext once.
fn to_shown_once(state: &AppState, req: &HttpRequest, created: &CreatedKey) -> HttpResponse {
    let path = format!("/dashboard/keys/{}/created", created.view.id);
    let secure = if state.web.is_tls(req) {
        "; Secure"
    } else {
        ""
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, path.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::SET_COOKIE,
            format!(
                "{NEW_KEY_COOKIE}={}; HttpOnly; SameSite=Strict; Path={path}; Max-Age=60{secure}",
                created.key
            ),
        ))
        .finish()
}

/// Shows a new key's plaintext, this once (see [`NEW_KEY_COOKIE`]).
#[get("/dashboard/keys/{id}/created")]
pub async fn show_created(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    let plaintext = super::cookie(req.headers(), NEW_KEY_COOKIE)
        .map(str::to_owned)
        // Only this key's plaintext, and only one that is this owner's key.
        .filter(|key| key.split('_').nth(2) == Some(id.as_str()));
    let record = match state.store.get_owner_key(&page.owner.id, &id).await {
        Ok(record) => record,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let mut res = shown_once(&page, &record.id, plaintext.as_deref(), page.t(Msg::NewKey));
    let clear = format!(
        "{NEW_KEY_COOKIE}=; HttpOnly; SameSite=Strict; Path=/dashboard/keys/{id}/created; Max-Age=0"
    );
    if let Ok(value) = header::HeaderValue::from_str(&clear) {
        res.headers_mut().append(header::SET_COOKIE, value);
    }
    res
}

/// The page that shows a new key's plaintext, this once.
fn shown_once(page: &Page, id: &str, plaintext: Option<&str>, title: &str) -> HttpResponse {
    let Some(plaintext) = plaintext else {
        return page.respond(
            title,
            html! {
                p { (page.t(Msg::NotShownAgain)) }
                p { a href={ "/dashboard/keys/" (id) } { (page.t(Msg::Details)) } " · " a href="/dashboard/" { (page.t(Msg::BackToKeys)) } }
            },
        );
    };
    let body = html! {
        div.secret {
            code id="new-key" { (plaintext) }
            button.secondary type="button" data-copy="new-key" data-copied="✓" hidden { (page.t(Msg::Copy)) }
        }
        p.warning role="note" { (page.t(Msg::ShownOnce)) }
        p {
            a href={ "/dashboard/keys/" (id) } { (page.t(Msg::Details)) }
            " · "
            a href="/dashboard/" { (page.t(Msg::BackToKeys)) }
        }
    };
    page.respond(title, body)
}

/// Creates a key from the form and shows its plaintext once (never again: reloading this
/// POST's result is not possible, and no page shows it later).
#[post("/dashboard/keys")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, fields) = or_answer!(signed_in_form(&req, &state, &body).await);
    let body = || -> Result<CreateKeyBody, ApiError> {
        let (alert_thresholds, alerts) = alerts::for_create(&fields)?;
        Ok(CreateKeyBody {
            name: field(&fields, "name").unwrap_or_default().to_owned(),
            env: enum_of(&fields, "env", KeyEnv::ALLOWED)?,
            scopes: Some(scopes_of(&fields)?),
            expires_at: None,
            expires_in_days: number(&fields, "expiresInDays")?,
            monthly_quota: number(&fields, "monthlyQuota")?,
            rate_limit_rpm: number(&fields, "rateLimitRpm")?,
            spend_limit: field(&fields, "spendLimit").map(str::to_owned),
            spend_period: enum_of(&fields, "spendPeriod", PERIOD_NAMES)?,
            meta: meta_of(&fields)?,
            alert_thresholds,
            alerts,
        })
    };
    let body = match body() {
        Ok(body) => body,
        Err(e) => return refused(&page, &e),
    };
    match create_key(&state, &page.owner, &page.plan, body, &actor()).await {
        Ok(created) => to_shown_once(&state, &req, &created),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

fn breakdown(page: &Page, title: Msg, rows: Vec<(String, i64, Option<String>)>) -> Markup {
    html! {
        section {
            h3 { (page.t(title)) }
            table {
                thead { tr { th scope="col" { (page.t(title)) } th.num scope="col" { (page.t(Msg::Calls)) } th.num scope="col" { (page.t(Msg::Credits)) } } }
                tbody {
                    @for (name, calls, cost) in rows {
                        tr { td { code { (name) } } td.num { (calls) } td.num { (cost.unwrap_or_else(|| "–".into())) } }
                    }
                }
            }
        }
    }
}

fn breakdowns(page: &Page, report: &KeyUsageReport) -> Markup {
    if report.total_calls == 0 {
        return html! { p { (page.t(Msg::NoCalls)) } };
    }
    html! {
        div.breakdowns {
            (breakdown(page, Msg::ByEndpoint, report.by_endpoint.iter().map(|e| (e.route.clone(), e.calls, Some(e.cost.clone()))).collect()))
            (breakdown(page, Msg::ByStatus, report.by_status.iter().map(|s| (s.status.to_string(), s.calls, None)).collect()))
            (breakdown(page, Msg::ByVariant, report.by_variant.iter().map(|v| (v.variant.clone(), v.calls, None)).collect()))
        }
    }
}

/// The key page: limits editor, stat cards, quota and spend progress, calls per day,
/// breakdowns, recent calls, and enable/disable, rotate and revoke.
#[get("/dashboard/keys/{id}")]
pub async fn detail(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    match key_page(&state, &page, &id, None).await {
        Ok(res) => res,
        Err(e) => refused(&page, &e),
    }
}

async fn key_page(
    state: &AppState,
    page: &Page,
    id: &str,
    notice: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let record = state.store.get_owner_key(&page.owner.id, id).await?;
    let view = KeyView::for_core(&record, state);
    // The key is read once, with its owner checked; the reports take it from here.
    let activity = key_activity(state, &record).await?;
    let report = key_usage_of(state, &record, Since::Month).await?;
    let recent = recent_calls_of(state, &record, 20).await?;
    let now = state.clock.now();
    let quota_reset = twin_meter::next_month_start(now);
    let spend_reset = view.spend_period.next_reset(now);
    let rate = |r: Option<f64>| r.map_or("–".to_owned(), |r| format!("{:.1} %", r * 100.0));
    let editable = view.status != KeyStatus::Revoked;
    let body = html! {
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        p {
            code { (view.prefix) } " · " (env_word(page, view.env)) " · "
            span class={ "status-" (view.status.as_str()) } { (status_word(page, view.status)) }
            " · " (scopes_text(&view))
            @if let Some(expires) = &view.expires_at { " · " (page.t(Msg::Expires)) " " (when(expires)) }
        }
        div.cards {
            div.card { div.label { (page.t(Msg::CallsToday)) } div.value { (activity.today) } }
            div.card { div.label { (page.t(Msg::CallsWeek)) } div.value { (activity.week) } }
            div.card { div.label { (page.t(Msg::CallsMonth)) } div.value { (activity.month) } }
            div.card { div.label { (page.t(Msg::SuccessRate)) } div.value { (rate(activity.success_rate)) } }
            div.card { div.label { (page.t(Msg::CreditsPeriod)) } div.value { (view.spend_period_used) } }
        }
        div.bars {
            div { strong { (page.t(Msg::Quota)) } " " (quota_bar(page, &view)) " — " (page.t(Msg::Resets)) " " (when(&twin_meter::iso8601(quota_reset))) }
            div { strong { (page.t(Msg::Spend)) } " " (spend_bar(page, &view))
                @if let Some(reset) = spend_reset { " — " (page.t(Msg::Resets)) " " (when(&twin_meter::iso8601(reset))) } }
        }
        h2 { (page.t(Msg::CallsPerDay)) }
        (chart::calls_per_day(&activity.chart, page.t(Msg::CallsPerDay), page.t(Msg::Successes), page.t(Msg::Errors)))
        h2 { (page.t(Msg::CallsMonth)) }
        (breakdowns(page, &report))
        h2 id="recent" { (page.t(Msg::RecentCalls)) }
        p { a.button.secondary href={ "/dashboard/keys/" (view.id) "#recent" } { (page.t(Msg::Refresh)) } }
        @if recent.items.is_empty() { p { (page.t(Msg::NoCalls)) } }
        table data-recent=(view.id) {
            thead { tr {
                th scope="col" { (page.t(Msg::When)) } th scope="col" { (page.t(Msg::Route)) }
                th.num scope="col" { (page.t(Msg::Status)) } th.num scope="col" { (page.t(Msg::Duration)) }
                th.num scope="col" { (page.t(Msg::Credits)) }
            } }
            tbody {
                @for call in &recent.items {
                    tr { td { (call.at) } td { (call.method) " " (call.route) } td.num { (call.status) } td.num { (format!("{:.3}", call.duration_ms)) } td.num { (call.cost) } }
                }
            }
        }
        @if editable {
            h2 { (page.t(Msg::Limits)) }
            form method="post" action={ "/dashboard/keys/" (view.id) } {
                input type="hidden" name="csrf" value=(page.csrf);
                div.field {
                    label for="name" { (page.t(Msg::Name)) }
                    input type="text" id="name" name="name" required maxlength="64" value=(view.name);
                }
                (scope_checkboxes(page, &view.scopes))
                div.field {
                    label for="monthlyQuota" { (page.t(Msg::Quota)) }
                    input type="number" id="monthlyQuota" name="monthlyQuota" min="1" max=(page.plan.max_monthly_quota) value=(view.monthly_quota);
                }
                div.field {
                    label for="rateLimitRpm" { (page.t(Msg::RateLimit)) }
                    input type="number" id="rateLimitRpm" name="rateLimitRpm" min="0" max=(page.plan.max_rate_limit_rpm) value=(view.rate_limit_rpm);
                }
                div.field {
                    label for="spendLimit" { (page.t(Msg::SpendCap)) " (" (page.t(Msg::Optional)) ")" }
                    input type="text" id="spendLimit" name="spendLimit" inputmode="decimal" value=(view.spend_limit.clone().unwrap_or_default());
                }
                (period_select(page, "spendPeriod", view.spend_period))
                div.field {
                    label for="expiresAt" { (page.t(Msg::Expires)) " (UTC, " (page.t(Msg::Optional)) ")" }
                    input type="datetime-local" id="expiresAt" name="expiresAt" value=(local_minutes(view.expires_at.as_deref()));
                }
                (alerts::fields(page, &record.alerts))
                div.field {
                    label for="meta" { (page.t(Msg::Metadata)) " (" (page.t(Msg::Optional)) ")" }
                    textarea id="meta" name="meta" rows="3" {
                        (view.meta.as_ref().map(|m| serde_json::Value::Object(m.clone()).to_string()).unwrap_or_default())
                    }
                }
                button type="submit" { (page.t(Msg::Save)) }
            }
            h2 { (page.t(Msg::Actions)) }
            div.toolbar {
                form.inline method="post" action={ "/dashboard/keys/" (view.id) "/state" } {
                    input type="hidden" name="csrf" value=(page.csrf);
                    @if view.is_active {
                        input type="hidden" name="active" value="false";
                        button.secondary type="submit" { (page.t(Msg::Disable)) }
                    } @else {
                        input type="hidden" name="active" value="true";
                        button.secondary type="submit" { (page.t(Msg::Enable)) }
                    }
                }
                a.button.danger href={ "/dashboard/keys/" (view.id) "/revoke" } { (page.t(Msg::Revoke)) }
            }
            @if record.rotated_to.is_none() && matches!(view.status, KeyStatus::Active | KeyStatus::Disabled) {
                form method="post" action={ "/dashboard/keys/" (view.id) "/rotate" } {
                    input type="hidden" name="csrf" value=(page.csrf);
                    div.field {
                        label for="grace" { (page.t(Msg::GraceSeconds)) }
                        input type="number" id="grace" name="gracePeriodSeconds" min="0" max="604800" value="3600";
                    }
                    button type="submit" { (page.t(Msg::Rotate)) }
                }
            }
        }
        p { a href="/dashboard/" { (page.t(Msg::BackToKeys)) } }
    };
    Ok(page.respond(&view.name, body))
}

/// An API time (`2026-11-15T12:00:00Z`) as a `datetime-local` value (`2026-11-15T12:00`).
fn local_minutes(iso: Option<&str>) -> String {
    iso.and_then(|t| t.get(..16)).unwrap_or_default().to_owned()
}

/// The expiry the limits editor asks for: unchanged (`None`) when the field shows the key's
/// current expiry, removed when emptied, else the field's UTC minute.
fn expiry_change(field: Option<&str>, current: Option<&str>) -> Option<Option<String>> {
    let field = field.unwrap_or_default();
    if field == local_minutes(current) {
        return None;
    }
    if field.is_empty() {
        return Some(None);
    }
    let with_seconds = if field.len() == 16 {
        format!("{field}:00")
    } else {
        field.to_owned()
    };
    Some(Some(format!("{with_seconds}Z")))
}

/// Saves the limits editor (every field of PATCH; enabling and disabling have their buttons).
#[post("/dashboard/keys/{id}")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, fields) = or_answer!(signed_in_form(&req, &state, &body).await);
    let (current, current_alerts) = match state.store.get_owner_key(&page.owner.id, &id).await {
        Ok(record) => (record.expires_at.map(twin_meter::iso8601), record.alerts),
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let body = || -> Result<UpdateKeyBody, ApiError> {
        let (alert_thresholds, alerts) = alerts::for_update(&fields, &current_alerts)?;
        Ok(UpdateKeyBody {
            name: field(&fields, "name").map(str::to_owned),
            expires_at: expiry_change(field(&fields, "expiresAt"), current.as_deref()),
            scopes: Some(scopes_of(&fields)?),
            monthly_quota: number(&fields, "monthlyQuota")?,
            rate_limit_rpm: number(&fields, "rateLimitRpm")?,
            spend_limit: Some(field(&fields, "spendLimit").map(str::to_owned)),
            spend_period: enum_of(&fields, "spendPeriod", PERIOD_NAMES)?,
            meta: Some(meta_of(&fields)?),
            is_active: None,
            alert_thresholds,
            alerts,
        })
    };
    let result = match body() {
        Ok(body) => update_key(&state, &page.owner.id, &id, &page.plan, body, &actor())
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => match key_page(&state, &page, &id, Some(page.t(Msg::Saved))).await {
            Ok(res) => res,
            Err(e) => refused(&page, &e),
        },
        Err(e) => refused(&page, &e),
    }
}

/// Enables or disables a key.
#[post("/dashboard/keys/{id}/state")]
pub async fn set_state(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, fields) = or_answer!(signed_in_form(&req, &state, &body).await);
    let active = field(&fields, "active") == Some("true");
    let body = UpdateKeyBody {
        is_active: Some(active),
        ..UpdateKeyBody::default()
    };
    match update_key(&state, &page.owner.id, &id, &page.plan, body, &actor()).await {
        Ok(_) => see_other(&format!("/dashboard/keys/{id}")),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

/// Rotates a key with the chosen grace period and shows the new key once.
#[post("/dashboard/keys/{id}/rotate")]
pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, fields) = or_answer!(signed_in_form(&req, &state, &body).await);
    let grace = match number(&fields, "gracePeriodSeconds") {
        Ok(grace) => grace.unwrap_or(0),
        Err(e) => return refused(&page, &e),
    };
    match rotate_key(&state, &page.owner.id, &id, &page.plan, grace, &actor()).await {
        Ok(rotated) => to_shown_once(&state, &req, &rotated.created),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

/// The confirmation step of a revocation.
#[get("/dashboard/keys/{id}/revoke")]
pub async fn confirm_revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    let record = match state.store.get_owner_key(&page.owner.id, &id).await {
        Ok(record) => record,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let back = format!("/dashboard/keys/{}", record.id);
    page.confirm(Confirm {
        title: Msg::Revoke,
        subject: html! { code { (record.prefix) } " — " (record.name) },
        warning: Msg::RevokeConfirm,
        action: &format!("{back}/revoke"),
        button: Msg::Revoke,
        danger: true,
        cancel: &back,
    })
}

/// Revokes a key (after the confirmation step).
#[post("/dashboard/keys/{id}/revoke")]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, _) = or_answer!(signed_in_form(&req, &state, &body).await);
    match revoke_key(&state, &page.owner.id, &id, &actor()).await {
        Ok(_) => see_other(&format!("/dashboard/keys/{id}")),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

/// Query of the account page.
#[derive(Debug, Deserialize)]
struct AccountQuery {
    month: Option<String>,
    #[allow(dead_code)]
    lang: Option<String>,
}

/// The account page: plan and limits, the month's calls and credits per key, snapshots.
#[get("/dashboard/account")]
pub async fn account(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    let query: AccountQuery =
        serde_urlencoded::from_str(req.query_string()).unwrap_or(AccountQuery {
            month: None,
            lang: None,
        });
    let usage = match account_usage(&state, &page.owner.id, query.month.as_deref()).await {
        Ok(usage) => usage,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let snapshots = match state.store.list_snapshots(&page.owner.id, 50, None).await {
        Ok(page) => page.items,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let plan = &page.plan;
    let unlimited = page.t(Msg::Unlimited);
    let body = html! {
        h2 { (page.t(Msg::Plan)) ": " (plan.name) }
        table {
            tbody {
                tr { th scope="row" { (page.t(Msg::MaxKeys)) } td.num { (plan.max_keys) } }
                tr { th scope="row" { (page.t(Msg::Quota)) } td.num { (plan.max_monthly_quota) } }
                tr { th scope="row" { (page.t(Msg::RateLimit)) } td.num {
                    @if plan.max_rate_limit_rpm == 0 { (unlimited) } @else { (plan.max_rate_limit_rpm) } } }
            }
        }
        h2 { (page.t(Msg::UsageIn)) " " (usage.month) }
        form.toolbar method="get" action="/dashboard/account" {
            label for="month" { (page.t(Msg::UsageIn)) }
            input type="month" id="month" name="month" value=(usage.month);
            button.secondary type="submit" { (page.t(Msg::Show)) }
        }
        table {
            thead { tr { th scope="col" { (page.t(Msg::Name)) } th scope="col" { (page.t(Msg::Prefix)) } th.num scope="col" { (page.t(Msg::Calls)) } th.num scope="col" { (page.t(Msg::Credits)) } } }
            tbody {
                @for key in &usage.keys {
                    tr { td { a href={ "/dashboard/keys/" (key.key_id) } { (key.name) } } td { code { (key.prefix) } } td.num { (key.calls) } td.num { (key.cost) } }
                }
                tr { th scope="row" colspan="2" { (page.t(Msg::Total)) } td.num { (usage.total_calls) } td.num { (usage.total_cost) } }
            }
        }
        h2 { (page.t(Msg::Snapshots)) }
        @if snapshots.is_empty() { p { (page.t(Msg::NoSnapshots)) } } @else {
            table {
                thead { tr { th scope="col" { (page.t(Msg::Version)) } th scope="col" { (page.t(Msg::Status)) } th scope="col" { (page.t(Msg::Created)) } } }
                tbody {
                    @for snapshot in &snapshots {
                        tr { td.num { (snapshot.version) } td { (snapshot.status.as_str()) } td { (when(&twin_meter::iso8601(snapshot.created_at))) } }
                    }
                }
            }
        }
    };
    page.respond(page.t(Msg::Account), body)
}

/// Ends the session on the server and clears its cookie.
#[post("/dashboard/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, _) = or_answer!(signed_in_form(&req, &state, &body).await);
    if let Err(e) = state.store.delete_session(&page.session_hash).await {
        return refused(&page, &ApiError::from(e));
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, SIGNED_OUT))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::SET_COOKIE,
            format!(
                "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
                super::SESSION_COOKIE
            ),
        ))
        .finish()
}

/// The page after sign-out (and for any request without a session).
#[get("/dashboard/signed-out")]
pub async fn signed_out(req: HttpRequest) -> HttpResponse {
    let (lang, _) = super::i18n::pick(&req);
    let title = Msg::SignedOut.t(lang);
    super::html_response(
        HttpResponse::build(StatusCode::OK),
        super::public_page(
            lang,
            title,
            title,
            Some(SIGNED_OUT),
            html! { p { (Msg::AskForLink.t(lang)) } },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_field_changes_only_what_was_edited() {
        let current = Some("2027-01-31T23:59:59Z");
        assert_eq!(expiry_change(Some("2027-01-31T23:59"), current), None);
        assert_eq!(expiry_change(Some(""), current), Some(None));
        assert_eq!(expiry_change(Some(""), None), None);
        assert_eq!(
            expiry_change(Some("2027-02-01T08:30"), current),
            Some(Some("2027-02-01T08:30:00Z".into()))
        );
    }
}
