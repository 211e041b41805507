//! One-time dashboard login links.

use serde::Serialize;
use serde_json::json;
use time::Duration;
use twin_store::NewLoginLink;
use utoipa::ToSchema;

use sha2::{Digest, Sha256};

use crate::owners::audit;
use crate::{Core, Error};

/// How long a dashboard session lasts (also the cookie's `Max-Age`): 12 hours.
pub const SESSION_TTL: Duration = Duration::hours(12);

/// A fresh token: 32 random bytes from the OS CSPRNG as 64 lowercase hex characters.
/// Login links and sessions are such tokens; only their SHA-256 is stored, so a copy of the
/// database opens no session.
pub fn random_token() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal(format!("random source failed: {e}")))?;
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
use crate::time_fmt::iso;

/// How long a login link works: 15 minutes.
pub const LOGIN_LINK_TTL: Duration = Duration::minutes(15);

/// A login link, to hand to the owner.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginLink {
    /// The URL to open; it works once, within 15 minutes.
    #[schema(example = "https://twin.example.com/dashboard/login?token=9f2c…")]
    pub url: String,
    /// When it stops working.
    pub expires_at: String,
}

/// Issues a one-time login link for `owner_id` under `base_url` and audits it; shared by the
/// admin API and the CLI. Only the SHA-256 of the token is stored.
pub async fn issue_login_link(
    core: &Core,
    owner_id: &str,
    base_url: &str,
    actor: &str,
) -> Result<LoginLink, Error> {
    let token = random_token()?;
    let expires_at = core.clock.now() + LOGIN_LINK_TTL;
    core.store
        .create_login_link(NewLoginLink {
            token_hash: token_hash(&token),
            owner_id: owner_id.to_owned(),
            created_by: actor.to_owned(),
            expires_at,
        })
        .await?;
    audit(
        core,
        owner_id,
        "login_link.issued",
        actor,
        json!({ "expiresAt": iso(expires_at) }),
    )
    .await?;
    Ok(LoginLink {
        url: format!(
            "{}/dashboard/login?token={token}",
            base_url.trim_end_matches('/')
        ),
        expires_at: iso(expires_at),
    })
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
