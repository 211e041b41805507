//! Revoking keys: soft, idempotent, immediate on every replica.

use serde::Serialize;
use twin_store::{AuditEvent, KeyRecord};

use super::Actor;
use utoipa::ToSchema;

use crate::{Core, Error};

/// The answer to a revocation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    /// Key id.
    pub id: String,
    /// Always `revoked`.
    pub status: String,
    /// When it was (first) revoked.
    pub revoked_at: String,
}

/// Revokes one of `owner_id`'s keys and audits the first revocation. A key revokes keys of
/// its own environment only (a test key cannot stop a live integration).
pub async fn revoke_key(
    core: &Core,
    owner_id: &str,
    id: &str,
    actor: &Actor,
) -> Result<KeyRecord, Error> {
    let before = core.store.get_owner_key(owner_id, id).await?;
    actor.check_env(before.env)?;
    let after = core.store.revoke_key(owner_id, id).await?;
    if before.revoked_at.is_none() {
        core.store
            .record_audit(AuditEvent {
                owner_id: owner_id.to_owned(),
                key_id: Some(id.to_owned()),
                event: "key.revoked".into(),
                actor: actor.name.clone(),
                detail: None,
                at: core.clock.now(),
            })
            .await?;
    }
    Ok(after)
}
