//! `GET /v1/public/twin/preset/{slug}`: the rendered twin, ready to inject as a system prompt.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use twin_core::twin::{PresetRequest, render_preset};
use twin_render::{Format, Lang, RenderOptions, Variant};
use twin_store::Scope;
use utoipa::IntoParams;

use crate::auth::{Metering, authorize};
use crate::error::ApiError;
use crate::query::parse_query;
use crate::state::AppState;

/// Rendering parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PresetParams {
    /// `txt` (default), `md`, `json` or `yaml`.
    #[param(inline, example = "json")]
    format: Option<Format>,
    /// The language; default the twin's source language. Missing translations fall back to
    /// the source language.
    #[param(inline)]
    lang: Option<Lang>,
    /// The prompt's shape; default `generic`.
    #[param(inline)]
    variant: Option<Variant>,
    /// Default: the preset's choice.
    include_narratives: Option<bool>,
    /// Serve the snapshot of this purchase instead of the most recent ready one (an unknown
    /// purchase is a 404).
    purchase_id: Option<String>,
}

/// Renders a preset of the owner's twin (the sample twin for test keys).
///
/// The body of `txt` and `md` is the prompt itself; `json` and `yaml` carry
/// `{systemPrompt, preset, snapshot, lang, variant, sections}`. Responses carry a strong
/// `ETag`; `If-None-Match` answers 304. Counts against the quota.
#[utoipa::path(
    operation_id = "getPreset",
    tag = "public",
    params(("slug" = String, Path, description = "Preset slug (`estandar`, `breve`, `completo`, or the operator's)"), PresetParams),
    security(("twinKey" = []), ("apiKey" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The rendered prompt", content(
            (String = "text/plain"),
            (String = "text/markdown"),
            (twin_render::PresetBody = "application/json"),
            (twin_render::PresetBody = "application/yaml"),
        ), headers(
            ("ETag" = String, description = "Strong entity tag"),
            ("Content-Language" = String, description = "The language served"),
            ("X-Twin-Quota-Limit" = u64, description = "Monthly quota"),
            ("X-Twin-Quota-Used" = u64, description = "Requests counted this month"),
            ("X-Twin-Quota-Remaining" = u64, description = "Requests left this month"),
            ("X-Twin-Quota-Reset" = String, description = "When the quota resets (ISO 8601)"),
        )),
        (status = 304, description = "Not modified (If-None-Match matched)"),
        (status = 400, description = "INVALID_PARAMETER, naming the allowed values", body = crate::error::ErrorEnvelope),
        (status = 401, description = "Bad or missing key", body = crate::error::ErrorEnvelope),
        (status = 403, description = "MISSING_SCOPE, PLAN_REQUIRED or NO_TWIN_PURCHASED", body = crate::error::ErrorEnvelope),
        (status = 404, description = "Unknown preset or purchase", body = crate::error::ErrorEnvelope),
        (status = 409, description = "TWIN_GENERATION_FAILED", body = crate::error::ErrorEnvelope),
        (status = 425, description = "TWIN_NOT_READY (Retry-After: 30)", body = crate::error::ErrorEnvelope),
        (status = 429, description = "MONTHLY_QUOTA_EXCEEDED", body = crate::error::ErrorEnvelope),
        (status = 503, description = "Database unreachable", body = crate::error::ErrorEnvelope),
    )
)]
#[get("/preset/{slug}")]
pub async fn preset(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Scope::TwinRead, Metering::Counted).await?;
    let params: PresetParams = parse_query(&req)?;
    let format = params.format.unwrap_or_default();
    let variant = params.variant.unwrap_or_default();
    req.extensions_mut().insert(crate::auth::UsageDetail {
        variant: Some(variant.as_str()),
        format: Some(format.as_str()),
    });
    let rendered = render_preset(
        &state,
        PresetRequest {
            owner_id: &caller.owner.id,
            sample: caller.is_test(),
            slug: &slug,
            purchase_id: params.purchase_id.as_deref(),
            options: RenderOptions {
                format,
                lang: params.lang,
                variant,
                include_narratives: params.include_narratives,
            },
        },
    )
    .await?;

    let etag = header::HeaderValue::from_maybe_shared(rendered.etag.clone())
        .map_err(|_| ApiError::internal("a rendering's ETag is not a header value"))?;
    if if_none_match(
        &req,
        std::str::from_utf8(&rendered.etag).unwrap_or_default(),
    ) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, "private, no-cache"))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, rendered.content_type))
        .insert_header((header::CONTENT_LANGUAGE, rendered.lang.as_str()))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(rendered.body.clone()))
}

/// Whether `If-None-Match` names `etag` (or is `*`). Weak validators match too, as RFC 9110
/// asks for `If-None-Match`.
fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let ours = strip(etag);
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',').any(|candidate| {
                let candidate = candidate.trim();
                candidate == "*" || strip(candidate) == ours
            })
        })
}
