//! `GET /v1/account` and `GET /v1/account/usage`: the owner's profile and monthly usage.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use twin_core::owners::PlanView;
use twin_core::reports::account::{AccountUsage, account_usage};
use twin_store::Scope;
use utoipa::{IntoParams, ToSchema};

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::query::parse_query;
use crate::state::AppState;
use twin_core::time_fmt::iso;

/// The owner's profile.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    /// Owner id.
    pub owner_id: String,
    /// Contact e-mail.
    pub email: String,
    /// Plan.
    pub plan: PlanView,
    /// When the owner was provisioned.
    pub created_at: String,
}

/// The owner's profile and plan.
#[utoipa::path(
    operation_id = "getAccount",
    tag = "account",
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The owner's profile", body = AccountView),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/account")]
pub async fn account(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::AccountRead).await?;
    Ok(HttpResponse::Ok().json(AccountView {
        owner_id: caller.owner.id.clone(),
        email: caller.owner.email.clone(),
        plan: PlanView::from(&*caller.plan),
        created_at: iso(caller.owner.created_at),
    }))
}

/// Usage parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// `YYYY-MM` (default: the current month, UTC).
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-11")]
    month: Option<String>,
}

/// Calls and cost for a month (default the current one), per key, from the daily roll-ups.
#[utoipa::path(
    operation_id = "getAccountUsage",
    tag = "account",
    params(UsageParams),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The month's usage", body = AccountUsage),
        (status = 400, description = "INVALID_PARAMETER", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/account/usage")]
pub async fn usage(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::AccountRead).await?;
    let params: UsageParams = parse_query(&req)?;
    let usage = account_usage(&state, &caller.owner.id, params.month.as_deref()).await?;
    Ok(HttpResponse::Ok().json(usage))
}
