//! `twin-server owner create|show|set-plan`.

use anyhow::Result;
use clap::Subcommand;
use twin_core::Core;
use twin_core::owners::provision::{IssueKey, ProvisionOwnerBody, provision_owner};
use twin_core::owners::update::{UpdateOwnerBody, update_owner};
use twin_core::owners::{OwnerView, owner_view};

use super::{ACTOR, api_error, print_json, require_owner};
use crate::cli::key::print_created;

/// Owner commands.
#[derive(Debug, Subcommand)]
pub enum OwnerCommand {
    /// Provision an owner (a tenant whose twin is served) on a plan.
    ///
    /// The plan must be one of the configured plans (built in: `free`, which has no API
    /// access, and `professional`). With --issue-key, the owner also gets a first live key
    /// with every scope; its plaintext is printed once, here, and never again.
    #[command(
        after_help = "Examples:\n  twin-server owner create --email ana@example.com --plan professional --id ana --issue-key\n  twin-server owner create --email bo@example.com --plan free --json"
    )]
    Create {
        /// The owner's contact e-mail.
        #[arg(long)]
        email: String,
        /// The plan's slug, e.g. `professional`.
        #[arg(long)]
        plan: String,
        /// The owner's id (letters, digits, `.`, `_`, `-`; up to 64). Generated when absent.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// Also issue a first API key (live, every scope) and print it once.
        #[arg(long)]
        issue_key: bool,
        /// Print the result as JSON (the admin API's shape).
        #[arg(long)]
        json: bool,
    },
    /// Show an owner: e-mail, plan and its limits, active keys, snapshots.
    Show {
        /// The owner's id.
        id: String,
        /// Print the result as JSON (the admin API's shape).
        #[arg(long)]
        json: bool,
    },
    /// Change an owner's plan (upgrade or downgrade).
    ///
    /// Downgrading to a plan without API access keeps every key stored; their calls answer
    /// 403 PLAN_REQUIRED until the owner is upgraded again.
    #[command(after_help = "Example:\n  twin-server owner set-plan ana free")]
    SetPlan {
        /// The owner's id.
        id: String,
        /// The new plan's slug.
        plan: String,
        /// Print the result as JSON (the admin API's shape).
        #[arg(long)]
        json: bool,
    },
}

/// Runs an owner command.
pub async fn run(state: &Core, command: OwnerCommand) -> Result<()> {
    match command {
        OwnerCommand::Create {
            email,
            plan,
            id,
            issue_key,
            json,
        } => {
            let body = ProvisionOwnerBody {
                owner_id: id,
                email,
                plan,
                issue_key: issue_key.then_some(IssueKey::Flag(true)),
            };
            let provisioned = provision_owner(state, body, ACTOR)
                .await
                .map_err(api_error)?;
            if json {
                return print_json(&provisioned);
            }
            println!(
                "Provisioned owner `{}` ({}) on plan `{}`.",
                provisioned.owner_id, provisioned.email, provisioned.plan
            );
            if let Some(key) = &provisioned.api_key {
                println!();
                print_created(key);
            }
            Ok(())
        }
        OwnerCommand::Show { id, json } => {
            let owner = require_owner(state, &id).await?;
            let view = owner_view(state, &owner).await.map_err(api_error)?;
            if json {
                return print_json(&view);
            }
            print_owner(&view);
            Ok(())
        }
        OwnerCommand::SetPlan { id, plan, json } => {
            require_owner(state, &id).await?;
            let body = UpdateOwnerBody {
                email: None,
                plan: Some(plan),
            };
            let view = update_owner(state, &id, body, ACTOR)
                .await
                .map_err(api_error)?;
            if json {
                return print_json(&view);
            }
            println!(
                "Owner `{}` is now on plan `{}`.",
                view.owner_id, view.plan.slug
            );
            if !view.plan.api_access {
                println!(
                    "This plan has no API access: the owner's keys stay stored but answer 403 PLAN_REQUIRED."
                );
            }
            Ok(())
        }
    }
}

fn print_owner(view: &OwnerView) {
    let plan = &view.plan;
    println!("owner:        {}", view.owner_id);
    println!("email:        {}", view.email);
    println!(
        "plan:         {} ({}); API access: {}; up to {} active keys",
        plan.slug,
        plan.name,
        if plan.api_access { "yes" } else { "no" },
        plan.max_keys
    );
    println!("created:      {}", view.created_at);
    println!("active keys:  {}", view.active_keys);
    match &view.latest_snapshot {
        Some(s) => println!(
            "snapshots:    {} (latest: {} version {}, {})",
            view.snapshot_count, s.id, s.version, s.status
        ),
        None => println!("snapshots:    none"),
    }
}
