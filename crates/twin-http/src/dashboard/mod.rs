//! The owner dashboard's entry point: redeeming a one-time login link for a session cookie
//! (SPEC §3). The dashboard pages themselves live elsewhere.
//!
//! Tokens (login links, sessions) are 32 random bytes from the OS CSPRNG, written as 64
//! lowercase hex characters; only their SHA-256 is stored, so a copy of the database opens
//! no session.

pub mod login;

use sha2::{Digest, Sha256};
use time::Duration;

use crate::error::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "twin_session";

/// How long a dashboard session lasts (also the cookie's `Max-Age`): 12 hours.
pub const SESSION_TTL: Duration = Duration::hours(12);

/// Where a redeemed link sends the browser.
pub const DASHBOARD_HOME: &str = "/dashboard/";

/// A fresh token: 32 random bytes as 64 lowercase hex characters.
pub fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::internal(format!("random source failed: {e}")))?;
    Ok(hex::encode(bytes))
}

/// What is stored for a token: the SHA-256 of its text.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `value` has the shape of a token (64 lowercase hex characters).
pub fn is_token(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_and_distinct() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert!(is_token(&a) && is_token(&b));
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 32);
        assert!(!is_token(&a.to_uppercase()));
        assert!(!is_token(&a[1..]));
    }
}
