//! Owners: provisioning, plan changes, the operator's view (SPEC §8, §9), and the checks of
//! owner-level input shared by every interface.

pub mod keys;
pub mod provision;
pub mod update;

use serde::Serialize;
use serde_json::Value;
use twin_meter::plans::Plan;
use twin_store::{AuditEvent, Owner};
use utoipa::ToSchema;

use crate::snapshots::SnapshotMeta;
use crate::time_fmt::iso;
use crate::{Core, Error};

/// The actor recorded in the audit trail (and as a key's `createdBy`) for admin API calls.
pub const OPERATOR: &str = "operator";

/// A plan as the owner API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanView {
    /// Plan slug.
    pub slug: String,
    /// Plan name.
    pub name: String,
    /// Whether keys may call the API.
    pub api_access: bool,
    /// Most active keys.
    pub max_keys: u32,
    /// Quota of new keys.
    pub default_monthly_quota: u64,
    /// Largest quota of a key.
    pub max_monthly_quota: u64,
    /// Largest rate limit of a key (requests per minute).
    pub max_rate_limit_rpm: u32,
}

impl From<&Plan> for PlanView {
    fn from(p: &Plan) -> Self {
        PlanView {
            slug: p.slug.clone(),
            name: p.name.clone(),
            api_access: p.api_access,
            max_keys: p.max_keys,
            default_monthly_quota: p.default_monthly_quota,
            max_monthly_quota: p.max_monthly_quota,
            max_rate_limit_rpm: p.max_rate_limit_rpm,
        }
    }
}

/// The plan called `slug`, or 400 `INVALID_PARAMETER` naming the configured plans.
pub(crate) fn check_plan<'a>(core: &'a Core, slug: &str) -> Result<&'a Plan, Error> {
    core.plans
        .get(slug)
        .ok_or_else(|| Error::invalid_parameter("plan", Some(&core.plans.slugs()), "unknown plan"))
}

/// A minimal e-mail check: one `@` with something on each side, no spaces or control
/// characters, at most 254 characters. Deliverability is the operator's business.
pub(crate) fn check_email(value: &str) -> Result<String, Error> {
    let email = value.trim();
    let bad =
        || Error::invalid_parameter("email", None, "an e-mail address such as ana@example.com");
    if value.chars().count() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(email.to_owned())
        }
        _ => Err(bad()),
    }
}

/// Owner ids appear in URLs and logs: 1–64 of `[A-Za-z0-9._-]`, starting with a letter or
/// digit.
pub(crate) fn check_owner_id(value: &str) -> Result<String, Error> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid_parameter(
            "ownerId",
            None,
            "1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit",
        ))
    }
}

/// A short free-text label (`source`, `purchaseId`): 1–`max` characters, no control
/// characters.
pub(crate) fn check_label(field: &str, value: &str, max: usize) -> Result<String, Error> {
    // The length counts what was sent, as the document's `maxLength` does; the stored value
    // drops leading and trailing spaces.
    let trimmed = value.trim();
    let len = value.chars().count();
    if trimmed.is_empty() || len > max || value.chars().any(char::is_control) {
        return Err(Error::invalid_parameter(
            field,
            None,
            &format!("1 to {max} characters, no control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Appends an owner or snapshot event to the audit trail.
pub(crate) async fn audit(
    core: &Core,
    owner_id: &str,
    event: &str,
    actor: &str,
    detail: Value,
) -> Result<(), Error> {
    core.store
        .record_audit(AuditEvent {
            owner_id: owner_id.to_owned(),
            key_id: None,
            event: event.to_owned(),
            actor: actor.to_owned(),
            detail: Some(detail.to_string()),
            at: core.clock.now(),
        })
        .await?;
    Ok(())
}

/// An owner as the operator sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnerView {
    /// Owner id.
    #[schema(example = "ana")]
    pub owner_id: String,
    /// Contact e-mail.
    pub email: String,
    /// The owner's plan and its limits (a plan missing from the configuration shows
    /// `apiAccess: false`).
    pub plan: PlanView,
    /// When the owner was provisioned.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Keys usable now (not disabled, expired or revoked).
    pub active_keys: i64,
    /// Snapshots ingested so far (the latest snapshot's version).
    pub snapshot_count: i64,
    /// The newest snapshot, whatever its status.
    pub latest_snapshot: Option<SnapshotMeta>,
}

/// The operator's view of `owner`: plan, active keys, snapshots.
pub async fn owner_view(core: &Core, owner: &Owner) -> Result<OwnerView, Error> {
    let now = core.clock.now();
    let active_keys = core.store.count_active_keys(&owner.id, now).await?;
    let latest = core
        .store
        .list_snapshots(&owner.id, 1, None)
        .await?
        .items
        .into_iter()
        .next();
    Ok(OwnerView {
        owner_id: owner.id.clone(),
        email: owner.email.clone(),
        plan: PlanView::from(&core.plan(&owner.plan)),
        created_at: iso(owner.created_at),
        updated_at: iso(owner.updated_at),
        active_keys,
        // Versions are allocated per owner from 1 without gaps and snapshots are never
        // deleted, so the newest version is the count, without a COUNT(*).
        snapshot_count: latest.as_ref().map_or(0, |s| s.version),
        latest_snapshot: latest.as_ref().map(SnapshotMeta::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_minimally() {
        for ok in ["ana@example.com", " a@b ", "x.y+z@sub.example.org"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "a@b@c",
            "a b@c.d",
            "a\u{7}b@c",
            "a@b\tc",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn owner_ids_are_url_safe() {
        for ok in ["ana", "own_0123", "A.b-c_d", &"x".repeat(64)] {
            assert!(check_owner_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "_ana", "-a", "a/b", "a b", "ana?", &"x".repeat(65), "é"] {
            assert!(check_owner_id(bad).is_err(), "{bad:?}");
        }
    }
}
