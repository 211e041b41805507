//! Webhook endpoints, the event outbox and its deliveries (SPEC §15).
//!
//! An event is written to `webhook_events` — in the transaction of the change that caused
//! it, when there is one — together with one `webhook_deliveries` row per endpoint of the
//! owner that wants it, and only when some endpoint does. Replicas claim due deliveries
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite the single node's writer lock), each
//! for a bounded time, so each attempt is made by one replica, and a replica that dies
//! mid-attempt only delays its deliveries to the end of the claim.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::db::{DbPool, with_conn, with_write_conn};
use crate::model::{Page, from_ms, to_ms};
use crate::schema::{alert_marks, webhook_deliveries, webhook_endpoints, webhook_events};
use crate::{Store, StoreError, StoreResult};

/// Every event type an endpoint can ask for (SPEC §15), plus `ping`, which only
/// `POST /v1/webhooks/{id}/test` sends.
pub const EVENT_TYPES: &[&str] = &[
    "quota.threshold",
    "spend.threshold",
    "usage.high",
    "failures.high",
    "activity.unusual",
    "key.created",
    "key.updated",
    "key.disabled",
    "key.enabled",
    "key.rotated",
    "key.revoked",
    "key.expiring",
    "key.expired",
    "grant.revoked",
];

/// A delivery's state.
pub mod status {
    /// Waiting for its next attempt (or in one).
    pub const PENDING: &str = "pending";
    /// A 2xx answer arrived.
    pub const SUCCEEDED: &str = "succeeded";
    /// Every attempt of the schedule failed.
    pub const FAILED: &str = "failed";
}

/// A receiver of an owner's events.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// `wh_` and 16 hex characters.
    pub id: String,
    /// Owner.
    pub owner_id: String,
    /// Where events are posted.
    pub url: String,
    /// The owner's note.
    pub description: String,
    /// The event types it receives (`["*"]`: all).
    pub events: Vec<String>,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// The signing secret (`whsec_…`).
    pub secret: String,
    /// The secret before the last rotation, still signing until the given time.
    pub previous_secret: Option<(String, OffsetDateTime)>,
    /// Start of the current run of failed attempts.
    pub failing_since: Option<OffsetDateTime>,
    /// Why the server disabled it (`failing`), if it did.
    pub disabled_reason: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for WebhookEndpoint {
    // The secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("owner_id", &self.owner_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl WebhookEndpoint {
    /// Whether it receives events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        wants(&self.events, event_type)
    }

    /// The secrets that sign a delivery at `now`: the current one, and the previous one
    /// while it is still honoured.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let Some((old, until)) = &self.previous_secret
            && *until > now
        {
            out.push(old);
        }
        out
    }
}

fn wants(events: &[String], event_type: &str) -> bool {
    events.iter().any(|e| e == "*" || e == event_type)
}

/// A new endpoint.
#[derive(Clone)]
pub struct NewEndpoint {
    /// Owner.
    pub owner_id: String,
    /// URL (validated by the caller).
    pub url: String,
    /// Note.
    pub description: String,
    /// Event types or `["*"]`.
    pub events: Vec<String>,
    /// Start enabled.
    pub enabled: bool,
    /// Its signing secret.
    pub secret: String,
}

/// A change to an endpoint; absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    /// New URL.
    pub url: Option<String>,
    /// New note.
    pub description: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// Enable or disable (enabling clears the failure record).
    pub enabled: Option<bool>,
}

/// An event to record: its id (the `webhook-id` of every delivery of it), the owner whose
/// endpoints receive it, its type and the exact body to send.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `msg_` and 32 hex characters.
    pub id: String,
    /// Owner.
    pub owner_id: String,
    /// Type (one of [`EVENT_TYPES`], or `ping`).
    pub event_type: String,
    /// The JSON body: `{"type", "timestamp", "data"}`.
    pub payload: String,
    /// When it happened.
    pub at: OffsetDateTime,
}

