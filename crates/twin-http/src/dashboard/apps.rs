//! The dashboard's *Connected apps* pages (SPEC §13, §14): the apps the owner approved
//! through OAuth, each with its scopes, use and limits (which the owner may change, within
//! the plan, as for a key), and a revoke step. They call the core's grant use cases.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::html;
use twin_core::oauth::GrantLimits;

use super::i18n::Msg;
use super::pages::{field, number, refused, signed_in_form, when};
use super::{Confirm, Page, see_other, signed_in};
use crate::error::ApiError;
use crate::state::AppState;

/// The apps the owner connected through OAuth (SPEC §14): each grant with its scopes, when
/// it was granted, its last call and this month's calls, and a revoke button.
#[get("/dashboard/apps")]
pub async fn apps(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    let grants = match twin_core::oauth::list_grants(&state, &page.owner.id).await {
        Ok(g) => g,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let body = html! {
        @if grants.is_empty() { p { (page.t(Msg::NoApps)) } } @else {
            table {
                thead { tr {
                    th scope="col" { (page.t(Msg::App)) }
                    th scope="col" { (page.t(Msg::Scopes)) }
                    th scope="col" { (page.t(Msg::Granted)) }
                    th scope="col" { (page.t(Msg::LastUsed)) }
                    th.num scope="col" { (page.t(Msg::CallsMonth)) }
                    th scope="col" { (page.t(Msg::Status)) }
                    th scope="col" { (page.t(Msg::Actions)) }
                } }
                tbody {
                    @for g in &grants {
                        tr {
                            td { a href={ "/dashboard/apps/" (g.id) } { (g.client_name) } br; small { code { (g.client_id) } } }
                            td { (g.scopes.join(", ")) }
                            td { (when(&g.granted_at)) }
                            td { (g.last_used_at.as_deref().map(when).unwrap_or_else(|| "–".into())) }
                            td.num { (g.calls_this_month) }
                            td { (if g.status == "active" { page.t(Msg::Active) } else { page.t(Msg::Revoked) }) }
                            td {
                                @if g.status == "active" {
                                    a.button.danger href={ "/dashboard/apps/" (g.id) "/revoke" } { (page.t(Msg::Revoke)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page.respond(page.t(Msg::ConnectedApps), body)
}

/// Asks before revoking an app's access.
#[get("/dashboard/apps/{id}/revoke")]
pub async fn confirm_revoke_app(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    let grant = match twin_core::oauth::get_grant(&state, &page.owner.id, &id).await {
        Ok(g) => g,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    page.confirm(Confirm {
        title: Msg::Revoke,
        subject: html! { strong { (grant.client_name) } " — " (grant.scopes.join(", ")) },
        warning: Msg::RevokeAppConfirm,
        action: &format!("/dashboard/apps/{}/revoke", grant.id),
        button: Msg::Revoke,
        danger: true,
        cancel: "/dashboard/apps",
    })
}

/// Revokes an app's grant: its tokens stop on every replica.
#[post("/dashboard/apps/{id}/revoke")]
pub async fn revoke_app(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, _) = or_answer!(signed_in_form(&req, &state, &body).await);
    match twin_core::oauth::revoke_owner_grant(&state, &page.owner.id, &id).await {
        Ok(()) => see_other("/dashboard/apps"),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

/// One app: what it may do, its use, and its limits editor.
#[get("/dashboard/apps/{id}")]
pub async fn detail(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    app_page(&state, &page, &id, None).await
}

async fn app_page(state: &AppState, page: &Page, id: &str, notice: Option<&str>) -> HttpResponse {
    let g = match twin_core::oauth::get_grant(state, &page.owner.id, id).await {
        Ok(g) => g,
        Err(e) => return refused(page, &ApiError::from(e)),
    };
    let active = g.status == "active";
    let body = html! {
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        dl {
            dt { (page.t(Msg::App)) } dd { code { (g.client_id) } }
            dt { (page.t(Msg::Scopes)) } dd { (g.scopes.join(", ")) }
            dt { (page.t(Msg::Granted)) } dd { (when(&g.granted_at)) }
            dt { (page.t(Msg::LastUsed)) } dd { (g.last_used_at.as_deref().map(when).unwrap_or_else(|| "–".into())) }
            dt { (page.t(Msg::CallsMonth)) } dd { (g.calls_this_month) " / " (g.monthly_quota) }
            dt { (page.t(Msg::Status)) } dd { (if active { page.t(Msg::Active) } else { page.t(Msg::Revoked) }) }
        }
        @if active {
            h2 { (page.t(Msg::Limits)) }
            form method="post" action={ "/dashboard/apps/" (g.id) } {
                input type="hidden" name="csrf" value=(page.csrf);
                div.field {
                    label for="monthlyQuota" { (page.t(Msg::Quota)) }
                    input type="number" id="monthlyQuota" name="monthlyQuota" min="1" max=(page.plan.max_monthly_quota) value=(g.monthly_quota);
                }
                div.field {
                    label for="rateLimitRpm" { (page.t(Msg::RateLimit)) }
                    input type="number" id="rateLimitRpm" name="rateLimitRpm" min="0" max=(page.plan.max_rate_limit_rpm) value=(g.rate_limit_rpm);
                }
                div.field {
                    label for="spendLimit" { (page.t(Msg::SpendCap)) " (" (page.t(Msg::Optional)) ")" }
                    input type="text" id="spendLimit" name="spendLimit" inputmode="decimal" value=(g.spend_limit.clone().unwrap_or_default());
                }
                button type="submit" { (page.t(Msg::Save)) }
            }
            p { a.button.danger href={ "/dashboard/apps/" (g.id) "/revoke" } { (page.t(Msg::Revoke)) } }
        }
        p { a href="/dashboard/apps" { (page.t(Msg::ConnectedApps)) } }
    };
    page.respond(&g.client_name, body)
}

/// Saves an app's limits.
#[post("/dashboard/apps/{id}")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, fields) = or_answer!(signed_in_form(&req, &state, &body).await);
    let limits = (|| -> Result<GrantLimits, ApiError> {
        Ok(GrantLimits {
            monthly_quota: number(&fields, "monthlyQuota")?,
            rate_limit_rpm: number(&fields, "rateLimitRpm")?,
            spend_limit: Some(field(&fields, "spendLimit").map(str::to_owned)),
        })
    })();
    let result = match limits {
        Ok(limits) => twin_core::oauth::update_grant_limits(&state, &page.owner.id, &id, limits)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => app_page(&state, &page, &id, Some(page.t(Msg::Saved))).await,
        Err(e) => refused(&page, &e),
    }
}
