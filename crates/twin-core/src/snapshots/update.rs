//! Snapshot status transitions.

use serde::Deserialize;
use serde_json::Value;
use twin_store::SnapshotStatus;
use utoipa::ToSchema;

use super::create::document_required;
use super::{SnapshotMeta, validate_document};
use crate::{Core, Error, ErrorCode};

/// The body of `PATCH /v1/admin/snapshots/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSnapshotBody {
    /// The new status.
    #[schema(example = "ready")]
    pub status: SnapshotStatus,
    /// A (new) twin document; required to become `ready` unless one was stored before.
    #[schema(value_type = Option<Object>)]
    pub document: Option<Value>,
}

/// Whether a snapshot may move from `from` to `to`. `ready` is final: what integrators were
/// served never changes under the same id and version (a new twin is a new snapshot).
pub fn transition_allowed(from: SnapshotStatus, to: SnapshotStatus) -> bool {
    use SnapshotStatus::*;
    matches!(
        (from, to),
        (Pending, Generating | Ready | Failed)
            | (Generating, Ready | Failed)
            | (Failed, Pending | Generating)
    )
}

/// Changes a snapshot's status (and document) and audits it; shared by the admin API and
/// the CLI. The same status without a document is a no-op.
pub async fn update_snapshot(
    core: &Core,
    id: &str,
    body: UpdateSnapshotBody,
    actor: &str,
) -> Result<SnapshotMeta, Error> {
    let to = body.status;
    let document = match body.document {
        None | Some(Value::Null) => None,
        Some(doc) => Some(validate_document(&doc)?),
    };
    let current = core.store.get_snapshot(id).await?;
    let from = current.status;
    if from == to && document.is_none() {
        return Ok(SnapshotMeta::from(&current));
    }
    if from == SnapshotStatus::Ready {
        return Err(Error::new(
            ErrorCode::Conflict,
            "a ready snapshot is final: its status and document cannot change; create a new snapshot",
        )
        .with("status", from.as_str()));
    }
    if from != to && !transition_allowed(from, to) {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("a snapshot cannot go from `{from}` to `{to}`"),
        )
        .with("status", from.as_str()));
    }
    if to == SnapshotStatus::Ready
        && document.is_none()
        && core.store.snapshot_document(id).await?.is_none()
    {
        return Err(document_required());
    }
    // On the condition that the status is still the one checked above (a concurrent
    // change makes it 409), in one transaction with its audit and change-feed rows.
    let updated = core
        .store
        .update_snapshot_audited(id, Some(from), to, document, Some(actor))
        .await?;
    Ok(SnapshotMeta::from(&updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_life_cycle_moves_forward_and_ready_is_final() {
        use SnapshotStatus::*;
        let all = [Pending, Generating, Ready, Failed];
        let allowed: Vec<_> = all
            .iter()
            .flat_map(|f| all.iter().map(move |t| (*f, *t)))
            .filter(|(f, t)| transition_allowed(*f, *t))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Pending, Generating),
                (Pending, Ready),
                (Pending, Failed),
                (Generating, Ready),
                (Generating, Failed),
                (Failed, Pending),
                (Failed, Generating),
            ]
        );
    }
}
