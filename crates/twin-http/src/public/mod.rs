//! The public twin API (`/v1/public/twin/*`, scope `twin:read`), one file per endpoint.

pub mod health;
pub mod historic;
pub mod me;
pub mod preset;
pub mod snapshot;

pub use twin_core::snapshots::SnapshotMeta;

pub use twin_core::twin::{SAMPLE_SNAPSHOT_ID, current_twin, sample_snapshot};
