//! The dashboard's *Webhooks* pages (SPEC §13, §15): the owner's endpoints, a form to add
//! one (its signing secret shown once, on the answer to that form), and per endpoint its
//! settings editor, delivery log with a redeliver button, a test ping, enable/disable,
//! secret rotation and delete (each of the last two behind a confirmation page). Every
//! action is a plain form POST (no JavaScript needed) that calls the same core use cases
//! as `/v1/webhooks`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::{Markup, html};
use twin_core::webhooks::{
    CreateWebhookBody, EventSelector, UpdateWebhookBody, WebhookView, WebhookWithSecret,
};

use super::i18n::Msg;
use super::pages::{field, refused, signed_in_form, when};
use super::{Confirm, Page, see_other, signed_in};
use crate::error::ApiError;
use crate::state::AppState;

fn state_word(page: &Page, view: &WebhookView) -> String {
    if view.enabled {
        page.t(Msg::Active).to_owned()
    } else if view.disabled_reason.as_deref() == Some("failing") {
        page.t(Msg::FailingDisabled).to_owned()
    } else {
        page.t(Msg::Disabled).to_owned()
    }
}

fn events_text(view: &WebhookView) -> String {
    view.events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The event checkboxes, `checked` ticked (ids prefixed, so two forms can share a page).
fn event_boxes(page: &Page, checked: &[EventSelector]) -> Markup {
    html! {
        fieldset {
            legend { (page.t(Msg::Events)) }
            @for selector in EventSelector::ALL {
                label.choice {
                    input type="checkbox" name="events" value=(selector.as_str()) checked[checked.contains(&selector)];
                    " "
                    @if selector == EventSelector::All { (page.t(Msg::AllEvents)) } @else { code { (selector.as_str()) } }
                }
                " "
            }
        }
    }
}

/// The ticked event types; none ticked is every event (`*`), as a new endpoint has.
fn events_of(fields: &[(String, String)]) -> Result<Vec<EventSelector>, ApiError> {
    let mut events = Vec::new();
    for (name, value) in fields {
        if name == "events" {
            let selector = serde_json::from_value(serde_json::Value::String(value.clone()))
                .map_err(|_| {
                    ApiError::invalid_parameter("events", None, "one of the listed event types")
                })?;
            events.push(selector);
        }
    }
    if events.is_empty() {
        events.push(EventSelector::All);
    }
    Ok(events)
}

/// The page that shows a signing secret, this once (`no-store`): after creation and after
/// a rotation.
fn secret_page(page: &Page, created: &WebhookWithSecret) -> HttpResponse {
    let view = &created.endpoint;
    let markup = html! {
        p { a href={ "/dashboard/webhooks/" (view.id) } { (view.url) } }
        p { strong { (page.t(Msg::SigningSecret)) } }
        div.secret {
            code id="new-secret" { (created.secret) }
            button.secondary type="button" data-copy="new-secret" data-copied="✓" hidden { (page.t(Msg::Copy)) }
        }
        p {
            a href={ "/dashboard/webhooks/" (view.id) } { (page.t(Msg::Details)) }
            " · "
            a href="/dashboard/webhooks" { (page.t(Msg::YourWebhooks)) }
        }
    };
    let mut res = page.respond(page.t(Msg::Webhooks), markup);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

fn add_form(page: &Page) -> Markup {
    html! {
        h2 { (page.t(Msg::AddWebhook)) }
        form method="post" action="/dashboard/webhooks" {
            input type="hidden" name="csrf" value=(page.csrf);
            div.field {
                label for="new-url" { (page.t(Msg::Url)) }
                input type="url" id="new-url" name="url" required maxlength="2048" placeholder="https://example.com/twin-events";
            }
            div.field {
                label for="new-description" { (page.t(Msg::Description)) " (" (page.t(Msg::Optional)) ")" }
                input type="text" id="new-description" name="description" maxlength="256";
            }
            (event_boxes(page, &[EventSelector::All]))
            p { button type="submit" { (page.t(Msg::Create)) } }
        }
    }
}

/// The owner's endpoints and the form to add one.
#[get("/dashboard/webhooks")]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    let endpoints = match twin_core::webhooks::list(&state, &page.owner.id).await {
        Ok(list) => list.items,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let body = html! {
        @if endpoints.is_empty() { p { (page.t(Msg::NoWebhooks)) } } @else {
            table {
                thead { tr {
                    th scope="col" { (page.t(Msg::Url)) }
                    th scope="col" { (page.t(Msg::Description)) }
                    th scope="col" { (page.t(Msg::Events)) }
                    th scope="col" { (page.t(Msg::Status)) }
                    th scope="col" { (page.t(Msg::Created)) }
                } }
                tbody {
                    @for view in &endpoints {
                        tr {
                            td { a href={ "/dashboard/webhooks/" (view.id) } { (view.url) } }
                            td { (view.description) }
                            td { (events_text(view)) }
                            td { (state_word(&page, view)) }
                            td { (when(&view.created_at)) }
                        }
                    }
                }
            }
        }
        (add_form(&page))
    };
    page.respond(page.t(Msg::YourWebhooks), body)
}

/// Adds an endpoint; the answer shows its signing secret this once (`no-store`).
#[post("/dashboard/webhooks")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, fields) = or_answer!(signed_in_form(&req, &state, &body).await);
    let events = match events_of(&fields) {
        Ok(events) => events,
        Err(e) => return refused(&page, &e),
    };
    let body = CreateWebhookBody {
        url: field(&fields, "url").unwrap_or_default().to_owned(),
        events: Some(events),
        enabled: Some(true),
        description: field(&fields, "description").map(str::to_owned),
    };
    match twin_core::webhooks::create(&state, &page.owner.id, body).await {
        Ok(created) => secret_page(&page, &created),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

/// One endpoint: its settings, actions and delivery log (newest first, by pages).
#[get("/dashboard/webhooks/{id}")]
pub async fn detail(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    let cursor =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("cursor").cloned());
    let view = match twin_core::webhooks::get(&state, &page.owner.id, &id).await {
        Ok(view) => view,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let log =
        match twin_core::webhooks::deliveries(&state, &page.owner.id, &id, 50, cursor.as_deref())
            .await
        {
            Ok(log) => log,
            Err(e) => return refused(&page, &ApiError::from(e)),
        };
    let base = format!("/dashboard/webhooks/{}", view.id);
    let body = html! {
        dl {
            dt { (page.t(Msg::Description)) } dd { (view.description) }
            dt { (page.t(Msg::Events)) } dd { (events_text(&view)) }
            dt { (page.t(Msg::Status)) } dd { (state_word(&page, &view)) }
        }
        div.toolbar {
            form.inline method="post" action={ (base) "/test" } {
                input type="hidden" name="csrf" value=(page.csrf);
                button type="submit" disabled[!view.enabled] { (page.t(Msg::SendPing)) }
            }
            form.inline method="post" action={ (base) "/state" } {
                input type="hidden" name="csrf" value=(page.csrf);
                input type="hidden" name="enabled" value=(if view.enabled { "false" } else { "true" });
                button.secondary type="submit" { (page.t(if view.enabled { Msg::Disable } else { Msg::Enable })) }
            }
            a.button.secondary href={ (base) "/rotate-secret" } { (page.t(Msg::RotateSecret)) }
            a.button.danger href={ (base) "/delete" } { (page.t(Msg::Delete)) }
        }
        h2 { (page.t(Msg::Deliveries)) }
        @if log.items.is_empty() { p { (page.t(Msg::NoDeliveries)) } } @else {
            table {
                thead { tr {
                    th scope="col" { (page.t(Msg::Events)) }
                    th scope="col" { (page.t(Msg::Status)) }
                    th scope="col" { (page.t(Msg::Attempts)) }
                    th scope="col" { (page.t(Msg::LastCode)) }
                    th scope="col" { (page.t(Msg::Duration)) }
                    th scope="col" { (page.t(Msg::NextAttempt)) }
                    th scope="col" { (page.t(Msg::When)) }
                    th scope="col" { (page.t(Msg::Actions)) }
                } }
                tbody {
                    @for d in &log.items {
                        tr {
                            td { code { (d.event_type) } br; small { (d.event_id) } }
                            td { (d.status) @if let Some(err) = &d.error { br; small { (err) } } }
                            td.num { (d.attempts) }
                            td.num { (d.last_status_code.map(|c| c.to_string()).unwrap_or_default()) }
                            td.num { (d.latency_ms.map(|c| c.to_string()).unwrap_or_default()) }
                            td { (d.next_attempt_at.as_deref().map(when).unwrap_or_default()) }
                            td { (when(&d.created_at)) }
                            td {
                                form method="post" action={ (base) "/deliveries/" (d.id) "/redeliver" } {
                                    input type="hidden" name="csrf" value=(page.csrf);
                                    button type="submit" { (page.t(Msg::Redeliver)) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = &log.next_cursor {
                p { a href={ (base) "?cursor=" (next) } { (page.t(Msg::Older)) } }
            }
        }
        h2 { (page.t(Msg::EditWebhook)) }
        form method="post" action=(base) {
            input type="hidden" name="csrf" value=(page.csrf);
            div.field {
                label for="url" { (page.t(Msg::Url)) }
                input type="url" id="url" name="url" required maxlength="2048" value=(view.url);
            }
            div.field {
                label for="description" { (page.t(Msg::Description)) " (" (page.t(Msg::Optional)) ")" }
                input type="text" id="description" name="description" maxlength="256" value=(view.description);
            }
            (event_boxes(&page, &view.events))
            button type="submit" { (page.t(Msg::Save)) }
        }
        p { a href="/dashboard/webhooks" { (page.t(Msg::YourWebhooks)) } }
    };
    page.respond(&view.url, body)
}

/// Saves the settings editor: URL (checked again, as on creation), description, events.
#[post("/dashboard/webhooks/{id}")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, fields) = or_answer!(signed_in_form(&req, &state, &body).await);
    let events = match events_of(&fields) {
        Ok(events) => events,
        Err(e) => return refused(&page, &e),
    };
    let current = match twin_core::webhooks::get(&state, &page.owner.id, &id).await {
        Ok(view) => view,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let url = field(&fields, "url").unwrap_or_default();
    let body = UpdateWebhookBody {
        // An unchanged URL is not checked again (its address may since have become one
        // the operator's rules refuse; that shows at delivery).
        url: (url != current.url).then(|| url.to_owned()),
        description: Some(field(&fields, "description").unwrap_or_default().to_owned()),
        events: Some(events),
        enabled: None,
    };
    match twin_core::webhooks::update(&state, &page.owner.id, &id, body).await {
        Ok(_) => see_other(&format!("/dashboard/webhooks/{id}")),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

/// Asks before replacing the signing secret or deleting the endpoint.
async fn confirm(req: &HttpRequest, state: &AppState, id: &str, deleting: bool) -> HttpResponse {
    let page = or_answer!(signed_in(req, state).await);
    let view = match twin_core::webhooks::get(state, &page.owner.id, id).await {
        Ok(view) => view,
        Err(e) => return refused(&page, &ApiError::from(e)),
    };
    let back = format!("/dashboard/webhooks/{}", view.id);
    let (title, warning, suffix) = if deleting {
        (Msg::Delete, Msg::DeleteWebhookExplain, "delete")
    } else {
        (Msg::RotateSecret, Msg::RotateSecretExplain, "rotate-secret")
    };
    page.confirm(Confirm {
        title,
        subject: html! { (view.url) },
        warning,
        action: &format!("{back}/{suffix}"),
        button: title,
        danger: deleting,
        cancel: &back,
    })
}

/// Asks before replacing the signing secret.
#[get("/dashboard/webhooks/{id}/rotate-secret")]
pub async fn confirm_rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    confirm(&req, &state, &id, false).await
}

/// Replaces the signing secret and shows the new one once.
#[post("/dashboard/webhooks/{id}/rotate-secret")]
pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, _) = or_answer!(signed_in_form(&req, &state, &body).await);
    match twin_core::webhooks::rotate_secret(&state, &page.owner.id, &id).await {
        Ok(rotated) => secret_page(&page, &rotated),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

/// Asks before deleting the endpoint.
#[get("/dashboard/webhooks/{id}/delete")]
pub async fn confirm_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    confirm(&req, &state, &id, true).await
}

/// Queues a `ping` for the endpoint.
#[post("/dashboard/webhooks/{id}/test")]
pub async fn ping(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, _) = or_answer!(signed_in_form(&req, &state, &body).await);
    match twin_core::webhooks::ping(&state, &page.owner.id, &id).await {
        Ok(_) => see_other(&format!("/dashboard/webhooks/{id}")),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

/// Enables or disables the endpoint.
#[post("/dashboard/webhooks/{id}/state")]
pub async fn set_state(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, fields) = or_answer!(signed_in_form(&req, &state, &body).await);
    let body = UpdateWebhookBody {
        enabled: Some(field(&fields, "enabled") == Some("true")),
        ..UpdateWebhookBody::default()
    };
    match twin_core::webhooks::update(&state, &page.owner.id, &id, body).await {
        Ok(_) => see_other(&format!("/dashboard/webhooks/{id}")),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

/// Deletes the endpoint and its log.
#[post("/dashboard/webhooks/{id}/delete")]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, _) = or_answer!(signed_in_form(&req, &state, &body).await);
    match twin_core::webhooks::delete(&state, &page.owner.id, &id).await {
        Ok(()) => see_other("/dashboard/webhooks"),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}

/// Makes a delivery due again now.
#[post("/dashboard/webhooks/{id}/deliveries/{delivery}/redeliver")]
pub async fn redeliver(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, _) = or_answer!(signed_in_form(&req, &state, &body).await);
    let (id, delivery) = path.into_inner();
    match twin_core::webhooks::redeliver(&state, &page.owner.id, &id, &delivery).await {
        Ok(_) => see_other(&format!("/dashboard/webhooks/{id}")),
        Err(e) => refused(&page, &ApiError::from(e)),
    }
}
