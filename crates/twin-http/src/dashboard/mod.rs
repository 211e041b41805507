//! The owner dashboard's entry point: redeeming a one-time login link for a session cookie
//! (SPEC §3). The dashboard pages themselves live elsewhere.
//!
//! Tokens (login links, sessions) are 32 random bytes from the OS CSPRNG, written as 64
//! lowercase hex characters; only their SHA-256 is stored, so a copy of the database opens
//! no session.

pub mod login;

pub use twin_core::login::SESSION_TTL;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "twin_session";

/// Where a redeemed link sends the browser.
pub const DASHBOARD_HOME: &str = "/dashboard/";
