//! Webhook endpoints and their deliveries (SPEC §15): the use cases behind
//! `/v1/webhooks/*` and the dashboard's Webhooks page, the outbox's dispatcher
//! ([`dispatch`]) and the address rules ([`ssrf`]). Alerts that produce events live in
//! [`crate::alerts`]; key events are recorded by the store in the key change's transaction.

pub mod dispatch;
pub mod ssrf;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use twin_store::webhooks::{DeliveryRecord, EndpointPatch, NewEndpoint, NewEvent, WebhookEndpoint};
use utoipa::ToSchema;

use crate::time_fmt::iso;
use crate::{Core, Error};

/// How webhooks are delivered; the defaults are SPEC §15's.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Let endpoints use plain http and private, loopback or link-local addresses
    /// (`TWIN_WEBHOOKS_ALLOW_PRIVATE=true`).
    pub allow_private: bool,
    /// The waits between attempts (about 10 s, 1 min, 5 min, 30 min, 2 h, 6 h, 12 h), each
    /// varied by ±20 %.
    pub retry_schedule: Vec<Duration>,
    /// How long an attempt may take before it counts as failed.
    pub timeout: Duration,
    /// An endpoint failing for this long is disabled.
    pub disable_after: Duration,
    /// How long a replica holds a claimed delivery (longer than `timeout`).
    pub claim_for: Duration,
    /// How often the dispatcher looks for due deliveries when nothing wakes it.
    pub poll_interval: Duration,
    /// How often the alert sweeps (rules, expiry) run.
    pub sweep_interval: Duration,
    /// How long the previous secret keeps signing after a rotation.
    pub secret_grace: Duration,
    /// How host names resolve.
    pub resolution: Arc<ssrf::Resolution>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_private: false,
            retry_schedule: DEFAULT_RETRY_SCHEDULE
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            timeout: Duration::from_secs(10),
            disable_after: Duration::from_secs(3 * 24 * 3600),
            claim_for: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            sweep_interval: Duration::from_secs(30),
            secret_grace: Duration::from_secs(24 * 3600),
            resolution: Arc::default(),
        }
    }
}

/// SPEC §15's waits between attempts, in seconds.
pub const DEFAULT_RETRY_SCHEDULE: [u64; 7] = [10, 60, 300, 1800, 7200, 21600, 43200];

/// An event type an endpoint subscribes to, or `*` for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventSelector {
    /// Every event type.
    #[serde(rename = "*")]
    All,
    /// A key's monthly quota reached one of its thresholds.
    #[serde(rename = "quota.threshold")]
    QuotaThreshold,
    /// A key's spend period reached one of its thresholds.
    #[serde(rename = "spend.threshold")]
    SpendThreshold,
    /// More calls in an hour or day than the key's rule allows.
    #[serde(rename = "usage.high")]
    UsageHigh,
    /// More 4xx/5xx answers in an hour or day than the key's rule allows.
    #[serde(rename = "failures.high")]
    FailuresHigh,
    /// An hour's calls passed 10× the key's hourly average.
    #[serde(rename = "activity.unusual")]
    ActivityUnusual,
    /// A key was created.
    #[serde(rename = "key.created")]
    KeyCreated,
    /// A key's settings changed.
    #[serde(rename = "key.updated")]
    KeyUpdated,
    /// A key was disabled.
    #[serde(rename = "key.disabled")]
    KeyDisabled,
    /// A key was enabled.
    #[serde(rename = "key.enabled")]
    KeyEnabled,
    /// A key was rotated (the event names the new key and the one it replaces).
    #[serde(rename = "key.rotated")]
    KeyRotated,
    /// A key was revoked.
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    /// A key expires in 7 days or in 1 day.
    #[serde(rename = "key.expiring")]
    KeyExpiring,
    /// A key expired.
    #[serde(rename = "key.expired")]
    KeyExpired,
    /// An app's access (OAuth grant) was revoked.
    #[serde(rename = "grant.revoked")]
    GrantRevoked,
}

impl EventSelector {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EventSelector::All => "*",
            EventSelector::QuotaThreshold => "quota.threshold",
            EventSelector::SpendThreshold => "spend.threshold",
            EventSelector::UsageHigh => "usage.high",
            EventSelector::FailuresHigh => "failures.high",
            EventSelector::ActivityUnusual => "activity.unusual",
            EventSelector::KeyCreated => "key.created",
            EventSelector::KeyUpdated => "key.updated",
            EventSelector::KeyDisabled => "key.disabled",
            EventSelector::KeyEnabled => "key.enabled",
            EventSelector::KeyRotated => "key.rotated",
            EventSelector::KeyRevoked => "key.revoked",
            EventSelector::KeyExpiring => "key.expiring",
            EventSelector::KeyExpired => "key.expired",
            EventSelector::GrantRevoked => "grant.revoked",
        }
    }

    /// Every selector, `*` first.
    pub const ALL: [EventSelector; 15] = [
        EventSelector::All,
        EventSelector::QuotaThreshold,
        EventSelector::SpendThreshold,
        EventSelector::UsageHigh,
        EventSelector::FailuresHigh,
        EventSelector::ActivityUnusual,
        EventSelector::KeyCreated,
        EventSelector::KeyUpdated,
        EventSelector::KeyDisabled,
        EventSelector::KeyEnabled,
        EventSelector::KeyRotated,
        EventSelector::KeyRevoked,
        EventSelector::KeyExpiring,
        EventSelector::KeyExpired,
        EventSelector::GrantRevoked,
    ];
}

