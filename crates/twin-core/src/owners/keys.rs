//! Keys issued by an operator on an owner's behalf.

use crate::keys::create::create_key;
use crate::keys::spec::CreateKeyBody;
use crate::keys::{Actor, CreatedKey};
use crate::{Core, Error};

/// Creates a key for `owner_id` with the owner API's checks (plan access, limits, key count)
/// but no scope ceiling: an operator may grant any scope. Shared by the admin API and the
/// CLI; `actor` is recorded as the key's creator and in the audit trail.
pub async fn create_key_for_owner(
    core: &Core,
    owner_id: &str,
    body: CreateKeyBody,
    actor: &str,
) -> Result<CreatedKey, Error> {
    let owner = core.store.get_owner(owner_id).await?;
    let plan = core.plan(&owner.plan);
    create_key(core, &owner, &plan, body, &Actor::unlimited(actor)).await
}
