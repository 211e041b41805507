//! Request ids and the outermost safety net.
//!
//! Every response carries `X-Request-Id`. The id is kept in a task-local
//! ([`crate::request_scope`]) while the request is handled, so an error rendered anywhere
//! below can put it in its body. A panic in a
//! handler is caught here and answered with a 500 envelope.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use futures_util::FutureExt;

use crate::error::ApiError;

/// The header carrying the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A process-unique id: a random per-process prefix and a counter. Ids need to be unique,
/// not secret, so no system call is made per request.
fn new_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 6];
        // Without randomness, the start time still tells processes apart.
        if getrandom::fill(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes.copy_from_slice(&nanos.to_le_bytes()[..6]);
        }
        hex::encode(bytes)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("req_{prefix}{n:012x}")
}

/// A caller-supplied id is kept when it is short and plain, so ids can follow a request
/// through a load balancer; anything else is replaced.
fn accepted(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    ok.then(|| s.to_owned())
}

/// The middleware body, for `App::wrap_fn`.
pub fn middleware<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>> + use<S, B>
where
    S: actix_web::dev::Service<
            ServiceRequest,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: MessageBody + 'static,
{
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(accepted)
        .unwrap_or_else(new_id);
    let fut = srv.call(req);
    let scoped_id = id.clone();
    crate::request_scope::scope(scoped_id, async move {
        let header = HeaderValue::from_str(&id).ok();
        // The request was moved into the service, so a failure below is answered with a
        // prebuilt response wrapped in an error; actix sends that response as it is.
        let failed = |mut response: actix_web::HttpResponse| {
            if let Some(value) = header.clone() {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            actix_web::error::InternalError::from_response("request failed", response).into()
        };
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(Ok(res)) => {
                let mut res = res.map_into_boxed_body();
                if let Some(value) = header.clone() {
                    res.headers_mut().insert(REQUEST_ID_HEADER, value);
                }
                Ok(res)
            }
            // Errors from below that are not ours still leave in the envelope.
            Ok(Err(err)) => Err(failed(ApiError::internal(err).to_response())),
            Err(_) => Err(failed(ApiError::internal("handler panicked").to_response())),
        }
    })
}
