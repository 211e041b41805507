//! `POST /v1/keys`: create a key for the caller's owner.

use actix_web::{HttpRequest, HttpResponse, post, web};
use twin_core::input::parse_body;
use twin_core::keys::CreatedKey;
use twin_core::keys::create::create_key;
use twin_core::keys::spec::CreateKeyBody;
use twin_store::Scope;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Creates a key. The plaintext is in this response only. A key can only grant scopes it
/// holds itself.
#[utoipa::path(
    operation_id = "createKey",
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
    let caller = authorize_owner(&req, &state, Scope::KeysWrite).await?;
    crate::query::no_query(&req)?;
    let body: CreateKeyBody = parse_body(&body)?;
    let created = create_key(&state, &caller.owner, &caller.plan, body, &caller.actor()).await?;
    Ok(HttpResponse::Created().json(created))
}
