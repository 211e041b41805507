//! Choosing and rendering a twin (SPEC §5 "Which snapshot", presets): the one path from a
//! caller's request to the bytes of a system prompt, shared by the public REST API and every
//! later interface that serves a twin (MCP prompts, resources and tools).

use std::borrow::Cow;
use std::sync::Arc;

use twin_render::{RenderOptions, SnapshotRef};
use twin_store::{Snapshot, SnapshotSelection, SnapshotStatus};

use crate::caches::CachedTwin;
use crate::render_cache::{CachedRender, RenderKey};
use crate::{Core, Error, ErrorCode};

/// The id of the sample twin's snapshot.
pub const SAMPLE_SNAPSHOT_ID: &str = "snap_sample";

/// The built-in sample twin's snapshot, which test keys are served.
pub fn sample_snapshot() -> Snapshot {
    Snapshot {
        id: SAMPLE_SNAPSHOT_ID.to_owned(),
        owner_id: String::new(),
        version: 1,
        source: "sample".to_owned(),
        status: SnapshotStatus::Ready,
        purchase_id: None,
        created_at: time::macros::datetime!(2026-01-01 0:00 UTC),
        updated_at: time::macros::datetime!(2026-01-01 0:00 UTC),
    }
}

/// An owner's current twin (the newest ready snapshot with its parsed document, or why
/// there is none), from the cache or else the store.
pub async fn current_twin(core: &Core, owner_id: &str) -> Result<Arc<CachedTwin>, Error> {
    if let Some(twin) = core.caches.twin(owner_id) {
        return Ok(twin);
    }
    let epoch = core.caches.twin_epoch();
    let twin = match core.store.select_snapshot(owner_id, None).await? {
        SnapshotSelection::Ready(snap, text) => {
            let doc = twin_render::parse_document(text.as_bytes()).map_err(|e| {
                Error::internal(format!("stored document of {} is invalid: {e}", snap.id))
            })?;
            CachedTwin::Ready(snap, Arc::new(doc))
        }
        SnapshotSelection::NotReady => CachedTwin::NotReady,
        SnapshotSelection::Failed | SnapshotSelection::UnknownPurchase => CachedTwin::Failed,
        SnapshotSelection::NoSnapshot => CachedTwin::NoSnapshot,
    };
    let twin = Arc::new(twin);
    core.caches.put_twin(epoch, owner_id, twin.clone());
    Ok(twin)
}

/// What to render: whose twin, which preset, how.
#[derive(Debug, Clone)]
pub struct PresetRequest<'a> {
    /// The owner whose twin is served.
    pub owner_id: &'a str,
    /// Serve the built-in sample twin instead (test keys).
    pub sample: bool,
    /// The preset's slug.
    pub slug: &'a str,
    /// Serve the snapshot of this purchase instead of the most recent ready one.
    pub purchase_id: Option<&'a str>,
    /// Format, language, variant, narratives.
    pub options: RenderOptions,
}

/// Where the document to render comes from.
enum Document {
    /// The built-in sample twin.
    Sample,
    /// An owner's current twin, parsed when it was cached.
    Parsed(Arc<twin_render::TwinDocument>),
    /// A purchase's twin, as stored.
    Text(String),
}

/// Renders a preset of the chosen twin (SPEC §5): the purchase's snapshot when one is named,
/// otherwise the most recent ready one; none ready answers `TWIN_NOT_READY` (one pending or
/// generating, `Retry-After: 30`) or `TWIN_GENERATION_FAILED` (all failed); no snapshot at all
/// `NO_TWIN_PURCHASED`; an unknown slug or purchase `NOT_FOUND`. The rendering is cached by
/// everything that determines its bytes.
pub async fn render_preset(
    core: &Core,
    request: PresetRequest<'_>,
) -> Result<Arc<CachedRender>, Error> {
    let preset = core.presets.get(request.slug).ok_or_else(|| {
        Error::new(
            ErrorCode::NotFound,
            format!("no preset named {:?}", request.slug),
        )
    })?;
    let (snapshot, document): (Snapshot, Document) = if request.sample {
        (sample_snapshot(), Document::Sample)
    } else if let Some(purchase_id) = request.purchase_id {
        match core
            .store
            .select_snapshot(request.owner_id, Some(purchase_id))
            .await?
        {
            SnapshotSelection::Ready(snap, doc) => (snap, Document::Text(doc)),
            SnapshotSelection::NotReady => return Err(not_ready()),
            SnapshotSelection::Failed => return Err(generation_failed()),
            SnapshotSelection::NoSnapshot => return Err(no_twin()),
            SnapshotSelection::UnknownPurchase => {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    "the owner has no twin for that purchaseId",
                ));
            }
        }
    } else {
        // The owner's current twin comes from the cache with its parsed document.
        match &*current_twin(core, request.owner_id).await? {
            CachedTwin::Ready(snap, doc) => (snap.clone(), Document::Parsed(doc.clone())),
            CachedTwin::NotReady => return Err(not_ready()),
            CachedTwin::Failed => return Err(generation_failed()),
            CachedTwin::NoSnapshot => return Err(no_twin()),
        }
    };
    let options = request.options;
    let key = RenderKey {
        snapshot_id: snapshot.id.clone(),
        snapshot_updated: (snapshot.updated_at.unix_timestamp_nanos() / 1_000_000) as i64,
        preset: preset.slug().to_owned(),
        format: options.format,
        lang: options.lang,
        variant: options.variant,
        include_narratives: options.include_narratives,
    };
    let snapshot_ref = SnapshotRef {
        id: snapshot.id.clone(),
        version: snapshot.version,
        created_at: crate::time_fmt::iso(snapshot.created_at),
    };
    // A document given as text is parsed only when this rendering is not cached yet.
    core.render_cache
        .get_or_render(key, || {
            let doc = match &document {
                Document::Sample => Cow::Borrowed(twin_render::sample_twin()),
                Document::Parsed(doc) => Cow::Borrowed(&**doc),
                Document::Text(text) => Cow::Owned(
                    twin_render::parse_document(text.as_bytes()).map_err(|e| e.to_string())?,
                ),
            };
            Ok::<_, String>(twin_render::render(&doc, preset, &snapshot_ref, &options))
        })
        .map_err(|e| {
            Error::internal(format!(
                "stored document of {} is invalid: {e}",
                snapshot.id
            ))
        })
}

fn not_ready() -> Error {
    Error::new(
        ErrorCode::TwinNotReady,
        "the twin is still being generated; retry in 30 seconds",
    )
    .retry_after(30)
}

fn generation_failed() -> Error {
    Error::new(
        ErrorCode::TwinGenerationFailed,
        "no ready twin: its generation failed",
    )
}

fn no_twin() -> Error {
    Error::new(ErrorCode::NoTwinPurchased, "the owner has no twin yet")
}
