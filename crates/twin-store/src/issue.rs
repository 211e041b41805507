//! Issuing keys: generate, hash, store, audit — the one place that does all four.

use time::OffsetDateTime;
use twin_keys::{KeyFormat, KeyHasher, PlainKey};

use crate::keys::KeyInsert;
use crate::model::{AuditEvent, KeyEnv, KeyRecord, NewKey, ScopeSet, StoredHash};
use crate::{Store, StoreError, StoreResult};

/// What a new key should be; the id, secret and hash are made by [`Store::issue_key`].
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// Owner.
    pub owner_id: String,
    /// Environment.
    pub env: KeyEnv,
    /// Human name.
    pub name: String,
    /// Scopes.
    pub scopes: ScopeSet,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Monthly quota.
    pub monthly_quota: i64,
    /// Requests per minute (0 = unlimited).
    pub rate_limit_rpm: i64,
    /// Spend cap (micro-credits).
    pub spend_limit: Option<i64>,
    /// Spend period name.
    pub spend_period: twin_meter::Period,
    /// Who asks (recorded on the key and in the audit trail).
    pub created_by: String,
    /// The key this one replaces (rotation).
    pub rotated_from: Option<String>,
    /// The owner's metadata.
    pub meta: Option<crate::model::KeyMeta>,
    /// Alert settings.
    pub alerts: crate::model::KeyAlerts,
}

impl Store {
    /// Generates a key in `format`, stores its hash and records `key.created` (or
    /// `key.rotated`) in the audit trail. Returns the plaintext — the only time it exists
    /// outside the caller's hands — with the stored record. A colliding id is regenerated.
    pub async fn issue_key(
        &self,
        format: &KeyFormat,
        hasher: &KeyHasher,
        spec: KeySpec,
    ) -> StoreResult<(PlainKey, KeyRecord)> {
        self.issue_key_within(format, hasher, spec, None).await
    }

    /// [`Store::issue_key`] while the owner has fewer than `max_active` active keys, checked
    /// and inserted atomically (see [`Store::insert_key_within`]); over the limit
    /// [`StoreError::LimitReached`].
    pub async fn issue_key_within(
        &self,
        format: &KeyFormat,
        hasher: &KeyHasher,
        spec: KeySpec,
        max_active: Option<i64>,
    ) -> StoreResult<(PlainKey, KeyRecord)> {
        self.issue(
            format,
            hasher,
            spec,
            KeyInsert {
                max_active,
                ..KeyInsert::default()
            },
        )
        .await
    }

    /// Rotates a key: issues `spec` (whose `rotated_from` names the predecessor) and ends
    /// the predecessor at `old_ends_at` at the latest, in one transaction with the
    /// successor's lineage counters, the key limit check (`max_active`, when the successor
    /// adds an active key), the `key.rotated` audit row and both keys' change-feed rows.
    /// `disabled` issues the successor disabled (a disabled key's successor stays so).
    /// A predecessor revoked or rotated since it was read: [`StoreError::Precondition`],
    /// and nothing is written.
    pub async fn rotate_key(
        &self,
        format: &KeyFormat,
        hasher: &KeyHasher,
        spec: KeySpec,
        rotation: Rotation,
    ) -> StoreResult<(PlainKey, KeyRecord)> {
        if spec.rotated_from.is_none() {
            return Err(StoreError::Invalid(
                "a rotation needs the predecessor in rotated_from".into(),
            ));
        }
        self.issue(
            format,
            hasher,
            spec,
            KeyInsert {
                max_active: rotation.max_active,
                disabled: rotation.disabled,
                ends_predecessor_at: Some(rotation.old_ends_at),
                ..KeyInsert::default()
            },
        )
        .await
    }

    pub(crate) async fn issue(
        &self,
        format: &KeyFormat,
        hasher: &KeyHasher,
        spec: KeySpec,
        insert: KeyInsert,
    ) -> StoreResult<(PlainKey, KeyRecord)> {
        for _ in 0..16 {
            let plain = format
                .generate(spec.env.as_str())
                .map_err(|e| StoreError::Database(format!("key generation failed: {e}")))?;
            let hash = hasher.hash(plain.expose_secret());
            let id = plain
                .id()
                .ok_or_else(|| StoreError::Invalid("the key format has no id segment".into()))?
                .to_owned();
            let event = if insert.grant.is_some() {
                "grant.created"
            } else if spec.rotated_from.is_some() {
                "key.rotated"
            } else {
                "key.created"
            };
            let audit = AuditEvent {
                owner_id: spec.owner_id.clone(),
                key_id: Some(id.clone()),
                event: event.into(),
                actor: spec.created_by.clone(),
                detail: spec
                    .rotated_from
                    .as_ref()
                    .map(|old| serde_json::json!({ "rotatedFrom": old }).to_string()),
                at: self.now(),
            };
            let new = NewKey {
                id,
                owner_id: spec.owner_id.clone(),
                env: spec.env,
                name: spec.name.clone(),
                prefix: plain.display_prefix().to_owned(),
                hash: StoredHash {
                    algorithm: hash.algorithm(),
                    pepper_version: hash.pepper_version().map(i64::from),
                    digest: hash.digest().to_vec(),
                },
                scopes: spec.scopes,
                expires_at: spec.expires_at,
                monthly_quota: spec.monthly_quota,
                rate_limit_rpm: spec.rate_limit_rpm,
                spend_limit: spec.spend_limit,
                spend_period: spec.spend_period,
                created_by: spec.created_by.clone(),
                rotated_from: spec.rotated_from.clone(),
                meta: spec.meta.clone(),
                alerts: spec.alerts.clone(),
            };
            let attempt = KeyInsert {
                audit: Some(audit),
                ..insert.clone()
            };
            match self.insert_key_with(new, attempt).await {
                Ok(record) => return Ok((plain, record)),
                // Another key already has this id: draw again.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict(
            "could not allocate a unique key id".into(),
        ))
    }
}

/// How [`Store::rotate_key`] treats the predecessor and the plan's limit.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// The predecessor stops working at this time at the latest (now + grace period).
    pub old_ends_at: OffsetDateTime,
    /// Issue the successor disabled.
    pub disabled: bool,
    /// The plan's limit of active keys, when the successor adds one (both keys work during
    /// a grace period); `None` when it does not.
    pub max_active: Option<i64>,
}
