//! API keys: records, listing, life cycle.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::audit::{NewAuditRow, append_audit};
use crate::changes::append_change;
use crate::db::{with_conn, with_write_conn};
use crate::model::{
    AlertRules, AuditEvent, KeyAlerts, KeyCounters, KeyEnv, KeyPatch, KeyRecord, KeyStatus, NewKey,
    Page, ScopeSet, StoredHash, from_ms, to_ms,
};
use crate::schema::{api_keys, key_counters, owners};
use crate::webhooks::{KeyRef, key_event, record_event};
use crate::{Store, StoreError, StoreResult};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
struct KeyRow {
    id: String,
    owner_id: String,
    env: String,
    name: String,
    prefix: String,
    hash_algorithm: String,
    pepper_version: Option<i64>,
    key_hash: Vec<u8>,
    scopes: String,
    is_active: bool,
    created_at: i64,
    updated_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    usage_count: i64,
    monthly_quota: i64,
    rate_limit_rpm: i64,
    spend_limit: Option<i64>,
    spend_period: String,
    created_by: String,
    rotated_from: Option<String>,
    counter_id: String,
    rotated_to: Option<String>,
    meta: Option<String>,
    alert_thresholds: Option<String>,
    alerts: Option<String>,
    grant_id: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = key_counters)]
struct CountersRow {
    key_id: String,
    quota_period: i64,
    quota_used: i64,
    spend_period_start: i64,
    spend_period_used: i64,
}

fn record(row: KeyRow, counters: CountersRow) -> StoreResult<KeyRecord> {
    let invalid = |e: crate::InvalidValue| StoreError::Invalid(e.to_string());
    Ok(KeyRecord {
        env: row.env.parse::<KeyEnv>().map_err(invalid)?,
        scopes: ScopeSet::from_db(&row.scopes).map_err(invalid)?,
        id: row.id,
        owner_id: row.owner_id,
        name: row.name,
        prefix: row.prefix,
        hash: StoredHash {
            algorithm: row
                .hash_algorithm
                .parse()
                .map_err(|e: twin_keys::UnknownAlgorithm| {
                    StoreError::Invalid(format!("stored key hash: {e}"))
                })?,
            pepper_version: row.pepper_version,
            digest: row.key_hash,
        },
        is_active: row.is_active,
        created_at: from_ms(row.created_at),
        updated_at: from_ms(row.updated_at),
        expires_at: row.expires_at.map(from_ms),
        revoked_at: row.revoked_at.map(from_ms),
        last_used_at: row.last_used_at.map(from_ms),
        usage_count: row.usage_count,
        monthly_quota: row.monthly_quota,
        rate_limit_rpm: row.rate_limit_rpm,
        spend_limit: row.spend_limit,
        spend_period: row
            .spend_period
            .parse()
            .map_err(|e: twin_meter::ParsePeriodError| {
                StoreError::Invalid(format!("stored spend period: {e}"))
            })?,
        created_by: row.created_by,
        rotated_from: row.rotated_from,
        counter_id: row.counter_id,
        rotated_to: row.rotated_to,
        grant_id: row.grant_id,
        meta: row
            .meta
            .as_deref()
            .map(serde_json::from_str::<crate::model::KeyMeta>)
            .transpose()
            .map_err(|e| StoreError::Invalid(format!("stored key metadata: {e}")))?,
        alerts: KeyAlerts {
            thresholds: row
                .alert_thresholds
                .as_deref()
                .map(serde_json::from_str::<Vec<u8>>)
                .transpose()
                .map_err(|e| StoreError::Invalid(format!("stored alert thresholds: {e}")))?,
            rules: row
                .alerts
                .as_deref()
                .map(serde_json::from_str::<AlertRules>)
                .transpose()
                .map_err(|e| StoreError::Invalid(format!("stored alert rules: {e}")))?,
        },
        counters: KeyCounters {
            quota_period: counters.quota_period,
            quota_used: counters.quota_used,
            spend_period_start: counters.spend_period_start,
            spend_period_used: counters.spend_period_used,
        },
    })
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = api_keys)]
struct KeyChanges {
    name: Option<String>,
    is_active: Option<bool>,
    scopes: Option<String>,
    expires_at: Option<Option<i64>>,
    monthly_quota: Option<i64>,
    rate_limit_rpm: Option<i64>,
    spend_limit: Option<Option<i64>>,
    spend_period: Option<String>,
    meta: Option<Option<String>>,
    alert_thresholds: Option<Option<String>>,
    alerts: Option<Option<String>>,
    updated_at: Option<i64>,
}

