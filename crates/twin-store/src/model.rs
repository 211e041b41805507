//! Domain types the store reads and writes. They carry no diesel types, so the layers
//! above never see the database's shapes.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

/// A value outside the set a field accepts, with the values it does accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?}; allowed: {}", allowed.join(", "))]
pub struct InvalidValue {
    /// What was given.
    pub value: String,
    /// What is accepted.
    pub allowed: &'static [&'static str],
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        ///
        /// On the wire (JSON, query strings) it is exactly one of [`Self::ALLOWED`]; with the
        /// `utoipa` feature its OpenAPI schema is that string enum.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        #[cfg(feature = "utoipa")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(Self::ALLOWED.iter().copied()))
                    .into()
            }
        }

        #[cfg(feature = "utoipa")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            /// Every accepted spelling, in declaration order.
            pub const ALLOWED: &'static [&'static str] = &[$($text),+];
            /// The stored and wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, InvalidValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(InvalidValue { value: s.to_owned(), allowed: Self::ALLOWED }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Where a snapshot is in its generation life cycle.
    SnapshotStatus {
        /// Purchased, generation not started.
        Pending => "pending",
        /// Being generated.
        Generating => "generating",
        /// Generated; its document can be served.
        Ready => "ready",
        /// Generation failed.
        Failed => "failed",
    }
}

string_enum! {
    /// A key's environment: live keys see the owner's twin, test keys the sample twin.
    KeyEnv {
        /// Production key.
        Live => "live",
        /// Test key: sample twin, no cost.
        Test => "test",
    }
}

string_enum! {
    /// The life-cycle state of a key, derived from its stored fields and the time.
    KeyStatus {
        /// Usable.
        Active => "active",
        /// Switched off by its owner (reversible).
        Disabled => "disabled",
        /// Past `expiresAt`.
        Expired => "expired",
        /// Revoked (irreversible; the row stays for audit).
        Revoked => "revoked",
    }
}

string_enum! {
    /// One permission a key can hold.
    Scope {
        /// The public twin API.
        TwinRead => "twin:read",
        /// List and read the owner's keys.
        KeysRead => "keys:read",
        /// Create, update, rotate and revoke the owner's keys.
        KeysWrite => "keys:write",
        /// Usage aggregates and recent calls.
        UsageRead => "usage:read",
        /// The owner's profile and monthly usage.
        AccountRead => "account:read",
        /// List webhook endpoints and their deliveries.
        WebhooksRead => "webhooks:read",
        /// Create, change, delete and test webhook endpoints and alert rules.
        WebhooksWrite => "webhooks:write",
    }
}

string_enum! {
    /// The window an alert rule counts calls over.
    AlertPeriod {
        /// The current UTC hour.
        Hour => "hour",
        /// The current UTC day.
        Day => "day",
    }
}

