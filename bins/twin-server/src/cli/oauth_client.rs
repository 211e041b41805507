//! `twin-server oauth-client add | list | remove`: the OAuth clients (apps) that may ask
//! owners for consent (SPEC §14), whether or not dynamic registration is open.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use twin_core::Core;
use twin_core::oauth::{CreateClientBody, create_client, list_clients, remove_client};

use super::{api_error, print_json};

/// The `oauth-client` subcommands.
#[derive(Debug, Subcommand)]
pub enum OAuthClientCommand {
    /// Register an app. A confidential one's secret is printed this once.
    #[command(
        after_help = "Example:\n  twin-server oauth-client add --name \"Acme CRM\" --redirect-uri https://crm.example.com/oauth/callback --confidential"
    )]
    Add {
        /// The app's name, shown to owners on the consent page.
        #[arg(long)]
        name: String,
        /// An exact redirect URI (repeat for several): https, loopback http (any port), or a
        /// reverse-domain private-use scheme.
        #[arg(long = "redirect-uri", value_name = "URI", required = true)]
        redirect_uris: Vec<String>,
        /// A confidential client (authenticates with a secret, `client_secret_basic`);
        /// without it, a public client using PKCE alone.
        #[arg(long)]
        confidential: bool,
        /// Print the registration as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the registered apps.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an app and revoke every grant it holds.
    Remove {
        /// The client id (cli_…).
        client_id: String,
    },
}

/// Runs an `oauth-client` subcommand.
pub async fn run(state: &Core, command: OAuthClientCommand) -> Result<()> {
    match command {
        OAuthClientCommand::Add {
            name,
            redirect_uris,
            confidential,
            json,
        } => {
            let info = create_client(
                state,
                CreateClientBody {
                    client_name: name,
                    redirect_uris,
                    token_endpoint_auth_method: Some(
                        if confidential {
                            "client_secret_basic"
                        } else {
                            "none"
                        }
                        .into(),
                    ),
                },
            )
            .await
            .map_err(|e| anyhow!("{}: {}", e.error, e.error_description))?;
            if json {
                return print_json(&info);
            }
            println!("client_id: {}", info.client_id);
            if let Some(secret) = &info.client_secret {
                println!("client_secret: {secret}   (shown once; only its hash is stored)");
            }
            println!("redirect_uris: {}", info.redirect_uris.join(" "));
            Ok(())
        }
        OAuthClientCommand::List { json } => {
            let clients = list_clients(state).await.map_err(api_error)?;
            if json {
                return print_json(&clients);
            }
            for c in &clients {
                println!(
                    "{}  {}  {}  {}",
                    c.client_id,
                    c.token_endpoint_auth_method,
                    c.client_name,
                    c.redirect_uris.join(" ")
                );
            }
            Ok(())
        }
        OAuthClientCommand::Remove { client_id } => {
            remove_client(state, &client_id).await.map_err(api_error)?;
            println!("removed {client_id}; its grants are revoked");
            Ok(())
        }
    }
}