impl NewEvent {
    /// An event of `event_type` at `at` with `data`, under a fresh id.
    pub fn new(
        owner_id: &str,
        event_type: &str,
        at: OffsetDateTime,
        data: serde_json::Value,
    ) -> StoreResult<Self> {
        let payload = serde_json::json!({
            "type": event_type,
            "timestamp": twin_meter::iso8601_millis(at),
            "data": data,
        });
        Ok(NewEvent {
            id: random_hex_id("msg_", 16)?,
            owner_id: owner_id.to_owned(),
            event_type: event_type.to_owned(),
            payload: payload.to_string(),
            at,
        })
    }
}

/// What an alert is about, so it fires once: one row per subject, kind, level and period.
#[derive(Debug, Clone)]
pub struct AlertMark {
    /// The key's counter (thresholds) or its id (rules, expiry).
    pub subject: String,
    /// The event type.
    pub kind: String,
    /// The threshold or level (a percentage, a day count; 0 when there is none).
    pub level: i64,
    /// The period it belongs to (its start, or the expiry), Unix ms.
    pub period: i64,
}

/// One delivery, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// `dlv_` and 16 hex characters.
    pub id: String,
    /// Endpoint.
    pub endpoint_id: String,
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// See [`status`].
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The last attempt.
    pub last_attempt_at: Option<OffsetDateTime>,
    /// The last answer's status code (none when the connection failed).
    pub last_status_code: Option<i64>,
    /// The last attempt's duration.
    pub last_latency_ms: Option<i64>,
    /// Why the last attempt failed, when it did without an answer (or with a non-2xx one).
    pub last_error: Option<String>,
    /// At most 1 KiB of the last answer's body.
    pub last_response: Option<String>,
    /// When the event was recorded.
    pub created_at: OffsetDateTime,
}

/// A delivery claimed for an attempt, with what the attempt needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// Delivery id.
    pub id: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The body.
    pub payload: String,
    /// Where it goes, with its secrets.
    pub endpoint: WebhookEndpoint,
    /// The delivery's order among the endpoint's.
    pub seq: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// When it was made.
    pub at: OffsetDateTime,
    /// The answer's status code, if one came.
    pub status_code: Option<u16>,
    /// Duration.
    pub latency_ms: i64,
    /// A 2xx answer came.
    pub success: bool,
    /// Why it failed (none on success).
    pub error: Option<String>,
    /// At most 1 KiB of the answer's body.
    pub response: Option<String>,
    /// When to try again after a failure; `None` gives up.
    pub retry_at: Option<OffsetDateTime>,
    /// Disable the endpoint when it has been failing since at least this time.
    pub disable_if_failing_since: OffsetDateTime,
}

/// The outbox's state, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryQueue {
    /// Pending deliveries.
    pub depth: i64,
    /// When the oldest pending one was recorded.
    pub oldest: Option<OffsetDateTime>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = webhook_endpoints)]
struct EndpointRow {
    id: String,
    owner_id: String,
    url: String,
    description: String,
    events: String,
    enabled: bool,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<i64>,
    failing_since: Option<i64>,
    disabled_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(r: EndpointRow) -> Self {
        WebhookEndpoint {
            id: r.id,
            owner_id: r.owner_id,
            url: r.url,
            description: r.description,
            events: events_from_db(&r.events),
            enabled: r.enabled,
            secret: r.secret,
            previous_secret: r
                .previous_secret
                .zip(r.previous_secret_until)
                .map(|(s, t)| (s, from_ms(t))),
            failing_since: r.failing_since.map(from_ms),
            disabled_reason: r.disabled_reason,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        }
    }
}

fn events_to_db(events: &[String]) -> String {
    events.join(" ")
}

