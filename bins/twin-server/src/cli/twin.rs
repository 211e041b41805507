//! `twin-server twin import`.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use twin_core::Core;
use twin_core::snapshots::create::{CreateSnapshotBody, create_snapshot};
use twin_render::DocumentError;

use super::{ACTOR, api_error, print_json, require_owner};

/// Twin commands.
#[derive(Debug, Subcommand)]
pub enum TwinCommand {
    /// Import a twin document (a JSON file) as the owner's next snapshot.
    ///
    /// The file is validated against the published schema first (schemaVersion 1, a
    /// sourceLang among es, en, fr, de, it, pt, unique section keys, …); the first problem is
    /// reported with its JSON path, e.g. `/sections/2/facts/0/es`. By default the snapshot
    /// is `ready`, so the public API serves it at once.
    #[command(
        after_help = "Example:\n  twin-server twin import ana ./ana-twin.json --purchase-id order-1042"
    )]
    Import {
        /// The owner's id.
        owner: String,
        /// The twin document (JSON, at most 256 KiB).
        file: PathBuf,
        /// The snapshot's status.
        #[arg(long, default_value = "ready", value_parser = ["pending", "generating", "ready", "failed"])]
        status: String,
        /// Where the snapshot comes from (free text).
        #[arg(long, default_value = "import")]
        source: String,
        /// The purchase it belongs to (lets integrators ask for it with ?purchaseId=).
        #[arg(long, value_name = "ID")]
        purchase_id: Option<String>,
        /// Print the snapshot's metadata as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a twin command.
pub async fn run(state: &Core, command: TwinCommand) -> Result<()> {
    match command {
        TwinCommand::Import {
            owner,
            file,
            status,
            source,
            purchase_id,
            json,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            if let Err(err) = twin_render::parse_document(&bytes) {
                return Err(document_error(&file, &err));
            }
            let document: serde_json::Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("parsing {}", file.display()))?;
            require_owner(state, &owner).await?;
            let status = status
                .parse::<twin_store::SnapshotStatus>()
                .map_err(|e| anyhow::anyhow!("--status: {e}"))?;
            let body = CreateSnapshotBody {
                source,
                purchase_id,
                status,
                document: Some(document),
            };
            let meta = create_snapshot(state, &owner, body, ACTOR)
                .await
                .map_err(api_error)?;
            if json {
                return print_json(&meta);
            }
            println!(
                "Imported {} as snapshot {} (version {}, {}) of owner `{owner}`.",
                file.display(),
                meta.id,
                meta.version,
                meta.status
            );
            Ok(())
        }
    }
}

fn document_error(file: &std::path::Path, err: &DocumentError) -> anyhow::Error {
    match err {
        DocumentError::Invalid { path, message } => anyhow!(
            "{} is not a valid twin document: at {}: {message}",
            file.display(),
            if path.is_empty() {
                "/ (the document)"
            } else {
                path.as_str()
            }
        ),
        other => anyhow!("{} is not a valid twin document: {other}", file.display()),
    }
}