impl Scope {
    /// Every scope, in the order of the spec's table.
    pub const ALL: [Scope; 7] = [
        Scope::TwinRead,
        Scope::KeysRead,
        Scope::KeysWrite,
        Scope::UsageRead,
        Scope::AccountRead,
        Scope::WebhooksRead,
        Scope::WebhooksWrite,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes (a small bit set; order and duplicates do not matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScopeSet(u8);

impl ScopeSet {
    /// The empty set.
    pub const EMPTY: ScopeSet = ScopeSet(0);

    /// The default for new keys: `twin:read` only.
    pub fn default_for_new_keys() -> Self {
        ScopeSet::from_iter([Scope::TwinRead])
    }

    /// Every scope.
    pub fn all() -> Self {
        ScopeSet::from_iter(Scope::ALL)
    }

    /// Whether `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether every scope of `self` is also in `other`.
    pub fn is_subset_of(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes, in the spec's order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The scopes as their wire strings.
    pub fn to_strings(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }

    /// Parses a list of scope names; the first unknown one is the error.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<Self, InvalidValue> {
        names.iter().map(|n| n.as_ref().parse::<Scope>()).collect()
    }

    /// Stored form: names separated by single spaces.
    pub(crate) fn to_db(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    pub(crate) fn from_db(text: &str) -> Result<Self, InvalidValue> {
        text.split_whitespace().map(str::parse::<Scope>).collect()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

/// A tenant of the platform: the person whose twin is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Owner id (chosen by the operator or generated).
    pub id: String,
    /// Contact e-mail.
    pub email: String,
    /// Plan slug (see the plan catalogue in `twin-meter`).
    pub plan: String,
    /// When the owner was provisioned.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// Fields to provision an owner.
#[derive(Debug, Clone)]
pub struct NewOwner {
    /// Id to use; generated (`own_` + 16 hex) when `None`.
    pub id: Option<String>,
    /// Contact e-mail.
    pub email: String,
    /// Plan slug.
    pub plan: String,
}

/// A change to an owner; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct OwnerPatch {
    /// New e-mail.
    pub email: Option<String>,
    /// New plan slug.
    pub plan: Option<String>,
}

/// A snapshot's metadata (never its document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Snapshot id (`snap_` + 16 hex).
    pub id: String,
    /// Owner.
    pub owner_id: String,
    /// Per-owner version, increasing from 1.
    pub version: i64,
    /// Where it came from (free text chosen by the operator, e.g. `purchase`, `import`).
    pub source: String,
    /// Generation state.
    pub status: SnapshotStatus,
    /// The purchase that produced it, if any.
    pub purchase_id: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// Fields to create a snapshot.
#[derive(Debug, Clone)]
pub struct NewSnapshot {
    /// Source label.
    pub source: String,
    /// Purchase id.
    pub purchase_id: Option<String>,
    /// Initial status.
    pub status: SnapshotStatus,
    /// The validated PCP document (JSON text). Required when `status` is `ready`.
    pub document: Option<String>,
}

/// The hash of a key as stored, with what produced it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredHash {
    /// The hashing algorithm (stored as `twin-keys` spells it: `sha256`, `hmac-sha256`).
    pub algorithm: twin_keys::HashAlgorithm,
    /// Pepper version for HMAC hashes.
    pub pepper_version: Option<i64>,
    /// The digest bytes.
    pub digest: Vec<u8>,
}

impl fmt::Debug for StoredHash {
    // A hash is not a secret, but there is no reason to spread it around logs either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredHash")
            .field("algorithm", &self.algorithm)
            .field("pepper_version", &self.pepper_version)
            .finish_non_exhaustive()
    }
}

/// An API key's stored record (settings and hash; never the plaintext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Public id (8 hex).
    pub id: String,
    /// Owner.
    pub owner_id: String,
    /// Environment.
    pub env: KeyEnv,
    /// Human name.
    pub name: String,
    /// Display prefix (`atk_<env>_<id>`), safe to show.
    pub prefix: String,
    /// Stored hash.
    pub hash: StoredHash,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// `false` when disabled by its owner.
    pub is_active: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last settings change.
    pub updated_at: OffsetDateTime,
    /// Expiry, if any.
    pub expires_at: Option<OffsetDateTime>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// Last authenticated use.
    pub last_used_at: Option<OffsetDateTime>,
    /// Authenticated uses so far.
    pub usage_count: i64,
    /// Monthly request quota.
    pub monthly_quota: i64,
    /// Requests per minute (0 = unlimited).
    pub rate_limit_rpm: i64,
    /// Spend cap in micro-credits per period, if any.
    pub spend_limit: Option<i64>,
    /// The period the spend cap counts over.
    pub spend_period: twin_meter::Period,
    /// Who created it (key prefix, `operator`, `dashboard`, `cli`).
    pub created_by: String,
    /// The key this one replaced by rotation.
    pub rotated_from: Option<String>,
    /// The `key_counters` row this key draws on (SPEC §2 "Rotation lineage"): its own id, or
    /// for a key made by rotation its lineage root's, so successor and predecessor share one
    /// quota counter, rate window and spend period. Lease and counter calls take this id.
    pub counter_id: String,
    /// The key that replaced this one by rotation, if any.
    pub rotated_to: Option<String>,
    /// The owner's own metadata (SPEC §2 `meta`), never interpreted.
    pub meta: Option<KeyMeta>,
    /// Alert settings (SPEC §15).
    pub alerts: KeyAlerts,
    /// The OAuth grant this row meters, when it is a grant's backing key rather than an
    /// owner's key (SPEC §14): it has no plaintext and is not listed among the owner's keys.
    pub grant_id: Option<String>,
    /// The key's counters as last written to the database (the lineage's shared row).
    pub counters: KeyCounters,
}

/// A key's persisted counters. Period fields hold the start of the period the count belongs
/// to (Unix milliseconds); a count from an older period reads as 0 in the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyCounters {
    /// Start of the month `quota_used` counts (Unix ms).
    pub quota_period: i64,
    /// Requests counted against the monthly quota in that month.
    pub quota_used: i64,
    /// Start of the spend period `spend_period_used` counts (Unix ms).
    pub spend_period_start: i64,
    /// Micro-credits spent in that period.
    pub spend_period_used: i64,
}

impl KeyCounters {
    /// Quota used in the month starting at `month_start`.
    pub fn quota_used_in(&self, month_start: OffsetDateTime) -> i64 {
        if self.quota_period == to_ms(month_start) {
            self.quota_used
        } else {
            0
        }
    }

