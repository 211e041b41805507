//! `POST /v1/keys`: create a key for the caller's owner.

use actix_web::{HttpRequest, HttpResponse, post, web};
use twin_keys::KeyFormat;
use twin_meter::plans::Plan;
use twin_store::{Owner, Scope, ScopeSet, Store};

use super::spec::{CreateKeyBody, parse_body};
use super::{CreatedKey, KeyView, PLAINTEXT_WARNING};
use crate::auth::{Metering, authorize};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Creates a key for `owner` after the plan's checks; shared by the owner and operator APIs.
pub async fn create_key(
    state: &AppState,
    owner: &Owner,
    plan: &Plan,
    body: CreateKeyBody,
    ceiling: Option<ScopeSet>,
    actor: &str,
) -> Result<CreatedKey, ApiError> {
    if !plan.api_access {
        return Err(ApiError::new(
            ErrorCode::PlanRequired,
            "the owner's plan has no API access",
        ));
    }
    let now = state.clock.now();
    let spec = body.into_spec(&owner.id, plan, ceiling, actor, now)?;
    let active = state.store.count_active_keys(&owner.id, now).await?;
    if active >= i64::from(plan.max_keys) {
        return Err(ApiError::new(
            ErrorCode::KeyLimitReached,
            format!("the plan allows {} active keys", plan.max_keys),
        )
        .with("maxKeys", plan.max_keys));
    }
    issue(&state.store, &state.key_format, state, spec).await
}

async fn issue(
    store: &Store,
    format: &KeyFormat,
    state: &AppState,
    spec: twin_store::KeySpec,
) -> Result<CreatedKey, ApiError> {
    let (plain, record) = store.issue_key(format, &state.hasher, spec).await?;
    Ok(CreatedKey {
        view: KeyView::for_state(&record, state),
        key: plain.expose_secret().to_owned(),
        warning: PLAINTEXT_WARNING.to_owned(),
    })
}

/// Creates a key. The plaintext is in this response only. A key can only grant scopes it
/// holds itself.
#[utoipa::path(
    tag = "keys",
    request_body = CreateKeyBody,
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Created; `key` is the plaintext, shown once", body = CreatedKey),
        (status = 400, description = "INVALID_PARAMETER", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE, PLAN_REQUIRED or KEY_LIMIT_REACHED", body = crate::error::ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED or MONTHLY_QUOTA_EXCEEDED", body = crate::error::ErrorEnvelope),
    )
)]
#[post("/keys")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Scope::KeysWrite, Metering::Counted).await?;
    let body: CreateKeyBody = parse_body(&body)?;
    let created = create_key(
        &state,
        &caller.owner,
        &caller.plan,
        body,
        Some(caller.key.scopes),
        &caller.key.prefix,
    )
    .await?;
    Ok(HttpResponse::Created().json(created))
}
