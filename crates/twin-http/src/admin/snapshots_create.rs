//! `POST /v1/admin/owners/{id}/snapshots`: ingest a twin snapshot for an owner.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::{Value, json};
use twin_store::{NewSnapshot, SnapshotStatus, StoreError};
use utoipa::ToSchema;

use super::{OPERATOR, audit, check_label, read_body, require_admin, validate_document};
use crate::error::ApiError;
use crate::owner::spec::parse_body;
use crate::public::SnapshotMeta;
use crate::state::AppState;

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

pub(crate) fn parse_status(value: &str) -> Result<SnapshotStatus, ApiError> {
    value
        .parse::<SnapshotStatus>()
        .map_err(|_| ApiError::invalid_parameter("status", Some(SnapshotStatus::ALLOWED), ""))
}

pub(crate) fn document_required() -> ApiError {
    ApiError::invalid_parameter("document", None, "a `ready` snapshot needs a document")
}

/// Validates and stores a snapshot with the owner's next version, and audits it; shared by
/// the admin API and the CLI's `twin import`.
pub async fn create_snapshot(
    state: &AppState,
    owner_id: &str,
    body: CreateSnapshotBody,
    actor: &str,
) -> Result<SnapshotMeta, ApiError> {
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
    let snapshot = match state
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
        state,
        owner_id,
        "snapshot.created",
        actor,
        json!({ "snapshotId": snapshot.id, "version": snapshot.version, "status": snapshot.status.as_str() }),
    )
    .await?;
    Ok(SnapshotMeta::from(&snapshot))
}

/// Adds a snapshot to an owner with the next version. A `ready` one needs a valid document
/// and is served at once by `/v1/public/twin/preset/*`.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Owner id")),
    request_body = CreateSnapshotBody,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "The snapshot's metadata", body = SnapshotMeta),
        (status = 400, description = "INVALID_PARAMETER; for a rejected document, `path` is the JSON Pointer of the first error", body = crate::error::ErrorEnvelope),
        (status = 401, description = "MISSING_API_KEY or INVALID_OR_REVOKED_API_KEY (no or wrong admin token)", body = crate::error::ErrorEnvelope),
        (status = 403, description = "ADMIN_ONLY (a customer key)", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown owner, or the admin API is disabled", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/owners/{id}/snapshots")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let body: CreateSnapshotBody = parse_body(&read_body(payload).await?)?;
    let meta = create_snapshot(&state, &id, body, OPERATOR).await?;
    Ok(HttpResponse::Created().json(meta))
}
