//! Operator subcommands (`owner`, `key`, `twin import`, `login-link`): the admin API's
//! actions from a shell, working directly on the configured database.
//!
//! Each command builds an offline [`Core`] and calls the same use cases as the HTTP
//! handlers (`twin_core::owners`, `twin_core::keys`, `twin_core::snapshots`,
//! `twin_core::login`) — never the HTTP crate — so validation, plan limits and the audit
//! trail are identical; the audit trail names the actor `cli`. Every
//! command prints a short human summary, or JSON with `--json` (the API's shapes). Plaintext
//! keys are printed only by the commands that create them (`owner create --issue-key`,
//! `key create`, `key rotate`).

pub mod key;
pub mod login_link;
pub mod oauth_client;
pub mod owner;
pub mod twin;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use twin_core::{Core, Error, ErrorCode};
use twin_store::{Store, StoreConfig};

use crate::config::Config;

/// The actor the audit trail records for CLI actions.
pub const ACTOR: &str = "cli";

/// Opens the configured database (applying pending migrations, so a fresh database works)
/// and builds an offline [`Core`] on it: the server's use cases and rules, without the
/// server's background tasks.
pub async fn state(config: &Config) -> Result<Core> {
    let mut store_config = StoreConfig::new(config.database_url.clone());
    store_config.max_connections = config.max_connections.min(4);
    let store = Store::connect(store_config).await?;
    store.migrate().await.context("applying migrations")?;
    let mut state = Core::offline(store);
    state.hasher = config.hasher.clone();
    state.presets = config.presets.clone();
    state.plans = config.plans.clone();
    Ok(state)
}

/// An API error as a one-line CLI error: the code and the message (which names the
/// parameter and the accepted values).
pub fn api_error(err: Error) -> anyhow::Error {
    match err.code() {
        ErrorCode::ServiceUnavailable => {
            anyhow!("the database is unavailable (check TWIN_DATABASE_URL)")
        }
        _ => anyhow!("{err}"),
    }
}

/// Fails with "no owner `id`" when the owner does not exist.
pub async fn require_owner(state: &Core, id: &str) -> Result<twin_store::Owner> {
    match state.store.get_owner(id).await {
        Ok(owner) => Ok(owner),
        Err(twin_store::StoreError::NotFound) => Err(anyhow!("no owner `{id}`")),
        Err(e) => Err(api_error(e.into())),
    }
}

/// Prints `value` as indented JSON.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("serializing the output")?
    );
    Ok(())
}
