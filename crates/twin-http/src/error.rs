//! The one error type of the HTTP layer and its envelope.
//!
//! Policy: every failure leaves the server as `{"error": {type, code, message, requestId,
//! …}}` with the status of SPEC §4. The use cases fail with [`twin_core::Error`] (which
//! already names the spec's code); [`ApiError`] only renders it. 5xx answers are logged once,
//! here, with the request id; their detail never reaches the client.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use twin_store::StoreError;
use utoipa::ToSchema;

use crate::request_scope;
pub use twin_core::ErrorCode;

/// 425 Too Early (not among the `http` crate's named constants).
pub fn too_early() -> StatusCode {
    StatusCode::from_u16(425).unwrap_or(StatusCode::CONFLICT)
}

/// The HTTP status of an error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The error envelope's inner object (for the OpenAPI document; extra fields vary by code).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP category, e.g. `FORBIDDEN`.
    #[schema(example = "FORBIDDEN")]
    pub r#type: String,
    /// The specific reason.
    pub code: ErrorCode,
    /// A human explanation.
    pub message: String,
    /// The request's id (also in the `X-Request-Id` header).
    pub request_id: String,
    /// Code-specific fields (`parameter`, `allowed`, `requiredScope`, `resetsAt`,
    /// `retryAfterMs`, `periodUsed`, `periodLimit`, `periodResetAt`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

/// The error envelope: `{"error": {…}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// An error answer: the core's [`twin_core::Error`] rendered as SPEC §4's envelope.
#[derive(Debug, Clone)]
pub struct ApiError(pub twin_core::Error);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ApiError {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError(twin_core::Error::new(code, message))
    }

    /// Adds a code-specific field.
    pub fn with(self, field: &str, value: impl Into<Value>) -> Self {
        ApiError(self.0.with(field, value))
    }

    /// Sets the `Retry-After` header (seconds).
    pub fn retry_after(self, secs: u64) -> Self {
        ApiError(self.0.retry_after(secs))
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.0.code()
    }

    /// 400 `INVALID_PARAMETER` naming the parameter and what it accepts.
    pub fn invalid_parameter(parameter: &str, allowed: Option<&[&str]>, detail: &str) -> Self {
        ApiError(twin_core::Error::invalid_parameter(
            parameter, allowed, detail,
        ))
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found() -> Self {
        ApiError(twin_core::Error::not_found())
    }

    /// 500 `INTERNAL_ERROR` for an unexpected failure; `detail` is logged, not returned.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError(twin_core::Error::internal(detail))
    }

    /// Renders the envelope as a response. 5xx answers are logged here, once, with the
    /// request id and the detail the core kept.
    pub fn to_response(&self) -> HttpResponse {
        let err = &self.0;
        let code = err.code();
        if code.status() >= 500 {
            tracing::error!(
                request_id = %request_scope::current(),
                code = code.as_str(),
                error = err.detail().unwrap_or(err.message()),
                "request failed"
            );
        }
        let body = ErrorEnvelope {
            error: ErrorBody {
                r#type: code.kind().to_owned(),
                code,
                message: err.message().to_owned(),
                request_id: request_scope::current(),
                extra: err.extra().clone(),
            },
        };
        let mut res = HttpResponse::build(status_of(code));
        if let Some(secs) = err.retry_after_secs() {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        res.json(body)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.0.code())
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

impl From<twin_core::Error> for ApiError {
    fn from(err: twin_core::Error) -> Self {
        ApiError(err)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError(err.into())
    }
}
