//! What can go wrong talking to a registry, one variant per class of failure: each class is a
//! different thing for the user to do, so each message says what to do next.
//!
//! **Architecture Invariant:** no variant carries a password, token or key; hosts, repositories
//! and HTTP statuses only.

use std::fmt;

/// How the registry checked the username and password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVia {
    /// `WWW-Authenticate: Basic` on `/v2/`.
    Basic,
    /// The Docker token flow: `WWW-Authenticate: Bearer realm=…`.
    TokenEndpoint,
}

impl fmt::Display for AuthVia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthVia::Basic => "HTTP Basic on /v2/",
            AuthVia::TokenEndpoint => "the registry's token endpoint",
        })
    }
}

/// A failure, by class.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "{host}: the name does not resolve; check the server's spelling, and that this machine's \
         DNS (or /etc/hosts) knows it"
    )]
    Resolve { host: String },
    #[error(
        "{host}: could not connect ({detail}); check the port, and that the registry is running \
         and reachable from this machine"
    )]
    Connect { host: String, detail: String },
    #[error(
        "{host}: the TLS handshake failed ({detail}); if the registry serves plain HTTP, name it \
         http://{host}, and if its certificate is private, add its CA to this machine's trust store"
    )]
    Tls { host: String, detail: String },
    #[error(
        "{url} answered HTTP {status}, which is not the registry API; check that the server names \
         the registry itself (e.g. registry.example.com:5000), not a web page in front of it"
    )]
    NotRegistry { url: String, status: u16 },
    #[error(
        "{host}: the username or password was refused by {via}; check the _USER and _PASSWORD \
         secrets (for Docker Hub and GitHub, a personal access token works as the password)"
    )]
    BadCredentials { host: String, via: AuthVia },
    #[error(
        "{host}: the token endpoint {realm} failed ({detail}); the registry's auth service is \
         down or misconfigured, so try again later or tell the registry's operator"
    )]
    TokenEndpoint {
        host: String,
        realm: String,
        detail: String,
    },
    #[error(
        "{host}/{repository}: it does not exist, or this login may not pull it; check the name, \
         and give the login's user (or this repository) read access to it"
    )]
    Denied { host: String, repository: String },
    #[error("{host}/{repository}:{reference}: no such tag or digest; check the image reference")]
    ManifestUnknown {
        host: String,
        repository: String,
        reference: String,
    },
    #[error(
        "{host}/{repository}@{digest}: the content downloaded does not match its digest; the \
         registry or something between us changed it, so try again"
    )]
    DigestMismatch {
        host: String,
        repository: String,
        digest: String,
    },
    #[error("{reference}: no image for {platform} (the index offers: {offered})")]
    NoPlatform {
        reference: String,
        platform: String,
        offered: String,
    },
    #[error("{host}: {detail}")]
    Protocol { host: String, detail: String },
    /// The server's egress policy refuses the address (SPEC §8).
    #[error(transparent)]
    Refused(#[from] crate::egress::Refused),
    #[error("local storage: {0}")]
    Io(#[from] std::io::Error),
}

/// The classes `berth registry check` reports, each with its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    Resolve,
    Connect,
    Tls,
    NotRegistry,
    BadCredentials,
    TokenEndpoint,
    Denied,
    EcrRefused,
    /// The server's egress policy refuses the address: nothing was sent there.
    Refused,
    Other,
}

impl FailureClass {
    /// The exit code of `berth registry check` for this class (documented in the README).
    pub fn exit_code(self) -> u8 {
        match self {
            FailureClass::Resolve => 10,
            FailureClass::Connect => 11,
            FailureClass::Tls => 12,
            FailureClass::NotRegistry => 13,
            FailureClass::BadCredentials => 14,
            FailureClass::TokenEndpoint => 15,
            FailureClass::Denied => 16,
            FailureClass::EcrRefused => 17,
            FailureClass::Refused => 18,
            FailureClass::Other => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Resolve => "resolve",
            FailureClass::Connect => "connect",
            FailureClass::Tls => "tls",
            FailureClass::NotRegistry => "not_registry",
            FailureClass::BadCredentials => "bad_credentials",
            FailureClass::TokenEndpoint => "token_endpoint",
            FailureClass::Denied => "denied",
            FailureClass::EcrRefused => "ecr_refused",
            FailureClass::Refused => "refused",
            FailureClass::Other => "other",
        }
    }
}

impl RegistryError {
    pub fn class(&self) -> FailureClass {
        match self {
            RegistryError::Resolve { .. } => FailureClass::Resolve,
            RegistryError::Connect { .. } => FailureClass::Connect,
            RegistryError::Tls { .. } => FailureClass::Tls,
            RegistryError::NotRegistry { .. } => FailureClass::NotRegistry,
            RegistryError::BadCredentials { .. } => FailureClass::BadCredentials,
            RegistryError::TokenEndpoint { .. } => FailureClass::TokenEndpoint,
            RegistryError::Denied { .. } | RegistryError::ManifestUnknown { .. } => {
                FailureClass::Denied
            }
            RegistryError::Refused(_) => FailureClass::Refused,
            _ => FailureClass::Other,
        }
    }
}

/// Sorts a transport failure into resolve / connect / TLS by walking its causes. Resolution
/// failures come from hyper-util's resolver ("dns error"); refusals are `io::Error`s; anything
/// else failing before a response on an https URL is the handshake.
pub(crate) fn transport(host: &str, https: bool, err: &reqwest::Error) -> RegistryError {
    let mut detail = String::new();
    let mut refused = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut dns = false;
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<crate::egress::Refused>() {
            return RegistryError::Refused(refused.clone());
        }
        let text = e.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            dns = true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            refused = Some(io.kind());
        }
        detail = text;
        source = e.source();
    }
    let host = host.to_owned();
    if dns {
        return RegistryError::Resolve { host };
    }
    let tcp_level = matches!(
        refused,
        Some(
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable
                | std::io::ErrorKind::TimedOut
        )
    );
    if err.is_timeout() {
        return RegistryError::Connect {
            host,
            detail: "timed out".into(),
        };
    }
    if https && err.is_connect() && !tcp_level {
        return RegistryError::Tls { host, detail };
    }
    if err.is_connect() || tcp_level {
        return RegistryError::Connect { host, detail };
    }
    RegistryError::Protocol {
        host,
        detail: format!("the connection failed: {detail}"),
    }
}