/// The body of `POST /v1/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookBody {
    /// Where events are posted: `https://` (plain `http://` and private addresses only when
    /// the operator allows them); at most 2048 characters.
    #[schema(
        max_length = 2048,
        pattern = "^[hH][tT][tT][pP][sS]?://",
        example = "https://example.com/twin-events"
    )]
    pub url: String,
    /// The event types to receive, or `["*"]` (the default) for all.
    #[schema(min_items = 1, max_items = 15)]
    pub events: Option<Vec<EventSelector>>,
    /// Whether events are sent (default `true`).
    pub enabled: Option<bool>,
    /// Your note, at most 256 characters.
    #[schema(max_length = 256)]
    pub description: Option<String>,
}

/// The body of `PATCH /v1/webhooks/{id}`; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhookBody {
    /// New URL (as for creation).
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub url: Option<String>,
    /// New event types.
    #[schema(min_items = 1, max_items = 15)]
    pub events: Option<Vec<EventSelector>>,
    /// Enable (which clears a failure record) or disable.
    pub enabled: Option<bool>,
    /// New note.
    #[schema(max_length = 256)]
    pub description: Option<String>,
}

/// An endpoint as the API shows it (its secret only right after creation or rotation).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    /// Id (`wh_` and 16 hex).
    #[schema(example = "wh_0123456789abcdef")]
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// Your note.
    pub description: String,
    /// The event types it receives.
    pub events: Vec<EventSelector>,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// `failing` when the server disabled it after 3 days of failed deliveries.
    pub disabled_reason: Option<String>,
    /// Start of the current run of failed deliveries.
    #[schema(format = DateTime)]
    pub failing_since: Option<String>,
    /// Creation time.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last change.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&WebhookEndpoint> for WebhookView {
    fn from(e: &WebhookEndpoint) -> Self {
        WebhookView {
            id: e.id.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            events: e
                .events
                .iter()
                .filter_map(|s| serde_json::from_value(serde_json::Value::String(s.clone())).ok())
                .collect(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since.map(iso),
            created_at: iso(e.created_at),
            updated_at: iso(e.updated_at),
        }
    }
}

/// An endpoint with its signing secret: the answer to creation and to a secret rotation,
/// the only times the secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookView,
    /// The signing secret (`whsec_` and base64), for your Standard Webhooks library.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// A page of endpoints.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookList {
    /// The owner's endpoints, oldest first.
    pub items: Vec<WebhookView>,
}

/// One delivery, as the log shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Id (`dlv_` and 16 hex).
    pub id: String,
    /// The event's id: the `webhook-id` header, the same on every attempt.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// `pending`, `succeeded` or `failed` (every attempt failed).
    #[schema(pattern = "^(pending|succeeded|failed)$")]
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last answer's status code (null when no answer came).
    pub last_status_code: Option<i64>,
    /// The last attempt's duration in milliseconds.
    pub latency_ms: Option<i64>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// At most 1 KiB of the last answer's body.
    pub response: Option<String>,
    /// When the next attempt is due (pending deliveries).
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// The last attempt.
    #[schema(format = DateTime)]
    pub last_attempt_at: Option<String>,
    /// When the event happened.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&DeliveryRecord> for DeliveryView {
    fn from(d: &DeliveryRecord) -> Self {
        DeliveryView {
            id: d.id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            latency_ms: d.last_latency_ms,
            error: d.last_error.clone(),
            response: d.last_response.clone(),
            next_attempt_at: d.next_attempt_at.map(iso),
            last_attempt_at: d.last_attempt_at.map(iso),
            created_at: iso(d.created_at),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    /// Deliveries.
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// What `POST /v1/webhooks/{id}/test` queued.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PingQueued {
    /// The `ping` event's id (`webhook-id`).
    pub event_id: String,
}

/// A fresh signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> Result<String, Error> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(format!("random source: {e}")))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

async fn check_url(core: &Core, url: &str) -> Result<String, Error> {
    if url.chars().count() > 2048 {
        return Err(Error::invalid_parameter(
            "url",
            None,
            "at most 2048 characters",
        ));
    }
    let s = &core.webhooks;
    ssrf::check_url(url, s.allow_private, &s.resolution)
        .await
        .map(|u| u.to_string())
        .map_err(|e| Error::invalid_parameter("url", None, &e.to_string()))
}

fn check_events(events: Option<Vec<EventSelector>>) -> Result<Option<Vec<String>>, Error> {
    let Some(events) = events else {
        return Ok(None);
    };
    if events.is_empty() {
        return Err(Error::invalid_parameter(
            "events",
            None,
            "at least one event type, or [\"*\"]",
        ));
    }
    if events.contains(&EventSelector::All) {
        return Ok(Some(vec!["*".into()]));
    }
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if !out.iter().any(|o| o == e.as_str()) {
            out.push(e.as_str().to_owned());
        }
    }
    Ok(Some(out))
}