    /// Spend in the period starting at `period_start`.
    pub fn spend_used_in(&self, period_start: OffsetDateTime) -> i64 {
        if self.spend_period_start == to_ms(period_start) {
            self.spend_period_used
        } else {
            0
        }
    }
}

impl KeyRecord {
    /// The key's state at `now`. Revocation wins over everything, then disabling, then expiry.
    pub fn status(&self, now: OffsetDateTime) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if !self.is_active {
            KeyStatus::Disabled
        } else if self.expires_at.is_some_and(|t| t <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }
}

/// Fields of a new key. The caller generated the key and hashed it.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Public id (8 hex).
    pub id: String,
    /// Owner.
    pub owner_id: String,
    /// Environment.
    pub env: KeyEnv,
    /// Human name.
    pub name: String,
    /// Display prefix.
    pub prefix: String,
    /// Hash of the plaintext.
    pub hash: StoredHash,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Monthly quota.
    pub monthly_quota: i64,
    /// Requests per minute (0 = unlimited).
    pub rate_limit_rpm: i64,
    /// Spend cap in micro-credits.
    pub spend_limit: Option<i64>,
    /// The period the spend cap counts over.
    pub spend_period: twin_meter::Period,
    /// Who created it.
    pub created_by: String,
    /// The key this one replaces (rotation).
    pub rotated_from: Option<String>,
    /// The owner's metadata.
    pub meta: Option<KeyMeta>,
    /// Alert settings (SPEC §15).
    pub alerts: KeyAlerts,
}

/// A key's metadata: any JSON object, stored serialized.
pub type KeyMeta = serde_json::Map<String, serde_json::Value>;

/// The most bytes a key's metadata may take serialized (SPEC §2).
pub const MAX_META_BYTES: usize = 4096;

/// A change to a key; `None` leaves a field alone, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    /// New name.
    pub name: Option<String>,
    /// Enable or disable.
    pub is_active: Option<bool>,
    /// New scopes.
    pub scopes: Option<ScopeSet>,
    /// New expiry (or none).
    pub expires_at: Option<Option<OffsetDateTime>>,
    /// New monthly quota.
    pub monthly_quota: Option<i64>,
    /// New rate limit.
    pub rate_limit_rpm: Option<i64>,
    /// New spend cap (or none).
    pub spend_limit: Option<Option<i64>>,
    /// New spend period; changing it resets the period's usage to 0.
    pub spend_period: Option<twin_meter::Period>,
    /// New metadata, or `Some(None)` to clear it.
    pub meta: Option<Option<KeyMeta>>,
    /// New quota and spend thresholds (`Some(None)`: back to the default).
    pub alert_thresholds: Option<Option<Vec<u8>>>,
    /// New alert rules (`Some(None)`: none).
    pub alert_rules: Option<Option<AlertRules>>,
}

impl KeyPatch {
    /// The API names of the fields the patch changes, in the body's order.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        [
            (self.name.is_some(), "name"),
            (self.is_active.is_some(), "isActive"),
            (self.scopes.is_some(), "scopes"),
            (self.expires_at.is_some(), "expiresAt"),
            (self.monthly_quota.is_some(), "monthlyQuota"),
            (self.rate_limit_rpm.is_some(), "rateLimitRpm"),
            (self.spend_limit.is_some(), "spendLimit"),
            (self.spend_period.is_some(), "spendPeriod"),
            (self.meta.is_some(), "meta"),
            (self.alert_thresholds.is_some(), "alertThresholds"),
            (self.alert_rules.is_some(), "alerts"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }
}

