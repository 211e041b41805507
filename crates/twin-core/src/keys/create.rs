//! Creating keys: the plan's checks, the actor's scope and environment ceiling, the key
//! limit.

use twin_meter::plans::Plan;
use twin_store::Owner;

use super::spec::CreateKeyBody;
use super::{Actor, CreatedKey, KeyView, PLAINTEXT_WARNING};
use crate::{Core, Error, ErrorCode};

/// Creates a key for `owner` after the plan's checks and the actor's ceiling (scopes and
/// environment); shared by the owner API, the operator API, the dashboard and the CLI.
pub async fn create_key(
    core: &Core,
    owner: &Owner,
    plan: &Plan,
    body: CreateKeyBody,
    actor: &Actor,
) -> Result<CreatedKey, Error> {
    if !plan.api_access {
        return Err(Error::new(
            ErrorCode::PlanRequired,
            "the owner's plan has no API access",
        ));
    }
    let now = core.clock.now();
    let spec = body.into_spec(&owner.id, plan, actor.scope_ceiling(), &actor.name, now)?;
    actor.check_env(spec.env)?;
    // Counted and inserted in one transaction, so concurrent creations cannot pass the limit.
    let (plain, record) = match core
        .store
        .issue_key_within(
            &core.key_format,
            &core.hasher,
            spec,
            Some(i64::from(plan.max_keys)),
        )
        .await
    {
        Ok(issued) => issued,
        Err(twin_store::StoreError::LimitReached) => return Err(key_limit(plan)),
        Err(e) => return Err(e.into()),
    };
    Ok(CreatedKey {
        view: KeyView::for_core(&record, core),
        key: plain.expose_secret().to_owned(),
        warning: PLAINTEXT_WARNING.to_owned(),
    })
}

/// 403 `KEY_LIMIT_REACHED` for `plan`.
pub(crate) fn key_limit(plan: &Plan) -> Error {
    Error::new(
        ErrorCode::KeyLimitReached,
        format!("the plan allows {} active keys", plan.max_keys),
    )
    .with("maxKeys", plan.max_keys)
}