fn check_description(d: Option<String>) -> Result<Option<String>, Error> {
    match d {
        Some(d) if d.chars().count() > 256 || d.chars().any(char::is_control) => {
            Err(Error::invalid_parameter(
                "description",
                None,
                "at most 256 characters, no control characters",
            ))
        }
        other => Ok(other.map(|d| d.trim().to_owned())),
    }
}

/// Creates an endpoint; the answer carries its secret, shown this once.
pub async fn create(
    core: &Core,
    owner_id: &str,
    body: CreateWebhookBody,
) -> Result<WebhookWithSecret, Error> {
    let url = check_url(core, &body.url).await?;
    let events = check_events(body.events)?.unwrap_or_else(|| vec!["*".into()]);
    let description = check_description(body.description)?.unwrap_or_default();
    let endpoint = core
        .store
        .create_endpoint(NewEndpoint {
            owner_id: owner_id.to_owned(),
            url,
            description,
            events,
            enabled: body.enabled.unwrap_or(true),
            secret: new_secret()?,
        })
        .await?;
    Ok(WebhookWithSecret {
        endpoint: WebhookView::from(&endpoint),
        secret: endpoint.secret.clone(),
    })
}

/// Changes an endpoint.
pub async fn update(
    core: &Core,
    owner_id: &str,
    id: &str,
    body: UpdateWebhookBody,
) -> Result<WebhookView, Error> {
    // 404 before the URL check: another owner's id is unknown whatever the body.
    core.store.get_endpoint(owner_id, id).await?;
    let url = match body.url {
        Some(u) => Some(check_url(core, &u).await?),
        None => None,
    };
    let patch = EndpointPatch {
        url,
        description: check_description(body.description)?,
        events: check_events(body.events)?,
        enabled: body.enabled,
    };
    let endpoint = core.store.update_endpoint(owner_id, id, patch).await?;
    Ok(WebhookView::from(&endpoint))
}

/// Replaces an endpoint's secret; the old one keeps signing for
/// [`WebhookSettings::secret_grace`] so receivers can switch without losing events.
pub async fn rotate_secret(
    core: &Core,
    owner_id: &str,
    id: &str,
) -> Result<WebhookWithSecret, Error> {
    let grace = time::Duration::try_from(core.webhooks.secret_grace).unwrap_or(time::Duration::DAY);
    let endpoint = core
        .store
        .rotate_endpoint_secret(owner_id, id, new_secret()?, core.clock.now() + grace)
        .await?;
    Ok(WebhookWithSecret {
        endpoint: WebhookView::from(&endpoint),
        secret: endpoint.secret.clone(),
    })
}

/// Queues a `ping` for one endpoint (an enabled one: a disabled endpoint receives nothing).
pub async fn ping(core: &Core, owner_id: &str, id: &str) -> Result<PingQueued, Error> {
    let endpoint = core.store.get_endpoint(owner_id, id).await?;
    if !endpoint.enabled {
        return Err(Error::conflict(
            "the endpoint is disabled: enable it to send it events",
        ));
    }
    let event = NewEvent::new(
        owner_id,
        "ping",
        core.clock.now(),
        serde_json::json!({ "webhookId": endpoint.id, "message": "Twin API test event" }),
    )?;
    core.store.record_event(&event, Some(&endpoint.id)).await?;
    Ok(PingQueued { event_id: event.id })
}

/// The owner's endpoints, oldest first.
pub async fn list(core: &Core, owner_id: &str) -> Result<WebhookList, Error> {
    let endpoints = core.store.list_endpoints(owner_id).await?;
    Ok(WebhookList {
        items: endpoints.iter().map(WebhookView::from).collect(),
    })
}

/// One of the owner's endpoints (another owner's is unknown: `NOT_FOUND`).
pub async fn get(core: &Core, owner_id: &str, id: &str) -> Result<WebhookView, Error> {
    let endpoint = core.store.get_endpoint(owner_id, id).await?;
    Ok(WebhookView::from(&endpoint))
}

/// Deletes an endpoint and its delivery log; events not yet delivered to it are dropped.
pub async fn delete(core: &Core, owner_id: &str, id: &str) -> Result<(), Error> {
    core.store.delete_endpoint(owner_id, id).await?;
    Ok(())
}

/// A page of an endpoint's delivery log, newest first (`limit` already checked, 1–100).
pub async fn deliveries(
    core: &Core,
    owner_id: &str,
    id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<DeliveryPage, Error> {
    let page = core
        .store
        .list_deliveries(owner_id, id, i64::from(limit), cursor)
        .await?;
    Ok(DeliveryPage {
        items: page.items.iter().map(DeliveryView::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// Makes one delivery due again now, whatever its state (its attempt count goes on).
pub async fn redeliver(
    core: &Core,
    owner_id: &str,
    id: &str,
    delivery_id: &str,
) -> Result<DeliveryView, Error> {
    let record = core.store.redeliver(owner_id, id, delivery_id).await?;
    Ok(DeliveryView::from(&record))
}