fn events_from_db(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[derive(Insertable)]
#[diesel(table_name = webhook_events)]
pub(crate) struct EventRow<'a> {
    id: &'a str,
    owner_id: &'a str,
    event_type: &'a str,
    payload: &'a str,
    created_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub(crate) struct NewDeliveryRow {
    id: String,
    endpoint_id: String,
    event_seq: i64,
    status: &'static str,
    attempts: i64,
    next_attempt_at: Option<i64>,
    created_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
struct DeliveryRow {
    seq: i64,
    id: String,
    endpoint_id: String,
    status: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_attempt_at: Option<i64>,
    last_status_code: Option<i64>,
    last_latency_ms: Option<i64>,
    last_error: Option<String>,
    last_response: Option<String>,
    created_at: i64,
}

fn delivery_record(row: DeliveryRow, event_id: String, event_type: String) -> DeliveryRecord {
    DeliveryRecord {
        id: row.id,
        endpoint_id: row.endpoint_id,
        event_id,
        event_type,
        status: row.status,
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at.map(from_ms),
        last_attempt_at: row.last_attempt_at.map(from_ms),
        last_status_code: row.last_status_code,
        last_latency_ms: row.last_latency_ms,
        last_error: row.last_error,
        last_response: row.last_response,
        created_at: from_ms(row.created_at),
    }
}

/// `prefix` and `bytes` random bytes in hex.
pub(crate) fn random_hex_id(prefix: &str, bytes: usize) -> StoreResult<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Database(format!("random source failed: {e}")))?;
    Ok(format!("{prefix}{}", hex::encode(buf)))
}

/// The endpoints (of those `(id, events)` given) that receive `event_type`; `only` limits
/// them to one (a test ping).
pub(crate) fn targets(
    endpoints: Vec<(String, String)>,
    event_type: &str,
    only: Option<&str>,
) -> Vec<String> {
    endpoints
        .into_iter()
        .filter(|(id, events)| match only {
            Some(only) => id == only,
            None => wants(&events_from_db(events), event_type),
        })
        .map(|(id, _)| id)
        .collect()
}

/// The event's outbox row.
pub(crate) fn event_row(event: &NewEvent) -> EventRow<'_> {
    EventRow {
        id: &event.id,
        owner_id: &event.owner_id,
        event_type: &event.event_type,
        payload: &event.payload,
        created_at: to_ms(event.at),
    }
}

/// One pending delivery per target, due at once.
pub(crate) fn delivery_rows(
    event_seq: i64,
    targets: Vec<String>,
    at: OffsetDateTime,
) -> StoreResult<Vec<NewDeliveryRow>> {
    let at = to_ms(at);
    targets
        .into_iter()
        .map(|endpoint_id| {
            Ok(NewDeliveryRow {
                id: random_hex_id("dlv_", 8)?,
                endpoint_id,
                event_seq,
                status: status::PENDING,
                attempts: 0,
                next_attempt_at: Some(at),
                created_at: at,
            })
        })
        .collect()
}

/// Records a `NewEvent` in the outbox inside the caller's transaction, with a delivery for
/// each enabled endpoint of its owner that wants it (`$only`: just that endpoint), and
/// nothing when none does. Evaluates to `Result<bool, StoreError>`: whether it was recorded.
/// (A macro: the connection's type differs per backend, as for `append_change!`.)
macro_rules! record_event {
    ($conn:expr, $event:expr, $only:expr) => {{
        use crate::schema::{webhook_deliveries, webhook_endpoints, webhook_events};
        let event: &crate::webhooks::NewEvent = $event;
        let only: Option<&str> = $only;
        let endpoints: Result<Vec<(String, String)>, diesel::result::Error> =
            webhook_endpoints::table
                .filter(webhook_endpoints::owner_id.eq(&event.owner_id))
                .filter(webhook_endpoints::enabled.eq(true))
                .select((webhook_endpoints::id, webhook_endpoints::events))
                .load($conn)
                .await;
        match endpoints {
            Err(e) => Err(crate::StoreError::from(e)),
            Ok(endpoints) => {
                let targets = crate::webhooks::targets(endpoints, &event.event_type, only);
                if targets.is_empty() {
                    Ok(false)
                } else {
                    let seq: Result<i64, diesel::result::Error> =
                        diesel::insert_into(webhook_events::table)
                            .values(crate::webhooks::event_row(event))
                            .returning(webhook_events::seq)
                            .get_result($conn)
                            .await;
                    match seq
                        .map_err(crate::StoreError::from)
                        .and_then(|seq| crate::webhooks::delivery_rows(seq, targets, event.at))
                    {
                        Err(e) => Err(e),
                        Ok(rows) => {
                            // One statement per row: SQLite's batch insert cannot take
                            // optional columns. An event has a handful of endpoints.
                            let mut result = Ok(true);
                            for row in &rows {
                                if let Err(e) = diesel::insert_into(webhook_deliveries::table)
                                    .values(row)
                                    .execute($conn)
                                    .await
                                {
                                    result = Err(crate::StoreError::from(e));
                                    break;
                                }
                            }
                            result
                        }
                    }
                }
            }
        }
    }};
}
pub(crate) use record_event;