/// The stored text of alert thresholds.
fn thresholds_to_db(t: &[u8]) -> String {
    serde_json::to_string(t).unwrap_or_else(|_| "[]".into())
}

/// The stored text of alert rules (none stored when no rule is set).
fn rules_to_db(r: &AlertRules) -> Option<String> {
    (!r.is_empty()).then(|| serde_json::to_string(r).unwrap_or_default())
}

/// A listing cursor: the `(created_at, id)` of the last item of the previous page.
fn parse_key_cursor(cursor: &str) -> StoreResult<(i64, String)> {
    let bad = || StoreError::BadCursor;
    let (ms, id) = cursor.split_once('.').ok_or_else(bad)?;
    // Exactly what this store hands out (and the OpenAPI pattern says): up to 18 digits, so
    // every cursor that matches the pattern parses.
    if ms.is_empty() || ms.len() > 18 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let ms = ms.parse::<i64>().map_err(|_| bad())?;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((ms, id.to_owned()))
}

impl Store {
    /// Stores a new key and its zeroed counters in one transaction. An id that is already
    /// taken answers [`StoreError::Conflict`] (the caller generates another).
    pub async fn insert_key(&self, new: NewKey) -> StoreResult<KeyRecord> {
        self.insert_key_within(new, None).await
    }

    /// [`Store::insert_key`], but only while the owner has fewer than `max_active` active
    /// keys (counting a new key that starts active), checked and inserted atomically: on
    /// PostgreSQL the owner's row is locked for the transaction, so concurrent creations for
    /// one owner queue; on SQLite the transaction takes the write lock before it counts.
    /// Over the limit: [`StoreError::LimitReached`].
    pub async fn insert_key_within(
        &self,
        new: NewKey,
        max_active: Option<i64>,
    ) -> StoreResult<KeyRecord> {
        self.insert_key_with(
            new,
            KeyInsert {
                max_active,
                ..KeyInsert::default()
            },
        )
        .await
    }

