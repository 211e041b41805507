//! Provisioning owners, optionally with a first key.

use serde::{Deserialize, Serialize};
use twin_store::{NewOwner, ScopeSet, StoreError};
use utoipa::ToSchema;

use super::{check_email, check_owner_id, check_plan};
use crate::keys::spec::CreateKeyBody;
use crate::keys::{CreatedKey, KeyView, PLAINTEXT_WARNING};
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
                scopes: Some(ScopeSet::all().iter().collect()),
                ..CreateKeyBody::default()
            }),
            IssueKey::Key(body) => Some(*body),
        }
    }
}

/// Reads `issueKey` so that a bad key body names its fault (an untagged enum would only say
/// that nothing matched).
fn issue_key<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<IssueKey>, D::Error> {
    use serde::de::Error as _;
    match Option::<serde_json::Value>::deserialize(de)? {
        None => Ok(None),
        Some(serde_json::Value::Bool(flag)) => Ok(Some(IssueKey::Flag(flag))),
        Some(body @ serde_json::Value::Object(_)) => serde_json::from_value::<CreateKeyBody>(body)
            .map(|body| Some(IssueKey::Key(Box::new(body))))
            .map_err(|e| D::Error::custom(format!("in the key: {e}"))),
        Some(_) => Err(D::Error::custom("expected true, false or a key object")),
    }
}

/// The body of `POST /v1/admin/owners`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionOwnerBody {
    /// The owner's id (1–64 of `[A-Za-z0-9._-]`, starting with a letter or digit);
    /// generated (`own_` + 16 hex) when absent.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub owner_id: Option<String>,
    /// Contact e-mail.
    #[schema(
        max_length = 254,
        pattern = r"^\s*[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+\s*$",
        example = "ana@example.com"
    )]
    pub email: String,
    /// A configured plan's slug (built in: `free`, `professional`).
    pub plan: String,
    /// Issue a first key: `true` (a live key named `default` with every scope) or a key
    /// body as for `POST /v1/keys`. Needs a plan with API access.
    #[serde(default, deserialize_with = "issue_key")]
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
    if key_body.is_some() && !plan.api_access {
        return Err(Error::new(
            ErrorCode::PlanRequired,
            "the plan has no API access, so no key can be issued; provision without issueKey or on another plan",
        ));
    }
    // The store puts the new owner's id into the spec.
    let placeholder = id.as_deref().unwrap_or("own_0000000000000000");
    let spec = key_body
        .map(|body| body.into_spec(placeholder, &plan, None, actor, core.clock.now()))
        .transpose()?;
    // The owner, its audit row, its change-feed row and its first key commit together.
    let first_key = spec.map(|spec| twin_store::FirstKey {
        format: &core.key_format,
        hasher: &core.hasher,
        spec,
    });
    let (owner, issued) = match core
        .store
        .provision_owner(
            NewOwner {
                id,
                email,
                plan: plan.slug.clone(),
            },
            Some(actor),
            first_key,
        )
        .await
    {
        Ok(provisioned) => provisioned,
        Err(StoreError::Conflict(_) | StoreError::Precondition(_)) => {
            return Err(Error::new(
                ErrorCode::Conflict,
                "an owner with this id already exists",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let api_key = issued.map(|(plain, record)| CreatedKey {
        view: KeyView::for_core(&record, core),
        key: plain.expose_secret().to_owned(),
        warning: PLAINTEXT_WARNING.to_owned(),
    });
    Ok(Provisioned {
        owner_id: owner.id,
        email: owner.email,
        plan: owner.plan,
        status: "provisioned".into(),
        created_at: iso(owner.created_at),
        api_key,
    })
}
