//! Changing an owner: e-mail and plan.

use serde::Deserialize;
use serde_json::json;
use twin_store::{AuditEvent, OwnerPatch};
use utoipa::ToSchema;

use super::{OwnerView, check_email, check_plan, owner_view};
use crate::{Core, Error};

/// The body of `PATCH /v1/admin/owners/{id}`; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOwnerBody {
    /// New contact e-mail.
    #[schema(
        max_length = 254,
        pattern = r"^\s*[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+\s*$",
        example = "ana@example.com"
    )]
    pub email: Option<String>,
    /// New plan slug. Downgrading to a plan without API access keeps every key stored;
    /// their calls answer 403 `PLAN_REQUIRED` until the owner is upgraded again.
    pub plan: Option<String>,
}

/// Changes an owner's e-mail and/or plan and audits each change; shared by the admin API
/// and the CLI. Nothing changes (and nothing is audited) when the values are the same.
pub async fn update_owner(
    core: &Core,
    id: &str,
    body: UpdateOwnerBody,
    actor: &str,
) -> Result<OwnerView, Error> {
    let email = body.email.as_deref().map(check_email).transpose()?;
    let plan = body
        .plan
        .as_deref()
        .map(|p| check_plan(core, p))
        .transpose()?;
    let before = core.store.get_owner(id).await?;
    let patch = OwnerPatch {
        email: email.filter(|e| *e != before.email),
        plan: plan.map(|p| p.slug.clone()).filter(|p| *p != before.plan),
    };
    if patch.email.is_none() && patch.plan.is_none() {
        return owner_view(core, &before).await;
    }
    let now = core.clock.now();
    let event = |name: &str, detail: serde_json::Value| AuditEvent {
        owner_id: id.to_owned(),
        key_id: None,
        event: name.to_owned(),
        actor: actor.to_owned(),
        detail: Some(detail.to_string()),
        at: now,
    };
    let mut audits = Vec::new();
    if let Some(plan) = &patch.plan {
        audits.push(event(
            "owner.plan_changed",
            json!({ "from": before.plan, "to": plan }),
        ));
    }
    if patch.email.is_some() {
        audits.push(event("owner.email_changed", json!({})));
    }
    // The change, its audit rows and its change-feed row commit together.
    let after = core.store.update_owner_audited(id, patch, audits).await?;
    owner_view(core, &after).await
}