    /// Inserts a key, in one transaction with everything that belongs to it: the plan's
    /// limit check, its counters (or its predecessor's, for a rotation), the predecessor's
    /// conditional end (not revoked, not already rotated, else
    /// [`StoreError::Precondition`] and nothing is written), the audit row and the
    /// change-feed rows. Local caches hear of it after the commit.
    pub(crate) async fn insert_key_with(
        &self,
        new: NewKey,
        insert: KeyInsert,
    ) -> StoreResult<KeyRecord> {
        let now = to_ms(self.now());
        let row = KeyRow {
            id: new.id,
            owner_id: new.owner_id,
            env: new.env.as_str().to_owned(),
            name: new.name,
            prefix: new.prefix,
            hash_algorithm: new.hash.algorithm.as_str().to_owned(),
            pepper_version: new.hash.pepper_version,
            key_hash: new.hash.digest,
            scopes: new.scopes.to_db(),
            is_active: !insert.disabled,
            created_at: now,
            updated_at: now,
            expires_at: new.expires_at.map(to_ms),
            revoked_at: None,
            last_used_at: None,
            usage_count: 0,
            monthly_quota: new.monthly_quota,
            rate_limit_rpm: new.rate_limit_rpm,
            spend_limit: new.spend_limit,
            spend_period: new.spend_period.as_str().to_owned(),
            created_by: new.created_by,
            rotated_from: new.rotated_from,
            counter_id: String::new(),
            rotated_to: None,
            meta: new
                .meta
                .as_ref()
                .map(|m| serde_json::Value::Object(m.clone()).to_string()),
            alert_thresholds: new.alerts.thresholds.as_deref().map(thresholds_to_db),
            alerts: new.alerts.rules.as_ref().and_then(rules_to_db),
            grant_id: insert.grant.as_ref().map(|g| g.grant.id.clone()),
        };
        let counters = CountersRow {
            key_id: row.id.clone(),
            quota_period: 0,
            quota_used: 0,
            spend_period_start: 0,
            spend_period_used: 0,
        };
        let id = row.id.clone();
        let owner_id = row.owner_id.clone();
        // The key's event (key.created, key.rotated) goes to the outbox in the same
        // transaction as the key and its audit row.
        let event = match insert.audit.as_ref().filter(|_| insert.grant.is_none()) {
            Some(audit) => Some(key_event(
                &audit.event,
                KeyRef {
                    id: &row.id,
                    owner_id: &row.owner_id,
                    prefix: &row.prefix,
                    name: &row.name,
                    env: &row.env,
                },
                &audit.actor,
                audit.at,
                match &row.rotated_from {
                    Some(old) => serde_json::json!({ "rotatedFrom": old }),
                    None => serde_json::json!({}),
                },
            )?),
            None => None,
        };
        let audit = insert.audit.map(NewAuditRow::from);
        let ends = insert.ends_predecessor_at.map(to_ms);
        let predecessor = row.rotated_from.clone().filter(|_| ends.is_some());
        let new_owner = insert.new_owner;
        let grant = insert.grant;
        with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                if let Some(owner) = &new_owner {
                    let inserted = diesel::insert_into(owners::table)
                        .values(&owner.row)
                        .execute(conn)
                        .await;
                    match inserted.map_err(StoreError::from) {
                        Ok(_) => {}
                        // Not the key's id that collided: no new draw helps.
                        Err(StoreError::Conflict(_)) => {
                            return Err(StoreError::Precondition(
                                "an owner with this id already exists".into(),
                            ));
                        }
                        Err(e) => return Err(e),
                    }
                    append_audit!(conn, &owner.audit)?;
                    append_change!(conn, None, Some(&owner.row.id), now)?;
                }
                if let Some(max) = insert.max_active {
                    // A write first: on PostgreSQL it locks the owner's row, so concurrent
                    // creations for one owner queue here; on SQLite it takes the write lock
                    // before the count is read, so the transaction never has to upgrade a
                    // read snapshot (which fails at once with "database is locked" when
                    // another connection wrote meanwhile).
                    diesel::update(owners::table.find(&row.owner_id))
                        .set(owners::updated_at.eq(owners::updated_at))
                        .execute(conn)
                        .await?;
                    let active: i64 = api_keys::table
                        .filter(api_keys::owner_id.eq(&row.owner_id))
                        .filter(api_keys::grant_id.is_null())
                        .filter(api_keys::revoked_at.is_null())
                        .filter(api_keys::is_active.eq(true))
                        .filter(
                            api_keys::expires_at
                                .is_null()
                                .or(api_keys::expires_at.gt(now)),
                        )
                        .count()
                        .get_result(conn)
                        .await?;
                    if active >= max {
                        return Err(StoreError::LimitReached);
                    }
                }
                // A successor draws on its predecessor's counters (rotation lineage); any
                // other key gets a row of its own.
                let inherited: Option<String> = match &row.rotated_from {
                    Some(old) => api_keys::table
                        .find(old)
                        .select(api_keys::counter_id)
                        .first(conn)
                        .await
                        .optional()?,
                    None => None,
                };
                let mut row = row;
                row.counter_id = inherited.clone().unwrap_or_else(|| row.id.clone());
                diesel::insert_into(api_keys::table)
                    .values(&row)
                    .execute(conn)
                    .await?;
                if inherited.is_none() {
                    diesel::insert_into(key_counters::table)
                        .values(&counters)
                        .execute(conn)
                        .await?;
                }
                if let (Some(old), Some(at_ms)) = (&row.rotated_from, ends) {
                    // The predecessor ends at `at_ms` at the latest, on the condition that
                    // nobody revoked or rotated it since it was read.
                    let updated = diesel::update(
                        api_keys::table
                            .filter(api_keys::id.eq(old))
                            .filter(api_keys::revoked_at.is_null())
                            .filter(api_keys::rotated_to.is_null()),
                    )
                    .set((
                        api_keys::rotated_to.eq(&row.id),
                        api_keys::expires_at.eq(diesel::dsl::case_when(
                            api_keys::expires_at
                                .is_not_null()
                                .and(api_keys::expires_at.lt(at_ms)),
                            api_keys::expires_at,
                        )
                        .otherwise(Some(at_ms))),
                        api_keys::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
                    if updated != 1 {
                        return Err(StoreError::Precondition(
                            "the key was revoked or rotated meanwhile".into(),
                        ));
                    }
                    append_change!(conn, Some(old), None, now)?;
                }
                if let Some(audit) = &audit {
                    append_audit!(conn, audit)?;
                }
                if let Some(event) = &event {
                    record_event!(conn, event, None)?;
                }
                if let Some(grant) = &grant {
                    crate::oauth::insert_grant!(conn, grant, row.id)?;
                }
                append_change!(conn, Some(&row.id), Some(&row.owner_id), now)?;
                Ok(())
            })
            .await?
        });
        if event.is_some() {
            self.run_event_hooks();
        }
        if let Some(old) = &predecessor {
            self.run_hooks(Some(old), None);
        }
        self.run_hooks(Some(&id), Some(&owner_id));
        self.find_key(&id).await
    }

    /// A key by its public id, whoever owns it (authentication path).
    pub async fn find_key(&self, id: &str) -> StoreResult<KeyRecord> {
        let (row, counters): (KeyRow, CountersRow) = with_conn!(self, |conn| {
            api_keys::table
                .inner_join(key_counters::table.on(key_counters::key_id.eq(api_keys::counter_id)))
                .filter(api_keys::id.eq(id))
                .select((KeyRow::as_select(), CountersRow::as_select()))
                .first(conn)
                .await?
        });
        record(row, counters)
    }

    /// One of `owner_id`'s keys. Another owner's key is [`StoreError::NotFound`], exactly as
    /// an unknown id; so is an OAuth grant's backing row (managed through the grant).
    pub async fn get_owner_key(&self, owner_id: &str, id: &str) -> StoreResult<KeyRecord> {
        let key = self.find_key(id).await?;
        if key.owner_id != owner_id || key.grant_id.is_some() {
            return Err(StoreError::NotFound);
        }
        Ok(key)
    }

    /// An owner's keys, newest first, optionally only those in `status` at `now`.
    pub async fn list_keys(
        &self,
        owner_id: &str,
        status: Option<KeyStatus>,
        now: OffsetDateTime,
        limit: i64,
        cursor: Option<&str>,
    ) -> StoreResult<Page<KeyRecord>> {
        let limit = limit.clamp(1, 1000);
        let after = cursor.map(parse_key_cursor).transpose()?;
        let now_ms = to_ms(now);
        let rows: Vec<(KeyRow, CountersRow)> = with_conn!(self, |conn| {
            let mut query = api_keys::table
                .inner_join(key_counters::table.on(key_counters::key_id.eq(api_keys::counter_id)))
                .filter(api_keys::owner_id.eq(owner_id))
                .filter(api_keys::grant_id.is_null())
                .select((KeyRow::as_select(), CountersRow::as_select()))
                .order((api_keys::created_at.desc(), api_keys::id.desc()))
                .limit(limit + 1)
                .into_boxed();
            if let Some((ms, id)) = &after {
                query = query.filter(
                    api_keys::created_at.lt(*ms).or(api_keys::created_at
                        .eq(*ms)
                        .and(api_keys::id.lt(id.clone()))),
                );
            }
            query = match status {
                None => query,
                Some(KeyStatus::Revoked) => query.filter(api_keys::revoked_at.is_not_null()),
                Some(KeyStatus::Disabled) => query
                    .filter(api_keys::revoked_at.is_null())
                    .filter(api_keys::is_active.eq(false)),
                Some(KeyStatus::Expired) => query
                    .filter(api_keys::revoked_at.is_null())
                    .filter(api_keys::is_active.eq(true))
                    .filter(api_keys::expires_at.le(now_ms)),
                Some(KeyStatus::Active) => query
                    .filter(api_keys::revoked_at.is_null())
                    .filter(api_keys::is_active.eq(true))
                    .filter(
                        api_keys::expires_at
                            .is_null()
                            .or(api_keys::expires_at.gt(now_ms)),
                    ),
            };
            query.load(conn).await?
        });
        let mut items = rows
            .into_iter()
            .map(|(k, c)| record(k, c))
            .collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items
                .last()
                .map(|k| format!("{}.{}", to_ms(k.created_at), k.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// How many of the owner's keys are active at `now` (for the plan's key limit).
    pub async fn count_active_keys(&self, owner_id: &str, now: OffsetDateTime) -> StoreResult<i64> {
        let now_ms = to_ms(now);
        Ok(with_conn!(self, |conn| {
            api_keys::table
                .filter(api_keys::owner_id.eq(owner_id))
                .filter(api_keys::grant_id.is_null())
                .filter(api_keys::revoked_at.is_null())
                .filter(api_keys::is_active.eq(true))
                .filter(
                    api_keys::expires_at
                        .is_null()
                        .or(api_keys::expires_at.gt(now_ms)),
                )
                .count()
                .get_result(conn)
                .await?
        }))
    }

    /// Applies `patch` to one of `owner_id`'s keys. A revoked key cannot change
    /// ([`StoreError::Conflict`]). Changing the spend period resets the period's usage.
    pub async fn update_key(
        &self,
        owner_id: &str,
        id: &str,
        patch: KeyPatch,
    ) -> StoreResult<KeyRecord> {
        self.update_key_audited(owner_id, id, patch, None).await
    }

    /// [`Store::update_key`] with its audit row: the change (conditional on the key not
    /// being revoked), the counters it resets, the audit row and the change-feed row commit
    /// together or not at all.
    pub async fn update_key_audited(
        &self,
        owner_id: &str,
        id: &str,
        patch: KeyPatch,
        audit: Option<AuditEvent>,
    ) -> StoreResult<KeyRecord> {
        let current = self.get_owner_key(owner_id, id).await?;
        self.update_key_row(current, patch, audit).await
    }

    /// Changes the limits (quota, rate, spend) of an OAuth grant's backing key: as
    /// [`Store::update_key`], with no key event (the owner changed an app's limits).
    pub async fn update_grant_key(
        &self,
        owner_id: &str,
        key_id: &str,
        patch: KeyPatch,
    ) -> StoreResult<KeyRecord> {
        let current = self.find_key(key_id).await?;
        if current.owner_id != owner_id || current.grant_id.is_none() {
            return Err(StoreError::NotFound);
        }
        self.update_key_row(current, patch, None).await
    }

    async fn update_key_row(
        &self,
        current: KeyRecord,
        patch: KeyPatch,
        audit: Option<AuditEvent>,
    ) -> StoreResult<KeyRecord> {
        let (owner_id, id) = (current.owner_id.as_str(), current.id.as_str());
        if current.revoked_at.is_some() {
            return Err(StoreError::Conflict("the key is revoked".into()));
        }
        let period_changed = patch
            .spend_period
            .as_ref()
            .is_some_and(|p| *p != current.spend_period);
        let now = to_ms(self.now());
        let event = match &audit {
            Some(audit) => {
                let mut key = KeyRef::from(&current);
                if let Some(name) = &patch.name {
                    key.name = name;
                }
                Some(key_event(
                    &audit.event,
                    key,
                    &audit.actor,
                    audit.at,
                    serde_json::json!({ "changed": patch.changed_fields() }),
                )?)
            }
            None => None,
        };
        let changes = KeyChanges {
            name: patch.name,
            is_active: patch.is_active,
            scopes: patch.scopes.map(ScopeSet::to_db),
            expires_at: patch.expires_at.map(|e| e.map(to_ms)),
            monthly_quota: patch.monthly_quota,
            rate_limit_rpm: patch.rate_limit_rpm,
            spend_limit: patch.spend_limit,
            spend_period: patch.spend_period.map(|p| p.as_str().to_owned()),
            meta: patch
                .meta
                .map(|m| m.map(|m| serde_json::Value::Object(m).to_string())),
            alert_thresholds: patch
                .alert_thresholds
                .map(|t| t.as_deref().map(thresholds_to_db)),
            alerts: patch.alert_rules.map(|r| r.as_ref().and_then(rules_to_db)),
            updated_at: Some(now),
        };
        let audit = audit.map(NewAuditRow::from);
        let counter_id = current.counter_id.clone();
        with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let updated = diesel::update(
                    api_keys::table
                        .filter(api_keys::id.eq(id))
                        .filter(api_keys::owner_id.eq(owner_id))
                        .filter(api_keys::revoked_at.is_null()),
                )
                .set(&changes)
                .execute(conn)
                .await?;
                if updated != 1 {
                    return Err(StoreError::Conflict("the key is revoked".into()));
                }
                if period_changed {
                    diesel::update(key_counters::table.find(&counter_id))
                        .set((
                            key_counters::spend_period_start.eq(0i64),
                            key_counters::spend_period_used.eq(0i64),
                        ))
                        .execute(conn)
                        .await?;
                }
                if let Some(audit) = &audit {
                    append_audit!(conn, audit)?;
                }
                if let Some(event) = &event {
                    record_event!(conn, event, None)?;
                }
                append_change!(conn, Some(id), Some(owner_id), now)?;
                Ok(())
            })
            .await?
        });
        if event.is_some() {
            self.run_event_hooks();
        }
        self.run_hooks(Some(id), Some(owner_id));
        self.find_key(id).await
    }

    /// Revokes one of `owner_id`'s keys. Idempotent: revoking again keeps the first
    /// revocation time. Returns the key as it now stands.
    pub async fn revoke_key(&self, owner_id: &str, id: &str) -> StoreResult<KeyRecord> {
        self.revoke_key_audited(owner_id, id, None).await
    }

    /// [`Store::revoke_key`] recording `key.revoked` by `actor` for the first revocation,
    /// in the revocation's transaction with its change-feed row.
    pub async fn revoke_key_audited(
        &self,
        owner_id: &str,
        id: &str,
        actor: Option<&str>,
    ) -> StoreResult<KeyRecord> {
        let current = self.get_owner_key(owner_id, id).await?;
        let at = self.now();
        let now = to_ms(at);
        let event = match actor {
            Some(actor) => Some(key_event(
                "key.revoked",
                KeyRef::from(&current),
                actor,
                at,
                serde_json::json!({}),
            )?),
            None => None,
        };
        let audit = actor.map(|actor| {
            NewAuditRow::from(AuditEvent {
                owner_id: owner_id.to_owned(),
                key_id: Some(id.to_owned()),
                event: "key.revoked".into(),
                actor: actor.to_owned(),
                detail: None,
                at,
            })
        });
        with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let revoked = diesel::update(
                    api_keys::table
                        .filter(api_keys::id.eq(id))
                        .filter(api_keys::owner_id.eq(owner_id))
                        .filter(api_keys::revoked_at.is_null()),
                )
                .set((api_keys::revoked_at.eq(now), api_keys::updated_at.eq(now)))
                .execute(conn)
                .await?;
                if revoked == 1
                    && let Some(audit) = &audit
                {
                    append_audit!(conn, audit)?;
                    if let Some(event) = &event {
                        record_event!(conn, event, None)?;
                    }
                }
                append_change!(conn, Some(id), Some(owner_id), now)?;
                Ok(())
            })
            .await?
        });
        if event.is_some() {
            self.run_event_hooks();
        }
        self.run_hooks(Some(id), Some(owner_id));
        self.find_key(id).await
    }
}

