//! Owners (tenants).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::with_conn;
use crate::model::{NewOwner, Owner, OwnerPatch, from_ms, random_id, to_ms};
use crate::schema::owners;
use crate::{Store, StoreResult};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = owners)]
struct OwnerRow {
    id: String,
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

impl Store {
    /// Provisions an owner. An id that is already taken answers [`crate::StoreError::Conflict`].
    pub async fn create_owner(&self, new: NewOwner) -> StoreResult<Owner> {
        let now = to_ms(self.now());
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
        with_conn!(self, |conn| {
            diesel::insert_into(owners::table)
                .values(&row)
                .execute(conn)
                .await?;
        });
        Ok(row.into())
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
        let changes = OwnerChanges {
            email: patch.email,
            plan: patch.plan,
            updated_at: to_ms(self.now()),
        };
        let row: OwnerRow = with_conn!(self, |conn| {
            diesel::update(owners::table.find(id))
                .set(&changes)
                .returning(OwnerRow::as_returning())
                .get_result(conn)
                .await?
        });
        self.record_change(None, Some(id)).await?;
        Ok(row.into())
    }
}
