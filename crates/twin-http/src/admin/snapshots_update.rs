//! `PATCH /v1/admin/snapshots/{id}`: move a snapshot through its life cycle.

use actix_web::{HttpRequest, HttpResponse, patch, web};
use serde::Deserialize;
use serde_json::{Value, json};
use twin_store::SnapshotStatus;
use utoipa::ToSchema;

use super::snapshots_create::{document_required, parse_status};
use super::{OPERATOR, audit, read_body, require_admin, validate_document};
use crate::error::{ApiError, ErrorCode};
use crate::owner::spec::parse_body;
use crate::public::SnapshotMeta;
use crate::state::AppState;

/// The body of `PATCH /v1/admin/snapshots/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSnapshotBody {
    /// The new status.
    #[schema(example = "ready")]
    pub status: String,
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
    state: &AppState,
    id: &str,
    body: UpdateSnapshotBody,
    actor: &str,
) -> Result<SnapshotMeta, ApiError> {
    let to = parse_status(&body.status)?;
    let document = match body.document {
        None | Some(Value::Null) => None,
        Some(doc) => Some(validate_document(&doc)?),
    };
    let current = state.store.get_snapshot(id).await?;
    let from = current.status;
    if from == to && document.is_none() {
        return Ok(SnapshotMeta::from(&current));
    }
    if from == SnapshotStatus::Ready {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "a ready snapshot is final: its status and document cannot change; create a new snapshot",
        )
        .with("status", from.as_str()));
    }
    if from != to && !transition_allowed(from, to) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("a snapshot cannot go from `{from}` to `{to}`"),
        )
        .with("status", from.as_str()));
    }
    if to == SnapshotStatus::Ready
        && document.is_none()
        && state.store.snapshot_document(id).await?.is_none()
    {
        return Err(document_required());
    }
    let replaced = document.is_some();
    let updated = state.store.update_snapshot(id, to, document).await?;
    audit(
        state,
        &updated.owner_id,
        "snapshot.updated",
        actor,
        json!({ "snapshotId": updated.id, "from": from.as_str(), "to": to.as_str(), "documentReplaced": replaced }),
    )
    .await?;
    Ok(SnapshotMeta::from(&updated))
}

/// Changes a snapshot's status and optionally its document: `pending` → `generating` |
/// `ready` | `failed`, `generating` → `ready` | `failed`, `failed` → `pending` |
/// `generating`. `ready` is final. The same status again is a no-op.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Snapshot id")),
    request_body = UpdateSnapshotBody,
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The snapshot's metadata", body = SnapshotMeta),
        (status = 400, description = "INVALID_PARAMETER; for a rejected document, `path` is the JSON Pointer of the first error", body = crate::error::ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown snapshot, or the admin API is disabled", body = crate::error::ErrorEnvelope),
        (status = 409, description = "CONFLICT: a transition the life cycle does not allow", body = crate::error::ErrorEnvelope),
    )
)]
#[patch("/snapshots/{id}")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let body: UpdateSnapshotBody = parse_body(&read_body(payload).await?)?;
    Ok(HttpResponse::Ok().json(update_snapshot(&state, &id, body, OPERATOR).await?))
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
