//! Twin API's HTTP adapter: actix-web handlers, authentication, the error envelope, metering
//! headers and the OpenAPI document.
//!
//! This is the only crate that knows actix-web. It depends on the pure crates
//! (`twin-keys`, `twin-meter`, `twin-render`) and on `twin-store`; nothing depends on it but
//! the server binary. Handlers live one per file (`public/*.rs`), wired in `router.rs`.
//!
//! A request's path: `request_id` middleware (id, panic net) → `middleware::metering`
//! (headers, refunds) → handler → `auth::authorize` (credential, key, scope, plan, quota) →
//! store / renderer → response.

pub mod admin;
pub mod auth;
pub mod cache;
pub mod caches;
pub mod dashboard;
pub mod error;
pub mod meter;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod owner;
pub mod prices;
pub mod public;
pub mod query;
pub mod request_id;
pub mod retention;
pub mod router;
pub mod server;
pub mod state;
pub mod sync;
pub mod time_fmt;
pub mod usage;

pub use error::{ApiError, ErrorCode};
pub use router::openapi;
pub use server::{ServerOptions, serve};
pub use state::AppState;
