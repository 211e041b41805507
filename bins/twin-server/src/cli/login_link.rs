//! `twin-server login-link`.

use anyhow::Result;
use clap::Args;
use twin_core::Core;
use twin_core::login::issue_login_link;

use super::{ACTOR, api_error, print_json, require_owner};

/// Arguments of `login-link`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  twin-server login-link ana --base-url https://twin.example.com"
)]
pub struct LoginLinkArgs {
    /// The owner's id.
    pub owner: String,
    /// The server's public base URL, as the owner's browser reaches it
    /// (default: http://<TWIN_BIND>).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Print {"url", "expiresAt"} as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Issues a login link.
pub async fn run(state: &Core, args: LoginLinkArgs, default_base_url: &str) -> Result<()> {
    require_owner(state, &args.owner).await?;
    let base = args.base_url.as_deref().unwrap_or(default_base_url);
    let link = issue_login_link(state, &args.owner, base, ACTOR)
        .await
        .map_err(api_error)?;
    if args.json {
        return print_json(&link);
    }
    println!(
        "Dashboard login link for `{}` (single use, valid until {}):",
        args.owner, link.expires_at
    );
    println!("{}", link.url);
    Ok(())
}
