//! Keys: the owner's credentials and their life cycle (SPEC §2, §7) — views, validation of
//! create and update bodies (`spec`), and one module per action. The owner API, the
//! operator API, the dashboard and the CLI all call these functions, so a rule holds
//! whichever interface asks.

pub mod create;
pub mod revoke;
pub mod rotate;
pub mod spec;
pub mod update;

use serde::Serialize;
use time::OffsetDateTime;
use twin_meter::Credits;
use twin_meter::Period;
use twin_store::{KeyEnv, KeyRecord, KeyStatus, Scope, ScopeSet};
use utoipa::ToSchema;

use crate::reports::credits;
use crate::time_fmt::iso;
use crate::{Core, Error, ErrorCode};

/// Who asks for a key change, and how far they may reach (SPEC §2 "Scopes").
///
/// One rule for every interface: a key manages keys only within its own scopes and its own
/// environment — it creates, widens, changes or rotates no key that holds a scope it lacks,
/// and a test key touches only test keys. Operators (admin API, CLI) and the owner's own
/// dashboard session have no ceiling.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Recorded as a new key's `createdBy` and in the audit trail: a key's display prefix,
    /// `operator`, `cli` or `dashboard`.
    pub name: String,
    /// The reach of a key acting on the owner's keys; `None` for operators and sessions.
    pub ceiling: Option<Ceiling>,
}

/// What an acting key holds: the most it can grant or manage.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    /// Its scopes.
    pub scopes: ScopeSet,
    /// Its environment.
    pub env: KeyEnv,
}

impl Actor {
    /// An operator or the owner in person (no ceiling), named `name` in the audit trail.
    pub fn unlimited(name: impl Into<String>) -> Self {
        Actor {
            name: name.into(),
            ceiling: None,
        }
    }

    /// A key acting on its owner's keys.
    pub fn key(key: &KeyRecord) -> Self {
        Actor {
            name: key.prefix.clone(),
            ceiling: Some(Ceiling {
                scopes: key.scopes,
                env: key.env,
            }),
        }
    }

    /// The scopes this actor may grant (`None`: any).
    pub fn scope_ceiling(&self) -> Option<ScopeSet> {
        self.ceiling.map(|c| c.scopes)
    }

    /// Refuses a key in another environment than the acting key's (a test key manages
    /// only test keys, a live key only live keys).
    pub fn check_env(&self, env: KeyEnv) -> Result<(), Error> {
        match self.ceiling {
            Some(c) if c.env != env => Err(Error::new(
                ErrorCode::MissingScope,
                format!(
                    "a {} key can only manage {} keys",
                    c.env.as_str(),
                    c.env.as_str()
                ),
            )
            .with("requiredScope", "keys:write")),
            _ => Ok(()),
        }
    }

    /// Refuses to change, rotate or revoke `target` when it is beyond this actor's reach:
    /// another environment, or a scope the acting key lacks.
    pub fn check_reach(&self, target: &KeyRecord) -> Result<(), Error> {
        self.check_env(target.env)?;
        if let Some(c) = self.ceiling
            && let Some(missing) = target.scopes.iter().find(|s| !c.scopes.contains(*s))
        {
            return Err(Error::new(
                ErrorCode::MissingScope,
                format!(
                    "a key can only manage keys within its own scopes; this one lacks `{}`",
                    missing.as_str()
                ),
            )
            .with("requiredScope", missing.as_str()));
        }
        Ok(())
    }
}

