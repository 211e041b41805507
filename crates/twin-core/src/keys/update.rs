//! Changing keys: name, enable/disable, scopes, expiry, limits.

use twin_meter::plans::Plan;
use twin_store::{AuditEvent, KeyRecord, StoreError};

use super::Actor;
use super::spec::UpdateKeyBody;
use crate::{Core, Error, ErrorCode};

/// Applies an update to one of `owner_id`'s keys and audits it. The target must be within
/// the actor's reach (scopes and environment), and new scopes within its ceiling.
pub async fn update_key(
    core: &Core,
    owner_id: &str,
    id: &str,
    plan: &Plan,
    body: UpdateKeyBody,
    actor: &Actor,
) -> Result<KeyRecord, Error> {
    let now = core.clock.now();
    let patch = body.into_patch(plan, actor.scope_ceiling(), now)?;
    let before = core.store.get_owner_key(owner_id, id).await?;
    actor.check_reach(&before)?;
    // An expiry set by a rotation bounds the old key's grace period: it can be brought
    // forward, never lifted or pushed back.
    if before.rotated_to.is_some()
        && let Some(expiry) = patch.expires_at
    {
        let lifts = match (expiry, before.expires_at) {
            (None, _) => true,
            (Some(new), Some(current)) => new > current,
            (Some(_), None) => false,
        };
        if lifts {
            return Err(Error::conflict(
                "this key was rotated: its expiry can only be brought forward",
            ));
        }
    }
    let event = match patch.is_active {
        Some(false) if before.is_active => "key.disabled",
        Some(true) if !before.is_active => "key.enabled",
        _ => "key.updated",
    };
    // Allowances reserved under the old limits are returned; the next request reserves
    // under the new ones.
    core.meter.forget(id).await;
    let audit = AuditEvent {
        owner_id: owner_id.to_owned(),
        key_id: Some(id.to_owned()),
        event: event.into(),
        actor: actor.name.clone(),
        detail: None,
        at: now,
    };
    // The change, its audit row and its change-feed row commit together.
    let after = match core
        .store
        .update_key_audited(owner_id, id, patch, Some(audit))
        .await
    {
        Ok(key) => key,
        Err(StoreError::Conflict(_)) => {
            return Err(Error::new(
                ErrorCode::Conflict,
                "a revoked key cannot be changed",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(after)
}
