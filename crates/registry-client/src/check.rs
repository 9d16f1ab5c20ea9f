//! `berth registry check`: the real login flow for one login, one step at a time, stopping at
//! the first failure with its class (each class its own exit code and advice).
//!
//! Steps: (ECR: swap the access keys at ECR's endpoint) → resolve the registry's name → reach `/v2/` and read its challenge →
//! log in (Basic, or the token endpoint) → (with a repository: list its tags, which needs pull).

use berth_domain::logins::RegistryHost;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::Challenge;
use crate::client::{ConnectStep, Registry};
use crate::ecr::EcrSwapper;
use crate::egress::{Egress, ResolveError};
use crate::error::{FailureClass, RegistryError};
use crate::logins::{LoginSecret, RegistryLogin};

/// The prefix of a login given on the command line rather than by a triple.
pub const COMMAND_LINE: &str = "--server";

/// One step and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub step: String,
    pub ok: bool,
    pub detail: String,
}

/// Everything a check found; `failure` is `None` when every step passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub prefix: String,
    pub server: String,
    pub steps: Vec<Step>,
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub class: String,
    pub exit_code: u8,
    pub message: String,
}

impl CheckReport {
    fn new(login: &RegistryLogin) -> Self {
        Self {
            prefix: login.prefix.clone(),
            server: login.host.to_string(),
            steps: Vec::new(),
            failure: None,
        }
    }

    fn ok(&mut self, step: &'static str, detail: impl Into<String>) {
        self.steps.push(Step {
            step: step.to_owned(),
            ok: true,
            detail: detail.into(),
        });
    }

    fn fail(mut self, step: &'static str, class: FailureClass, message: String) -> Self {
        self.steps.push(Step {
            step: step.to_owned(),
            ok: false,
            detail: message.clone(),
        });
        self.failure = Some(Failure {
            class: class.as_str().to_owned(),
            exit_code: class.exit_code(),
            message,
        });
        self
    }
}

/// Runs the flow for `login`, and the pull check for `repository` if one is named.
pub async fn check(
    egress: &Egress,
    swapper: &EcrSwapper,
    login: &RegistryLogin,
    repository: Option<&str>,
    now: OffsetDateTime,
) -> CheckReport {
    let mut report = CheckReport::new(login);
    let authority = login.host.api_authority();
    let credentials = match login.credentials(swapper, now).await {
        Ok((c, refresh)) => {
            if let LoginSecret::EcrKeys { registry, .. } = &login.secret {
                let until = refresh
                    .map(|l| format!(", renewed after {}", l.refresh_at))
                    .unwrap_or_default();
                report.ok(
                    "ecr",
                    format!(
                        "swapped the access keys for a registry token of account {} in {}{until}",
                        registry.account, registry.region
                    ),
                );
            }
            c
        }
        Err(e) => {
            let message = if login.prefix == COMMAND_LINE {
                format!("{e}; the keys themselves are not shown")
            } else {
                format!(
                    "registry login {}: {e}; the keys themselves are not shown",
                    login.prefix
                )
            };
            return report.fail("ecr", FailureClass::EcrRefused, message);
        }
    };
    match resolve(egress, &login.host).await {
        Ok(n) => report.ok(
            "resolve",
            format!(
                "{} resolves to {n} address{}",
                login.host.hostname(),
                if n == 1 { "" } else { "es" }
            ),
        ),
        Err(e) => return report.fail("resolve", e.class(), e.to_string()),
    }
    let mut notes = Vec::new();
    let registry = match Registry::connect(egress, &login.host, login.scheme, credentials, |step| {
        notes.push(step)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => return report.fail("registry", e.class(), e.to_string()),
    };
    for note in notes {
        match note {
            ConnectStep::FellBackToHttp { https_error } => report.ok(
                "registry",
                format!("HTTPS failed ({https_error}); {authority} is loopback, so plain HTTP is tried, as Docker does"),
            ),
            ConnectStep::Reached { url, challenge } => report.ok(
                "registry",
                format!("{url} is a registry; {}", describe(&challenge)),
            ),
        }
    }
    let anonymous = matches!(login.secret, LoginSecret::Anonymous);
    match registry.login().await {
        Ok(()) => report.ok(
            "login",
            match registry.challenge() {
                Challenge::None => "no login needed".to_owned(),
                _ if anonymous => {
                    "no credentials given: nothing to log in with (anonymous; pulls of public images only)"
                        .to_owned()
                }
                Challenge::Basic => "username and password accepted (Basic)".to_owned(),
                Challenge::Bearer { .. } => {
                    "username and password accepted by the token endpoint".to_owned()
                }
            },
        ),
        Err(e) => return report.fail("login", e.class(), e.to_string()),
    }
    if let Some(repository) = repository {
        match registry.check_pull(repository).await {
            Ok(()) => report.ok("pull", format!("may pull {}/{repository}", login.host)),
            Err(e) => return report.fail("pull", e.class(), e.to_string()),
        }
    }
    report
}

fn describe(challenge: &Challenge) -> String {
    match challenge {
        Challenge::None => "it asks for no authentication".into(),
        Challenge::Basic => "it asks for HTTP Basic".into(),
        Challenge::Bearer { realm, .. } => {
            format!("it sends clients to the token endpoint {realm}")
        }
    }
}

/// Resolves the registry's name (the API host for Docker Hub) to the addresses the egress
/// policy lets the check reach; none is a failure of its own, and nothing is sent anywhere.
async fn resolve(egress: &Egress, host: &RegistryHost) -> Result<usize, RegistryError> {
    let authority = host.api_authority();
    let (name, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !authority.ends_with(']') && p.chars().all(|c| c.is_ascii_digit()) => {
            (h, p.parse().unwrap_or(443))
        }
        _ => (authority, 443),
    };
    match egress.resolve(name, port).await {
        Ok(addrs) => Ok(addrs.len()),
        Err(ResolveError::Unknown { .. }) => Err(RegistryError::Resolve {
            host: host.hostname().to_owned(),
        }),
        Err(ResolveError::Refused(r)) => Err(RegistryError::Refused(r)),
    }
}
