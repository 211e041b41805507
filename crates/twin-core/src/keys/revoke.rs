//! Revoking keys: soft, idempotent, immediate on every replica.

use serde::Serialize;
use twin_store::KeyRecord;

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
    // The revocation, its audit row (first revocation only) and its change-feed row commit
    // together.
    Ok(core
        .store
        .revoke_key_audited(owner_id, id, Some(&actor.name))
        .await?)
}