/// The event a key change sends, with the key named by id and prefix (never its secret).
pub fn key_event(
    event_type: &str,
    key: KeyRef<'_>,
    actor: &str,
    at: OffsetDateTime,
    extra: serde_json::Value,
) -> StoreResult<NewEvent> {
    let mut data = serde_json::json!({
        "keyId": key.id,
        "keyPrefix": key.prefix,
        "name": key.name,
        "env": key.env,
        "actor": actor,
    });
    if let (Some(map), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        map.extend(extra);
    }
    NewEvent::new(key.owner_id, event_type, at, data)
}

/// What an event says of a key.
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    /// Public id.
    pub id: &'a str,
    /// Owner.
    pub owner_id: &'a str,
    /// Display prefix.
    pub prefix: &'a str,
    /// Name.
    pub name: &'a str,
    /// `live` or `test`.
    pub env: &'a str,
}

impl<'a> From<&'a crate::KeyRecord> for KeyRef<'a> {
    fn from(k: &'a crate::KeyRecord) -> Self {
        KeyRef {
            id: &k.id,
            owner_id: &k.owner_id,
            prefix: &k.prefix,
            name: &k.name,
            env: k.env.as_str(),
        }
    }
}

impl Store {
    /// Stores a new endpoint.
    pub async fn create_endpoint(&self, new: NewEndpoint) -> StoreResult<WebhookEndpoint> {
        let now = to_ms(self.now());
        let row = EndpointRow {
            id: random_hex_id("wh_", 8)?,
            owner_id: new.owner_id,
            url: new.url,
            description: new.description,
            events: events_to_db(&new.events),
            enabled: new.enabled,
            secret: new.secret,
            previous_secret: None,
            previous_secret_until: None,
            failing_since: None,
            disabled_reason: None,
            created_at: now,
            updated_at: now,
        };
        let id = row.id.clone();
        let owner = row.owner_id.clone();
        with_write_conn!(self, |conn| {
            diesel::insert_into(webhook_endpoints::table)
                .values(&row)
                .execute(conn)
                .await?
        });
        self.get_endpoint(&owner, &id).await
    }

    /// An owner's endpoints, oldest first.
    pub async fn list_endpoints(&self, owner_id: &str) -> StoreResult<Vec<WebhookEndpoint>> {
        let rows: Vec<EndpointRow> = with_conn!(self, |conn| {
            webhook_endpoints::table
                .filter(webhook_endpoints::owner_id.eq(owner_id))
                .order((
                    webhook_endpoints::created_at.asc(),
                    webhook_endpoints::id.asc(),
                ))
                .select(EndpointRow::as_select())
                .load(conn)
                .await?
        });
        Ok(rows.into_iter().map(WebhookEndpoint::from).collect())
    }

    /// One of `owner_id`'s endpoints ([`StoreError::NotFound`] for anyone else's).
    pub async fn get_endpoint(&self, owner_id: &str, id: &str) -> StoreResult<WebhookEndpoint> {
        let row: Option<EndpointRow> = with_conn!(self, |conn| {
            webhook_endpoints::table
                .filter(webhook_endpoints::id.eq(id))
                .filter(webhook_endpoints::owner_id.eq(owner_id))
                .select(EndpointRow::as_select())
                .first(conn)
                .await
                .optional()?
        });
        row.map(WebhookEndpoint::from).ok_or(StoreError::NotFound)
    }

