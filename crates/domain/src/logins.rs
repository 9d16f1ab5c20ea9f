//! Registry logins from an environment's secrets (SPEC §3): which prefixes make a login, how a
//! server is normalised the way Docker does it, and which hosts are Amazon ECR.
//!
//! Docker's rules, quoted from the sources we follow:
//! - `docker/cli` `cli/config/credentials/file_store.go` (`ConvertToHostname`): a server with
//!   `://` keeps only `host[:port]` of the URL; otherwise everything from the first `/` is dropped.
//! - moby `registry/config.go`: `docker.io`, `index.docker.io` and `registry-1.docker.io` are
//!   Docker Hub, whose `config.json` key is `https://index.docker.io/v1/` and whose API lives at
//!   `registry-1.docker.io`.
//! - `awslabs/amazon-ecr-credential-helper` `ecr-login/api/client.go`: the ECR host pattern
//!   `^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(amazonaws\.com(\.cn)?|
//!   on\.(aws|amazonwebservices\.com\.cn)|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|
//!   csp\.hci\.ic\.gov)$` (dual-stack hosts use `dkr-ecr` and end `on.aws`).

use std::collections::BTreeMap;
use std::fmt;

use crate::secrets::{ResolvedSecret, SecretLevel};

/// The three names a prefix `P` needs, as suffixes of `P`.
pub const SERVER_SUFFIX: &str = "_CONTAINER_REGISTRY_SERVER";
pub const USER_SUFFIX: &str = "_CONTAINER_REGISTRY_USER";
pub const PASSWORD_SUFFIX: &str = "_CONTAINER_REGISTRY_PASSWORD";
const SUFFIXES: [&str; 3] = [SERVER_SUFFIX, USER_SUFFIX, PASSWORD_SUFFIX];

/// Docker Hub's key in `config.json` (moby `registry.IndexServer`).
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// Where Docker Hub's registry API answers.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The short name Docker gives Docker Hub in references.
pub const DOCKER_HUB_DOMAIN: &str = "docker.io";
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Why a server value is not a registry host. The value itself is never repeated: it came from a
/// secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    #[error("the server is empty")]
    Empty,
    #[error("the server is not a host name or address (letters, digits, '.', '-', optional :port)")]
    BadHost,
    #[error("the server's port is not a number from 1 to 65535")]
    BadPort,
    #[error("the server's scheme is neither http nor https")]
    BadScheme,
}

/// How to reach a registry when the server named a scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

/// A registry as Docker keys it: lower-case `host[:port]`, with Docker Hub's spellings folded
/// into one (`docker.io`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistryHost(String);

