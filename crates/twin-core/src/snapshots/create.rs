//! Ingesting twin snapshots.

use serde::Deserialize;
use serde_json::Value;
use twin_store::{NewSnapshot, SnapshotStatus, StoreError};
use utoipa::ToSchema;

use super::{SnapshotMeta, validate_document};
use crate::owners::check_label;
use crate::{Core, Error};

/// The body of `POST /v1/admin/owners/{id}/snapshots`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSnapshotBody {
    /// Where the snapshot comes from (1–64 characters, not all spaces, no control
    /// characters; e.g. `purchase`, `import`).
    #[schema(
        example = "purchase",
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub source: String,
    /// The purchase that produced it (1–128 characters, as for `source`);
    /// `/preset?purchaseId=` serves it.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub purchase_id: Option<String>,
    /// Where the snapshot is in its life cycle.
    #[schema(example = "ready")]
    pub status: SnapshotStatus,
    /// The twin document (SPEC §10); required when `status` is `ready`. Validated against
    /// the published JSON Schema; a rejected one answers 400 with `path`, the JSON Pointer
    /// of the first error inside the document.
    #[schema(value_type = Option<Object>)]
    pub document: Option<Value>,
}

pub(crate) fn document_required() -> Error {
    Error::invalid_parameter("document", None, "a `ready` snapshot needs a document")
}

/// Validates and stores a snapshot with the owner's next version, and audits it; shared by
/// the admin API and the CLI's `twin import`.
pub async fn create_snapshot(
    core: &Core,
    owner_id: &str,
    body: CreateSnapshotBody,
    actor: &str,
) -> Result<SnapshotMeta, Error> {
    let source = check_label("source", &body.source, 64)?;
    let purchase_id = body
        .purchase_id
        .as_deref()
        .map(|p| check_label("purchaseId", p, 128))
        .transpose()?;
    let status = body.status;
    let document = match body.document {
        None | Some(Value::Null) => None,
        Some(doc) => Some(validate_document(&doc)?),
    };
    if status == SnapshotStatus::Ready && document.is_none() {
        return Err(document_required());
    }
    // The snapshot, its audit row and its change-feed row commit together.
    let snapshot = match core
        .store
        .create_snapshot_audited(
            owner_id,
            NewSnapshot {
                source,
                purchase_id,
                status,
                document,
            },
            Some(actor),
        )
        .await
    {
        Ok(s) => s,
        Err(StoreError::Invalid(_)) => return Err(document_required()),
        Err(e) => return Err(e.into()),
    };
    Ok(SnapshotMeta::from(&snapshot))
}