    /// Applies `patch`. Enabling an endpoint clears its failure record.
    pub async fn update_endpoint(
        &self,
        owner_id: &str,
        id: &str,
        patch: EndpointPatch,
    ) -> StoreResult<WebhookEndpoint> {
        #[derive(AsChangeset)]
        #[diesel(table_name = webhook_endpoints)]
        struct Changes {
            url: Option<String>,
            description: Option<String>,
            events: Option<String>,
            enabled: Option<bool>,
            failing_since: Option<Option<i64>>,
            disabled_reason: Option<Option<String>>,
            updated_at: i64,
        }
        let enabling = patch.enabled == Some(true);
        let changes = Changes {
            url: patch.url,
            description: patch.description,
            events: patch.events.as_deref().map(events_to_db),
            enabled: patch.enabled,
            failing_since: enabling.then_some(None),
            disabled_reason: patch.enabled.map(|_| None),
            updated_at: to_ms(self.now()),
        };
        let updated = with_write_conn!(self, |conn| {
            diesel::update(
                webhook_endpoints::table
                    .filter(webhook_endpoints::id.eq(id))
                    .filter(webhook_endpoints::owner_id.eq(owner_id)),
            )
            .set(&changes)
            .execute(conn)
            .await?
        });
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_endpoint(owner_id, id).await
    }

    /// Replaces the signing secret; the old one keeps signing until `keep_old_until`
    /// (receivers verify against either while they switch).
    pub async fn rotate_endpoint_secret(
        &self,
        owner_id: &str,
        id: &str,
        secret: String,
        keep_old_until: OffsetDateTime,
    ) -> StoreResult<WebhookEndpoint> {
        let current = self.get_endpoint(owner_id, id).await?;
        let now = to_ms(self.now());
        let updated = with_write_conn!(self, |conn| {
            diesel::update(
                webhook_endpoints::table
                    .filter(webhook_endpoints::id.eq(id))
                    .filter(webhook_endpoints::owner_id.eq(owner_id))
                    .filter(webhook_endpoints::secret.eq(&current.secret)),
            )
            .set((
                webhook_endpoints::previous_secret.eq(Some(&current.secret)),
                webhook_endpoints::previous_secret_until.eq(Some(to_ms(keep_old_until))),
                webhook_endpoints::secret.eq(&secret),
                webhook_endpoints::updated_at.eq(now),
            ))
            .execute(conn)
            .await?
        });
        if updated == 0 {
            return Err(StoreError::Precondition(
                "the secret was rotated meanwhile".into(),
            ));
        }
        self.get_endpoint(owner_id, id).await
    }

