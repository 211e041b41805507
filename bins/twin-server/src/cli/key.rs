//! `twin-server key create|list|revoke|rotate`.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use twin_core::Core;
use twin_core::keys::revoke::{Revoked, revoke_key};
use twin_core::keys::rotate::rotate_key;
use twin_core::keys::spec::CreateKeyBody;
use twin_core::keys::{Actor, CreatedKey, KeyView};
use twin_core::owners::keys::create_key_for_owner;
use twin_core::time_fmt::iso;
use twin_meter::Period;
use twin_store::{KeyEnv, KeyStatus, Scope};

use super::{ACTOR, api_error, print_json, require_owner};

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key for an owner and print its plaintext (once; it is never stored).
    ///
    /// The same checks as `POST /v1/keys` apply (plan access, the plan's limits and maximum
    /// number of active keys), except that any scope may be granted. New keys default to
    /// `twin:read`, the plan's default quota and rate limit, and no expiry.
    #[command(
        after_help = "Examples:\n  twin-server key create ana --name \"CRM integration\"\n  twin-server key create ana --name ci --env test --scopes twin:read,keys:read --expires-in-days 30 --json"
    )]
    Create {
        /// The owner's id.
        owner: String,
        /// A name to recognise the key by (1–64 characters).
        #[arg(long)]
        name: String,
        /// `live` (the owner's twin) or `test` (the sample twin, no cost).
        #[arg(long, value_parser = ["live", "test"])]
        env: Option<String>,
        /// Comma-separated scopes: twin:read, keys:read, keys:write, usage:read, account:read.
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// Expire the key after this many days (1–3650).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<i64>,
        /// Requests per calendar month (1 to the plan's maximum).
        #[arg(long, value_name = "Q")]
        monthly_quota: Option<i64>,
        /// Requests per minute (0 = unlimited, up to the plan's maximum).
        #[arg(long, value_name = "RPM")]
        rate_limit_rpm: Option<i64>,
        /// Spend cap per period, in credits (up to 6 decimals), e.g. 25.5.
        #[arg(long, value_name = "CREDITS")]
        spend_limit: Option<String>,
        /// The spend cap's period.
        #[arg(long, value_parser = ["day", "week", "month", "forever"])]
        spend_period: Option<String>,
        /// Metadata for your own bookkeeping: a JSON object of at most 4 KiB.
        #[arg(long)]
        meta: Option<String>,
        /// Percentages of the quota and spend cap that send threshold events (default
        /// 80,100; `none` sends none).
        #[arg(long, value_name = "PCTS")]
        alert_thresholds: Option<String>,
        /// Alert rules as JSON, e.g. '{"highUsage":{"threshold":1000,"period":"hour"},"unusualActivity":true}'.
        #[arg(long, value_name = "JSON")]
        alerts: Option<String>,
        /// Print the key as JSON (the API's shape, with `key` and `warning`).
        #[arg(long)]
        json: bool,
    },
    /// Show or change a key's alert settings (SPEC §15).
    #[command(
        after_help = "Examples:\n  twin-server key alerts ana 1a2b3c4d --thresholds 50,80,100\n  twin-server key alerts ana 1a2b3c4d --rules '{\"failures\":{\"threshold\":50,\"period\":\"hour\"}}'\n  twin-server key alerts ana 1a2b3c4d --default-thresholds --no-rules"
    )]
    Alerts {
        /// Owner id.
        owner: String,
        /// Key id (8 hex).
        key_id: String,
        /// New thresholds (`none`: no threshold events).
        #[arg(long, value_name = "PCTS", conflicts_with = "default_thresholds")]
        thresholds: Option<String>,
        /// Back to the default thresholds (80,100).
        #[arg(long)]
        default_thresholds: bool,
        /// New rules as JSON.
        #[arg(long, value_name = "JSON", conflicts_with = "no_rules")]
        rules: Option<String>,
        /// Remove the rules.
        #[arg(long)]
        no_rules: bool,
        /// Print the settings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List an owner's keys, newest first (never a plaintext or a hash).
    List {
        /// The owner's id.
        owner: String,
        /// Only keys in this state.
        #[arg(long, value_parser = ["active", "disabled", "expired", "revoked"])]
        status: Option<String>,
        /// Print a JSON array of keys (the API's shape).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it stops working at once, everywhere. Irreversible; the row stays for
    /// audit. Revoking again is harmless.
    Revoke {
        /// The owner's id.
        owner: String,
        /// The key's id (the 8 hex characters after `atk_<env>_`).
        key_id: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rotate a key: a new key with the same name, scopes and limits, printed once; the old
    /// key keeps working for the grace period, then expires.
    #[command(
        after_help = "Example:\n  twin-server key rotate ana 1a2b3c4d --grace-period-seconds 3600"
    )]
    Rotate {
        /// The owner's id.
        owner: String,
        /// The key's id (the 8 hex characters after `atk_<env>_`).
        key_id: String,
        /// How long the old key keeps working, 0 – 604800 seconds (7 days).
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        grace_period_seconds: i64,
        /// Print the new key as JSON (with `key`, `warning` and `oldKeyExpiresAt`).
        #[arg(long)]
        json: bool,
    },
}

