//! Changing an owner: e-mail and plan.

use serde::Deserialize;
use serde_json::json;
use twin_store::OwnerPatch;
use utoipa::ToSchema;

use super::{OwnerView, audit, check_email, check_plan, owner_view};
use crate::{Core, Error};

/// The body of `PATCH /v1/admin/owners/{id}`; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOwnerBody {
    /// New contact e-mail.
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
    let after = core.store.update_owner(id, patch.clone()).await?;
    if let Some(plan) = &patch.plan {
        audit(
            core,
            id,
            "owner.plan_changed",
            actor,
            json!({ "from": before.plan, "to": plan }),
        )
        .await?;
    }
    if patch.email.is_some() {
        audit(core, id, "owner.email_changed", actor, json!({})).await?;
    }
    owner_view(core, &after).await
}
