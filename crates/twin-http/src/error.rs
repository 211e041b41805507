//! The one error type of the HTTP layer and its envelope.
//!
//! Policy: every failure leaves the server as `{"error": {type, code, message, requestId,
//! …}}` with the status of SPEC §4. Domain errors convert into [`ApiError`]; store failures
//! become 503 (unreachable database) or 500, logged once here with the request id, and their
//! text never reaches the client.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use twin_store::StoreError;
use utoipa::ToSchema;

use crate::request_id;

/// Every error code of SPEC §4, with its status and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: a bad query or body value.
    InvalidParameter,
    /// 401: no credential header.
    MissingApiKey,
    /// 401: the credential does not match the key format.
    InvalidApiKeyFormat,
    /// 401: bad checksum, unknown, revoked, disabled or expired key.
    InvalidOrRevokedApiKey,
    /// 401: two different credentials in one request.
    ConflictingCredentials,
    /// 402: the spend cap of the period would be passed.
    SpendLimitExceeded,
    /// 403: the key lacks the endpoint's scope.
    MissingScope,
    /// 403: the owner's plan has no API access.
    PlanRequired,
    /// 403: the owner has no snapshot at all.
    NoTwinPurchased,
    /// 403: a customer credential on an admin route.
    AdminOnly,
    /// 403: the plan's maximum of active keys is reached.
    KeyLimitReached,
    /// 404: unknown resource, or another owner's.
    NotFound,
    /// 405: the route exists but not for this method.
    MethodNotAllowed,
    /// 409: no ready snapshot and generation failed.
    TwinGenerationFailed,
    /// 409: the request conflicts with the resource's state.
    Conflict,
    /// 425: the snapshot is still pending or generating.
    TwinNotReady,
    /// 429: the per-minute window is full.
    RateLimited,
    /// 429: the monthly quota is spent.
    MonthlyQuotaExceeded,
    /// 503: the database is unreachable.
    ServiceUnavailable,
    /// 500: anything else; never carries internals.
    InternalError,
}

impl ErrorCode {
    /// The HTTP status for this code.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidParameter => StatusCode::BAD_REQUEST,
            MissingApiKey
            | InvalidApiKeyFormat
            | InvalidOrRevokedApiKey
            | ConflictingCredentials => StatusCode::UNAUTHORIZED,
            SpendLimitExceeded => StatusCode::PAYMENT_REQUIRED,
            MissingScope | PlanRequired | NoTwinPurchased | AdminOnly | KeyLimitReached => {
                StatusCode::FORBIDDEN
            }
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            TwinGenerationFailed | Conflict => StatusCode::CONFLICT,
            TwinNotReady => too_early(),
            RateLimited | MonthlyQuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The envelope's `type`: the HTTP category.
    pub fn kind(self) -> &'static str {
        match self.status().as_u16() {
            400 => "BAD_REQUEST",
            401 => "UNAUTHORIZED",
            402 => "PAYMENT_REQUIRED",
            403 => "FORBIDDEN",
            404 => "NOT_FOUND",
            405 => "METHOD_NOT_ALLOWED",
            409 => "CONFLICT",
            425 => "TOO_EARLY",
            429 => "RATE_LIMITED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL",
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidParameter => "INVALID_PARAMETER",
            MissingApiKey => "MISSING_API_KEY",
            InvalidApiKeyFormat => "INVALID_API_KEY_FORMAT",
            InvalidOrRevokedApiKey => "INVALID_OR_REVOKED_API_KEY",
            ConflictingCredentials => "CONFLICTING_CREDENTIALS",
            SpendLimitExceeded => "SPEND_LIMIT_EXCEEDED",
            MissingScope => "MISSING_SCOPE",
            PlanRequired => "PLAN_REQUIRED",
            NoTwinPurchased => "NO_TWIN_PURCHASED",
            AdminOnly => "ADMIN_ONLY",
            KeyLimitReached => "KEY_LIMIT_REACHED",
            NotFound => "NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            TwinGenerationFailed => "TWIN_GENERATION_FAILED",
            Conflict => "CONFLICT",
            TwinNotReady => "TWIN_NOT_READY",
            RateLimited => "RATE_LIMITED",
            MonthlyQuotaExceeded => "MONTHLY_QUOTA_EXCEEDED",
            ServiceUnavailable => "SERVICE_UNAVAILABLE",
            InternalError => "INTERNAL_ERROR",
        }
    }
}

/// 425 Too Early (not among the `http` crate's named constants).
pub fn too_early() -> StatusCode {
    StatusCode::from_u16(425).unwrap_or(StatusCode::CONFLICT)
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

/// An error answer: code, message and extra fields.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: ErrorCode,
    message: Cow<'static, str>,
    extra: Map<String, Value>,
    retry_after_secs: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ApiError {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            code,
            message: message.into(),
            extra: Map::new(),
            retry_after_secs: None,
        }
    }

    /// Adds a code-specific field.
    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(field.to_owned(), value.into());
        self
    }

    /// Sets the `Retry-After` header (seconds).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// 400 `INVALID_PARAMETER` naming the parameter and what it accepts.
    pub fn invalid_parameter(parameter: &str, allowed: Option<&[&str]>, detail: &str) -> Self {
        let mut message = format!("invalid value for `{parameter}`");
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        let mut err =
            ApiError::new(ErrorCode::InvalidParameter, message).with("parameter", parameter);
        if let Some(allowed) = allowed {
            err.message = format!("{}; allowed: {}", err.message, allowed.join(", ")).into();
            err = err.with(
                "allowed",
                allowed.iter().map(|a| Value::from(*a)).collect::<Vec<_>>(),
            );
        }
        err
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found() -> Self {
        ApiError::new(ErrorCode::NotFound, "the resource does not exist")
    }

    /// 500 `INTERNAL_ERROR` for an unexpected failure; `detail` is logged, not returned.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(request_id = %request_id::current(), error = %detail, "internal error");
        ApiError::new(ErrorCode::InternalError, "an internal error occurred")
    }

    /// Renders the envelope as a response.
    pub fn to_response(&self) -> HttpResponse {
        let body = ErrorEnvelope {
            error: ErrorBody {
                r#type: self.code.kind().to_owned(),
                code: self.code,
                message: self.message.to_string(),
                request_id: request_id::current(),
                extra: self.extra.clone(),
            },
        };
        let mut res = HttpResponse::build(self.code.status());
        if let Some(secs) = self.retry_after_secs {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        res.json(body)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Unavailable(detail) => {
                tracing::error!(request_id = %request_id::current(), error = %detail, "database unavailable");
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "the service is temporarily unavailable",
                )
                .retry_after(5)
            }
            StoreError::Invalid(detail) if detail == "bad cursor" => {
                ApiError::invalid_parameter("cursor", None, "not a cursor returned by this API")
            }
            other => ApiError::internal(other),
        }
    }
}
