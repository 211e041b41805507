//! Twin API's HTTP adapter: actix-web handlers, authentication, the error envelope,
//! metering headers, the OpenAPI document and the owner dashboard (server-rendered pages).
//!
//! This is the only crate that knows actix-web. Handlers (one per file: `public/`, `owner/`,
//! `admin/`, `dashboard/`, wired in `router.rs`) extract the request, authorize it
//! (`auth.rs`), call a use case of `twin-core` and turn its result into a response; the use
//! cases themselves — and the rules they enforce — live in the core, once, for every
//! interface. Nothing depends on this crate but the server binary's `serve`.
//!
//! A request's path: `request_id` middleware (id, panic net) → `middleware::metering`
//! (headers, refunds) → handler → `auth::authorize` (credential, key, scope, plan, quota) →
//! `twin-core` → response.

pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod dashboard;
pub(crate) mod error;
pub(crate) mod middleware;
pub(crate) mod oauth;
pub(crate) mod openapi;
pub(crate) mod ops;
pub(crate) mod owner;
pub(crate) mod public;
pub(crate) mod query;
pub(crate) mod request_id;
pub(crate) mod request_scope;
pub(crate) mod router;
pub(crate) mod server;
pub(crate) mod state;
pub(crate) mod web;

pub use error::{ApiError, ErrorCode};
pub use router::openapi;
pub use server::{ServerOptions, serve};
pub use state::AppState;
pub use web::{PublicUrl, WebConfig};
