//! Rotating keys: a new secret for the same credential (SPEC §2 "Rotation lineage").

use serde::{Deserialize, Serialize};
use time::Duration;
use twin_store::{KeySpec, KeyStatus, StoreError};
use utoipa::ToSchema;

use twin_meter::plans::Plan;

use super::{Actor, CreatedKey, KeyView, PLAINTEXT_WARNING};
use crate::Core;
use crate::time_fmt::iso;
use crate::{Error, ErrorCode};

/// The longest grace period: 7 days.
pub const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;

/// The body of a rotation (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateBody {
    /// How long the old key keeps working, 0 – 604800 seconds (default 0: it stops now).
    #[serde(default, deserialize_with = "crate::input::whole_number")]
    #[schema(minimum = 0, maximum = 604_800)]
    pub grace_period_seconds: Option<i64>,
}

/// The answer to a rotation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rotated {
    /// The new key, with its plaintext (shown once).
    #[serde(flatten)]
    pub created: CreatedKey,
    /// When the old key stops working.
    pub old_key_expires_at: String,
}

/// Rotates one of `owner_id`'s keys within the actor's reach. The successor counts against
/// the plan's key limit (`plan`).
pub async fn rotate_key(
    core: &Core,
    owner_id: &str,
    id: &str,
    plan: &Plan,
    grace_seconds: i64,
    actor: &Actor,
) -> Result<Rotated, Error> {
    if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(Error::invalid_parameter(
            "gracePeriodSeconds",
            None,
            "an integer from 0 to 604800 (7 days)",
        ));
    }
    let now = core.clock.now();
    let old = core.store.get_owner_key(owner_id, id).await?;
    actor.check_reach(&old)?;
    if matches!(old.status(now), KeyStatus::Revoked | KeyStatus::Expired) {
        return Err(Error::new(
            ErrorCode::Conflict,
            "a revoked or expired key cannot be rotated",
        ));
    }
    if old.rotated_to.is_some() {
        return Err(Error::conflict(
            "this key was already rotated; rotate its successor instead",
        ));
    }
    let spec = KeySpec {
        owner_id: owner_id.to_owned(),
        env: old.env,
        name: old.name.clone(),
        scopes: old.scopes,
        expires_at: old.expires_at,
        monthly_quota: old.monthly_quota,
        rate_limit_rpm: old.rate_limit_rpm,
        spend_limit: old.spend_limit,
        spend_period: old.spend_period,
        created_by: actor.name.clone(),
        rotated_from: Some(old.id.clone()),
        meta: old.meta.clone(),
        alerts: old.alerts.clone(),
    };
    // The successor counts against the plan's key limit: while both keys work (a grace
    // period) an active key becomes two. Without a grace period the old key stops now and
    // the count stays as it was.
    let adds_active = old.status(now) == KeyStatus::Active && grace_seconds > 0;
    let old_expires = now + Duration::seconds(grace_seconds);
    // One transaction: the successor (sharing the lineage's counters, so both draw on one
    // allowance), the predecessor's end on the condition that nobody revoked or rotated it
    // meanwhile, the limit check, the audit row and both change-feed rows. A rotated key
    // keeps its predecessor's state: a disabled key's successor is disabled.
    let rotation = twin_store::Rotation {
        old_ends_at: old_expires,
        disabled: !old.is_active,
        max_active: adds_active.then_some(i64::from(plan.max_keys)),
    };
    let (plain, new) = match core
        .store
        .rotate_key(&core.key_format, &core.hasher, spec, rotation)
        .await
    {
        Ok(issued) => issued,
        Err(StoreError::LimitReached) => return Err(super::create::key_limit(plan)),
        Err(StoreError::Precondition(_)) => {
            return Err(Error::conflict(
                "the key was revoked or rotated meanwhile; nothing was issued",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Rotated {
        created: CreatedKey {
            view: KeyView::new(&new, now),
            key: plain.expose_secret().to_owned(),
            warning: PLAINTEXT_WARNING.to_owned(),
        },
        old_key_expires_at: iso(old.expires_at.map_or(old_expires, |e| e.min(old_expires))),
    })
}
