//! Owners (tenants).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use diesel_async::AsyncConnection;
use twin_keys::{KeyFormat, KeyHasher, PlainKey};

use crate::audit::NewAuditRow;
use crate::audit::append_audit;
use crate::changes::append_change;
use crate::db::{with_conn, with_write_conn};
use crate::keys::KeyInsert;
use crate::model::{AuditEvent, KeyRecord, NewOwner, Owner, OwnerPatch, from_ms, random_id, to_ms};
use crate::schema::owners;
use crate::{KeySpec, Store, StoreError, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = owners)]
pub(crate) struct OwnerRow {
    pub(crate) id: String,
    email: String,
    plan: String,
    created_at: i64,
    updated_at: i64,
}

impl From<OwnerRow> for Owner {
    fn from(row: OwnerRow) -> Self {
        Owner {
            id: row.id,
            email: row.email,
            plan: row.plan,
            created_at: from_ms(row.created_at),
            updated_at: from_ms(row.updated_at),
        }
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = owners)]
struct OwnerChanges {
    email: Option<String>,
    plan: Option<String>,
    updated_at: i64,
}

/// A new owner's row and its `owner.provisioned` audit row, inserted in the transaction of
/// its first key when it has one.
#[derive(Debug, Clone)]
pub(crate) struct OwnerInsert {
    pub(crate) row: OwnerRow,
    pub(crate) audit: NewAuditRow,
}

/// The first key to issue with a new owner, in the owner's transaction.
#[derive(Debug)]
pub struct FirstKey<'a> {
    /// The key format.
    pub format: &'a KeyFormat,
    /// The hasher.
    pub hasher: &'a KeyHasher,
    /// The key; its `owner_id` is replaced by the new owner's.
    pub spec: KeySpec,
}

impl Store {
    /// Provisions an owner. An id that is already taken answers [`crate::StoreError::Conflict`].
    pub async fn create_owner(&self, new: NewOwner) -> StoreResult<Owner> {
        Ok(self.provision_owner(new, None, None).await?.0)
    }

    /// Provisions an owner with its `owner.provisioned` audit row by `actor` (when given)
    /// and its change-feed row, and optionally its first key, all in one transaction: a
    /// failure leaves neither an owner without its key nor a key without its owner. An id
    /// that is already taken answers [`crate::StoreError::Conflict`].
    pub async fn provision_owner(
        &self,
        new: NewOwner,
        actor: Option<&str>,
        first_key: Option<FirstKey<'_>>,
    ) -> StoreResult<(Owner, Option<(PlainKey, KeyRecord)>)> {
        let at = self.now();
        let now = to_ms(at);
        let row = OwnerRow {
            id: match new.id {
                Some(id) => id,
                None => random_id("own_")?,
            },
            email: new.email,
            plan: new.plan,
            created_at: now,
            updated_at: now,
        };
        let audit = actor.map(|actor| {
            NewAuditRow::from(AuditEvent {
                owner_id: row.id.clone(),
                key_id: None,
                event: "owner.provisioned".into(),
                actor: actor.to_owned(),
                detail: Some(serde_json::json!({ "plan": row.plan }).to_string()),
                at,
            })
        });
        if let Some(first) = first_key {
            let spec = KeySpec {
                owner_id: row.id.clone(),
                ..first.spec
            };
            let owner = OwnerInsert {
                row: row.clone(),
                audit: audit.unwrap_or_else(|| {
                    NewAuditRow::from(AuditEvent {
                        owner_id: row.id.clone(),
                        key_id: None,
                        event: "owner.provisioned".into(),
                        actor: spec.created_by.clone(),
                        detail: Some(serde_json::json!({ "plan": row.plan }).to_string()),
                        at,
                    })
                }),
            };
            let key = self
                .issue(
                    first.format,
                    first.hasher,
                    spec,
                    KeyInsert {
                        new_owner: Some(owner),
                        ..KeyInsert::default()
                    },
                )
                .await?;
            self.run_hooks(None, Some(&row.id));
            return Ok((row.into(), Some(key)));
        }
        with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                diesel::insert_into(owners::table)
                    .values(&row)
                    .execute(conn)
                    .await?;
                if let Some(audit) = &audit {
                    append_audit!(conn, audit)?;
                }
                append_change!(conn, None, Some(&row.id), now)?;
                Ok(())
            })
            .await?
        });
        self.run_hooks(None, Some(&row.id));
        Ok((row.into(), None))
    }

    /// Reads one owner.
    pub async fn get_owner(&self, id: &str) -> StoreResult<Owner> {
        let row: OwnerRow = with_conn!(self, |conn| {
            owners::table
                .find(id)
                .select(OwnerRow::as_select())
                .first(conn)
                .await?
        });
        Ok(row.into())
    }

    /// Changes an owner's e-mail or plan and returns the new state.
    pub async fn update_owner(&self, id: &str, patch: OwnerPatch) -> StoreResult<Owner> {
        self.update_owner_audited(id, patch, Vec::new()).await
    }

    /// [`Store::update_owner`] with its audit rows, in one transaction with the change and
    /// its change-feed row.
    pub async fn update_owner_audited(
        &self,
        id: &str,
        patch: OwnerPatch,
        audits: Vec<AuditEvent>,
    ) -> StoreResult<Owner> {
        let now = to_ms(self.now());
        let changes = OwnerChanges {
            email: patch.email,
            plan: patch.plan,
            updated_at: now,
        };
        let audits: Vec<NewAuditRow> = audits.into_iter().map(NewAuditRow::from).collect();
        let row: OwnerRow = with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                let row = diesel::update(owners::table.find(id))
                    .set(&changes)
                    .returning(OwnerRow::as_returning())
                    .get_result(conn)
                    .await?;
                for audit in &audits {
                    append_audit!(conn, audit)?;
                }
                append_change!(conn, None, Some(id), now)?;
                Ok(row)
            })
            .await?
        });
        self.run_hooks(None, Some(id));
        Ok(row.into())
    }
}
