//! Provisioning owners, optionally with a first key.

use serde::{Deserialize, Serialize};
use serde_json::json;
use twin_store::{NewOwner, ScopeSet, StoreError};
use utoipa::ToSchema;

use super::{audit, check_email, check_owner_id, check_plan};
use crate::keys::create::create_key;
use crate::keys::spec::CreateKeyBody;
use crate::keys::{Actor, CreatedKey};
use crate::time_fmt::iso;
use crate::{Core, Error, ErrorCode};

/// The first key to issue with a new owner.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum IssueKey {
    /// `true`: a live key named `default` with every scope (the owner's bootstrap
    /// credential); `false`: no key.
    Flag(bool),
    /// A key as `POST /v1/keys` describes it.
    Key(Box<CreateKeyBody>),
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
            IssueKey::Key(body) => Some(*body),
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
    core: &Core,
    body: ProvisionOwnerBody,
    actor: &str,
) -> Result<Provisioned, Error> {
    let id = body.owner_id.as_deref().map(check_owner_id).transpose()?;
    let email = check_email(&body.email)?;
    let plan = check_plan(core, &body.plan)?.clone();
    let key_body = body.issue_key.and_then(IssueKey::into_body);
    if let Some(key_body) = &key_body {
        if !plan.api_access {
            return Err(Error::new(
                ErrorCode::PlanRequired,
                "the plan has no API access, so no key can be issued; provision without issueKey or on another plan",
            ));
        }
        let placeholder = id.as_deref().unwrap_or("own_0000000000000000");
        key_body
            .clone()
            .into_spec(placeholder, &plan, None, actor, core.clock.now())?;
    }
    let owner = match core
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
            return Err(Error::new(
                ErrorCode::Conflict,
                "an owner with this id already exists",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    audit(
        core,
        &owner.id,
        "owner.provisioned",
        actor,
        json!({ "plan": owner.plan }),
    )
    .await?;
    let api_key = match key_body {
        Some(key_body) => {
            Some(create_key(core, &owner, &plan, key_body, &Actor::unlimited(actor)).await?)
        }
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