impl RegistryHost {
    /// Normalise a server the way `docker login` and `config.json` lookups do: the scheme and
    /// path go, the port stays, the host is lower-cased. Returns the scheme if one was named.
    pub fn parse(server: &str) -> Result<(Self, Option<Scheme>), ServerError> {
        let server = server.trim();
        if server.is_empty() {
            return Err(ServerError::Empty);
        }
        let (scheme, rest) = match server.split_once("://") {
            Some((s, rest)) => match s.to_ascii_lowercase().as_str() {
                "http" => (Some(Scheme::Http), rest),
                "https" => (Some(Scheme::Https), rest),
                _ => return Err(ServerError::BadScheme),
            },
            None => (None, server),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        // A URL may carry `user:password@`; Docker's url.Parse drops it, and so do we.
        let authority = authority.rsplit('@').next().unwrap_or_default();
        let host = Self::parse_authority(authority)?;
        Ok((host, scheme))
    }

    /// `host[:port]` or `[v6]:port`, lower-cased, with Docker Hub's aliases folded.
    fn parse_authority(authority: &str) -> Result<Self, ServerError> {
        if authority.is_empty() {
            return Err(ServerError::Empty);
        }
        let lower = authority.to_ascii_lowercase();
        let (host, port) = if let Some(v6) = lower.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or(ServerError::BadHost)?;
            if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                return Err(ServerError::BadHost);
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or(ServerError::BadHost)?),
            };
            (&lower[..addr.len() + 2], port)
        } else {
            match lower.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (lower.as_str(), None),
            }
        };
        if !host.starts_with('[') && !is_dns_name(host) {
            return Err(ServerError::BadHost);
        }
        if let Some(p) = port {
            match p.parse::<u16>() {
                Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => {}
                _ => return Err(ServerError::BadPort),
            }
        }
        if port.is_none() && DOCKER_HUB_ALIASES.contains(&host) {
            return Ok(Self(DOCKER_HUB_DOMAIN.to_owned()));
        }
        Ok(Self(lower))
    }

    /// The registry part of an image reference (`host[:port]` before the first `/`).
    pub fn from_reference_domain(domain: &str) -> Result<Self, ServerError> {
        Self::parse_authority(domain)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_docker_hub(&self) -> bool {
        self.0 == DOCKER_HUB_DOMAIN
    }

    /// The key of this registry in `config.json` / `auth.json`.
    pub fn config_key(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_KEY
        } else {
            &self.0
        }
    }

    /// `host[:port]` where the registry API answers.
    pub fn api_authority(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API_HOST
        } else {
            &self.0
        }
    }

    /// The host without its port.
    pub fn hostname(&self) -> &str {
        if self.0.starts_with('[') {
            let end = self.0.find(']').map_or(self.0.len(), |i| i + 1);
            &self.0[..end]
        } else {
            self.0.split(':').next().unwrap_or_default()
        }
    }

    /// Docker's default insecure registries: loopback is reached over plain HTTP when HTTPS
    /// fails (moby `registry/config.go`, `127.0.0.0/8` is insecure by default).
    pub fn is_loopback(&self) -> bool {
        let h = self.hostname();
        h == "localhost" || h == "[::1]" || h.starts_with("127.") && is_ipv4(h)
    }

    /// The Amazon ECR registry this host is, if it is one.
    pub fn ecr(&self) -> Option<EcrRegistry> {
        EcrRegistry::recognise(self.hostname())
    }
}

impl fmt::Display for RegistryHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn is_ipv4(h: &str) -> bool {
    h.split('.').count() == 4 && h.split('.').all(|o| o.parse::<u8>().is_ok())
}

/// An Amazon ECR private registry, recognised from its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrRegistry {
    /// The 12-digit AWS account.
    pub account: String,
    pub region: String,
    pub fips: bool,
    /// `dkr-ecr.<region>.on.aws`: the dual-stack (IPv4 and IPv6) endpoint.
    pub dual_stack: bool,
    /// What follows the region: `amazonaws.com`, `amazonaws.com.cn`, `on.aws`, …
    pub domain: &'static str,
}

const ECR_DOMAINS: [&str; 8] = [
    "amazonaws.com",
    "amazonaws.com.cn",
    "on.aws",
    "on.amazonwebservices.com.cn",
    "sc2s.sgov.gov",
    "c2s.ic.gov",
    "cloud.adc-e.uk",
    "csp.hci.ic.gov",
];

impl EcrRegistry {
    /// The credential helper's pattern, written out (see the module comment).
    pub fn recognise(hostname: &str) -> Option<Self> {
        let host = hostname.to_ascii_lowercase();
        let (account, rest) = host.split_once('.')?;
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (dual_stack, rest) = if let Some(r) = rest.strip_prefix("dkr.ecr") {
            (false, r)
        } else {
            (true, rest.strip_prefix("dkr-ecr")?)
        };
        let (fips, rest) = match rest.strip_prefix("-fips") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (region, domain) = rest.strip_prefix('.')?.split_once('.')?;
        let region_ok = region.starts_with(|c: char| c.is_ascii_alphanumeric())
            && region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let domain = ECR_DOMAINS.into_iter().find(|d| *d == domain)?;
        let on_dual_stack_domain = domain.starts_with("on.");
        if !region_ok || dual_stack != on_dual_stack_domain {
            return None;
        }
        Some(Self {
            account: account.to_owned(),
            region: region.to_owned(),
            fips,
            dual_stack,
            domain,
        })
    }

