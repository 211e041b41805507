//! OAuth for third-party apps (SPEC §14): client registration, the authorization-code flow
//! with S256 PKCE, token issue and refresh with rotation and reuse detection, revocation,
//! introspection, and the owner's view of the apps they connected.
//!
//! A grant is metered as a key: its backing row in `api_keys` carries the approved scopes and
//! the plan's default limits, and an access token authenticates as that row (see
//! [`verify_access_token`]), so scope, plan, rate, quota, spend, usage logging and
//! revocation on every replica are the key path's, unchanged.
//!
//! Errors of the OAuth endpoints are [`OAuthError`] (RFC 6749 §5.2's shape); the owner-facing
//! use cases ([`list_grants`], [`revoke_owner_grant`]) answer the core's [`Error`].

pub mod flow;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use twin_store::oauth::{NewClient, OAuthClient, RevokedBy};
use twin_store::{Scope, StoreError};
use utoipa::ToSchema;

use crate::login::token_hash;
use crate::time_fmt::iso;
use crate::{Core, Error};

pub use flow::{
    Authorization, AuthorizeFailure, AuthorizeQuery, IntrospectRequest, Introspection,
    RevokeRequest, TokenRequest, TokenResponse, approve, check_authorize, deny, introspect, revoke,
    token, verify_access_token,
};

/// How the OAuth server behaves (SPEC §14), set by the operator.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Whether `POST /oauth/register` (RFC 7591) is open to anyone
    /// (`TWIN_OAUTH_REGISTRATION=open`); otherwise only operators register clients.
    pub registration_open: bool,
    /// How long an access token works (1 h).
    pub access_ttl: Duration,
    /// How long a refresh token works (30 days).
    pub refresh_ttl: Duration,
    /// How long an authorization code works (60 s).
    pub code_ttl: Duration,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            registration_open: false,
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            code_ttl: Duration::from_secs(60),
        }
    }
}

/// The scopes an app may be granted.
pub const GRANTABLE: [Scope; 2] = [Scope::TwinRead, Scope::AccountRead];

/// An error of the OAuth endpoints, as RFC 6749 §5.2 writes it:
/// `{"error": "invalid_grant", "error_description": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OAuthError {
    /// The RFC's code: `invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, `access_denied`,
    /// `unsupported_response_type`, `invalid_redirect_uri`, `invalid_client_metadata`,
    /// `server_error`, `temporarily_unavailable`.
    pub error: &'static str,
    /// What is wrong, for the developer.
    pub error_description: String,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            error,
            error_description: description.into(),
        }
    }

    /// The HTTP status the RFCs give it: 401 for `invalid_client`, 503 when the store is
    /// down, 500 for `server_error`, else 400.
    pub fn status(&self) -> u16 {
        match self.error {
            "invalid_client" => 401,
            "server_error" => 500,
            "temporarily_unavailable" => 503,
            _ => 400,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => OAuthError::new(
                "temporarily_unavailable",
                "the database is unavailable; retry shortly",
            ),
            other => {
                tracing::error!(error = %other, "oauth: store failure");
                OAuthError::new("server_error", "the server could not complete the request")
            }
        }
    }
}

impl From<Error> for OAuthError {
    fn from(err: Error) -> Self {
        if err.code().status() == 503 {
            return OAuthError::new("temporarily_unavailable", err.message().to_owned());
        }
        tracing::error!(error = %err, "oauth: failure");
        OAuthError::new("server_error", "the server could not complete the request")
    }
}

