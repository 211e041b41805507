//! Twin snapshots: metadata, documents, and which one a request is served.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::audit::NewAuditRow;
use crate::audit::append_audit;
use crate::changes::append_change;
use crate::db::{with_conn, with_write_conn};
use crate::model::{
    AuditEvent, NewSnapshot, Page, Snapshot, SnapshotStatus, from_ms, random_id, to_ms,
};
use crate::schema::snapshots;
use crate::{Store, StoreError, StoreResult};

#[derive(Queryable, Selectable)]
#[diesel(table_name = snapshots)]
struct SnapshotRow {
    id: String,
    owner_id: String,
    version: i64,
    source: String,
    status: String,
    purchase_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SnapshotRow> for Snapshot {
    type Error = StoreError;
    fn try_from(row: SnapshotRow) -> StoreResult<Self> {
        Ok(Snapshot {
            status: row
                .status
                .parse()
                .map_err(|e| StoreError::Invalid(format!("{e}")))?,
            id: row.id,
            owner_id: row.owner_id,
            version: row.version,
            source: row.source,
            purchase_id: row.purchase_id,
            created_at: from_ms(row.created_at),
            updated_at: from_ms(row.updated_at),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = snapshots)]
struct NewSnapshotRow {
    id: String,
    owner_id: String,
    version: i64,
    source: String,
    status: String,
    purchase_id: Option<String>,
    document: Option<String>,
    created_at: i64,
    updated_at: i64,
}

/// Which snapshot a request for an owner's twin gets, per SPEC §5.
#[derive(Debug, Clone)]
pub enum SnapshotSelection {
    /// A ready snapshot and its PCP document (JSON text).
    Ready(Snapshot, String),
    /// No ready candidate, but one is pending or generating (425).
    NotReady,
    /// Every candidate failed (409).
    Failed,
    /// The owner has no snapshot at all (403 `NO_TWIN_PURCHASED`).
    NoSnapshot,
    /// A `purchaseId` was asked for and the owner has no snapshot of it (404).
    UnknownPurchase,
}

impl Store {
    /// Adds a snapshot for `owner_id` with the next version. A `ready` snapshot needs a
    /// document; callers validate the document before calling.
    pub async fn create_snapshot(&self, owner_id: &str, new: NewSnapshot) -> StoreResult<Snapshot> {
        self.create_snapshot_audited(owner_id, new, None).await
    }

    /// [`Store::create_snapshot`] recording `snapshot.created` by `actor` in the insert's
    /// transaction, with the change-feed row.
    pub async fn create_snapshot_audited(
        &self,
        owner_id: &str,
        new: NewSnapshot,
        actor: Option<&str>,
    ) -> StoreResult<Snapshot> {
        if new.status == SnapshotStatus::Ready && new.document.is_none() {
            return Err(StoreError::Invalid(
                "a ready snapshot needs a document".into(),
            ));
        }
        // Make sure the owner exists so the caller gets NotFound rather than a bare FK error.
        self.get_owner(owner_id).await?;
        // Two concurrent creations can pick the same version; the unique index rejects one,
        // which then retries with the next number.
        for _ in 0..8 {
            let now = to_ms(self.now());
            let max: Option<i64> = with_conn!(self, |conn| {
                snapshots::table
                    .filter(snapshots::owner_id.eq(owner_id))
                    .select(diesel::dsl::max(snapshots::version))
                    .first(conn)
                    .await?
            });
            let row = NewSnapshotRow {
                id: random_id("snap_")?,
                owner_id: owner_id.to_owned(),
                version: max.unwrap_or(0) + 1,
                source: new.source.clone(),
                status: new.status.as_str().to_owned(),
                purchase_id: new.purchase_id.clone(),
                document: new.document.clone(),
                created_at: now,
                updated_at: now,
            };
            let audit = actor.map(|actor| {
                NewAuditRow::from(AuditEvent {
                    owner_id: owner_id.to_owned(),
                    key_id: None,
                    event: "snapshot.created".into(),
                    actor: actor.to_owned(),
                    detail: Some(
                        serde_json::json!({ "snapshotId": row.id, "version": row.version, "status": row.status })
                            .to_string(),
                    ),
                    at: from_ms(now),
                })
            });
            let inserted: StoreResult<SnapshotRow> = async {
                Ok(with_write_conn!(self, |conn| {
                    conn.transaction::<_, StoreError, _>(async |conn| {
                        let row = diesel::insert_into(snapshots::table)
                            .values(&row)
                            .returning(SnapshotRow::as_returning())
                            .get_result(conn)
                            .await?;
                        if let Some(audit) = &audit {
                            append_audit!(conn, audit)?;
                        }
                        append_change!(conn, None, Some(owner_id), now)?;
                        Ok(row)
                    })
                    .await?
                }))
            }
            .await;
            match inserted {
                Ok(row) => {
                    self.run_hooks(None, Some(owner_id));
                    return row.try_into();
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict(
            "could not allocate a snapshot version".into(),
        ))
    }

    /// Changes a snapshot's status and optionally its document. Moving to `ready` needs a
    /// document, given now or stored before.
    pub async fn update_snapshot(
        &self,
        id: &str,
        status: SnapshotStatus,
        document: Option<String>,
    ) -> StoreResult<Snapshot> {
        self.update_snapshot_audited(id, None, status, document, None)
            .await
    }

    /// [`Store::update_snapshot`] on the condition that the snapshot is still in `from` (when
    /// given; else [`StoreError::Precondition`] and nothing changes), recording
    /// `snapshot.updated` by `actor` in the same transaction, with the change-feed row.
    pub async fn update_snapshot_audited(
        &self,
        id: &str,
        from: Option<SnapshotStatus>,
        status: SnapshotStatus,
        document: Option<String>,
        actor: Option<&str>,
    ) -> StoreResult<Snapshot> {
        let now = to_ms(self.now());
        let has_document = match &document {
            Some(_) => true,
            None => self.snapshot_document(id).await?.is_some(),
        };
        if status == SnapshotStatus::Ready && !has_document {
            return Err(StoreError::Invalid(
                "a ready snapshot needs a document".into(),
            ));
        }
        let replaced = document.is_some();
        let at = from_ms(now);
        let row: SnapshotRow = with_write_conn!(self, |conn| {
            conn.transaction::<_, StoreError, _>(async |conn| {
                // The condition travels with the update: a concurrent change of status makes
                // it match nothing.
                let allowed: Vec<&str> = match from {
                    Some(f) => vec![f.as_str()],
                    None => SnapshotStatus::ALLOWED.to_vec(),
                };
                let updated = diesel::update(
                    snapshots::table
                        .filter(snapshots::id.eq(id))
                        .filter(snapshots::status.eq_any(allowed)),
                );
                let missing = || match from {
                    Some(_) => StoreError::Precondition("the snapshot changed meanwhile".into()),
                    None => StoreError::NotFound,
                };
                let row: SnapshotRow = match &document {
                    Some(doc) => updated
                        .set((
                            snapshots::status.eq(status.as_str()),
                            snapshots::document.eq(doc),
                            snapshots::updated_at.eq(now),
                        ))
                        .returning(SnapshotRow::as_returning())
                        .get_result(conn)
                        .await
                        .optional()?
                        .ok_or_else(missing)?,
                    None => updated
                        .set((
                            snapshots::status.eq(status.as_str()),
                            snapshots::updated_at.eq(now),
                        ))
                        .returning(SnapshotRow::as_returning())
                        .get_result(conn)
                        .await
                        .optional()?
                        .ok_or_else(missing)?,
                };
                if let Some(actor) = actor {
                    let audit = NewAuditRow::from(AuditEvent {
                        owner_id: row.owner_id.clone(),
                        key_id: None,
                        event: "snapshot.updated".into(),
                        actor: actor.to_owned(),
                        detail: Some(
                            serde_json::json!({
                                "snapshotId": id,
                                "from": from.map(SnapshotStatus::as_str),
                                "to": status.as_str(),
                                "documentReplaced": replaced,
                            })
                            .to_string(),
                        ),
                        at,
                    });
                    append_audit!(conn, &audit)?;
                }
                append_change!(conn, None, Some(&row.owner_id), now)?;
                Ok(row)
            })
            .await?
        });
        self.run_hooks(None, Some(&row.owner_id));
        row.try_into()
    }

    /// One snapshot's metadata, by id. Any snapshot, whoever owns it: callers that act for an
    /// owner use [`Store::get_owner_snapshot`].
    pub async fn get_snapshot(&self, id: &str) -> StoreResult<Snapshot> {
        let row: SnapshotRow = with_conn!(self, |conn| {
            snapshots::table
                .find(id)
                .select(SnapshotRow::as_select())
                .first(conn)
                .await?
        });
        row.try_into()
    }

    /// One of `owner_id`'s snapshots; another owner's id is [`StoreError::NotFound`].
    pub async fn get_owner_snapshot(&self, owner_id: &str, id: &str) -> StoreResult<Snapshot> {
        let row: SnapshotRow = with_conn!(self, |conn| {
            snapshots::table
                .find(id)
                .filter(snapshots::owner_id.eq(owner_id))
                .select(SnapshotRow::as_select())
                .first(conn)
                .await?
        });
        row.try_into()
    }

    /// The stored document of a snapshot, if it has one.
    pub async fn snapshot_document(&self, id: &str) -> StoreResult<Option<String>> {
        Ok(with_conn!(self, |conn| {
            snapshots::table
                .find(id)
                .select(snapshots::document)
                .first(conn)
                .await?
        }))
    }

    /// An owner's snapshots, newest first. `cursor` is the value of a previous page's
    /// `next_cursor`.
    pub async fn list_snapshots(
        &self,
        owner_id: &str,
        limit: i64,
        cursor: Option<&str>,
    ) -> StoreResult<Page<Snapshot>> {
        let before: i64 = match cursor {
            Some(c) => c.parse().map_err(|_| StoreError::BadCursor)?,
            None => i64::MAX,
        };
        let limit = limit.clamp(1, 1000);
        let rows: Vec<SnapshotRow> = with_conn!(self, |conn| {
            snapshots::table
                .filter(snapshots::owner_id.eq(owner_id))
                .filter(snapshots::version.lt(before))
                .order(snapshots::version.desc())
                .limit(limit + 1)
                .select(SnapshotRow::as_select())
                .load(conn)
                .await?
        });
        let mut items = rows
            .into_iter()
            .map(Snapshot::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|s| s.version.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// The owner's most recent `ready` snapshot, if any.
    pub async fn latest_ready_snapshot(&self, owner_id: &str) -> StoreResult<Option<Snapshot>> {
        let row: Option<SnapshotRow> = with_conn!(self, |conn| {
            snapshots::table
                .filter(snapshots::owner_id.eq(owner_id))
                .filter(snapshots::status.eq(SnapshotStatus::Ready.as_str()))
                .order(snapshots::version.desc())
                .select(SnapshotRow::as_select())
                .first(conn)
                .await
                .optional()?
        });
        row.map(Snapshot::try_from).transpose()
    }

    /// Chooses the snapshot a preset request is served (SPEC §5): the one of `purchase_id`
    /// if given, else the most recent ready one.
    pub async fn select_snapshot(
        &self,
        owner_id: &str,
        purchase_id: Option<&str>,
    ) -> StoreResult<SnapshotSelection> {
        let ready_doc = |snap: Snapshot| async move {
            let doc = self.snapshot_document(&snap.id).await?;
            Ok::<_, StoreError>(match doc {
                Some(doc) => SnapshotSelection::Ready(snap, doc),
                None => SnapshotSelection::Failed,
            })
        };
        if let Some(purchase) = purchase_id {
            let rows: Vec<SnapshotRow> = with_conn!(self, |conn| {
                snapshots::table
                    .filter(snapshots::owner_id.eq(owner_id))
                    .filter(snapshots::purchase_id.eq(purchase))
                    .order(snapshots::version.desc())
                    .select(SnapshotRow::as_select())
                    .load(conn)
                    .await?
            });
            let snaps = rows
                .into_iter()
                .map(Snapshot::try_from)
                .collect::<StoreResult<Vec<_>>>()?;
            if snaps.is_empty() {
                return Ok(SnapshotSelection::UnknownPurchase);
            }
            return match snaps.iter().find(|s| s.status == SnapshotStatus::Ready) {
                Some(s) => ready_doc(s.clone()).await,
                None => Ok(summarize(snaps.iter().map(|s| s.status))),
            };
        }
        if let Some(snap) = self.latest_ready_snapshot(owner_id).await? {
            return ready_doc(snap).await;
        }
        let statuses: Vec<String> = with_conn!(self, |conn| {
            snapshots::table
                .filter(snapshots::owner_id.eq(owner_id))
                .select(snapshots::status)
                .distinct()
                .load(conn)
                .await?
        });
        let statuses = statuses
            .iter()
            .map(|s| {
                s.parse::<SnapshotStatus>()
                    .map_err(|e| StoreError::Invalid(e.to_string()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(summarize(statuses.into_iter()))
    }
}

/// The answer when no candidate is ready.
fn summarize(statuses: impl Iterator<Item = SnapshotStatus>) -> SnapshotSelection {
    let mut any = false;
    for status in statuses {
        any = true;
        if matches!(status, SnapshotStatus::Pending | SnapshotStatus::Generating) {
            return SnapshotSelection::NotReady;
        }
    }
    if any {
        SnapshotSelection::Failed
    } else {
        SnapshotSelection::NoSnapshot
    }
}
