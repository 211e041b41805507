//! Where webhooks may go: never to the server's own network (SPEC §15), unless the operator
//! allows it (`TWIN_WEBHOOKS_ALLOW_PRIVATE=true`).
//!
//! A URL is checked when an endpoint is created or changed (its host's addresses, resolved
//! then), and again at every delivery: the HTTP client resolves through [`GuardedResolver`],
//! which drops forbidden addresses, so a name that resolves elsewhere later (DNS rebinding)
//! reaches nothing it should not. Redirects are never followed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Whether `ip` is an address a webhook must not reach: loopback, private (RFC 1918, IPv6
/// unique local), link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254 are
/// among these), carrier-grade NAT, multicast, broadcast, unspecified, reserved or
/// documentation ranges, and IPv6 forms that embed such an IPv4 address.
///
/// ```
/// use twin_core::webhooks::ssrf::is_forbidden;
/// assert!(is_forbidden("169.254.169.254".parse().unwrap()));
/// assert!(is_forbidden("::ffff:10.0.0.1".parse().unwrap()));
/// assert!(!is_forbidden("93.184.216.34".parse().unwrap()));
/// ```
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254, AWS metadata, among them)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) forms.
        || (s[..6] == [0, 0, 0, 0, 0, 0])
        || (s[0] == 0x64 && s[1] == 0xff9b && forbidden_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        )))
}

/// How names are resolved: the system resolver, except for names the operator pinned
/// (`hosts`, like `/etc/hosts`; tests pin names to addresses they control).
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Fixed answers by lower-case host name.
    pub hosts: HashMap<String, Vec<IpAddr>>,
}

impl Resolution {
    /// The addresses of `host` (a name, not an IP literal) for `port`.
    pub async fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        if let Some(ips) = self.hosts.get(&host.to_ascii_lowercase()) {
            return Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        }
        // A resolver that does not answer must not hold a request (or a delivery) for long.
        match tokio::time::timeout(
            std::time::Duration::from_secs(3),
            tokio::net::lookup_host((host, port)),
        )
        .await
        {
            Ok(found) => Ok(found?.collect()),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "name resolution timed out",
            )),
        }
    }
}

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// Not an absolute http(s) URL with a host.
    #[error("an absolute https:// URL is expected")]
    Malformed,
    /// Plain http without the operator's permission.
    #[error(
        "only https:// URLs are accepted (the operator allows http:// with TWIN_WEBHOOKS_ALLOW_PRIVATE=true)"
    )]
    Insecure,
    /// The host is, or resolves to, a forbidden address.
    #[error(
        "the host is or resolves to a private, loopback, link-local or reserved address ({0}), which webhooks may not reach"
    )]
    Private(IpAddr),
    /// The host does not resolve.
    #[error("the host does not resolve")]
    Unresolved,
}

/// Checks `url` for an endpoint: scheme, host, and every address the host resolves to now
/// (`allow_private` lifts the address and scheme rules).
pub async fn check_url(
    url: &str,
    allow_private: bool,
    resolution: &Resolution,
) -> Result<reqwest::Url, UrlRefused> {
    let parsed = reqwest::Url::parse(url).map_err(|_| UrlRefused::Malformed)?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(UrlRefused::Insecure),
        _ => return Err(UrlRefused::Malformed),
    }
    let host = parsed.host().ok_or(UrlRefused::Malformed)?;
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs = match host {
        url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        url::Host::Domain(name) => resolution
            .lookup(name, port)
            .await
            .map_err(|_| UrlRefused::Unresolved)?,
    };
    if addrs.is_empty() {
        return Err(UrlRefused::Unresolved);
    }
    if let Some(bad) = addrs.iter().find(|a| is_forbidden(a.ip())) {
        return Err(UrlRefused::Private(bad.ip()));
    }
    Ok(parsed)
}

/// The HTTP client's resolver: [`Resolution`], keeping only allowed addresses (all of them
/// with `allow_private`). A name left with none fails to connect.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    /// Lift the address rule.
    pub allow_private: bool,
    /// How names resolve.
    pub resolution: Arc<Resolution>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = this.resolution.lookup(name.as_str(), 0).await?;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| this.allow_private || !is_forbidden(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(std::io::Error::other(
                    "the host resolves only to addresses webhooks may not reach",
                ))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} must be allowed");
        }
    }

    #[tokio::test]
    async fn urls() {
        let mut res = Resolution::default();
        res.hosts
            .insert("inside.test".into(), vec!["10.0.0.7".parse().unwrap()]);
        res.hosts.insert(
            "outside.test".into(),
            vec!["93.184.216.34".parse().unwrap()],
        );
        for (url, err) in [
            ("http://127.0.0.1/hook", UrlRefused::Insecure),
            (
                "https://127.0.0.1/hook",
                UrlRefused::Private("127.0.0.1".parse().unwrap()),
            ),
            (
                "https://169.254.169.254/",
                UrlRefused::Private("169.254.169.254".parse().unwrap()),
            ),
            (
                "https://[::1]:8443/",
                UrlRefused::Private("::1".parse().unwrap()),
            ),
            (
                "https://inside.test/",
                UrlRefused::Private("10.0.0.7".parse().unwrap()),
            ),
            ("ftp://outside.test/", UrlRefused::Malformed),
            ("not a url", UrlRefused::Malformed),
        ] {
            assert_eq!(check_url(url, false, &res).await.unwrap_err(), err, "{url}");
        }
        assert!(
            check_url("https://outside.test/h", false, &res)
                .await
                .is_ok()
        );
        assert!(check_url("http://127.0.0.1:9/h", true, &res).await.is_ok());
    }
}