/// `len` random bytes, base64url without padding.
fn random_text(len: usize) -> Result<String, Error> {
    use base64::Engine as _;
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(format!("random source: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A client registration request (RFC 7591 §2), as `POST /oauth/register` and the operator
/// API take it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RegistrationRequest {
    /// Where the owner's browser is sent back, exact URIs: `https://…`, a loopback
    /// `http://127.0.0.1…` / `http://[::1]…` / `http://localhost…` (any port matches, RFC
    /// 8252), or an app's private-use scheme (`com.example.app:/callback`).
    pub redirect_uris: Vec<String>,
    /// The app's name, shown to the owner on the consent page.
    #[serde(default)]
    pub client_name: Option<String>,
    /// `none` (a public client: PKCE alone), `client_secret_basic` or `client_secret_post`
    /// (a confidential client, given a secret once). Default `client_secret_basic`, as RFC
    /// 7591 says.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// At most `authorization_code` and `refresh_token`.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// At most `code`.
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    /// Scopes the app will ask for (informative; each request names its own).
    #[serde(default)]
    pub scope: Option<String>,
}

/// A registered client (RFC 7591 §3.2.1); `client_secret` only in the answer to the
/// registration, never again.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientInfo {
    /// The client id.
    pub client_id: String,
    /// The secret, for confidential clients, in this answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Unix time of the registration.
    pub client_id_issued_at: i64,
    /// 0: the secret does not expire (only with a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// The app's name.
    pub client_name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub token_endpoint_auth_method: String,
    /// Always `authorization_code` and `refresh_token`.
    pub grant_types: Vec<String>,
    /// Always `code`.
    pub response_types: Vec<String>,
    /// `operator` or `dynamic`.
    pub registered_by: String,
}

impl ClientInfo {
    /// The public view of a client (no secret).
    pub fn of(client: &OAuthClient) -> ClientInfo {
        ClientInfo {
            client_id: client.id.clone(),
            client_secret: None,
            client_id_issued_at: client.created_at.unix_timestamp(),
            client_secret_expires_at: None,
            client_name: client.name.clone(),
            redirect_uris: client.redirect_uris.clone(),
            token_endpoint_auth_method: client.auth_method.clone(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            response_types: vec!["code".into()],
            registered_by: client.registered_by.clone(),
        }
    }
}

/// Whether `uri` may be registered as a redirect URI.
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let parsed =
        url::Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URI: {e}"))?;
    if parsed.fragment().is_some() {
        return Err(format!("{uri:?} has a fragment"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(format!(
            "{uri:?}: plain http only for loopback (127.0.0.1, [::1], localhost)"
        )),
        // RFC 8252 §7.1: a private-use scheme, in reverse domain order.
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "{uri:?}: scheme {scheme:?} is neither https, loopback http nor a reverse-domain private-use scheme"
        )),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a requested redirect URI matches a registered one: exactly, or for loopback
/// redirects with any port (RFC 8252 §7.3).
pub(crate) fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(mut a), Ok(mut b)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    if a.scheme() != "http" || !is_loopback(&a) || !is_loopback(&b) {
        return false;
    }
    let _ = a.set_port(None);
    let _ = b.set_port(None);
    a == b
}

/// Who registers a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registrar {
    /// An operator (the admin API or the CLI).
    Operator,
    /// Anyone, through `POST /oauth/register` (only when the operator opened it).
    Dynamic,
}

/// Registers a client (RFC 7591). The answer carries its secret, for a confidential client,
/// this once.
pub async fn register(
    core: &Core,
    request: RegistrationRequest,
    by: Registrar,
) -> Result<ClientInfo, OAuthError> {
    if by == Registrar::Dynamic && !core.oauth.registration_open {
        return Err(OAuthError::new(
            "access_denied",
            "dynamic client registration is closed on this server; ask its operator to register your app",
        ));
    }
    let meta = |d: String| OAuthError::new("invalid_client_metadata", d);
    if request.redirect_uris.is_empty() || request.redirect_uris.len() > 10 {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            "redirect_uris: one to ten URIs",
        ));
    }
    for uri in &request.redirect_uris {
        if uri.len() > 2048 {
            return Err(OAuthError::new(
                "invalid_redirect_uri",
                "a redirect URI is longer than 2048 characters",
            ));
        }
        check_redirect_uri(uri).map_err(|d| OAuthError::new("invalid_redirect_uri", d))?;
    }
    let method = request
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".into());
    if !matches!(
        method.as_str(),
        "none" | "client_secret_basic" | "client_secret_post"
    ) {
        return Err(meta(format!(
            "token_endpoint_auth_method {method:?}: none, client_secret_basic or client_secret_post"
        )));
    }
    if let Some(types) = &request.grant_types
        && let Some(bad) = types
            .iter()
            .find(|t| !matches!(t.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(meta(format!(
            "grant_types: {bad:?} is not supported (authorization_code, refresh_token)"
        )));
    }
    if let Some(types) = &request.response_types
        && let Some(bad) = types.iter().find(|t| t.as_str() != "code")
    {
        return Err(meta(format!(
            "response_types: {bad:?} is not supported (code)"
        )));
    }
    if let Some(scope) = &request.scope {
        parse_scopes(scope).map_err(|d| OAuthError::new("invalid_client_metadata", d))?;
    }
    let name = request
        .client_name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Unnamed app".into());
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(meta(
            "client_name: at most 64 characters, no control characters".into(),
        ));
    }
    let secret = if method == "none" {
        None
    } else {
        Some(format!("cs_{}", random_text(32)?))
    };
    let client = core
        .store
        .create_client(NewClient {
            name,
            redirect_uris: request.redirect_uris,
            secret_hash: secret.as_deref().map(token_hash),
            auth_method: method,
            registered_by: match by {
                Registrar::Operator => "operator".into(),
                Registrar::Dynamic => "dynamic".into(),
            },
        })
        .await?;
    let mut info = ClientInfo::of(&client);
    info.client_secret_expires_at = secret.as_ref().map(|_| 0);
    info.client_secret = secret;
    Ok(info)
}

