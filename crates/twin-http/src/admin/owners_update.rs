//! `PATCH /v1/admin/owners/{id}`: change an owner's e-mail or plan (upgrade, downgrade).

use actix_web::{HttpRequest, HttpResponse, patch, web};
use serde::Deserialize;
use serde_json::json;
use twin_store::OwnerPatch;
use utoipa::ToSchema;

use super::{
    OPERATOR, OwnerView, audit, check_email, check_plan, owner_view, read_body, require_admin,
};
use crate::error::ApiError;
use crate::owner::spec::parse_body;
use crate::state::AppState;

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
    state: &AppState,
    id: &str,
    body: UpdateOwnerBody,
    actor: &str,
) -> Result<OwnerView, ApiError> {
    let email = body.email.as_deref().map(check_email).transpose()?;
    let plan = body
        .plan
        .as_deref()
        .map(|p| check_plan(state, p))
        .transpose()?;
    let before = state.store.get_owner(id).await?;
    let patch = OwnerPatch {
        email: email.filter(|e| *e != before.email),
        plan: plan.map(|p| p.slug.clone()).filter(|p| *p != before.plan),
    };
    if patch.email.is_none() && patch.plan.is_none() {
        return owner_view(state, &before).await;
    }
    let after = state.store.update_owner(id, patch.clone()).await?;
    if let Some(plan) = &patch.plan {
        audit(
            state,
            id,
            "owner.plan_changed",
            actor,
            json!({ "from": before.plan, "to": plan }),
        )
        .await?;
    }
    if patch.email.is_some() {
        audit(state, id, "owner.email_changed", actor, json!({})).await?;
    }
    owner_view(state, &after).await
}

/// Changes an owner's e-mail or plan. A downgrade keeps the owner's keys; they answer
/// 403 `PLAN_REQUIRED` from the next request until an upgrade.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Owner id")),
    request_body = UpdateOwnerBody,
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The owner as it now stands", body = OwnerView),
        (status = 400, description = "INVALID_PARAMETER (plan: `allowed` lists the configured plans)", body = crate::error::ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown owner, or the admin API is disabled", body = crate::error::ErrorEnvelope),
    )
)]
#[patch("/owners/{id}")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let body: UpdateOwnerBody = parse_body(&read_body(payload).await?)?;
    Ok(HttpResponse::Ok().json(update_owner(&state, &id, body, OPERATOR).await?))
}
