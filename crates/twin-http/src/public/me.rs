//! `GET /v1/public/twin/me`: plan, scopes, quota and the latest ready snapshot.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use twin_store::Scope;
use utoipa::ToSchema;

use super::{SnapshotMeta, sample_snapshot};
use crate::auth::{MeterState, Metering, authorize};
use crate::error::ApiError;
use crate::state::AppState;

/// The owner's plan, as the public API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    /// Plan slug.
    pub slug: String,
    /// Plan name.
    pub name: String,
    /// Whether the plan includes API access.
    pub api_access: bool,
}

/// Quota state.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaInfo {
    /// Requests allowed this month.
    pub limit: u64,
    /// Requests counted this month (this one included).
    pub used: u64,
    /// Requests left.
    pub remaining: u64,
    /// When the quota resets (ISO 8601, 1st of next month 00:00:00Z).
    pub resets_at: String,
}

/// The `/me` answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    /// The owner's id.
    pub user_id: String,
    /// The key's public id.
    pub api_key_id: String,
    /// `live` or `test`.
    pub env: String,
    /// The owner's plan.
    pub plan: PlanSummary,
    /// The key's scopes.
    pub scopes: Vec<String>,
    /// The key's monthly quota.
    pub quota: QuotaInfo,
    /// The most recent ready snapshot (the sample twin's for test keys), or null.
    pub snapshot: Option<SnapshotMeta>,
}

/// Who am I: plan, scopes, quota and the most recent ready snapshot. Counts against the quota.
#[utoipa::path(
    operation_id = "getMe",
    tag = "public",
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's identity and quota", body = MeResponse),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
        (status = 429, description = "MONTHLY_QUOTA_EXCEEDED", body = crate::error::ErrorEnvelope),
        (status = 503, description = "Database unreachable", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/me")]
pub async fn me(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Scope::TwinRead, Metering::Counted).await?;
    crate::query::no_query(&req)?;
    let snapshot = if caller.is_test() {
        Some(SnapshotMeta::from(&sample_snapshot()))
    } else {
        match &*super::current_twin(&state, &caller.owner.id).await? {
            twin_core::caches::CachedTwin::Ready(snap, _) => Some(SnapshotMeta::from(snap)),
            _ => None,
        }
    };
    let quota = req
        .extensions()
        .get::<MeterState>()
        .map(|m| m.headers.quota);
    let quota = quota.ok_or_else(|| ApiError::internal("quota state missing after authorize"))?;
    Ok(HttpResponse::Ok().json(MeResponse {
        user_id: caller.owner.id.clone(),
        api_key_id: caller.key.id.clone(),
        env: caller.key.env.as_str().to_owned(),
        plan: PlanSummary {
            slug: caller.plan.slug.clone(),
            name: caller.plan.name.clone(),
            api_access: caller.plan.api_access,
        },
        scopes: caller.key.scopes.to_strings(),
        quota: QuotaInfo {
            limit: quota.limit,
            used: quota.used,
            remaining: quota.remaining(),
            resets_at: twin_meter::iso8601(quota.resets_at),
        },
        snapshot,
    }))
}