    /// Deletes an endpoint and its deliveries.
    pub async fn delete_endpoint(&self, owner_id: &str, id: &str) -> StoreResult<()> {
        let deleted = with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let n = diesel::delete(
                    webhook_endpoints::table
                        .filter(webhook_endpoints::id.eq(id))
                        .filter(webhook_endpoints::owner_id.eq(owner_id)),
                )
                .execute(conn)
                .await?;
                if n == 1 {
                    diesel::delete(
                        webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id)),
                    )
                    .execute(conn)
                    .await?;
                }
                Ok(n)
            })
            .await?
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records `event` for the owner's endpoints that want it (`only`: for that endpoint
    /// alone, as a test ping is), in its own transaction. Returns whether any endpoint
    /// gets it.
    pub async fn record_event(&self, event: &NewEvent, only: Option<&str>) -> StoreResult<bool> {
        let recorded = with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| record_event!(conn, event, only))
                .await?
        });
        if recorded {
            self.run_event_hooks();
        }
        Ok(recorded)
    }

    /// Records an alert once: the mark and the event commit together, and a mark that
    /// exists already (another replica, an earlier sweep) records nothing. Returns whether
    /// this call recorded it.
    pub async fn record_alert(&self, mark: &AlertMark, event: &NewEvent) -> StoreResult<bool> {
        let at = to_ms(event.at);
        let fired = with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let inserted = diesel::insert_into(alert_marks::table)
                    .values((
                        alert_marks::subject.eq(&mark.subject),
                        alert_marks::kind.eq(&mark.kind),
                        alert_marks::level.eq(mark.level),
                        alert_marks::period.eq(mark.period),
                        alert_marks::at.eq(at),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                if inserted == 1 {
                    record_event!(conn, event, None)?;
                }
                Ok(inserted == 1)
            })
            .await?
        });
        if fired {
            self.run_event_hooks();
        }
        Ok(fired)
    }

    /// Whether an alert's mark exists.
    pub async fn alert_fired(&self, mark: &AlertMark) -> StoreResult<bool> {
        let n: i64 = with_conn!(self, |conn| {
            alert_marks::table
                .filter(alert_marks::subject.eq(&mark.subject))
                .filter(alert_marks::kind.eq(&mark.kind))
                .filter(alert_marks::level.eq(mark.level))
                .filter(alert_marks::period.eq(mark.period))
                .count()
                .get_result(conn)
                .await?
        });
        Ok(n > 0)
    }

    /// Claims up to `limit` due deliveries of enabled endpoints until `claim_until`, oldest
    /// first: no other replica claims them before then. On PostgreSQL rows another replica
    /// is claiming are skipped (`FOR UPDATE SKIP LOCKED`); on SQLite the writer lock
    /// serializes claims.
    pub async fn claim_deliveries(
        &self,
        limit: i64,
        claim_until: OffsetDateTime,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let now = to_ms(self.now());
        let until = to_ms(claim_until);
        // The same statement on both backends but for the row locks.
        macro_rules! due {
            () => {
                webhook_deliveries::table
                    .filter(webhook_deliveries::status.eq(status::PENDING))
                    .filter(webhook_deliveries::next_attempt_at.le(now))
                    .filter(
                        webhook_deliveries::claimed_until
                            .is_null()
                            .or(webhook_deliveries::claimed_until.lt(now)),
                    )
                    .filter(
                        webhook_deliveries::endpoint_id.eq_any(
                            webhook_endpoints::table
                                .filter(webhook_endpoints::enabled.eq(true))
                                .select(webhook_endpoints::id),
                        ),
                    )
                    .order((
                        webhook_deliveries::next_attempt_at.asc(),
                        webhook_deliveries::seq.asc(),
                    ))
                    .limit(limit)
                    .select(webhook_deliveries::seq)
            };
        }
        macro_rules! claim {
            ($conn:expr, $seqs:expr) => {{
                let seqs: Vec<i64> = $seqs;
                if !seqs.is_empty() {
                    diesel::update(
                        webhook_deliveries::table.filter(webhook_deliveries::seq.eq_any(&seqs)),
                    )
                    .set(webhook_deliveries::claimed_until.eq(until))
                    .execute($conn)
                    .await?;
                }
                seqs
            }};
        }
        let seqs: Vec<i64> = match &self.pool {
            DbPool::Pg(pool) => {
                let mut conn = pool.get().await?;
                conn.transaction::<_, StoreError, _>(async |conn| {
                    let seqs = due!().for_update().skip_locked().load(conn).await?;
                    Ok(claim!(conn, seqs))
                })
                .await?
            }
            DbPool::Sqlite(pool) => {
                let _writing = self.sqlite_writer.lock().await;
                let mut conn = pool.get().await?;
                conn.transaction::<_, StoreError, _>(async |conn| {
                    let seqs = due!().load(conn).await?;
                    Ok(claim!(conn, seqs))
                })
                .await?
            }
        };
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        type Claimed = (i64, String, i64, String, String, String, EndpointRow);
        let rows: Vec<Claimed> = with_conn!(self, |conn| {
            webhook_deliveries::table
                .inner_join(webhook_events::table)
                .inner_join(
                    webhook_endpoints::table
                        .on(webhook_endpoints::id.eq(webhook_deliveries::endpoint_id)),
                )
                .filter(webhook_deliveries::seq.eq_any(&seqs))
                .order(webhook_deliveries::seq.asc())
                .select((
                    webhook_deliveries::seq,
                    webhook_deliveries::id,
                    webhook_deliveries::attempts,
                    webhook_events::id,
                    webhook_events::event_type,
                    webhook_events::payload,
                    EndpointRow::as_select(),
                ))
                .load(conn)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(seq, id, attempts, event_id, event_type, payload, endpoint)| ClaimedDelivery {
                    id,
                    attempts,
                    event_id,
                    event_type,
                    payload,
                    endpoint: endpoint.into(),
                    seq,
                },
            )
            .collect())
    }

    /// Records how an attempt of a claimed delivery ended, and releases the claim. A
    /// success clears the endpoint's failure record and makes its waiting deliveries due
    /// at once (a receiver that is back gets its backlog now, in order); a failure
    /// schedules the next attempt (or gives up) and disables an endpoint that has been
    /// failing since before `disable_if_failing_since`. Returns whether it disabled it.
    pub async fn finish_delivery(
        &self,
        delivery_id: &str,
        endpoint_id: &str,
        outcome: &AttemptOutcome,
    ) -> StoreResult<bool> {
        let at = to_ms(outcome.at);
        let status = if outcome.success {
            status::SUCCEEDED
        } else if outcome.retry_at.is_some() {
            status::PENDING
        } else {
            status::FAILED
        };
        let next = if outcome.success {
            None
        } else {
            outcome.retry_at.map(to_ms)
        };
        let disable_before = to_ms(outcome.disable_if_failing_since);
        let disabled = with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                diesel::update(
                    webhook_deliveries::table.filter(webhook_deliveries::id.eq(delivery_id)),
                )
                .set((
                    webhook_deliveries::status.eq(status),
                    webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                    webhook_deliveries::next_attempt_at.eq(next),
                    webhook_deliveries::claimed_until.eq(None::<i64>),
                    webhook_deliveries::last_attempt_at.eq(Some(at)),
                    webhook_deliveries::last_status_code.eq(outcome.status_code.map(i64::from)),
                    webhook_deliveries::last_latency_ms.eq(Some(outcome.latency_ms)),
                    webhook_deliveries::last_error.eq(outcome.error.as_deref()),
                    webhook_deliveries::last_response.eq(outcome.response.as_deref()),
                ))
                .execute(conn)
                .await?;
                if outcome.success {
                    diesel::update(webhook_endpoints::table.find(endpoint_id))
                        .set(webhook_endpoints::failing_since.eq(None::<i64>))
                        .execute(conn)
                        .await?;
                    diesel::update(
                        webhook_deliveries::table
                            .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
                            .filter(webhook_deliveries::status.eq(status::PENDING))
                            .filter(webhook_deliveries::next_attempt_at.gt(at)),
                    )
                    .set(webhook_deliveries::next_attempt_at.eq(Some(at)))
                    .execute(conn)
                    .await?;
                    return Ok(false);
                }
                diesel::update(
                    webhook_endpoints::table
                        .find(endpoint_id)
                        .filter(webhook_endpoints::failing_since.is_null()),
                )
                .set(webhook_endpoints::failing_since.eq(Some(at)))
                .execute(conn)
                .await?;
                let disabled = diesel::update(
                    webhook_endpoints::table
                        .find(endpoint_id)
                        .filter(webhook_endpoints::enabled.eq(true))
                        .filter(webhook_endpoints::failing_since.le(disable_before)),
                )
                .set((
                    webhook_endpoints::enabled.eq(false),
                    webhook_endpoints::disabled_reason.eq(Some("failing")),
                    webhook_endpoints::updated_at.eq(at),
                ))
                .execute(conn)
                .await?;
                Ok(disabled == 1)
            })
            .await?
        });
        Ok(disabled)
    }

    /// Gives claimed deliveries back unattempted: they are due again at once (with their
    /// own next attempt time).
    pub async fn release_deliveries(&self, delivery_ids: &[String]) -> StoreResult<()> {
        if delivery_ids.is_empty() {
            return Ok(());
        }
        with_write_conn!(self, |conn| {
            diesel::update(
                webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(delivery_ids)),
            )
            .set(webhook_deliveries::claimed_until.eq(None::<i64>))
            .execute(conn)
            .await?
        });
        Ok(())
    }

    /// An endpoint's deliveries, newest first, `limit` per page; `cursor` continues a
    /// listing.
    pub async fn list_deliveries(
        &self,
        owner_id: &str,
        endpoint_id: &str,
        limit: i64,
        cursor: Option<&str>,
    ) -> StoreResult<Page<DeliveryRecord>> {
        self.get_endpoint(owner_id, endpoint_id).await?;
        let before = match cursor {
            None => i64::MAX,
            Some(c) => c.parse::<i64>().map_err(|_| StoreError::BadCursor)?,
        };
        let rows: Vec<(DeliveryRow, String, String)> = with_conn!(self, |conn| {
            webhook_deliveries::table
                .inner_join(webhook_events::table)
                .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
                .filter(webhook_deliveries::seq.lt(before))
                .order(webhook_deliveries::seq.desc())
                .limit(limit + 1)
                .select((
                    DeliveryRow::as_select(),
                    webhook_events::id,
                    webhook_events::event_type,
                ))
                .load(conn)
                .await?
        });
        let more = rows.len() as i64 > limit;
        let mut items = Vec::with_capacity(rows.len());
        let mut last_seq = None;
        for (row, event_id, event_type) in rows.into_iter().take(limit as usize) {
            last_seq = Some(row.seq);
            items.push(delivery_record(row, event_id, event_type));
        }
        Ok(Page {
            items,
            next_cursor: if more {
                last_seq.map(|s| s.to_string())
            } else {
                None
            },
        })
    }

    /// One delivery of one of `owner_id`'s endpoints.
    pub async fn get_delivery(
        &self,
        owner_id: &str,
        endpoint_id: &str,
        delivery_id: &str,
    ) -> StoreResult<DeliveryRecord> {
        self.get_endpoint(owner_id, endpoint_id).await?;
        let row: Option<(DeliveryRow, String, String)> = with_conn!(self, |conn| {
            webhook_deliveries::table
                .inner_join(webhook_events::table)
                .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
                .filter(webhook_deliveries::id.eq(delivery_id))
                .select((
                    DeliveryRow::as_select(),
                    webhook_events::id,
                    webhook_events::event_type,
                ))
                .first(conn)
                .await
                .optional()?
        });
        row.map(|(r, id, t)| delivery_record(r, id, t))
            .ok_or(StoreError::NotFound)
    }

    /// Makes a delivery due again at once, whatever its state (the attempt count goes on).
    pub async fn redeliver(
        &self,
        owner_id: &str,
        endpoint_id: &str,
        delivery_id: &str,
    ) -> StoreResult<DeliveryRecord> {
        self.get_delivery(owner_id, endpoint_id, delivery_id)
            .await?;
        let now = to_ms(self.now());
        with_write_conn!(self, |conn| {
            diesel::update(
                webhook_deliveries::table
                    .filter(webhook_deliveries::id.eq(delivery_id))
                    .filter(webhook_deliveries::endpoint_id.eq(endpoint_id)),
            )
            .set((
                webhook_deliveries::status.eq(status::PENDING),
                webhook_deliveries::next_attempt_at.eq(Some(now)),
            ))
            .execute(conn)
            .await?
        });
        self.run_event_hooks();
        self.get_delivery(owner_id, endpoint_id, delivery_id).await
    }

    /// Pending deliveries and the age of the oldest, for metrics.
    pub async fn delivery_queue(&self) -> StoreResult<DeliveryQueue> {
        let (depth, oldest): (i64, Option<i64>) = with_conn!(self, |conn| {
            webhook_deliveries::table
                .filter(webhook_deliveries::status.eq(status::PENDING))
                .select((
                    diesel::dsl::count_star(),
                    diesel::dsl::min(webhook_deliveries::created_at),
                ))
                .first(conn)
                .await?
        });
        Ok(DeliveryQueue {
            depth,
            oldest: oldest.map(from_ms),
        })
    }

    /// Deletes finished deliveries and the events left without deliveries older than
    /// `before`. Alert marks stay: a period (`forever` included) must not fire twice.
    pub async fn purge_webhooks_before(&self, before: OffsetDateTime) -> StoreResult<usize> {
        let cutoff = to_ms(before);
        Ok(with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let mut n = diesel::delete(
                    webhook_deliveries::table
                        .filter(webhook_deliveries::status.ne(status::PENDING))
                        .filter(webhook_deliveries::created_at.lt(cutoff)),
                )
                .execute(conn)
                .await?;
                n += diesel::delete(
                    webhook_events::table
                        .filter(webhook_events::created_at.lt(cutoff))
                        .filter(diesel::dsl::not(diesel::dsl::exists(
                            webhook_deliveries::table
                                .filter(webhook_deliveries::event_seq.eq(webhook_events::seq)),
                        ))),
                )
                .execute(conn)
                .await?;
                Ok(n)
            })
            .await?
        }))
    }
}