    /// The ECR API endpoint for `GetAuthorizationToken` in this registry's region and partition:
    /// `api.ecr.<region>.<domain>`, `ecr-fips.<region>.<domain>` for FIPS hosts, and
    /// `ecr[-fips].<region>.api.aws` (or `.api.amazonwebservices.com.cn`) for dual-stack hosts.
    pub fn api_endpoint(&self) -> String {
        let service = if self.fips { "ecr-fips" } else { "ecr" };
        if self.dual_stack {
            let api = match self.domain {
                "on.amazonwebservices.com.cn" => "api.amazonwebservices.com.cn",
                _ => "api.aws",
            };
            format!("https://{service}.{}.{api}", self.region)
        } else if self.fips {
            format!("https://{service}.{}.{}", self.region, self.domain)
        } else {
            format!("https://api.ecr.{}.{}", self.region, self.domain)
        }
    }
}

/// One registry login made from a complete triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLogin<V> {
    /// `P` of `P_CONTAINER_REGISTRY_*`.
    pub prefix: String,
    pub host: RegistryHost,
    /// The scheme the server value named, if it named one.
    pub scheme: Option<Scheme>,
    pub username: V,
    pub password: V,
    /// The level the server secret came from (the three may come from different levels).
    pub source: SecretLevel,
}

/// Something about the triples worth telling the user; names and hosts only, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginProblem {
    /// A prefix with one or two of its three names.
    Incomplete {
        prefix: String,
        missing: Vec<String>,
    },
    /// A complete triple whose server is not a registry host.
    BadServer { prefix: String, error: ServerError },
    /// A second prefix naming a registry an earlier prefix (by name) already logs in to.
    Duplicate {
        prefix: String,
        kept: String,
        host: RegistryHost,
    },
}

impl fmt::Display for LoginProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginProblem::Incomplete { prefix, missing } => write!(
                f,
                "registry login {prefix} is incomplete: add the secret{} {} (or remove the others)",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(" and ")
            ),
            LoginProblem::BadServer { prefix, error } => write!(
                f,
                "registry login {prefix} is skipped: {error}; set {prefix}{SERVER_SUFFIX} to a \
                 registry host such as ghcr.io or registry.example.com:5000"
            ),
            LoginProblem::Duplicate { prefix, kept, host } => write!(
                f,
                "registry login {prefix} is skipped: {kept} already logs in to {host} (the first \
                 prefix by name wins)"
            ),
        }
    }
}

/// The logins a set of resolved secrets defines, and what was wrong with the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPlan<V> {
    /// Ordered by prefix name.
    pub logins: Vec<RegistryLogin<V>>,
    pub problems: Vec<LoginProblem>,
}

