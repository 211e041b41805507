//! Where the server is, as clients see it: the configured public base URL (every URL the
//! server hands out is built from it, never from a request's `Host`) and the proxies whose
//! `Forwarded` / `X-Forwarded-*` headers count (SPEC §11 `TWIN_PUBLIC_URL`,
//! `TWIN_TRUSTED_PROXIES`).

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The public base URL: `http` or `https`, a host, an optional port, no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// Parses `http(s)://host[:port]` (a trailing `/` is dropped). A path, query, fragment or
    /// user info is refused: links are built by appending absolute paths.
    ///
    /// ```
    /// use twin_http::PublicUrl;
    /// let url = PublicUrl::parse("https://twin.example.com/").unwrap();
    /// assert_eq!(url.base(), "https://twin.example.com");
    /// assert!(url.is_https());
    /// assert!(PublicUrl::parse("https://twin.example.com/api").is_err());
    /// assert!(PublicUrl::parse("ftp://twin.example.com").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<PublicUrl, String> {
        let text = text.trim().trim_end_matches('/');
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or("must start with http:// or https://")?;
        if rest.is_empty() {
            return Err("has no host".into());
        }
        if rest.contains(['/', '?', '#', '@']) || rest.chars().any(|c| c.is_whitespace()) {
            return Err("must be scheme://host[:port] with no path, query or user".into());
        }
        Ok(PublicUrl(text.to_ascii_lowercase()))
    }

    /// `scheme://host[:port]`, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.0
    }

    /// Whether clients reach the server over TLS.
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

/// How the server sees itself and its peers.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// The public base URL; `None` until the server knows its address (then
    /// `http://<bound address>`).
    pub public_url: Option<PublicUrl>,
    /// Peers whose forwarded headers are believed (load balancers, reverse proxies).
    pub trusted_proxies: Vec<IpNet>,
}

impl WebConfig {
    /// Parses `TWIN_TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges.
    ///
    /// ```
    /// let proxies = twin_http::WebConfig::parse_proxies("10.0.0.0/8, 127.0.0.1").unwrap();
    /// assert_eq!(proxies.len(), 2);
    /// assert!(twin_http::WebConfig::parse_proxies("10.0.0.0/33").is_err());
    /// ```
    pub fn parse_proxies(list: &str) -> Result<Vec<IpNet>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{item:?} is not an IP address or CIDR range"))
            })
            .collect()
    }

    /// The public base URL (`http://127.0.0.1:8080` style when none is configured).
    pub fn base_url(&self) -> &str {
        self.public_url.as_ref().map_or("", PublicUrl::base)
    }

    /// Whether the request's direct peer is a trusted proxy.
    pub fn from_trusted_proxy(&self, req: &HttpRequest) -> bool {
        req.peer_addr()
            .is_some_and(|peer| self.trusted_proxies.iter().any(|n| n.contains(&peer.ip())))
    }

    /// Whether the client reached the server over TLS: the public URL says `https`, or a
    /// trusted proxy says so in `Forwarded` / `X-Forwarded-Proto`. Anyone else's headers
    /// are ignored.
    pub fn is_tls(&self, req: &HttpRequest) -> bool {
        self.public_url.as_ref().is_some_and(PublicUrl::is_https)
            || (self.from_trusted_proxy(req) && req.connection_info().scheme() == "https")
    }

    /// Whether a state-changing request comes from the server's own pages: its `Origin`
    /// (or, without one, its `Referer`) is the public URL's origin, or the origin the
    /// browser itself addressed (its `Host`). A browser
    /// never lets a page of another site send either, so both prove the same thing; the
    /// second keeps the dashboard usable when `TWIN_PUBLIC_URL` is unset and the server is
    /// reached under another name (a server bound to `0.0.0.0`).
    pub fn same_origin(&self, req: &HttpRequest) -> bool {
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase)
        };
        let mut origins: Vec<String> = Some(self.base_url().to_owned())
            .filter(|b| !b.is_empty())
            .into_iter()
            .collect();
        if let Some(host) = header(actix_web::http::header::HOST) {
            // Either scheme: only a browser sets Origin, and only the page's own.
            origins.push(format!("http://{host}"));
            origins.push(format!("https://{host}"));
        }
        let matches = |value: &str| {
            origins.iter().any(|base| {
                value == base
                    || value
                        .strip_prefix(base.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        };
        match header(actix_web::http::header::ORIGIN) {
            Some(origin) => {
                let origin = origin.trim_end_matches('/');
                origins.iter().any(|base| origin == base)
            }
            None => header(actix_web::http::header::REFERER).is_some_and(|r| matches(&r)),
        }
    }
}
