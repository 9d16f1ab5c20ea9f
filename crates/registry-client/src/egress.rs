//! Where the server may connect on a user's behalf (SPEC §8): one policy for every outbound
//! request it makes for a user — pulling an image, checking a login, following a registry's
//! token realm, cloning a repository.
//!
//! By default loopback, link-local (with the cloud metadata address), private and shared
//! ranges, and the host's own addresses, are refused (the same ranges an environment's network
//! refuses, [`berth_domain::isolation::default_denied`]); the server's `[egress] allow` list opens
//! ranges again. The check is made on the *resolved* address, by the client's own resolver,
//! and the connection goes to exactly the addresses that passed it, so a name that resolves to a
//! public address when checked and to a private one a moment later (DNS rebinding) gains
//! nothing. Addresses written literally in a URL never reach a resolver: they are checked by
//! [`Egress::check_url`] before the request, and on every redirect.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use berth_domain::isolation::{EgressPolicy, EgressRoute, RouteAction};

/// Connecting there was refused by the server's egress policy.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{host}: the server may not connect there for you (a loopback, link-local or private \
     address, or the server itself); a site administrator can allow that range with \
     --egress-allow or [egress] allow in the server's configuration"
)]
pub struct Refused {
    pub host: String,
}

/// The policy, and an HTTP client that keeps it.
#[derive(Clone)]
pub struct Egress {
    /// `None`: unrestricted (site administrators' requests, Berth's own registry, operators'
    /// endpoints).
    routes: Option<Arc<Vec<EgressRoute>>>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("restricted", &self.routes.is_some())
            .finish()
    }
}

/// How long a request may wait for a connection, and for all of it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Between two reads of an answer (a layer download may take long, but never stalls this long).
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How many redirects a registry may send a request through.
const MAX_REDIRECTS: usize = 10;

/// The whole of a small exchange (`/v2/`, a token, a manifest, an error), answer included.
pub const SMALL_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of an answer read where a small one is expected: token endpoints, errors, ECR.
pub const SMALL_BODY_LIMIT: usize = 64 << 10;
/// The largest manifest read (as distribution's default).
pub const MANIFEST_LIMIT: usize = 4 << 20;
/// The largest image configuration pulled.
pub const CONFIG_LIMIT: u64 = 8 << 20;

/// Reads at most `limit` bytes of `response`; more is an error naming the limit, and what was
/// read is dropped.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|l| l > limit as u64) {
        return Err(format!("the answer is larger than {limit} bytes"));
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > limit {
            return Err(format!("the answer is larger than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

impl Egress {
    /// No restriction.
    pub fn unrestricted() -> Self {
        Self {
            routes: None,
            client: build(None),
        }
    }

    /// `policy`'s defaults and exceptions, with the host's own addresses refused too.
    pub fn restricted(policy: &EgressPolicy, host_addresses: &[IpAddr]) -> Self {
        let routes = Arc::new(policy.routes(host_addresses));
        Self {
            client: build(Some(routes.clone())),
            routes: Some(routes),
        }
    }

    /// The HTTP client every request under this policy goes through.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn is_restricted(&self) -> bool {
        self.routes.is_some()
    }

    /// Whether the policy lets a connection to `ip` through.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.routes
            .as_ref()
            .is_none_or(|r| EgressPolicy::decide(r, ip) == RouteAction::Out)
    }

    /// A URL whose host is an address written literally is checked here (a name is checked
    /// when it is resolved).
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::from(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::from(ip),
            _ => return Ok(()),
        };
        if self.allows(ip) {
            Ok(())
        } else {
            Err(Refused {
                host: url.host_str().unwrap_or_default().to_owned(),
            })
        }
    }

    /// The addresses of `host:port` this policy lets a connection through to: for callers that
    /// connect by other means (git), which then connect to exactly these.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let all: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|_| ResolveError::Unknown {
                    host: host.to_owned(),
                })?
                .collect(),
        };
        let allowed: Vec<SocketAddr> = all.into_iter().filter(|a| self.allows(a.ip())).collect();
        if allowed.is_empty() {
            return Err(ResolveError::Refused(Refused {
                host: host.to_owned(),
            }));
        }
        Ok(allowed)
    }
}

/// Why [`Egress::resolve`] gave no address.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error("{host}: the name does not resolve")]
    Unknown { host: String },
    #[error(transparent)]
    Refused(Refused),
}

/// A resolver that drops the addresses the policy refuses, and fails when none is left.
struct Filtered {
    routes: Arc<Vec<EgressRoute>>,
}

impl reqwest::dns::Resolve for Filtered {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let routes = self.routes.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| EgressPolicy::decide(&routes, a.ip()) == RouteAction::Out)
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Refused { host }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn build(routes: Option<Arc<Vec<EgressRoute>>>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT);
    if let Some(routes) = routes {
        let for_redirects = routes.clone();
        builder = builder
            .dns_resolver(Arc::new(Filtered { routes }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let literal = match attempt.url().host() {
                    Some(url::Host::Ipv4(ip)) => Some(IpAddr::from(ip)),
                    Some(url::Host::Ipv6(ip)) => Some(IpAddr::from(ip)),
                    _ => None,
                };
                if let Some(ip) = literal
                    && EgressPolicy::decide(&for_redirects, ip) == RouteAction::Prohibit
                {
                    let host = attempt.url().host_str().unwrap_or_default().to_owned();
                    return attempt.error(Refused { host });
                }
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.stop();
                }
                attempt.follow()
            }));
    } else {
        builder = builder.redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS));
    }
    builder
        .build()
        .expect("a reqwest client with rustls builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_ranges_never_resolve_and_allowed_ones_do() {
        let restricted = Egress::restricted(&EgressPolicy::default(), &[]);
        assert!(!restricted.allows("127.0.0.1".parse().unwrap()));
        assert!(!restricted.allows("169.254.169.254".parse().unwrap()));
        assert!(restricted.allows("93.184.216.34".parse().unwrap()));
        assert!(matches!(
            restricted.resolve("localhost", 80).await,
            Err(ResolveError::Refused(_))
        ));
        assert!(
            restricted
                .check_url(&url::Url::parse("http://10.1.2.3:5000/v2/").unwrap())
                .is_err()
        );
        let open = Egress::restricted(
            &EgressPolicy {
                allow: vec!["127.0.0.0/8".parse().unwrap()],
                deny: Vec::new(),
            },
            &[],
        );
        assert_eq!(
            open.resolve("127.0.0.1", 80).await.unwrap(),
            ["127.0.0.1:80".parse().unwrap()]
        );
        assert!(Egress::unrestricted().allows("127.0.0.1".parse().unwrap()));
    }
}
