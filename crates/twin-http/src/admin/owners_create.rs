//! `POST /v1/admin/owners`: provision an owner, optionally with a first key.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use twin_store::{NewOwner, ScopeSet, StoreError};
use utoipa::ToSchema;

use super::{OPERATOR, audit, check_email, check_owner_id, check_plan, read_body, require_admin};
use crate::error::{ApiError, ErrorCode};
use crate::owner::CreatedKey;
use crate::owner::keys_create::create_key;
use crate::owner::spec::{CreateKeyBody, parse_body};
use crate::state::AppState;
use crate::time_fmt::iso;

/// The first key to issue with a new owner.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum IssueKey {
    /// `true`: a live key named `default` with every scope (the owner's bootstrap
    /// credential); `false`: no key.
    Flag(bool),
    /// A key as `POST /v1/keys` describes it.
    Key(CreateKeyBody),
}

impl IssueKey {
    /// The key to create, if any.
    pub fn into_body(self) -> Option<CreateKeyBody> {
        match self {
            IssueKey::Flag(false) => None,
            IssueKey::Flag(true) => Some(CreateKeyBody {
                name: "default".into(),
                scopes: Some(ScopeSet::all().to_strings()),
                ..CreateKeyBody::default()
            }),
            IssueKey::Key(body) => Some(body),
        }
    }
}

/// The body of `POST /v1/admin/owners`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionOwnerBody {
    /// The owner's id (1–64 of `[A-Za-z0-9._-]`); generated (`own_` + 16 hex) when absent.
    pub owner_id: Option<String>,
    /// Contact e-mail.
    pub email: String,
    /// A configured plan's slug (built in: `free`, `professional`).
    pub plan: String,
    /// Issue a first key: `true` (a live key named `default` with every scope) or a key
    /// body as for `POST /v1/keys`. Needs a plan with API access.
    pub issue_key: Option<IssueKey>,
}

/// The answer to a provisioning.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provisioned {
    /// The owner's id.
    pub owner_id: String,
    /// Contact e-mail.
    pub email: String,
    /// The plan's slug.
    pub plan: String,
    /// Always `provisioned`.
    #[schema(example = "provisioned")]
    pub status: String,
    /// When the owner was provisioned.
    pub created_at: String,
    /// The first key with its plaintext (shown once), when `issueKey` asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<CreatedKey>,
}

/// Provisions an owner (and a first key); shared by the admin API and the CLI. Everything
/// is validated before anything is written, so a bad key body leaves no owner behind.
pub async fn provision_owner(
    state: &AppState,
    body: ProvisionOwnerBody,
    actor: &str,
) -> Result<Provisioned, ApiError> {
    let id = body.owner_id.as_deref().map(check_owner_id).transpose()?;
    let email = check_email(&body.email)?;
    let plan = check_plan(state, &body.plan)?.clone();
    let key_body = body.issue_key.and_then(IssueKey::into_body);
    if let Some(key_body) = &key_body {
        if !plan.api_access {
            return Err(ApiError::new(
                ErrorCode::PlanRequired,
                "the plan has no API access, so no key can be issued; provision without issueKey or on another plan",
            ));
        }
        let placeholder = id.as_deref().unwrap_or("own_0000000000000000");
        key_body
            .clone()
            .into_spec(placeholder, &plan, None, actor, state.clock.now())?;
    }
    let owner = match state
        .store
        .create_owner(NewOwner {
            id,
            email,
            plan: plan.slug.clone(),
        })
        .await
    {
        Ok(owner) => owner,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "an owner with this id already exists",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    audit(
        state,
        &owner.id,
        "owner.provisioned",
        actor,
        json!({ "plan": owner.plan }),
    )
    .await?;
    let api_key = match key_body {
        Some(key_body) => Some(create_key(state, &owner, &plan, key_body, None, actor).await?),
        None => None,
    };
    Ok(Provisioned {
        owner_id: owner.id,
        email: owner.email,
        plan: owner.plan,
        status: "provisioned".into(),
        created_at: iso(owner.created_at),
        api_key,
    })
}

/// Provisions an owner on a plan. With `issueKey`, the answer carries the owner's first key
/// in plaintext — the only time it is shown.
#[utoipa::path(
    tag = "admin",
    request_body = ProvisionOwnerBody,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Provisioned", body = Provisioned),
        (status = 400, description = "INVALID_PARAMETER (plan: `allowed` lists the configured plans)", body = crate::error::ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key), or PLAN_REQUIRED (issueKey on a plan without API access)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "The admin API is disabled (no admin token configured)", body = crate::error::ErrorEnvelope),
        (status = 409, description = "CONFLICT: the owner id is taken", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/owners")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let body: ProvisionOwnerBody = parse_body(&read_body(payload).await?)?;
    let provisioned = provision_owner(&state, body, OPERATOR).await?;
    Ok(HttpResponse::Created().json(provisioned))
}
