//! Dashboard sign-in: one-time login links, their redemption for a session, and the
//! session tokens (SPEC §3, §8, §13).

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::Duration;
use twin_store::NewLoginLink;
use utoipa::ToSchema;

use crate::owners::audit;
use crate::time_fmt::iso;
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

/// The audit trail's actor for a login through a link.
const LINK_ACTOR: &str = "login-link";

/// A dashboard session just opened: the cookie's token (shown to the browser once; only
/// its hash is stored) and when it ends.
#[derive(Debug)]
pub struct OpenedSession {
    /// The session token for the cookie.
    pub token: String,
    /// The owner signed in.
    pub owner_id: String,
    /// When the session ends.
    pub expires_at: time::OffsetDateTime,
}

/// 401 for a login link that is malformed, unknown, used or expired — one answer for all,
/// so a guess learns nothing.
pub fn invalid_link() -> Error {
    Error::new(
        crate::ErrorCode::InvalidOrRevokedApiKey,
        "this login link is not valid: unknown, already used or expired; ask for a new one",
    )
}

/// Redeems a one-time login link (the token of its URL) for a new dashboard session with a
/// fresh id and CSRF token, and audits the sign-in. A link works once, within
/// [`LOGIN_LINK_TTL`] of being issued.
pub async fn redeem_login_link(core: &Core, link_token: &str) -> Result<OpenedSession, Error> {
    if !is_token(link_token) {
        return Err(invalid_link());
    }
    let now = core.clock.now();
    let session_token = random_token()?;
    let session = twin_store::NewSession {
        token_hash: token_hash(&session_token),
        csrf_token: random_token()?,
        expires_at: now + SESSION_TTL,
    };
    let Some(opened) = core
        .store
        .redeem_login_link(&token_hash(link_token), session, now)
        .await?
    else {
        return Err(invalid_link());
    };
    audit(
        core,
        &opened.owner_id,
        "dashboard.login",
        LINK_ACTOR,
        json!({ "sessionExpiresAt": iso(opened.expires_at) }),
    )
    .await?;
    Ok(OpenedSession {
        token: session_token,
        owner_id: opened.owner_id,
        expires_at: opened.expires_at,
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
