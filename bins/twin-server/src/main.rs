//! `twin-server`: the Twin API server and its command line.
//!
//! A thin composition of the library crates: configuration, logging, the store, the HTTP
//! adapter, and operator subcommands that act directly on the configured database.

mod cli;
mod config;
mod demo;
mod malloc;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use twin_http::{AppState, ServerOptions};
use twin_store::{Store, StoreConfig};

use crate::config::Config;

/// Twin API: serve each user's twin as a ready-to-inject LLM system prompt, behind scoped,
/// metered, revocable API keys.
///
/// Configuration comes from the environment (TWIN_DATABASE_URL, TWIN_BIND, TWIN_ADMIN_TOKEN,
/// TWIN_KEY_PEPPER, TWIN_PRESETS, TWIN_PLANS, TWIN_LOG, TWIN_LOG_FORMAT) and an optional YAML
/// file (--config or TWIN_CONFIG). Without any, it serves on 127.0.0.1:8080 with SQLite in
/// ./twin.db.
#[derive(Debug, Parser)]
#[command(name = "twin-server", version, about, long_about)]
struct Cli {
    /// YAML configuration file (the environment overrides it).
    #[arg(long, global = true, env = "TWIN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default). Applies pending migrations first.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Provision a demo owner with a ready sample twin and print a fresh key with a curl line.
    Demo {
        /// Print {"ownerId", "key", "baseUrl"} as JSON, for scripts.
        #[arg(long)]
        json: bool,
        /// The base URL to print in the curl line (default: http://<TWIN_BIND>).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Print the OpenAPI document (JSON) to standard output.
    Openapi,
    /// Manage owners (the tenants whose twins are served): create, show, set-plan.
    #[command(subcommand)]
    Owner(cli::owner::OwnerCommand),
    /// Manage an owner's API keys: create, list, revoke, rotate.
    #[command(subcommand)]
    Key(cli::key::KeyCommand),
    /// Manage twins: import a twin document as a snapshot.
    #[command(subcommand)]
    Twin(cli::twin::TwinCommand),
    /// Issue a one-time dashboard login link for an owner (single use, valid 15 minutes).
    LoginLink(cli::login_link::LoginLinkArgs),
    /// Manage the OAuth clients (apps) that may ask owners for consent: add, list, remove.
    #[command(subcommand)]
    OauthClient(cli::oauth_client::OAuthClientCommand),
}

fn main() -> ExitCode {
    malloc::limit_arenas();
    start()
}

#[tokio::main]
async fn start() -> ExitCode {
    // Errors leave as one line on stderr and a non-zero status, without a backtrace.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        // No configuration or database needed.
        let doc = twin_http::openapi();
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).context("serializing the OpenAPI document")?
        );
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    // Operator commands print their own results; the server's background logs would only
    // be noise there, so they show errors only unless TWIN_LOG asks for more.
    let operator = matches!(
        command,
        Command::Owner(_)
            | Command::Key(_)
            | Command::Twin(_)
            | Command::LoginLink(_)
            | Command::OauthClient(_)
    );
    let log = if operator && std::env::var_os("TWIN_LOG").is_none() {
        "error"
    } else {
        config.log.as_str()
    };
    init_logging(&config, log);
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let store = open_store(&config).await?;
            let applied = store.migrate().await?;
            println!("applied {} migration(s)", applied.len());
            Ok(())
        }
        Command::Demo { json, base_url } => {
            let store = open_store(&config).await?;
            store.migrate().await?;
            let base_url = base_url.unwrap_or_else(|| config.base_url());
            demo::run(&store, &config, &base_url, json).await
        }
        Command::Owner(command) => cli::owner::run(&cli::state(&config).await?, command).await,
        Command::Key(command) => cli::key::run(&cli::state(&config).await?, command).await,
        Command::Twin(command) => cli::twin::run(&cli::state(&config).await?, command).await,
        Command::LoginLink(args) => {
            let base_url = config.base_url();
            cli::login_link::run(&cli::state(&config).await?, args, &base_url).await
        }
        Command::OauthClient(command) => {
            cli::oauth_client::run(&cli::state(&config).await?, command).await
        }
        Command::Openapi => unreachable!("handled above"),
    }
}

fn init_logging(config: &Config, log: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests) is harmless.
    let _ = if config.log_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn open_store(config: &Config) -> Result<Store> {
    let mut store_config = StoreConfig::new(config.database_url.clone());
    store_config.max_connections = config.max_connections;
    Ok(Store::connect(store_config).await?)
}

async fn serve(config: Config) -> Result<()> {
    let store = open_store(&config).await?;
    let applied = store.migrate().await.context("applying migrations")?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "applied migrations");
    }
    if config.admin_tokens.is_empty() {
        tracing::info!("no TWIN_ADMIN_TOKEN configured: the admin API is disabled");
    }
    let listener =
        TcpListener::bind(&config.bind).with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    let mut state = AppState::new(store.clone());
    state.hasher = config.hasher.clone();
    state.presets = config.presets.clone();
    state.plans = config.plans.clone();
    state.admin_tokens = config.admin_tokens.clone();
    state.web = twin_http::WebConfig {
        public_url: config.public_url.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
    };
    state.prices = config.prices.clone();
    state.webhooks = config.webhooks.clone();
    state.oauth = config.oauth.clone();
    // Webhook delivery and the alert sweeps run on every replica: each delivery is claimed
    // by one, and each alert is recorded once (SPEC §15).
    state.spawn_webhooks();
    let usage = state.usage.clone();
    let meter = state.meter.clone();
    twin_core::retention::spawn(
        store.clone(),
        config.usage_retention_days,
        state.clock.clone(),
    );
    tracing::info!(%addr, backend = store.backend().as_str(), "Twin API listening");
    let server = twin_http::serve(
        listener,
        state,
        ServerOptions {
            workers: config.workers,
        },
    )?;
    // actix-web handles SIGINT/SIGTERM itself: it stops accepting and drains requests.
    server.await?;
    // Then every queued usage entry is written and unspent allowances are returned, so a
    // graceful stop loses nothing and strands nothing.
    usage.close().await;
    meter.release_all().await;
    tracing::info!(
        written = usage.written(),
        dropped = usage.dropped(),
        "server stopped"
    );
    Ok(())
}
