//! Ingesting twin snapshots.

use serde::Deserialize;
use serde_json::{Value, json};
use twin_store::{NewSnapshot, SnapshotStatus, StoreError};
use utoipa::ToSchema;

use super::{SnapshotMeta, validate_document};
use crate::owners::{audit, check_label};
use crate::{Core, Error};

/// The body of `POST /v1/admin/owners/{id}/snapshots`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSnapshotBody {
    /// Where the snapshot comes from (1–64 characters, e.g. `purchase`, `import`).
    #[schema(example = "purchase")]
    pub source: String,
    /// The purchase that produced it (1–128 characters); `/preset?purchaseId=` serves it.
    pub purchase_id: Option<String>,
    /// `pending`, `generating`, `ready` or `failed`.
    #[schema(example = "ready")]
    pub status: String,
    /// The twin document (SPEC §10); required when `status` is `ready`. Validated against
    /// the published JSON Schema; a rejected one answers 400 with `path`, the JSON Pointer
    /// of the first error inside the document.
    #[schema(value_type = Option<Object>)]
    pub document: Option<Value>,
}

pub(crate) fn parse_status(value: &str) -> Result<SnapshotStatus, Error> {
    value
        .parse::<SnapshotStatus>()
        .map_err(|_| Error::invalid_parameter("status", Some(SnapshotStatus::ALLOWED), ""))
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
    let status = parse_status(&body.status)?;
    let document = match body.document {
        None | Some(Value::Null) => None,
        Some(doc) => Some(validate_document(&doc)?),
    };
    if status == SnapshotStatus::Ready && document.is_none() {
        return Err(document_required());
    }
    let snapshot = match core
        .store
        .create_snapshot(
            owner_id,
            NewSnapshot {
                source,
                purchase_id,
                status,
                document,
            },
        )
        .await
    {
        Ok(s) => s,
        Err(StoreError::Invalid(_)) => return Err(document_required()),
        Err(e) => return Err(e.into()),
    };
    audit(
        core,
        owner_id,
        "snapshot.created",
        actor,
        json!({ "snapshotId": snapshot.id, "version": snapshot.version, "status": snapshot.status.as_str() }),
    )
    .await?;
    Ok(SnapshotMeta::from(&snapshot))
}
