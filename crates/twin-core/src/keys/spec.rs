//! Validation of key-creation and key-update bodies, shared by the owner API, the operator
//! API and the CLI.

use serde::{Deserialize, Deserializer};
use time::{Duration, OffsetDateTime};
use twin_meter::plans::Plan;
use twin_meter::{Credits, Period};
use twin_store::{
    AlertRules, KeyAlerts, KeyEnv, KeyMeta, KeyPatch, KeySpec, MAX_META_BYTES, Scope, ScopeSet,
};
use utoipa::ToSchema;

use crate::{Error, ErrorCode};

/// Reads a field that may be absent (outer `None`), `null` (`Some(None)`) or a value.
pub(crate) fn nullable<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// The body of `POST /v1/keys` (and of the operator's and CLI's key creation).
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKeyBody {
    /// 1–64 characters, at least one of them not a space, no control characters; leading
    /// and trailing spaces are dropped.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// `live` (default) or `test`. A key can only create keys of its own environment.
    pub env: Option<KeyEnv>,
    /// Scopes (at least one); default `["twin:read"]`; must be within the caller's own.
    #[schema(min_items = 1)]
    pub scopes: Option<Vec<Scope>>,
    /// Expiry (RFC 3339, in the future). Exclusive with `expiresInDays`.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Expiry in days from now, 1–3650. Exclusive with `expiresAt`.
    #[serde(default, deserialize_with = "crate::input::whole_number")]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
    /// Monthly quota, 1 to the plan's maximum; default the plan's default.
    #[serde(default, deserialize_with = "crate::input::whole_number")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub monthly_quota: Option<i64>,
    /// Requests per minute, 0 (unlimited) to the plan's maximum; default the plan's default.
    #[serde(default, deserialize_with = "crate::input::whole_number")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub rate_limit_rpm: Option<i64>,
    /// Spend cap per period, credits as a decimal string with up to 6 places.
    #[schema(pattern = r"^[0-9]{1,12}(\.[0-9]{1,6})?$", example = "12.500000")]
    pub spend_limit: Option<String>,
    /// `day`, `week`, `month` (default) or `forever`.
    pub spend_period: Option<Period>,
    /// Your own bookkeeping: any JSON object of at most 4 KiB serialized; never interpreted.
    #[schema(value_type = Option<Object>)]
    pub meta: Option<KeyMeta>,
    /// Percentages of the monthly quota and of the spend cap that send `quota.threshold` /
    /// `spend.threshold` once per period: up to 10 integers from 1 to 100; default
    /// `[80, 100]`; `[]` sends none. Setting alerts needs `webhooks:write`.
    #[schema(max_items = 10, value_type = Option<Vec<i64>>)]
    pub alert_thresholds: Option<Vec<serde_json::Value>>,
    /// Rules for `usage.high`, `failures.high` and `activity.unusual`.
    #[schema(value_type = Option<AlertRules>)]
    pub alerts: Option<serde_json::Value>,
}

/// The body of `PATCH /v1/keys/{id}`; absent fields stay as they are.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateKeyBody {
    /// New name (as for creation).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    /// Enable (`true`) or disable (`false`) the key.
    pub is_active: Option<bool>,
    /// New scopes (at least one), within the caller's own.
    #[schema(min_items = 1)]
    pub scopes: Option<Vec<Scope>>,
    /// New expiry (ISO 8601, in the future), or null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Option<String>>,
    /// New monthly quota, 1 to the plan's maximum.
    #[serde(default, deserialize_with = "crate::input::whole_number")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub monthly_quota: Option<i64>,
    /// New rate limit, 0 (unlimited) to the plan's maximum.
    #[serde(default, deserialize_with = "crate::input::whole_number")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub rate_limit_rpm: Option<i64>,
    /// New spend cap, or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,12}(\.[0-9]{1,6})?$")]
    pub spend_limit: Option<Option<String>>,
    /// New spend period; changing it resets the period's usage to 0.
    pub spend_period: Option<Period>,
    /// New metadata (any JSON object, at most 4 KiB serialized), or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Option<KeyMeta>>,
    /// New alert thresholds (as for creation), or null for the default `[80, 100]`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(max_items = 10, value_type = Option<Vec<i64>>)]
    pub alert_thresholds: Option<Option<Vec<serde_json::Value>>>,
    /// New alert rules, or null to remove them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<AlertRules>)]
    pub alerts: Option<Option<serde_json::Value>>,
}