/// Every prefix `P` with all of `P_CONTAINER_REGISTRY_SERVER`, `_USER` and `_PASSWORD` gives one
/// login; a prefix with some of them is reported as incomplete; two prefixes naming one registry
/// keep the first by prefix name. `reveal` reads a value (only the server's is read here).
pub fn registry_logins<V: Clone>(
    secrets: &[ResolvedSecret<V>],
    reveal: impl Fn(&V) -> &str,
) -> LoginPlan<V> {
    let mut prefixes: BTreeMap<&str, [Option<&ResolvedSecret<V>>; 3]> = BTreeMap::new();
    for secret in secrets {
        let name = secret.name.as_str();
        for (i, suffix) in SUFFIXES.iter().enumerate() {
            if let Some(prefix) = name.strip_suffix(suffix).filter(|p| !p.is_empty()) {
                prefixes.entry(prefix).or_default()[i] = Some(secret);
            }
        }
    }
    let mut plan = LoginPlan {
        logins: Vec::new(),
        problems: Vec::new(),
    };
    let mut seen: BTreeMap<RegistryHost, String> = BTreeMap::new();
    for (prefix, found) in prefixes {
        let [Some(server), Some(user), Some(password)] = found else {
            let missing = SUFFIXES
                .iter()
                .zip(found)
                .filter(|(_, s)| s.is_none())
                .map(|(suffix, _)| format!("{prefix}{suffix}"))
                .collect();
            plan.problems.push(LoginProblem::Incomplete {
                prefix: prefix.to_owned(),
                missing,
            });
            continue;
        };
        let (host, scheme) = match RegistryHost::parse(reveal(&server.value)) {
            Ok(parsed) => parsed,
            Err(error) => {
                plan.problems.push(LoginProblem::BadServer {
                    prefix: prefix.to_owned(),
                    error,
                });
                continue;
            }
        };
        if let Some(kept) = seen.get(&host) {
            plan.problems.push(LoginProblem::Duplicate {
                prefix: prefix.to_owned(),
                kept: kept.clone(),
                host,
            });
            continue;
        }
        seen.insert(host.clone(), prefix.to_owned());
        plan.logins.push(RegistryLogin {
            prefix: prefix.to_owned(),
            host,
            scheme,
            username: user.value.clone(),
            password: password.value.clone(),
            source: server.source,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretName;

    #[test]
    fn servers_normalise_as_docker_does() {
        use Scheme::*;
        let table: &[(&str, &str, Option<Scheme>, &str)] = &[
            // (server, host, scheme, config.json key)
            ("ghcr.io", "ghcr.io", None, "ghcr.io"),
            ("GHCR.IO", "ghcr.io", None, "ghcr.io"),
            ("https://ghcr.io", "ghcr.io", Some(Https), "ghcr.io"),
            ("https://ghcr.io/", "ghcr.io", Some(Https), "ghcr.io"),
            ("https://ghcr.io/v2/", "ghcr.io", Some(Https), "ghcr.io"),
            ("ghcr.io/acme/app", "ghcr.io", None, "ghcr.io"),
            (
                "HTTP://Registry.Example.com:5000/path?q#f",
                "registry.example.com:5000",
                Some(Http),
                "registry.example.com:5000",
            ),
            (
                "  registry.example.com:5000  ",
                "registry.example.com:5000",
                None,
                "registry.example.com:5000",
            ),
            ("127.0.0.1:5000", "127.0.0.1:5000", None, "127.0.0.1:5000"),
            (
                "http://127.0.0.1:5000/",
                "127.0.0.1:5000",
                Some(Http),
                "127.0.0.1:5000",
            ),
            (
                "https://user:pw@example.com/x",
                "example.com",
                Some(Https),
                "example.com",
            ),
            ("[::1]:5000", "[::1]:5000", None, "[::1]:5000"),
            ("localhost", "localhost", None, "localhost"),
            (
                "my_registry.local",
                "my_registry.local",
                None,
                "my_registry.local",
            ),
            // Docker Hub, every spelling.
            ("docker.io", "docker.io", None, DOCKER_HUB_KEY),
            ("DOCKER.IO", "docker.io", None, DOCKER_HUB_KEY),
            ("index.docker.io", "docker.io", None, DOCKER_HUB_KEY),
            ("registry-1.docker.io", "docker.io", None, DOCKER_HUB_KEY),
            (
                "https://index.docker.io/v1/",
                "docker.io",
                Some(Https),
                DOCKER_HUB_KEY,
            ),
            (
                "https://registry-1.docker.io/v2/",
                "docker.io",
                Some(Https),
                DOCKER_HUB_KEY,
            ),
            (
                "docker.io/library/busybox",
                "docker.io",
                None,
                DOCKER_HUB_KEY,
            ),
            // A port makes it another registry.
            ("docker.io:443", "docker.io:443", None, "docker.io:443"),
            // ECR keeps its host.
            (
                "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                Some(Https),
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            ),
        ];
        for (server, host, scheme, key) in table {
            let (h, s) = RegistryHost::parse(server).unwrap_or_else(|e| panic!("{server}: {e}"));
            assert_eq!(h.as_str(), *host, "{server}");
            assert_eq!(s, *scheme, "{server}");
            assert_eq!(h.config_key(), *key, "{server}");
        }
        let bad: &[(&str, ServerError)] = &[
            ("", ServerError::Empty),
            ("   ", ServerError::Empty),
            ("https://", ServerError::Empty),
            ("ftp://example.com", ServerError::BadScheme),
            ("exa mple.com", ServerError::BadHost),
            ("-bad.example.com", ServerError::BadHost),
            ("example..com", ServerError::BadHost),
            ("example.com:http", ServerError::BadPort),
            ("example.com:0", ServerError::BadPort),
            ("example.com:70000", ServerError::BadPort),
            ("example.com:+5", ServerError::BadPort),
            ("[zz]:5000", ServerError::BadHost),
            ("[::1", ServerError::BadHost),
        ];
        for (server, error) in bad {
            assert_eq!(RegistryHost::parse(server), Err(*error), "{server:?}");
        }
    }

    #[test]
    fn docker_hub_is_reached_at_its_api_host() {
        let (hub, _) = RegistryHost::parse("index.docker.io").unwrap();
        assert!(hub.is_docker_hub());
        assert_eq!(hub.api_authority(), DOCKER_HUB_API_HOST);
        let (other, _) = RegistryHost::parse("quay.io").unwrap();
        assert_eq!(other.api_authority(), "quay.io");
    }

    #[test]
    fn loopback_hosts_are_docker_default_insecure_registries() {
        for (server, loopback) in [
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("localhost:5000", true),
            ("[::1]:5000", true),
            ("127.example.com", false),
            ("10.0.0.1:5000", false),
            ("ghcr.io", false),
        ] {
            let (h, _) = RegistryHost::parse(server).unwrap();
            assert_eq!(h.is_loopback(), loopback, "{server}");
        }
    }

    #[test]
    fn ecr_hosts_are_recognised_as_the_credential_helper_does() {
        // host → (account, region, fips, dual-stack, API endpoint)
        type Want = Option<(&'static str, &'static str, bool, bool, &'static str)>;
        const US_EAST_1: Want = Some((
            "123456789012",
            "us-east-1",
            false,
            false,
            "https://api.ecr.us-east-1.amazonaws.com",
        ));
        let table: &[(&str, Want)] = &[
            // host → (account, region, fips, dual-stack, API endpoint)
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com", US_EAST_1),
            (
                "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
                Some((
                    "123456789012",
                    "us-gov-west-1",
                    true,
                    false,
                    "https://ecr-fips.us-gov-west-1.amazonaws.com",
                )),
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                Some((
                    "123456789012",
                    "cn-north-1",
                    false,
                    false,
                    "https://api.ecr.cn-north-1.amazonaws.com.cn",
                )),
            ),
            (
                "123456789012.dkr-ecr.eu-west-1.on.aws",
                Some((
                    "123456789012",
                    "eu-west-1",
                    false,
                    true,
                    "https://ecr.eu-west-1.api.aws",
                )),
            ),
            (
                "123456789012.dkr-ecr-fips.us-east-1.on.aws",
                Some((
                    "123456789012",
                    "us-east-1",
                    true,
                    true,
                    "https://ecr-fips.us-east-1.api.aws",
                )),
            ),
            (
                "123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn",
                Some((
                    "123456789012",
                    "cn-northwest-1",
                    false,
                    true,
                    "https://ecr.cn-northwest-1.api.amazonwebservices.com.cn",
                )),
            ),
            (
                "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
                Some((
                    "123456789012",
                    "us-iso-east-1",
                    false,
                    false,
                    "https://api.ecr.us-iso-east-1.c2s.ic.gov",
                )),
            ),
            (
                "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
                Some((
                    "123456789012",
                    "us-isob-east-1",
                    false,
                    false,
                    "https://api.ecr.us-isob-east-1.sc2s.sgov.gov",
                )),
            ),
            (
                "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
                Some((
                    "123456789012",
                    "eu-isoe-west-1",
                    false,
                    false,
                    "https://api.ecr.eu-isoe-west-1.cloud.adc-e.uk",
                )),
            ),
            ("123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM", US_EAST_1),
            // Not ECR.
            ("12345678901.dkr.ecr.us-east-1.amazonaws.com", None),
            ("1234567890123.dkr.ecr.us-east-1.amazonaws.com", None),
            ("abcdefghijkl.dkr.ecr.us-east-1.amazonaws.com", None),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
                None,
            ),
            ("123456789012.dkr.ecr.us-east-1.example.com", None),
            ("123456789012.dkr-ecr.us-east-1.amazonaws.com", None),
            ("123456789012.dkr.ecr.us-east-1.on.aws", None),
            ("123456789012.dkr.ecr..amazonaws.com", None),
            ("public.ecr.aws", None),
            ("ghcr.io", None),
        ];
        for (host, want) in table {
            let got = EcrRegistry::recognise(host);
            match (got, want) {
                (None, None) => {}
                (Some(ecr), Some((account, region, fips, dual, endpoint))) => {
                    assert_eq!(ecr.account, *account, "{host}");
                    assert_eq!(ecr.region, *region, "{host}");
                    assert_eq!(ecr.fips, *fips, "{host}");
                    assert_eq!(ecr.dual_stack, *dual, "{host}");
                    assert_eq!(ecr.api_endpoint(), *endpoint, "{host}");
                }
                (got, want) => panic!("{host}: got {got:?}, want {want:?}"),
            }
        }
        let (host, _) =
            RegistryHost::parse("https://123456789012.dkr.ecr.us-east-1.amazonaws.com:443/")
                .unwrap();
        assert!(host.ecr().is_some(), "a port does not hide ECR");
    }

    fn secret(name: &str, value: &str, source: SecretLevel) -> ResolvedSecret<String> {
        ResolvedSecret {
            name: SecretName::parse(name).unwrap(),
            value: value.to_owned(),
            source,
        }
    }

    fn plan(secrets: &[(&str, &str)]) -> LoginPlan<String> {
        let secrets: Vec<_> = secrets
            .iter()
            .map(|(n, v)| secret(n, v, SecretLevel::Repository))
            .collect();
        registry_logins(&secrets, String::as_str)
    }

    fn triple(p: &str, server: &str) -> [(String, String); 3] {
        [
            (format!("{p}{SERVER_SUFFIX}"), server.to_owned()),
            (format!("{p}{USER_SUFFIX}"), format!("{p}-user")),
            (format!("{p}{PASSWORD_SUFFIX}"), format!("{p}-password")),
        ]
    }

    fn owned(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
        pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn every_complete_prefix_is_one_login() {
        let mut all = Vec::new();
        all.extend(triple("GHCR", "ghcr.io"));
        all.extend(triple("MY_CORP", "https://registry.corp.example:5000/v2/"));
        all.push(("UNRELATED".into(), "x".into()));
        let p = plan(&owned(&all));
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let logins: Vec<_> = p
            .logins
            .iter()
            .map(|l| {
                (
                    l.prefix.as_str(),
                    l.host.as_str(),
                    l.username.as_str(),
                    l.password.as_str(),
                )
            })
            .collect();
        assert_eq!(
            logins,
            [
                ("GHCR", "ghcr.io", "GHCR-user", "GHCR-password"),
                (
                    "MY_CORP",
                    "registry.corp.example:5000",
                    "MY_CORP-user",
                    "MY_CORP-password"
                ),
            ]
        );
    }

    #[test]
    fn partial_prefixes_are_reported_by_name_only() {
        for (present, missing) in [
            (vec![0], vec![1, 2]),
            (vec![1], vec![0, 2]),
            (vec![2], vec![0, 1]),
            (vec![0, 1], vec![2]),
            (vec![0, 2], vec![1]),
            (vec![1, 2], vec![0]),
        ] {
            let t = triple("ACME", "s3cret-host.example");
            let secrets: Vec<_> = present.iter().map(|i| t[*i].clone()).collect();
            let p = plan(&owned(&secrets));
            assert!(p.logins.is_empty());
            let want: Vec<String> = missing.iter().map(|i| t[*i].0.clone()).collect();
            assert_eq!(
                p.problems,
                [LoginProblem::Incomplete {
                    prefix: "ACME".into(),
                    missing: want
                }]
            );
            let message = p.problems[0].to_string();
            assert!(message.contains("ACME"), "{message}");
            for (_, value) in &secrets {
                assert!(!message.contains(value.as_str()), "{message} leaks a value");
            }
        }
    }

    #[test]
    fn a_bare_suffix_is_no_prefix() {
        let p = plan(&[
            ("_CONTAINER_REGISTRY_SERVER", "ghcr.io"),
            ("X_CONTAINER_REGISTRY_SERVER_EXTRA", "ghcr.io"),
        ]);
        assert_eq!(
            p,
            LoginPlan {
                logins: vec![],
                problems: vec![]
            }
        );
    }

    #[test]
    fn two_prefixes_naming_one_registry_keep_the_first_by_name() {
        for spellings in [
            ["docker.io", "https://index.docker.io/v1/"],
            ["registry-1.docker.io", "INDEX.DOCKER.IO"],
            ["ghcr.io", "https://GHCR.io/acme"],
            ["localhost:5000", "http://LOCALHOST:5000/v2"],
        ] {
            let mut all = Vec::new();
            all.extend(triple("B_SECOND", spellings[0]));
            all.extend(triple("A_FIRST", spellings[1]));
            let p = plan(&owned(&all));
            assert_eq!(p.logins.len(), 1, "{spellings:?}");
            assert_eq!(p.logins[0].prefix, "A_FIRST");
            assert_eq!(p.logins[0].username, "A_FIRST-user");
            let LoginProblem::Duplicate { prefix, kept, host } = &p.problems[0] else {
                panic!("{:?}", p.problems);
            };
            assert_eq!((prefix.as_str(), kept.as_str()), ("B_SECOND", "A_FIRST"));
            assert_eq!(host, &p.logins[0].host);
        }
        // Different ports are different registries.
        let mut all = Vec::new();
        all.extend(triple("A", "localhost:5000"));
        all.extend(triple("B", "localhost:5001"));
        assert_eq!(plan(&owned(&all)).logins.len(), 2);
    }

    #[test]
    fn a_bad_server_skips_its_login_without_repeating_the_value() {
        let mut all = Vec::new();
        all.extend(triple("BAD", "not a host!"));
        all.extend(triple("GOOD", "ghcr.io"));
        let p = plan(&owned(&all));
        assert_eq!(p.logins.len(), 1);
        assert_eq!(
            p.problems,
            [LoginProblem::BadServer {
                prefix: "BAD".into(),
                error: ServerError::BadHost
            }]
        );
        assert!(!p.problems[0].to_string().contains("not a host!"));
    }

    #[test]
    fn the_login_remembers_where_its_server_came_from() {
        let secrets = vec![
            secret(
                "ORG_CONTAINER_REGISTRY_SERVER",
                "ghcr.io",
                SecretLevel::Organization,
            ),
            secret("ORG_CONTAINER_REGISTRY_USER", "u", SecretLevel::User),
            secret(
                "ORG_CONTAINER_REGISTRY_PASSWORD",
                "p",
                SecretLevel::Organization,
            ),
        ];
        let p = registry_logins(&secrets, String::as_str);
        assert_eq!(p.logins[0].source, SecretLevel::Organization);
        assert_eq!(p.logins[0].username, "u");
    }
}