/// A client registered by an operator (`POST /v1/admin/oauth-clients`, the CLI): RFC
/// 7591's field names, so a client's metadata reads the same whoever registers it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientBody {
    /// The app's name, shown to the owner on the consent page.
    #[schema(min_length = 1, max_length = 64)]
    pub client_name: String,
    /// Exact redirect URIs: `https://…`, loopback `http://127.0.0.1…` / `http://[::1]…` /
    /// `http://localhost…` (any port matches), or a reverse-domain private-use scheme.
    #[schema(min_items = 1, max_items = 10)]
    pub redirect_uris: Vec<String>,
    /// `none` (public, PKCE alone; the default here) or `client_secret_basic` /
    /// `client_secret_post` (confidential: its secret is in this answer only).
    #[schema(pattern = "^(none|client_secret_basic|client_secret_post)$")]
    pub token_endpoint_auth_method: Option<String>,
}

/// Registers a client for an operator.
pub async fn create_client(core: &Core, body: CreateClientBody) -> Result<ClientInfo, OAuthError> {
    register(
        core,
        RegistrationRequest {
            redirect_uris: body.redirect_uris,
            client_name: Some(body.client_name),
            token_endpoint_auth_method: Some(
                body.token_endpoint_auth_method
                    .unwrap_or_else(|| "none".into()),
            ),
            ..RegistrationRequest::default()
        },
        Registrar::Operator,
    )
    .await
}

/// The registered clients (operators).
pub async fn list_clients(core: &Core) -> Result<Vec<ClientInfo>, Error> {
    Ok(core
        .store
        .list_clients()
        .await?
        .iter()
        .map(ClientInfo::of)
        .collect())
}

/// Removes a client and revokes every grant it holds (operators).
pub async fn remove_client(core: &Core, id: &str) -> Result<(), Error> {
    core.store.remove_client(id).await?;
    Ok(())
}

/// Space-separated scopes, each grantable to apps; none is `twin:read`.
pub(crate) fn parse_scopes(text: &str) -> Result<Vec<Scope>, String> {
    let mut out: Vec<Scope> = Vec::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let scope = GRANTABLE
            .iter()
            .copied()
            .find(|s| s.as_str() == word)
            .ok_or_else(|| {
                format!("scope {word:?} cannot be granted to apps (twin:read, account:read)")
            })?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    if out.is_empty() {
        out.push(Scope::TwinRead);
    }
    Ok(out)
}

/// An app the owner connected, as the *Connected apps* page and the API show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    /// Grant id (`grt_…`).
    pub id: String,
    /// The app.
    pub client_id: String,
    /// Its name.
    pub client_name: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// When the owner approved.
    #[schema(format = DateTime)]
    pub granted_at: String,
    /// The grant's last call.
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    /// Calls counted against the grant's quota this month.
    pub calls_this_month: i64,
    /// The grant's monthly quota.
    pub monthly_quota: i64,
    /// Its rate limit per minute (0: none).
    pub rate_limit_rpm: i64,
    /// Its monthly spend cap in credits, if any.
    pub spend_limit: Option<String>,
    /// `active` or `revoked`.
    pub status: String,
}

/// The owner's connected apps, newest first (revoked ones too, marked so).
pub async fn list_grants(core: &Core, owner_id: &str) -> Result<Vec<GrantView>, Error> {
    Ok(core
        .store
        .list_owner_grants(owner_id)
        .await?
        .into_iter()
        .map(|(grant, client, key)| GrantView::of(core, grant, &client, &key))
        .collect())
}

/// One of the owner's connected apps (another owner's is unknown).
pub async fn get_grant(core: &Core, owner_id: &str, grant_id: &str) -> Result<GrantView, Error> {
    let grant = core.store.get_grant(grant_id).await?;
    if grant.owner_id != owner_id || grant.activated_at.is_none() {
        return Err(Error::not_found());
    }
    let client = core.store.get_client(&grant.client_id).await?;
    let key = core.store.find_key(&grant.key_id).await?;
    Ok(GrantView::of(core, grant, &client, &key))
}

