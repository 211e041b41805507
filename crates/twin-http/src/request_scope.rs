//! The id of the request being handled, kept in a task-local for the request's lifetime.
//!
//! Its own module so that both the error envelope (`error.rs`, which reads the id) and the
//! request-id middleware (`request_id.rs`, which sets it and renders errors) depend on it,
//! and not on each other.

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled (empty outside a request).
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Runs `fut` with `id` as the current request id.
pub(crate) async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}
