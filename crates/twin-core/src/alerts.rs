//! Alerts (SPEC §15): the events that come from usage and time rather than from a change.
//!
//! - `quota.threshold` / `spend.threshold`: the meter notices on the request path that the
//!   unit it just spent took a key's monthly quota or spend period to one of the key's
//!   `alertThresholds` (a comparison against numbers it holds anyway) and hands a
//!   [`Crossing`] to a channel; nothing else happens on the request path. A background task
//!   records each crossing with [`twin_store::Store::record_alert`], whose mark (counter,
//!   type, threshold, period) is unique in the database: the first replica to record it
//!   sends the event, every other replica's insert finds the mark and sends nothing.
//! - `usage.high`, `failures.high`, `activity.unusual`, `key.expiring` and `key.expired`: a
//!   sweep every [`crate::webhooks::WebhookSettings::sweep_interval`] on every replica reads
//!   the keys with rules (or an expiry near) and the usage log, and records what is due the
//!   same way, so several replicas sweeping never send one alert twice.

use time::{Duration, OffsetDateTime};
use tokio::sync::mpsc;
use twin_meter::Clock;
use twin_store::webhooks::{AlertMark, KeyRef, NewEvent};
use twin_store::{AlertPeriod, CountRule, KeyRecord, Store, StoreError};

use crate::meter::Allowance;
use crate::time_fmt::iso;

/// A key's quota or spend reaching one of its thresholds, as the meter saw it.
#[derive(Debug, Clone)]
pub struct Crossing {
    /// The key that spent the unit.
    pub key_id: String,
    /// Its owner.
    pub owner_id: String,
    /// Its display prefix.
    pub prefix: String,
    /// Its name.
    pub name: String,
    /// `live` or `test`.
    pub env: &'static str,
    /// The counter (shared along a rotation lineage): a threshold fires once per allowance.
    pub counter_id: String,
    /// Quota or spend.
    pub allowance: Allowance,
    /// The percentage reached.
    pub threshold: u8,
    /// Used in the period (requests, or micro-credits).
    pub used: i64,
    /// The limit (requests, or micro-credits).
    pub limit: i64,
    /// Start of the period.
    pub period_start: OffsetDateTime,
    /// When the period resets (`None`: never).
    pub resets_at: Option<OffsetDateTime>,
    /// When it was noticed.
    pub at: OffsetDateTime,
}

/// The sending half the meter holds.
pub type CrossingSender = mpsc::UnboundedSender<Crossing>;

impl Crossing {
    fn event_type(&self) -> &'static str {
        match self.allowance {
            Allowance::Quota => "quota.threshold",
            Allowance::Spend => "spend.threshold",
        }
    }

    fn mark(&self) -> AlertMark {
        AlertMark {
            subject: self.counter_id.clone(),
            kind: self.event_type().to_owned(),
            level: i64::from(self.threshold),
            period: self.period_start.unix_timestamp() * 1000,
        }
    }

    fn event(&self) -> Result<NewEvent, StoreError> {
        let mut data = key_data(KeyRef {
            id: &self.key_id,
            owner_id: &self.owner_id,
            prefix: &self.prefix,
            name: &self.name,
            env: self.env,
        });
        let (used, limit) = match self.allowance {
            Allowance::Quota => (serde_json::json!(self.used), serde_json::json!(self.limit)),
            Allowance::Spend => (
                serde_json::json!(crate::reports::credits(self.used)),
                serde_json::json!(crate::reports::credits(self.limit)),
            ),
        };
        extend(
            &mut data,
            serde_json::json!({
                "threshold": self.threshold,
                "used": used,
                "limit": limit,
                "periodStart": iso(self.period_start),
                "resetsAt": self.resets_at.map(iso),
            }),
        );
        NewEvent::new(&self.owner_id, self.event_type(), self.at, data)
    }
}

fn key_data(key: KeyRef<'_>) -> serde_json::Value {
    serde_json::json!({
        "keyId": key.id,
        "keyPrefix": key.prefix,
        "name": key.name,
        "env": key.env,
    })
}

fn extend(data: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(map), serde_json::Value::Object(more)) = (data.as_object_mut(), more) {
        map.extend(more);
    }
}

/// Starts the task that records the meter's crossings; returns the sender the meter uses.
pub fn spawn_crossings(store: Store) -> CrossingSender {
    let (tx, mut rx) = mpsc::unbounded_channel::<Crossing>();
    tokio::spawn(async move {
        while let Some(crossing) = rx.recv().await {
            // The database may be down for a moment: a crossing is retried, not lost
            // (another replica, or this one's next sight of the key, may record it too).
            for attempt in 0..5u32 {
                match record(&store, &crossing).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, key = %crossing.key_id, "cannot record an alert");
                        tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
                    }
                }
            }
        }
    });
    tx
}

async fn record(store: &Store, crossing: &Crossing) -> Result<(), StoreError> {
    let mark = crossing.mark();
    // Most sightings after the first (another replica, a restart) end here, without
    // building an event.
    if store.alert_fired(&mark).await? {
        return Ok(());
    }
    store.record_alert(&mark, &crossing.event()?).await?;
    Ok(())
}

