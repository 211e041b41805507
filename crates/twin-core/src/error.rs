//! The one error type of the use cases, in the terms of SPEC §4.
//!
//! Policy: a use case fails with an [`Error`] that names the spec's error code, a message for
//! the caller and the code's extra fields (`parameter`, `allowed`, `requiredScope`, …). Every
//! interface renders it its own way — the HTTP adapter as the JSON envelope with the code's
//! status, the CLI as one line on stderr — so the rules that produce it live once, here.
//! Unexpected failures keep their detail in [`Error::detail`] for the interface to log once;
//! it never reaches the caller.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};
use twin_store::StoreError;
use utoipa::ToSchema;

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
    /// 403: a state-changing dashboard request that did not come from the server's own pages
    /// (its `Origin`) or lacks the session's CSRF token.
    CsrfFailed,
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
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidParameter => 400,
            MissingApiKey
            | InvalidApiKeyFormat
            | InvalidOrRevokedApiKey
            | ConflictingCredentials => 401,
            SpendLimitExceeded => 402,
            MissingScope | PlanRequired | NoTwinPurchased | AdminOnly | KeyLimitReached
            | CsrfFailed => 403,
            NotFound => 404,
            MethodNotAllowed => 405,
            TwinGenerationFailed | Conflict => 409,
            TwinNotReady => 425,
            RateLimited | MonthlyQuotaExceeded => 429,
            ServiceUnavailable => 503,
            InternalError => 500,
        }
    }

    /// The envelope's `type`: the HTTP category.
    pub fn kind(self) -> &'static str {
        match self.status() {
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
            CsrfFailed => "CSRF_FAILED",
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

/// A use case's failure: code, message, the code's extra fields and, for unexpected
/// failures, a detail to log (never shown).
#[derive(Debug, Clone)]
pub struct Error {
    code: ErrorCode,
    message: Cow<'static, str>,
    // Boxed: an ordered map is large, and every `Result` of the core carries this type.
    extra: Box<Map<String, Value>>,
    retry_after_secs: Option<u64>,
    detail: Option<String>,
}

/// What use cases return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

impl Error {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            code,
            message: message.into(),
            extra: Box::default(),
            retry_after_secs: None,
            detail: None,
        }
    }

    /// Adds a code-specific field.
    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(field.to_owned(), value.into());
        self
    }

    /// Asks the caller to retry after `secs` seconds (`Retry-After`).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message for the caller.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The code-specific fields.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// Seconds after which the caller may retry, when the error says so.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs
    }

    /// What went wrong internally (for the log only; never shown to the caller).
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// 400 `INVALID_PARAMETER` naming the parameter and what it accepts.
    pub fn invalid_parameter(parameter: &str, allowed: Option<&[&str]>, detail: &str) -> Self {
        let mut message = format!("invalid value for `{parameter}`");
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        let mut err = Error::new(ErrorCode::InvalidParameter, message).with("parameter", parameter);
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
        Error::new(ErrorCode::NotFound, "the resource does not exist")
    }

    /// 409 `CONFLICT`.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorCode::Conflict, message)
    }

    /// 500 `INTERNAL_ERROR` for an unexpected failure; `detail` is kept for the log.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let mut err = Error::new(ErrorCode::InternalError, "an internal error occurred");
        err.detail = Some(detail.to_string());
        err
    }

    /// 503 `SERVICE_UNAVAILABLE` (database unreachable); `detail` is kept for the log.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        let mut err = Error::new(
            ErrorCode::ServiceUnavailable,
            "the service is temporarily unavailable",
        )
        .retry_after(5);
        err.detail = Some(detail.to_string());
        err
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Error::not_found(),
            StoreError::Unavailable(detail) => Error::unavailable(detail),
            StoreError::Precondition(detail) => Error::conflict(detail),
            StoreError::BadCursor => {
                Error::invalid_parameter("cursor", None, "not a cursor returned by this API")
            }
            other => Error::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_keep_their_detail_out_of_the_message() {
        let err = Error::from(StoreError::Unavailable(
            "connection refused at 10.0.0.1".into(),
        ));
        assert_eq!(err.code(), ErrorCode::ServiceUnavailable);
        assert!(!err.message().contains("10.0.0.1"));
        assert_eq!(err.detail(), Some("connection refused at 10.0.0.1"));
        assert_eq!(err.retry_after_secs(), Some(5));
    }

    #[test]
    fn invalid_parameter_names_the_parameter_and_the_allowed_values() {
        let err = Error::invalid_parameter("format", Some(&["txt", "md"]), "");
        assert_eq!(err.code().status(), 400);
        assert_eq!(err.extra()["parameter"], "format");
        assert_eq!(err.extra()["allowed"], serde_json::json!(["txt", "md"]));
        assert!(err.message().contains("allowed: txt, md"));
    }
}
