//! One-time dashboard login links and the dashboard sessions they open.
//!
//! Only hashes of the tokens are stored (the caller hashes; this crate never sees a token in
//! the clear): a copy of the database is not enough to log in. A link is single use: it is
//! marked used by one conditional `UPDATE … WHERE used_at IS NULL AND expires_at > now`, so
//! of two concurrent redemptions exactly one wins, on every backend and across replicas.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::db::with_conn;
use crate::model::{from_ms, to_ms};
use crate::schema::{dashboard_sessions, login_links};
use crate::{Store, StoreResult};

/// A login link to store (the token itself stays with the caller).
#[derive(Clone)]
pub struct NewLoginLink {
    /// Hash of the link's token (SHA-256).
    pub token_hash: Vec<u8>,
    /// The owner the link logs in as.
    pub owner_id: String,
    /// Who issued it (`operator`, `cli`).
    pub created_by: String,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for NewLoginLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLoginLink")
            .field("owner_id", &self.owner_id)
            .field("created_by", &self.created_by)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A session to open when a link is redeemed.
#[derive(Clone)]
pub struct NewSession {
    /// Hash of the session token (SHA-256); the token goes in the cookie.
    pub token_hash: Vec<u8>,
    /// The token state-changing dashboard requests must echo.
    pub csrf_token: String,
    /// When the session ends.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An open dashboard session.
#[derive(Clone, PartialEq, Eq)]
pub struct DashboardSession {
    /// The owner logged in.
    pub owner_id: String,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// When it was opened.
    pub created_at: OffsetDateTime,
    /// When it ends.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for DashboardSession {
    // The CSRF token is a secret of the session.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardSession")
            .field("owner_id", &self.owner_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Insertable)]
#[diesel(table_name = login_links)]
struct LoginLinkRow {
    token_hash: Vec<u8>,
    owner_id: String,
    created_by: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = dashboard_sessions)]
struct SessionRow {
    token_hash: Vec<u8>,
    owner_id: String,
    csrf_token: String,
    created_at: i64,
    expires_at: i64,
}

impl Store {
    /// Stores a login link. An unknown owner is [`crate::StoreError::NotFound`].
    pub async fn create_login_link(&self, link: NewLoginLink) -> StoreResult<()> {
        // A clear NotFound rather than relying on the foreign key alone.
        self.get_owner(&link.owner_id).await?;
        let row = LoginLinkRow {
            token_hash: link.token_hash,
            owner_id: link.owner_id,
            created_by: link.created_by,
            created_at: to_ms(self.now()),
            expires_at: to_ms(link.expires_at),
            used_at: None,
        };
        with_conn!(self, |conn| {
            diesel::insert_into(login_links::table)
                .values(&row)
                .execute(conn)
                .await?
        });
        Ok(())
    }

    /// Redeems the link whose token hashes to `link_hash` and opens `session` for its owner,
    /// in one transaction. `None` when the link is unknown, already used or expired at `now`
    /// — the caller cannot tell which, and neither can the person holding the link.
    pub async fn redeem_login_link(
        &self,
        link_hash: &[u8],
        session: NewSession,
        now: OffsetDateTime,
    ) -> StoreResult<Option<DashboardSession>> {
        let now_ms = to_ms(now);
        let link_hash = link_hash.to_vec();
        let opened: Option<SessionRow> = with_conn!(self, |conn| {
            conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                let owner: Option<String> = diesel::update(
                    login_links::table
                        .filter(login_links::token_hash.eq(&link_hash))
                        .filter(login_links::used_at.is_null())
                        .filter(login_links::expires_at.gt(now_ms)),
                )
                .set(login_links::used_at.eq(now_ms))
                .returning(login_links::owner_id)
                .get_result(conn)
                .await
                .optional()?;
                let Some(owner_id) = owner else {
                    return Ok(None);
                };
                let row = SessionRow {
                    token_hash: session.token_hash.clone(),
                    owner_id,
                    csrf_token: session.csrf_token.clone(),
                    created_at: now_ms,
                    expires_at: to_ms(session.expires_at),
                };
                diesel::insert_into(dashboard_sessions::table)
                    .values(&row)
                    .execute(conn)
                    .await?;
                Ok(Some(row))
            })
            .await?
        });
        Ok(opened.map(session_of))
    }

    /// The session whose token hashes to `token_hash`, if it exists and has not ended at
    /// `now`.
    pub async fn find_session(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<DashboardSession>> {
        let now_ms = to_ms(now);
        let row: Option<SessionRow> = with_conn!(self, |conn| {
            dashboard_sessions::table
                .filter(dashboard_sessions::token_hash.eq(token_hash))
                .filter(dashboard_sessions::expires_at.gt(now_ms))
                .select(SessionRow::as_select())
                .first(conn)
                .await
                .optional()?
        });
        Ok(row.map(session_of))
    }

    /// Ends a session (logout). Ending an unknown session is not an error.
    pub async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        with_conn!(self, |conn| {
            diesel::delete(
                dashboard_sessions::table.filter(dashboard_sessions::token_hash.eq(token_hash)),
            )
            .execute(conn)
            .await?
        });
        Ok(())
    }

    /// Deletes login links and sessions that ended before `now`; returns how many rows went.
    pub async fn purge_expired_logins(&self, now: OffsetDateTime) -> StoreResult<usize> {
        let now_ms = to_ms(now);
        let (links, sessions) = with_conn!(self, |conn| {
            let links =
                diesel::delete(login_links::table.filter(login_links::expires_at.le(now_ms)))
                    .execute(conn)
                    .await?;
            let sessions = diesel::delete(
                dashboard_sessions::table.filter(dashboard_sessions::expires_at.le(now_ms)),
            )
            .execute(conn)
            .await?;
            (links, sessions)
        });
        Ok(links + sessions)
    }
}

fn session_of(row: SessionRow) -> DashboardSession {
    DashboardSession {
        owner_id: row.owner_id,
        csrf_token: row.csrf_token,
        created_at: from_ms(row.created_at),
        expires_at: from_ms(row.expires_at),
    }
}
