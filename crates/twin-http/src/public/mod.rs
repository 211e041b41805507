//! The public twin API (`/v1/public/twin/*`, scope `twin:read`), one file per endpoint.

pub mod health;
pub mod historic;
pub mod me;
pub mod preset;
pub mod snapshot;

use twin_store::{Snapshot, SnapshotStatus};

pub use twin_core::snapshots::SnapshotMeta;

/// The built-in sample twin's snapshot, which test keys are served.
pub(crate) fn sample_snapshot() -> Snapshot {
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
pub(crate) async fn current_twin(
    state: &crate::state::AppState,
    owner_id: &str,
) -> Result<std::sync::Arc<twin_core::caches::CachedTwin>, crate::error::ApiError> {
    use twin_core::caches::CachedTwin;
    if let Some(twin) = state.caches.twin(owner_id) {
        return Ok(twin);
    }
    let epoch = state.caches.twin_epoch();
    let twin = match state.store.select_snapshot(owner_id, None).await? {
        twin_store::SnapshotSelection::Ready(snap, text) => {
            let doc = twin_render::parse_document(text.as_bytes()).map_err(|e| {
                crate::error::ApiError::internal(format!(
                    "stored document of {} is invalid: {e}",
                    snap.id
                ))
            })?;
            CachedTwin::Ready(snap, std::sync::Arc::new(doc))
        }
        twin_store::SnapshotSelection::NotReady => CachedTwin::NotReady,
        twin_store::SnapshotSelection::Failed | twin_store::SnapshotSelection::UnknownPurchase => {
            CachedTwin::Failed
        }
        twin_store::SnapshotSelection::NoSnapshot => CachedTwin::NoSnapshot,
    };
    let twin = std::sync::Arc::new(twin);
    state.caches.put_twin(epoch, owner_id, twin.clone());
    Ok(twin)
}

/// The id of the sample twin's snapshot.
pub const SAMPLE_SNAPSHOT_ID: &str = "snap_sample";