impl Store {
    /// Keys that are not revoked and have alert rules (the rules sweep reads these).
    pub async fn keys_with_alert_rules(&self) -> StoreResult<Vec<KeyRecord>> {
        let rows: Vec<(KeyRow, CountersRow)> = with_conn!(self, |conn| {
            api_keys::table
                .inner_join(key_counters::table.on(key_counters::key_id.eq(api_keys::counter_id)))
                .filter(api_keys::alerts.is_not_null())
                .filter(api_keys::revoked_at.is_null())
                .select((KeyRow::as_select(), CountersRow::as_select()))
                .load(conn)
                .await?
        });
        rows.into_iter().map(|(k, c)| record(k, c)).collect()
    }

    /// Keys that are not revoked and expire within `[from, to]` (the expiry sweep).
    pub async fn keys_expiring_between(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<Vec<KeyRecord>> {
        let (from, to) = (to_ms(from), to_ms(to));
        let rows: Vec<(KeyRow, CountersRow)> = with_conn!(self, |conn| {
            api_keys::table
                .inner_join(key_counters::table.on(key_counters::key_id.eq(api_keys::counter_id)))
                .filter(api_keys::expires_at.is_not_null())
                .filter(api_keys::revoked_at.is_null())
                .filter(api_keys::expires_at.ge(from))
                .filter(api_keys::expires_at.le(to))
                .select((KeyRow::as_select(), CountersRow::as_select()))
                .load(conn)
                .await?
        });
        rows.into_iter().map(|(k, c)| record(k, c)).collect()
    }
}

/// How [`Store::insert_key_with`] inserts a key.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyInsert {
    /// The plan's limit of active keys, when the new key counts against it.
    pub(crate) max_active: Option<i64>,
    /// Start disabled (a disabled key's successor).
    pub(crate) disabled: bool,
    /// For a rotation (the new key's `rotated_from`): when the predecessor ends at the
    /// latest.
    pub(crate) ends_predecessor_at: Option<OffsetDateTime>,
    /// The audit event of the insertion.
    pub(crate) audit: Option<AuditEvent>,
    /// A new owner to insert first (provisioning with a first key).
    pub(crate) new_owner: Option<crate::owners::OwnerInsert>,
    /// The OAuth grant (and its first code) this key meters: inserted with it, and no key
    /// event is sent for it.
    pub(crate) grant: Option<crate::oauth::GrantInsert>,
}
