//! Twin snapshots: ingestion, status transitions, document validation (SPEC §8, §10).

pub mod create;
pub mod update;

use serde::Serialize;
use serde_json::Value;
use twin_render::DocumentError;
use twin_store::Snapshot;
use utoipa::ToSchema;

use crate::Error;

/// A snapshot's metadata (never its document).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotMeta {
    /// Snapshot id.
    #[schema(example = "snap_3f9a0c2d4e5b6a71")]
    pub id: String,
    /// Creation time (ISO 8601, UTC).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Per-owner version, increasing from 1.
    pub version: i64,
    /// Where it came from.
    pub source: String,
    /// Where it is in its life cycle.
    pub status: twin_store::SnapshotStatus,
    /// The purchase that produced it.
    pub purchase_id: Option<String>,
}

impl From<&Snapshot> for SnapshotMeta {
    fn from(s: &Snapshot) -> Self {
        SnapshotMeta {
            id: s.id.clone(),
            created_at: crate::time_fmt::iso(s.created_at),
            version: s.version,
            source: s.source.clone(),
            status: s.status,
            purchase_id: s.purchase_id.clone(),
        }
    }
}

/// Validates a twin document (SPEC §10) and returns its compact JSON text. A rejected
/// document answers 400 `INVALID_PARAMETER` with `path`, the JSON Pointer of the first error
/// inside the document (`""` for the whole document).
pub fn validate_document(document: &Value) -> Result<String, Error> {
    twin_render::validate_value(document).map_err(document_error)?;
    serde_json::to_string(document).map_err(Error::internal)
}

/// The 400 answer for a rejected document.
pub fn document_error(err: DocumentError) -> Error {
    let path = err.path().to_owned();
    Error::invalid_parameter("document", None, &err.to_string()).with("path", path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn invalid_documents_are_a_400() {
        let doc: Value = serde_json::from_str(twin_render::SAMPLE_TWIN_JSON).unwrap();
        assert!(validate_document(&doc).is_ok());
        let mut bad = doc.clone();
        bad["sections"][0]["key"] = Value::from("Not A Key");
        let err = validate_document(&bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidParameter);
        assert_eq!(err.code().status(), 400);
        assert_eq!(err.extra()["path"], "/sections/0/key");
    }
}