fn check_name(name: &str) -> Result<String, Error> {
    let trimmed = name.trim();
    let len = name.chars().count();
    if trimmed.is_empty() || len > 64 || name.chars().any(char::is_control) {
        return Err(Error::invalid_parameter(
            "name",
            None,
            "1 to 64 characters, no control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

fn check_scopes(scopes: &[Scope], ceiling: Option<ScopeSet>) -> Result<ScopeSet, Error> {
    if scopes.is_empty() {
        return Err(Error::invalid_parameter(
            "scopes",
            Some(Scope::ALLOWED),
            "at least one scope",
        ));
    }
    let set: ScopeSet = scopes.iter().copied().collect();
    if let Some(ceiling) = ceiling
        && let Some(missing) = set.iter().find(|s| !ceiling.contains(*s))
    {
        return Err(Error::new(
            ErrorCode::MissingScope,
            format!(
                "a key can only grant scopes it holds itself; this one lacks `{}`",
                missing.as_str()
            ),
        )
        .with("requiredScope", missing.as_str()));
    }
    Ok(set)
}

fn check_future(field: &str, value: &str, now: OffsetDateTime) -> Result<OffsetDateTime, Error> {
    let t = twin_meter::parse_iso8601(value)
        .map_err(|_| Error::invalid_parameter(field, None, "an ISO 8601 date-time is expected"))?;
    if t <= now {
        return Err(Error::invalid_parameter(
            field,
            None,
            "must be in the future",
        ));
    }
    Ok(t)
}

fn check_quota(value: i64, plan: &Plan) -> Result<i64, Error> {
    let max = plan.max_monthly_quota.min(twin_meter::MAX_MONTHLY_QUOTA) as i64;
    if !(1..=max).contains(&value) {
        return Err(Error::invalid_parameter(
            "monthlyQuota",
            None,
            &format!("an integer from 1 to {max} (the plan's maximum)"),
        ));
    }
    Ok(value)
}

fn check_rate(value: i64, plan: &Plan) -> Result<i64, Error> {
    let max = i64::from(plan.max_rate_limit_rpm);
    if !(0..=max).contains(&value) {
        return Err(Error::invalid_parameter(
            "rateLimitRpm",
            None,
            &format!("an integer from 0 (unlimited) to {max} (the plan's maximum)"),
        ));
    }
    Ok(value)
}

fn check_spend_limit(value: &str) -> Result<i64, Error> {
    value.parse::<Credits>().map(Credits::micros).map_err(|e| {
        Error::invalid_parameter("spendLimit", None, &format!("{e}; e.g. \"12.500000\""))
    })
}

fn check_meta(meta: KeyMeta) -> Result<KeyMeta, Error> {
    let bytes = serde_json::Value::Object(meta.clone()).to_string().len();
    if bytes > MAX_META_BYTES {
        return Err(Error::invalid_parameter(
            "meta",
            None,
            &format!("a JSON object of at most {MAX_META_BYTES} bytes serialized (got {bytes})"),
        ));
    }
    Ok(meta)
}

fn check_thresholds(values: &[serde_json::Value]) -> Result<Vec<u8>, Error> {
    let bad = || {
        Error::invalid_parameter(
            "alertThresholds",
            None,
            "up to 10 whole percentages from 1 to 100",
        )
    };
    if values.len() > 10 {
        return Err(bad());
    }
    let mut out = values
        .iter()
        .map(|v| {
            // JSON Schema counts 80.0 as an integer: so does this.
            v.as_f64()
                .filter(|p| p.fract() == 0.0 && (1.0..=100.0).contains(p))
                .map(|p| p as u8)
                .ok_or_else(bad)
        })
        .collect::<Result<Vec<u8>, Error>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Alert rules from JSON: objects only where the schema says objects (serde would also take
/// a struct from an array), then the ranges.
fn check_rules(value: serde_json::Value) -> Result<AlertRules, Error> {
    let object_or_null =
        |v: Option<&serde_json::Value>| v.is_none_or(|v| v.is_object() || v.is_null());
    let shaped = value
        .as_object()
        .is_some_and(|m| object_or_null(m.get("highUsage")) && object_or_null(m.get("failures")));
    if !shaped {
        return Err(Error::invalid_parameter(
            "alerts",
            None,
            "an object {highUsage: {threshold, period}, failures: {threshold, period}, unusualActivity}",
        ));
    }
    // A whole number written as 100.0 is a number JSON Schema calls an integer.
    let mut value = value;
    for rule in ["highUsage", "failures"] {
        if let Some(t) = value.pointer_mut(&format!("/{rule}/threshold"))
            && let Some(f) = t.as_f64()
            && f.fract() == 0.0
            && f.abs() < 1e15
        {
            *t = serde_json::Value::from(f as i64);
        }
    }
    let rules: AlertRules = serde_json::from_value(value)
        .map_err(|e| Error::invalid_parameter("alerts", None, &e.to_string()))?;
    check_rule_ranges(rules)
}

fn check_rule_ranges(rules: AlertRules) -> Result<AlertRules, Error> {
    for (field, rule) in [
        ("alerts.highUsage.threshold", rules.high_usage),
        ("alerts.failures.threshold", rules.failures),
    ] {
        if let Some(rule) = rule
            && !(1..=1_000_000_000).contains(&rule.threshold)
        {
            return Err(Error::invalid_parameter(
                field,
                None,
                "an integer from 1 to 1000000000",
            ));
        }
    }
    Ok(rules)
}

/// Alert settings are alert rules: a key setting them needs `webhooks:write` (SPEC §2).
fn check_alert_scope(setting: bool, ceiling: Option<ScopeSet>) -> Result<(), Error> {
    if setting && ceiling.is_some_and(|c| !c.contains(Scope::WebhooksWrite)) {
        return Err(Error::new(
            ErrorCode::MissingScope,
            "setting alerts needs the `webhooks:write` scope",
        )
        .with("requiredScope", Scope::WebhooksWrite.as_str()));
    }
    Ok(())
}

impl CreateKeyBody {
    /// Validates the body against `plan` and, when the caller is a key, its scopes
    /// (`ceiling`); operators pass `None`.
    pub fn into_spec(
        self,
        owner_id: &str,
        plan: &Plan,
        ceiling: Option<ScopeSet>,
        created_by: &str,
        now: OffsetDateTime,
    ) -> Result<KeySpec, Error> {
        let name = check_name(&self.name)?;
        let env = self.env.unwrap_or(KeyEnv::Live);
        let scopes = match &self.scopes {
            None => {
                let default: Vec<Scope> = ScopeSet::default_for_new_keys().iter().collect();
                check_scopes(&default, ceiling)?
            }
            Some(list) => check_scopes(list, ceiling)?,
        };
        let expires_at = match (&self.expires_at, self.expires_in_days) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_parameter(
                    "expiresAt",
                    None,
                    "give expiresAt or expiresInDays, not both",
                ));
            }
            (Some(at), None) => Some(check_future("expiresAt", at, now)?),
            (None, Some(days)) => {
                if !(1..=3650).contains(&days) {
                    return Err(Error::invalid_parameter(
                        "expiresInDays",
                        None,
                        "an integer from 1 to 3650",
                    ));
                }
                Some(now + Duration::days(days))
            }
            (None, None) => None,
        };
        let monthly_quota = check_quota(
            self.monthly_quota
                .unwrap_or(plan.default_monthly_quota as i64),
            plan,
        )?;
        let rate_limit_rpm = check_rate(
            self.rate_limit_rpm
                .unwrap_or(i64::from(plan.default_rate_limit_rpm)),
            plan,
        )?;
        let spend_limit = self
            .spend_limit
            .as_deref()
            .map(check_spend_limit)
            .transpose()?;
        let spend_period = self.spend_period.unwrap_or_default();
        check_alert_scope(
            self.alert_thresholds.is_some() || self.alerts.is_some(),
            ceiling,
        )?;
        let alerts = KeyAlerts {
            thresholds: self
                .alert_thresholds
                .as_deref()
                .map(check_thresholds)
                .transpose()?,
            rules: self
                .alerts
                .map(check_rules)
                .transpose()?
                .filter(|r| !r.is_empty()),
        };
        Ok(KeySpec {
            owner_id: owner_id.to_owned(),
            env,
            name,
            scopes,
            expires_at,
            monthly_quota,
            rate_limit_rpm,
            spend_limit,
            spend_period,
            created_by: created_by.to_owned(),
            rotated_from: None,
            meta: self.meta.map(check_meta).transpose()?,
            alerts,
        })
    }
}

impl UpdateKeyBody {
    /// Validates the body into a store patch.
    pub fn into_patch(
        self,
        plan: &Plan,
        ceiling: Option<ScopeSet>,
        now: OffsetDateTime,
    ) -> Result<KeyPatch, Error> {
        check_alert_scope(
            self.alert_thresholds.is_some() || self.alerts.is_some(),
            ceiling,
        )?;
        Ok(KeyPatch {
            name: self.name.as_deref().map(check_name).transpose()?,
            is_active: self.is_active,
            scopes: self
                .scopes
                .as_deref()
                .map(|s| check_scopes(s, ceiling))
                .transpose()?,
            expires_at: match self.expires_at {
                None => None,
                Some(None) => Some(None),
                Some(Some(at)) => Some(Some(check_future("expiresAt", &at, now)?)),
            },
            monthly_quota: self
                .monthly_quota
                .map(|q| check_quota(q, plan))
                .transpose()?,
            rate_limit_rpm: self
                .rate_limit_rpm
                .map(|r| check_rate(r, plan))
                .transpose()?,
            spend_limit: match self.spend_limit {
                None => None,
                Some(None) => Some(None),
                Some(Some(s)) => Some(Some(check_spend_limit(&s)?)),
            },
            spend_period: self.spend_period,
            meta: match self.meta {
                None => None,
                Some(None) => Some(None),
                Some(Some(m)) => Some(Some(check_meta(m)?)),
            },
            alert_thresholds: match self.alert_thresholds {
                None => None,
                Some(None) => Some(None),
                Some(Some(t)) => Some(Some(check_thresholds(&t)?)),
            },
            alert_rules: match self.alerts {
                None => None,
                Some(None) => Some(None),
                Some(Some(r)) => Some(Some(check_rules(r)?).filter(|r| !r.is_empty())),
            },
        })
    }
}