/// A key as the API shows it: never its hash, never its plaintext.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// Public id (8 hex).
    #[schema(example = "1a2b3c4d")]
    pub id: String,
    /// Display prefix, safe to show anywhere.
    #[schema(example = "atk_live_1a2b3c4d")]
    pub prefix: String,
    /// Human name.
    pub name: String,
    /// The environment.
    pub env: KeyEnv,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
    /// The key's state now.
    pub status: KeyStatus,
    /// `false` when disabled.
    pub is_active: bool,
    /// Creation time.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last authenticated use (may lag by the usage flush interval).
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    /// Expiry.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Revocation time.
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    /// Authenticated uses so far (may lag by the usage flush interval).
    pub usage_count: i64,
    /// Monthly quota.
    pub monthly_quota: i64,
    /// Requests counted this month.
    pub quota_used: i64,
    /// Requests per minute (0 = unlimited).
    pub rate_limit_rpm: i64,
    /// Spend cap per period (credits, 6 decimals), or null.
    pub spend_limit: Option<String>,
    /// The period the spend cap counts over.
    pub spend_period: Period,
    /// Credits spent in the current period.
    pub spend_period_used: String,
    /// Start of the current spend period.
    #[schema(format = DateTime)]
    pub spend_period_start: Option<String>,
    /// The key this one replaced by rotation.
    pub rotated_from: Option<String>,
    /// The owner's metadata, as set on create or PATCH (null when none).
    #[schema(value_type = Option<Object>)]
    pub meta: Option<twin_store::KeyMeta>,
    /// The percentages of the quota and spend cap that send threshold events.
    pub alert_thresholds: Vec<u8>,
    /// The key's alert rules (null when none).
    pub alerts: Option<twin_store::AlertRules>,
}

impl KeyView {
    /// The view of `key` now, counting as used only what was spent: this replica's
    /// reserved-but-unspent allowances are left out. (Allowances other replicas hold are
    /// counted until they are spent or returned, at most two seconds after their last use.)
    pub fn for_core(key: &KeyRecord, core: &Core) -> Self {
        let now = core.clock.now();
        let mut view = KeyView::new(key, now);
        let (quota_unused, spend_unused) = core.meter.local_unused(&key.id, now);
        view.quota_used = (view.quota_used - quota_unused).max(0);
        if spend_unused > 0 {
            let period: twin_meter::Period = key.spend_period;
            let spent = (key.counters.spend_used_in(period.start(now)) - spend_unused).max(0);
            view.spend_period_used = credits(spent);
        }
        view
    }

    /// The view of `key` at `now`, from the stored counters.
    pub fn new(key: &KeyRecord, now: OffsetDateTime) -> Self {
        let month = twin_meter::month_start(now);
        let period: twin_meter::Period = key.spend_period;
        let period_start = period.start(now);
        let spent = key.counters.spend_used_in(period_start);
        KeyView {
            id: key.id.clone(),
            prefix: key.prefix.clone(),
            name: key.name.clone(),
            env: key.env,
            scopes: key.scopes.iter().collect(),
            status: key.status(now),
            is_active: key.is_active,
            created_at: iso(key.created_at),
            last_used_at: key.last_used_at.map(iso),
            expires_at: key.expires_at.map(iso),
            revoked_at: key.revoked_at.map(iso),
            usage_count: key.usage_count,
            monthly_quota: key.monthly_quota,
            quota_used: key.counters.quota_used_in(month),
            rate_limit_rpm: key.rate_limit_rpm,
            spend_limit: key
                .spend_limit
                .and_then(Credits::from_micros)
                .map(|c| c.to_string()),
            spend_period: period,
            spend_period_used: credits(spent),
            spend_period_start: Some(iso(period_start)),
            rotated_from: key.rotated_from.clone(),
            meta: key.meta.clone(),
            alert_thresholds: key.alerts.thresholds().to_vec(),
            alerts: key.alerts.rules.clone(),
        }
    }
}

/// A page of `owner_id`'s keys, newest first, optionally only those in `status`; shared by
/// the owner API and the dashboard. `cursor` is a previous page's `next`.
pub async fn list_keys(
    core: &Core,
    owner_id: &str,
    status: Option<KeyStatus>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<KeyView>, Option<String>), Error> {
    let now = core.clock.now();
    let page = core
        .store
        .list_keys(owner_id, status, now, i64::from(limit), cursor)
        .await?;
    Ok((
        page.items
            .iter()
            .map(|k| KeyView::for_core(k, core))
            .collect(),
        page.next_cursor,
    ))
}

/// A newly created (or rotated) key: the view plus the plaintext, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    /// The key's public fields.
    #[serde(flatten)]
    pub view: KeyView,
    /// The plaintext key. It is shown only in this response and never stored.
    #[schema(example = "atk_live_1a2b3c4d_0123456789abcdef0123456789abcdef")]
    pub key: String,
    /// A reminder that the plaintext cannot be shown again.
    pub warning: String,
}

/// The reminder sent with every plaintext key.
pub const PLAINTEXT_WARNING: &str = "Store this key now: it is shown only once and cannot be recovered. If you lose it, revoke it and create another.";