/// New limits for a grant (the owner's choice; the plan's bounds apply as for a key).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantLimits {
    /// Calls per month.
    pub monthly_quota: Option<i64>,
    /// Calls per minute (0: no limit).
    pub rate_limit_rpm: Option<i64>,
    /// Spend cap per month in credits (`"12.50"`), or null for none.
    #[serde(default, deserialize_with = "crate::keys::spec::nullable")]
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,12}(\.[0-9]{1,6})?$")]
    pub spend_limit: Option<Option<String>>,
}

/// Changes a grant's limits; its tokens keep working, metered by the new limits.
pub async fn update_grant_limits(
    core: &Core,
    owner_id: &str,
    grant_id: &str,
    limits: GrantLimits,
) -> Result<GrantView, Error> {
    let grant = core.store.get_grant(grant_id).await?;
    if grant.owner_id != owner_id || grant.activated_at.is_none() {
        return Err(Error::not_found());
    }
    if grant.revoked_at.is_some() {
        return Err(Error::conflict("the app's access was revoked"));
    }
    let owner = core.store.get_owner(owner_id).await?;
    let plan = core.plan(&owner.plan);
    let patch = crate::keys::spec::UpdateKeyBody {
        monthly_quota: limits.monthly_quota,
        rate_limit_rpm: limits.rate_limit_rpm,
        spend_limit: limits.spend_limit,
        ..Default::default()
    }
    .into_patch(&plan, None, core.clock.now())?;
    core.store
        .update_grant_key(owner_id, &grant.key_id, patch)
        .await?;
    get_grant(core, owner_id, grant_id).await
}

impl GrantView {
    fn of(
        core: &Core,
        grant: twin_store::oauth::OAuthGrant,
        client: &OAuthClient,
        key: &twin_store::KeyRecord,
    ) -> GrantView {
        // The backing key's view: its calls counted as spent, not reserved (this replica's
        // unspent allowance left out, as a key's page does).
        let key = crate::keys::KeyView::for_core(key, core);
        GrantView {
            id: grant.id,
            client_id: client.id.clone(),
            client_name: client.name.clone(),
            scopes: grant.scopes.to_strings(),
            granted_at: iso(grant.created_at),
            last_used_at: key.last_used_at,
            calls_this_month: key.quota_used,
            monthly_quota: key.monthly_quota,
            rate_limit_rpm: key.rate_limit_rpm,
            spend_limit: key.spend_limit,
            status: if grant.revoked_at.is_some() {
                "revoked".into()
            } else {
                "active".into()
            },
        }
    }
}

/// Revokes one of the owner's grants (the dashboard's revoke button): its tokens stop on
/// every replica as a revoked key does.
pub async fn revoke_owner_grant(core: &Core, owner_id: &str, grant_id: &str) -> Result<(), Error> {
    let grant = core.store.get_grant(grant_id).await?;
    if grant.owner_id != owner_id {
        return Err(Error::not_found());
    }
    core.store.revoke_grant(grant_id, RevokedBy::Owner).await?;
    Ok(())
}

/// Verified access tokens: id → what checking one needs. Entries are never invalidated: a
/// token stops with its expiry (checked on every use) or its grant (whose backing key the
/// change feed drops from the key cache on every replica).
pub(crate) type TokenCache = moka::sync::Cache<String, Arc<CachedToken>>;

/// An access token as verification needs it.
#[derive(Debug)]
pub(crate) struct CachedToken {
    pub(crate) hash: Vec<u8>,
    pub(crate) key_id: String,
    pub(crate) expires_at: time::OffsetDateTime,
}

pub(crate) fn token_cache() -> TokenCache {
    moka::sync::Cache::builder()
        .max_capacity(200_000)
        .time_to_live(Duration::from_secs(3600))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_checked_and_matched_as_rfc_8252_says() {
        assert!(check_redirect_uri("https://crm.example.com/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:8123/cb").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/oauth").is_ok());
        assert!(check_redirect_uri("http://crm.example.com/cb").is_err());
        assert!(check_redirect_uri("https://crm.example.com/cb#x").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
        assert!(check_redirect_uri("/relative").is_err());
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5555/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5555/other"
        ));
        assert!(!redirect_matches(
            "https://a.example/cb",
            "https://a.example:444/cb"
        ));
        assert!(!redirect_matches(
            "https://a.example/cb",
            "https://a.example/cb/"
        ));
    }

    #[test]
    fn only_app_scopes_are_grantable() {
        assert_eq!(parse_scopes("").unwrap(), vec![Scope::TwinRead]);
        assert_eq!(
            parse_scopes("account:read twin:read twin:read").unwrap(),
            vec![Scope::AccountRead, Scope::TwinRead]
        );
        assert!(parse_scopes("twin:read keys:write").is_err());
    }
}
