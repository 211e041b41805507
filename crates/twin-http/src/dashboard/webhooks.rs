//! The dashboard's *Webhooks* pages (SPEC §13, §15): the owner's endpoints, a form to add
//! one (its signing secret shown once, on the answer to that form), and per endpoint its
//! delivery log with a redeliver button, a test ping, enable/disable and delete. Every
//! action is a plain form POST (no JavaScript needed) that calls the same core use cases
//! as `/v1/webhooks`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use maud::{Markup, html};
use twin_core::webhooks::{
    CreateWebhookBody, DeliveryView, EventSelector, UpdateWebhookBody, WebhookView,
};

use super::i18n::Msg;
use super::pages::{field, refused, signed_in_form, when};
use super::{Page, signed_in};
use crate::error::ApiError;
use crate::state::AppState;

macro_rules! or_answer {
    ($step:expr) => {
        match $step {
            Ok(value) => value,
            Err(answer) => return answer,
        }
    };
}

fn see_other(path: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, path))
        .finish()
}

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

fn add_form(page: &Page) -> Markup {
    html! {
        h2 { (page.t(Msg::AddWebhook)) }
        form method="post" action="/dashboard/webhooks" {
            input type="hidden" name="csrf" value=(page.csrf);
            p { label { (page.t(Msg::Url)) " " input type="url" name="url" required maxlength="2048" placeholder="https://example.com/twin-events"; } }
            p { label { (page.t(Msg::Description)) " (" (page.t(Msg::Optional)) ") " input type="text" name="description" maxlength="256"; } }
            fieldset {
                legend { (page.t(Msg::Events)) }
                @for selector in EventSelector::ALL {
                    label.choice {
                        input type="checkbox" name="events" value=(selector.as_str()) checked[selector == EventSelector::All];
                        " "
                        @if selector == EventSelector::All { (page.t(Msg::AllEvents)) } @else { code { (selector.as_str()) } }
                    }
                    " "
                }
            }
            p { button type="submit" { (page.t(Msg::Create)) } }
        }
    }
}

/// The owner's endpoints and the form to add one.
#[get("/dashboard/webhooks")]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let page = or_answer!(signed_in(&req, &state).await);
    let endpoints = match state.store.list_endpoints(&page.owner.id).await {
        Ok(e) => e,
        Err(e) => return refused(&page, &ApiError::from(twin_core::Error::from(e))),
    };
    let body = html! {
        h1 { (page.t(Msg::YourWebhooks)) }
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
                    @for endpoint in &endpoints {
                        @let view = WebhookView::from(endpoint);
                        tr {
                            td { a href={ "/dashboard/webhooks/" (view.id) } { (view.url) } }
                            td { (view.description) }
                            td { (events_text(&view)) }
                            td { (state_word(&page, &view)) }
                            td { (when(&view.created_at)) }
                        }
                    }
                }
            }
        }
        (add_form(&page))
    };
    page.respond(page.t(Msg::Webhooks), body)
}

/// Adds an endpoint; the answer shows its signing secret this once (`no-store`).
#[post("/dashboard/webhooks")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, fields) = or_answer!(signed_in_form(&req, &state, &body).await);
    let mut events: Vec<EventSelector> = Vec::new();
    for (name, value) in &fields {
        if name == "events" {
            match serde_json::from_value(serde_json::Value::String(value.clone())) {
                Ok(e) => events.push(e),
                Err(_) => {
                    return refused(
                        &page,
                        &ApiError::from(twin_core::Error::invalid_parameter(
                            "events",
                            None,
                            "one of the listed event types",
                        )),
                    );
                }
            }
        }
    }
    let body = CreateWebhookBody {
        url: field(&fields, "url").unwrap_or_default().to_owned(),
        events: Some(if events.is_empty() {
            vec![EventSelector::All]
        } else {
            events
        }),
        enabled: Some(true),
        description: field(&fields, "description").map(str::to_owned),
    };
    match twin_core::webhooks::create(&state, &page.owner.id, body).await {
        Ok(created) => {
            let view = &created.endpoint;
            let markup = html! {
                h1 { (page.t(Msg::Webhooks)) }
                p { a href={ "/dashboard/webhooks/" (view.id) } { (view.url) } }
                p { strong { (page.t(Msg::SigningSecret)) } }
                p { code #new-key { (created.secret) } " " button type="button" data-copy="#new-key" { (page.t(Msg::Copy)) } }
                p { a href="/dashboard/webhooks" { (page.t(Msg::YourWebhooks)) } }
            };
            let mut res = page.respond(page.t(Msg::Webhooks), markup);
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            res
        }
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
    let endpoint = match state.store.get_endpoint(&page.owner.id, &id).await {
        Ok(e) => e,
        Err(e) => return refused(&page, &ApiError::from(twin_core::Error::from(e))),
    };
    let log = match state
        .store
        .list_deliveries(&page.owner.id, &id, 50, cursor.as_deref())
        .await
    {
        Ok(log) => log,
        Err(e) => return refused(&page, &ApiError::from(twin_core::Error::from(e))),
    };
    let view = WebhookView::from(&endpoint);
    let base = format!("/dashboard/webhooks/{}", view.id);
    let body = html! {
        h1 { (view.url) }
        dl {
            dt { (page.t(Msg::Description)) } dd { (view.description) }
            dt { (page.t(Msg::Events)) } dd { (events_text(&view)) }
            dt { (page.t(Msg::Status)) } dd { (state_word(&page, &view)) }
        }
        div.actions {
            form method="post" action={ (base) "/test" } {
                input type="hidden" name="csrf" value=(page.csrf);
                button type="submit" disabled[!view.enabled] { (page.t(Msg::SendPing)) }
            }
            form method="post" action={ (base) "/state" } {
                input type="hidden" name="csrf" value=(page.csrf);
                input type="hidden" name="enabled" value=(if view.enabled { "false" } else { "true" });
                button type="submit" { (page.t(if view.enabled { Msg::Disable } else { Msg::Enable })) }
            }
            form method="post" action={ (base) "/delete" } {
                input type="hidden" name="csrf" value=(page.csrf);
                button type="submit" { (page.t(Msg::Delete)) }
            }
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
                    @for record in &log.items {
                        @let d = DeliveryView::from(record);
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
        p { a href="/dashboard/webhooks" { (page.t(Msg::YourWebhooks)) } }
    };
    page.respond(&view.url, body)
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
    match state.store.delete_endpoint(&page.owner.id, &id).await {
        Ok(()) => see_other("/dashboard/webhooks"),
        Err(e) => refused(&page, &ApiError::from(twin_core::Error::from(e))),
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
    match state.store.redeliver(&page.owner.id, &id, &delivery).await {
        Ok(_) => see_other(&format!("/dashboard/webhooks/{id}")),
        Err(e) => refused(&page, &ApiError::from(twin_core::Error::from(e))),
    }
}