/// Starts the rules and expiry sweeps on the current runtime.
pub fn spawn_sweeps(core: &crate::Core) -> tokio::task::JoinHandle<()> {
    let store = core.store.clone();
    let clock = core.clock.clone();
    let every = core.webhooks.sweep_interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sweep(&store, clock.as_ref()).await {
                tracing::warn!(error = %e, "alert sweep failed; retrying at the next one");
            }
        }
    })
}

/// One pass of both sweeps: every alert due now is recorded once.
pub async fn sweep(store: &Store, clock: &dyn Clock) -> Result<(), StoreError> {
    let now = clock.now();
    sweep_expiry(store, now).await?;
    sweep_rules(store, now).await
}

async fn sweep_expiry(store: &Store, now: OffsetDateTime) -> Result<(), StoreError> {
    // Keys that expired in the last two days (a sweep missed while every replica was down
    // for longer is not sent late) or expire within 7 days.
    let keys = store
        .keys_expiring_between(now - Duration::days(2), now + Duration::days(7))
        .await?;
    for key in keys {
        let Some(expires) = key.expires_at else {
            continue;
        };
        let left = expires - now;
        let (kind, level) = if left <= Duration::ZERO {
            ("key.expired", 0)
        } else if left <= Duration::days(1) {
            ("key.expiring", 1)
        } else {
            ("key.expiring", 7)
        };
        let mark = AlertMark {
            subject: key.id.clone(),
            kind: kind.into(),
            level,
            period: expires.unix_timestamp() * 1000,
        };
        if store.alert_fired(&mark).await? {
            continue;
        }
        let mut data = key_data(KeyRef::from(&key));
        extend(&mut data, serde_json::json!({ "expiresAt": iso(expires) }));
        if level > 0 {
            extend(&mut data, serde_json::json!({ "daysLeft": level }));
        }
        store
            .record_alert(&mark, &NewEvent::new(&key.owner_id, kind, now, data)?)
            .await?;
    }
    Ok(())
}

fn period_start(period: AlertPeriod, now: OffsetDateTime) -> OffsetDateTime {
    let hour = now
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0));
    let hour = hour.unwrap_or(now);
    match period {
        AlertPeriod::Hour => hour,
        AlertPeriod::Day => hour.replace_hour(0).unwrap_or(hour),
    }
}

async fn sweep_rules(store: &Store, now: OffsetDateTime) -> Result<(), StoreError> {
    let now = now.to_offset(time::UtcOffset::UTC);
    for key in store.keys_with_alert_rules().await? {
        let Some(rules) = key.alerts.rules.clone() else {
            continue;
        };
        if let Some(rule) = rules.high_usage {
            count_rule(store, &key, "usage.high", rule, false, now).await?;
        }
        if let Some(rule) = rules.failures {
            count_rule(store, &key, "failures.high", rule, true, now).await?;
        }
        if rules.unusual_activity {
            unusual(store, &key, now).await?;
        }
    }
    Ok(())
}

async fn count_rule(
    store: &Store,
    key: &KeyRecord,
    kind: &str,
    rule: CountRule,
    failures: bool,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let start = period_start(rule.period, now);
    let mark = AlertMark {
        subject: key.id.clone(),
        kind: kind.into(),
        level: rule.threshold,
        period: start.unix_timestamp() * 1000,
    };
    if store.alert_fired(&mark).await? {
        return Ok(());
    }
    let calls = store.key_calls_since(&key.id, start, failures).await?;
    if calls <= rule.threshold {
        return Ok(());
    }
    let mut data = key_data(KeyRef::from(key));
    extend(
        &mut data,
        serde_json::json!({
            "threshold": rule.threshold,
            "period": rule.period,
            "calls": calls,
            "periodStart": iso(start),
        }),
    );
    store
        .record_alert(&mark, &NewEvent::new(&key.owner_id, kind, now, data)?)
        .await?;
    Ok(())
}

/// An hour above 10× the key's hourly average of the previous 7 days, and at least 100.
pub const UNUSUAL_FACTOR: i64 = 10;
/// The fewest calls in an hour that can be unusual.
pub const UNUSUAL_MIN_CALLS: i64 = 100;

async fn unusual(store: &Store, key: &KeyRecord, now: OffsetDateTime) -> Result<(), StoreError> {
    let hour = period_start(AlertPeriod::Hour, now);
    let mark = AlertMark {
        subject: key.id.clone(),
        kind: "activity.unusual".into(),
        level: 0,
        period: hour.unix_timestamp() * 1000,
    };
    if store.alert_fired(&mark).await? {
        return Ok(());
    }
    let calls = store.key_calls_since(&key.id, hour, false).await?;
    if calls < UNUSUAL_MIN_CALLS {
        return Ok(());
    }
    // The previous 7 whole days, from the daily roll-ups: 168 hours.
    let today = period_start(AlertPeriod::Day, now);
    let week = store
        .key_calls_in_days(&key.id, today - Duration::days(7), today)
        .await?;
    let average = week as f64 / 168.0;
    if (calls as f64) <= average * UNUSUAL_FACTOR as f64 {
        return Ok(());
    }
    let mut data = key_data(KeyRef::from(key));
    extend(
        &mut data,
        serde_json::json!({
            "calls": calls,
            "hourStart": iso(hour),
            "hourlyAverage": (average * 100.0).round() / 100.0,
        }),
    );
    store
        .record_alert(
            &mark,
            &NewEvent::new(&key.owner_id, "activity.unusual", now, data)?,
        )
        .await?;
    Ok(())
}