/// One page of a listing plus the cursor of the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Opaque cursor for the next page, `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A record of something done to a key or owner, for audit.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Owner concerned.
    pub owner_id: String,
    /// Key concerned, if any.
    pub key_id: Option<String>,
    /// What happened (`key.created`, `key.revoked`, …).
    pub event: String,
    /// Who did it (a key prefix, `operator`, `dashboard:<owner>`, `cli`).
    pub actor: String,
    /// Extra detail (JSON text), if any.
    pub detail: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

/// The quota and spend thresholds of a key without its own: 80 % and 100 %.
pub const DEFAULT_ALERT_THRESHOLDS: [u8; 2] = [80, 100];

/// A key's alert settings (SPEC §15): the percentages of its monthly quota and spend cap
/// that fire `quota.threshold` / `spend.threshold`, and its rules for `usage.high`,
/// `failures.high` and `activity.unusual`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyAlerts {
    /// Percentages, ascending and distinct; `None`: [`DEFAULT_ALERT_THRESHOLDS`].
    pub thresholds: Option<Vec<u8>>,
    /// The rules, if any.
    pub rules: Option<AlertRules>,
}

impl KeyAlerts {
    /// The percentages in force, ascending.
    pub fn thresholds(&self) -> &[u8] {
        self.thresholds
            .as_deref()
            .unwrap_or(&DEFAULT_ALERT_THRESHOLDS)
    }
}

/// Seed 001's alert rules, as the API reads and shows them
/// (`{highUsage: {threshold, period}, failures: {threshold, period}, unusualActivity}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertRules {
    /// `usage.high` when more than `threshold` calls are made in the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_usage: Option<CountRule>,
    /// `failures.high` when more than `threshold` calls are answered 4xx or 5xx in the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<CountRule>,
    /// `activity.unusual` when an hour's calls pass 10 times the key's hourly average of the
    /// previous 7 days (and at least 100).
    #[serde(default)]
    pub unusual_activity: bool,
}

impl AlertRules {
    /// Whether any rule is set.
    pub fn is_empty(&self) -> bool {
        self.high_usage.is_none() && self.failures.is_none() && !self.unusual_activity
    }
}

/// More than `threshold` calls in one `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CountRule {
    /// Calls, 1 to 1,000,000,000.
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 1_000_000_000))]
    pub threshold: i64,
    /// `hour` or `day` (UTC).
    pub period: AlertPeriod,
}

pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A random id: `prefix` followed by 16 lowercase hex characters.
pub(crate) fn random_id(prefix: &str) -> Result<String, crate::StoreError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| crate::StoreError::Database(format!("random source failed: {e}")))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_sets_parse_and_compare() {
        let read = ScopeSet::parse_list(&["twin:read"]).unwrap();
        let both = ScopeSet::parse_list(&["keys:read", "twin:read"]).unwrap();
        assert!(read.is_subset_of(both));
        assert!(!both.is_subset_of(read));
        assert_eq!(both.to_strings(), vec!["twin:read", "keys:read"]);
        assert_eq!(ScopeSet::from_db(&both.to_db()).unwrap(), both);
        let err = ScopeSet::parse_list(&["admin"]).unwrap_err();
        assert_eq!(err.allowed, Scope::ALLOWED);
    }

    #[test]
    fn key_status_precedence() {
        let now = OffsetDateTime::now_utc();
        let mut key = KeyRecord {
            id: "0123abcd".into(),
            owner_id: "o".into(),
            env: KeyEnv::Live,
            name: "n".into(),
            prefix: "atk_live_0123abcd".into(),
            hash: StoredHash {
                algorithm: twin_keys::HashAlgorithm::Sha256,
                pepper_version: None,
                digest: vec![],
            },
            scopes: ScopeSet::default_for_new_keys(),
            is_active: true,
            created_at: now,
            updated_at: now,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            usage_count: 0,
            monthly_quota: 10,
            rate_limit_rpm: 60,
            spend_limit: None,
            spend_period: twin_meter::Period::Month,
            created_by: "test".into(),
            rotated_from: None,
            counter_id: "k".into(),
            rotated_to: None,
            meta: None,
            alerts: KeyAlerts::default(),
            grant_id: None,
            counters: KeyCounters::default(),
        };
        assert_eq!(key.status(now), KeyStatus::Active);
        key.expires_at = Some(now);
        assert_eq!(key.status(now), KeyStatus::Expired);
        key.is_active = false;
        assert_eq!(key.status(now), KeyStatus::Disabled);
        key.revoked_at = Some(now);
        assert_eq!(key.status(now), KeyStatus::Revoked);
    }
}
