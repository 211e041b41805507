//! The change feed: what replicas must drop from their caches.
//!
//! Every change to a key, an owner or a snapshot appends a row to `changes`. Replicas read
//! rows past the last sequence number they saw and invalidate what the rows name. On
//! PostgreSQL each append also sends `NOTIFY twin_changes`, so replicas read the feed at once
//! instead of at their next poll; a lost notification only delays them to that poll.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::db::with_conn;
use crate::model::to_ms;
use crate::schema::changes;
use crate::{Backend, Store, StoreResult};

/// The PostgreSQL channel the feed is announced on.
pub const CHANGES_CHANNEL: &str = "twin_changes";

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Change {
    /// Sequence number (increasing).
    pub seq: i64,
    /// The key that changed, if a key did.
    pub key_id: Option<String>,
    /// The owner whose data changed (plan, snapshots), if one did.
    pub owner_id: Option<String>,
}

/// A change-feed row, written inside the transaction of the change it announces (on
/// PostgreSQL a trigger sends `NOTIFY twin_changes` with it, delivered at commit).
#[derive(Insertable)]
#[diesel(table_name = changes)]
pub(crate) struct NewChange<'a> {
    pub(crate) key_id: Option<&'a str>,
    pub(crate) owner_id: Option<&'a str>,
    pub(crate) at: i64,
}

/// Appends a change-feed row inside the caller's transaction (a macro: the connection's
/// type differs per backend, and `with_conn!` expands the body once for each). Every change
/// writes its feed row this way, in its own transaction.
macro_rules! append_change {
    ($conn:expr, $key:expr, $owner:expr, $at:expr) => {
        diesel::insert_into(crate::schema::changes::table)
            .values(crate::changes::NewChange {
                key_id: $key,
                owner_id: $owner,
                at: $at,
            })
            .execute($conn)
            .await
    };
}
pub(crate) use append_change;

impl Store {
    /// Changes with a sequence number above `after`, oldest first (at most `limit`).
    pub async fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        Ok(with_conn!(self, |conn| {
            changes::table
                .filter(changes::seq.gt(after))
                .order(changes::seq.asc())
                .limit(limit)
                .select((changes::seq, changes::key_id, changes::owner_id))
                .load(conn)
                .await?
        }))
    }

    /// The newest sequence number (0 when the feed is empty).
    pub async fn latest_change(&self) -> StoreResult<i64> {
        let max: Option<i64> = with_conn!(self, |conn| {
            changes::table
                .select(diesel::dsl::max(changes::seq))
                .first(conn)
                .await?
        });
        Ok(max.unwrap_or(0))
    }

    /// Deletes feed entries older than `before` (replicas only need recent ones).
    pub async fn purge_changes_before(&self, before: OffsetDateTime) -> StoreResult<usize> {
        let cutoff = to_ms(before);
        Ok(with_conn!(self, |conn| {
            diesel::delete(changes::table.filter(changes::at.lt(cutoff)))
                .execute(conn)
                .await?
        }))
    }

    /// On PostgreSQL, a receiver that gets a message each time a change is announced; it
    /// keeps a dedicated connection listening (reconnecting after failures). `None` on SQLite,
    /// where polling is the only mechanism.
    pub fn listen_changes(&self) -> Option<mpsc::Receiver<()>> {
        if self.backend() != Backend::Postgres {
            return None;
        }
        let url = self.url().to_owned();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            use futures_util::StreamExt;
            loop {
                if tx.is_closed() {
                    return;
                }
                match AsyncPgConnection::establish(&url).await {
                    Ok(mut conn) => {
                        if conn
                            .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
                            .await
                            .is_ok()
                        {
                            // A (re)connection may have missed announcements: wake the reader.
                            let _ = tx.try_send(());
                            let mut stream = std::pin::pin!(conn.notifications_stream());
                            while let Some(item) = stream.next().await {
                                if item.is_err() || tx.is_closed() {
                                    break;
                                }
                                let _ = tx.try_send(());
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot listen for changes; retrying"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        Some(rx)
    }
}
