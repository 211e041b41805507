//! The audit trail of key and owner life-cycle events.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::with_conn;
use crate::model::{AuditEvent, from_ms, to_ms};
use crate::schema::audit_events;
use crate::{Store, StoreResult};

/// An audit row, written inside the transaction of the change it records.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub(crate) struct NewAuditRow {
    owner_id: String,
    key_id: Option<String>,
    event: String,
    actor: String,
    detail: Option<String>,
    at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct AuditRow {
    owner_id: String,
    key_id: Option<String>,
    event: String,
    actor: String,
    detail: Option<String>,
    at: i64,
}

impl From<AuditEvent> for NewAuditRow {
    fn from(event: AuditEvent) -> Self {
        NewAuditRow {
            owner_id: event.owner_id,
            key_id: event.key_id,
            event: event.event,
            actor: event.actor,
            detail: event.detail,
            at: to_ms(event.at),
        }
    }
}

/// Appends an audit row (a `NewAuditRow`) inside the caller's transaction.
macro_rules! append_audit {
    ($conn:expr, $row:expr) => {
        diesel::insert_into(crate::schema::audit_events::table)
            .values($row)
            .execute($conn)
            .await
    };
}
pub(crate) use append_audit;

impl Store {
    /// Appends one event to the audit trail on its own. A change and its audit row belong
    /// in one transaction: the store's change methods take their [`AuditEvent`] for that.
    pub async fn record_audit(&self, event: AuditEvent) -> StoreResult<()> {
        let row = NewAuditRow::from(event);
        with_conn!(self, |conn| append_audit!(conn, &row)?);
        Ok(())
    }

    /// An owner's audit trail, oldest first.
    pub async fn list_audit(&self, owner_id: &str) -> StoreResult<Vec<AuditEvent>> {
        let rows: Vec<AuditRow> = with_conn!(self, |conn| {
            audit_events::table
                .filter(audit_events::owner_id.eq(owner_id))
                .order(audit_events::id.asc())
                .select(AuditRow::as_select())
                .load(conn)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| AuditEvent {
                owner_id: r.owner_id,
                key_id: r.key_id,
                event: r.event,
                actor: r.actor,
                detail: r.detail,
                at: from_ms(r.at),
            })
            .collect())
    }
}
