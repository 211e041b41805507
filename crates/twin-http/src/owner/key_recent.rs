//! `GET /v1/keys/{id}/recent`: one key's latest logged calls, newest first.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use twin_core::reports::recent::{RecentCalls, recent_calls};
use twin_store::Scope;
use utoipa::IntoParams;

use crate::auth::authorize_owner;
use crate::error::ApiError;
use crate::query::parse_query;
use crate::state::AppState;

/// Calls returned when `limit` is absent.
const DEFAULT_LIMIT: i64 = 50;
/// The most calls one response returns; a larger `limit` is lowered to it.
const MAX_LIMIT: i64 = 200;

/// Listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecentParams {
    /// How many calls, newest first (default 50). An integer outside 1–200 is clamped into
    /// that range rather than refused; anything else is a 400.
    #[param(schema_with = any_integer)]
    limit: Option<ClampedLimit>,
}

/// Any integer, of any size: the server clamps rather than refuses.
fn any_integer() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .build()
}

/// A `limit` clamped into 1..=200: any integer is accepted, even one too large for 64 bits.
#[derive(Debug, Clone, Copy)]
struct ClampedLimit(i64);

impl<'de> Deserialize<'de> for ClampedLimit {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let text = String::deserialize(de)?;
        parse_limit(&text).map(ClampedLimit).ok_or_else(|| {
            serde::de::Error::custom("expected an integer (values outside 1 to 200 are clamped)")
        })
    }
}

/// Parses a `limit`: an integer clamped to 1..=200 (even one too large for 64 bits), `None`
/// for anything that is not an integer.
fn parse_limit(v: &str) -> Option<i64> {
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = v.parse::<i64>().unwrap_or(if v.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    });
    Some(n.clamp(1, MAX_LIMIT))
}

/// A key's latest logged calls, newest first (`limit` default 50, clamped to 1–200).
///
/// Read from the raw usage log, which is written in batches: a call shows up here up to the
/// usage flush interval (500 ms by default) after it was answered, and raw rows older than
/// the retention period (`TWIN_USAGE_RETENTION_DAYS`, default 90) are deleted. Another
/// owner's key answers 404 exactly as an unknown id.
#[utoipa::path(
    operation_id = "listRecentCalls",
    tag = "keys",
    params(
        ("id" = String, Path, description = "Key id (8 hex)"),
        RecentParams,
    ),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The latest calls", body = RecentCalls),
        (status = 400, description = "INVALID_PARAMETER (`limit`)", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE (`usage:read`) or PLAN_REQUIRED", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown key (or another owner's)", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/keys/{id}/recent")]
pub async fn recent(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize_owner(&req, &state, Scope::UsageRead).await?;
    let params: RecentParams = parse_query(&req)?;
    let limit = params.limit.map_or(DEFAULT_LIMIT, |l| l.0);
    let calls = recent_calls(&state, &caller.owner.id, &id, limit).await?;
    Ok(HttpResponse::Ok().json(calls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_clamped_not_refused() {
        assert_eq!(parse_limit("7"), Some(7));
        assert_eq!(parse_limit("200"), Some(200));
        assert_eq!(parse_limit("201"), Some(200));
        assert_eq!(parse_limit("99999999999999999999999"), Some(200));
        assert_eq!(parse_limit("0"), Some(1));
        assert_eq!(parse_limit("-5"), Some(1));
        assert_eq!(parse_limit("-99999999999999999999999"), Some(1));
        for bad in ["", "ten", "1.5", "1e3", " 5", "-", "0x10"] {
            assert!(parse_limit(bad).is_none(), "{bad:?}");
        }
    }
}