/// Runs a key command.
pub async fn run(state: &Core, command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Create {
            owner,
            name,
            env,
            scopes,
            expires_in_days,
            monthly_quota,
            rate_limit_rpm,
            spend_limit,
            spend_period,
            meta,
            alert_thresholds,
            alerts,
            json,
        } => {
            require_owner(state, &owner).await?;
            let meta = meta
                .map(|text| serde_json::from_str::<twin_store::KeyMeta>(&text))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--meta must be a JSON object: {e}"))?;
            let env = env
                .map(|e| e.parse::<KeyEnv>())
                .transpose()
                .map_err(|e| anyhow!("--env: {e}"))?;
            let scopes = scopes
                .map(|list| {
                    list.iter()
                        .map(|s| s.trim().parse::<Scope>())
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
                .map_err(|e| anyhow!("--scopes: {e}"))?;
            let spend_period = spend_period
                .map(|p| p.parse::<Period>())
                .transpose()
                .map_err(|e| anyhow!("--spend-period: {e}"))?;
            let body = CreateKeyBody {
                name,
                env,
                scopes,
                expires_at: None,
                expires_in_days,
                monthly_quota,
                rate_limit_rpm,
                spend_limit,
                spend_period,
                meta,
                alert_thresholds: alert_thresholds
                    .as_deref()
                    .map(thresholds_arg)
                    .transpose()?,
                alerts: alerts
                    .as_deref()
                    .map(rules_arg)
                    .transpose()?
                    .map(|r| serde_json::json!(r)),
            };
            let created = create_key_for_owner(state, &owner, body, ACTOR)
                .await
                .map_err(api_error)?;
            if json {
                return print_json(&created);
            }
            print_created(&created);
            Ok(())
        }
        KeyCommand::List {
            owner,
            status,
            json,
        } => {
            require_owner(state, &owner).await?;
            let status = status
                .map(|s| s.parse::<KeyStatus>())
                .transpose()
                .map_err(|e| anyhow!("{e}"))?;
            let now = state.clock.now();
            let mut keys = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = state
                    .store
                    .list_keys(&owner, status, now, 500, cursor.as_deref())
                    .await
                    .map_err(|e| api_error(e.into()))?;
                keys.extend(page.items.iter().map(|k| KeyView::new(k, now)));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            if json {
                return print_json(&keys);
            }
            if keys.is_empty() {
                println!(
                    "Owner `{owner}` has no keys{}.",
                    if status.is_some() {
                        " in that state"
                    } else {
                        ""
                    }
                );
                return Ok(());
            }
            println!(
                "{:<8}  {:<22}  {:<8}  {:<24}  {:<24}  scopes",
                "id", "prefix", "status", "name", "created"
            );
            for k in &keys {
                println!(
                    "{:<8}  {:<22}  {:<8}  {:<24}  {:<24}  {}",
                    k.id,
                    k.prefix,
                    k.status,
                    k.name,
                    k.created_at,
                    k.scopes
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
            Ok(())
        }
        KeyCommand::Alerts {
            owner,
            key_id,
            thresholds,
            default_thresholds,
            rules,
            no_rules,
            json,
        } => {
            let plan = state.plan(&require_owner(state, &owner).await?.plan);
            let body = twin_core::keys::spec::UpdateKeyBody {
                alert_thresholds: match (thresholds, default_thresholds) {
                    (Some(t), _) => Some(Some(thresholds_arg(&t)?)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                alerts: match (rules, no_rules) {
                    (Some(r), _) => Some(Some(serde_json::json!(rules_arg(&r)?))),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                ..Default::default()
            };
            let key = if body.alert_thresholds.is_none() && body.alerts.is_none() {
                state
                    .store
                    .get_owner_key(&owner, &key_id)
                    .await
                    .map_err(|e| not_found_key(e.into(), &owner, &key_id))?
            } else {
                twin_core::keys::update::update_key(
                    state,
                    &owner,
                    &key_id,
                    &plan,
                    body,
                    &Actor::unlimited(ACTOR),
                )
                .await
                .map_err(|e| not_found_key(e, &owner, &key_id))?
            };
            let view = KeyView::new(&key, state.clock.now());
            if json {
                return print_json(&serde_json::json!({
                    "id": view.id,
                    "alertThresholds": view.alert_thresholds,
                    "alerts": view.alerts,
                }));
            }
            println!(
                "Key {} ({}): thresholds {}; rules {}",
                view.id,
                view.prefix,
                if view.alert_thresholds.is_empty() {
                    "none".to_owned()
                } else {
                    view.alert_thresholds
                        .iter()
                        .map(|p| format!("{p}%"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                view.alerts
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |r| serde_json::json!(r).to_string())
            );
            Ok(())
        }
        KeyCommand::Revoke {
            owner,
            key_id,
            json,
        } => {
            require_owner(state, &owner).await?;
            let key = revoke_key(state, &owner, &key_id, &Actor::unlimited(ACTOR))
                .await
                .map_err(|e| not_found_key(e, &owner, &key_id))?;
            let revoked = Revoked {
                id: key.id,
                status: "revoked".into(),
                revoked_at: key.revoked_at.map(iso).unwrap_or_default(),
            };
            if json {
                return print_json(&revoked);
            }
            println!(
                "Key {} ({}) is revoked since {}.",
                revoked.id, key.prefix, revoked.revoked_at
            );
            Ok(())
        }
        KeyCommand::Rotate {
            owner,
            key_id,
            grace_period_seconds,
            json,
        } => {
            require_owner(state, &owner).await?;
            let plan = state.plan(&require_owner(state, &owner).await?.plan);
            let rotated = rotate_key(
                state,
                &owner,
                &key_id,
                &plan,
                grace_period_seconds,
                &Actor::unlimited(ACTOR),
            )
            .await
            .map_err(|e| not_found_key(e, &owner, &key_id))?;
            if json {
                return print_json(&rotated);
            }
            print_created(&rotated.created);
            println!();
            println!(
                "The old key {key_id} stops working at {}.",
                rotated.old_key_expires_at
            );
            Ok(())
        }
    }
}

/// `80,100` (or `none`) as the API's list of percentages.
fn thresholds_arg(text: &str) -> Result<Vec<serde_json::Value>> {
    if text.trim() == "none" {
        return Ok(Vec::new());
    }
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .map(serde_json::Value::from)
                .map_err(|_| anyhow!("--thresholds: whole percentages such as 80,100"))
        })
        .collect()
}

fn rules_arg(text: &str) -> Result<twin_store::AlertRules> {
    serde_json::from_str(text).map_err(|e| anyhow!("alert rules must be JSON like {{\"highUsage\":{{\"threshold\":1000,\"period\":\"hour\"}}}}: {e}"))
}

fn not_found_key(err: twin_core::Error, owner: &str, key_id: &str) -> anyhow::Error {
    if err.code() == twin_core::ErrorCode::NotFound {
        anyhow!("owner `{owner}` has no key `{key_id}`")
    } else {
        api_error(err)
    }
}

/// Prints a new key with its plaintext and the warning that it is shown once.
pub fn print_created(created: &CreatedKey) {
    let view = &created.view;
    println!("API key (shown once, store it now): {}", created.key);
    println!("  id:      {}", view.id);
    println!("  name:    {}", view.name);
    println!("  env:     {}", view.env);
    println!(
        "  scopes:  {}",
        view.scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  quota:   {} requests/month, {} requests/minute",
        view.monthly_quota, view.rate_limit_rpm
    );
    if let Some(expires) = &view.expires_at {
        println!("  expires: {expires}");
    }
    println!("{}", created.warning);
}
