//! Registry logins for environments (SPEC §3): the resolved secrets' triples turned into logins
//! (`berth_domain::logins`), ECR access keys swapped when used, and `registry check` run from the
//! server, where environments pull from, as the caller.

use std::fmt;

use berth_domain::isolation::EgressPolicy;
use berth_domain::logins::{LoginProblem, registry_logins};
use berth_domain::secrets::ResolvedSecret;
use berth_domain::{Login, Permission, RepoName};
use berth_registry_client::check::{CheckReport, check};
use berth_registry_client::ecr::EcrSwapper;
use berth_registry_client::egress::Egress;
use berth_registry_client::logins::RegistryLogin;
use berth_store::Account;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::authz::Access;
use crate::{Berth, Principal, Result};

/// How Berth reaches other registries: the egress policy for what it does on users' behalf
/// (SPEC §8), an unrestricted client for its own registry and site administrators, and one ECR
/// swapper (with its cache; its endpoint is the operator's or AWS's).
pub struct Remote {
    pub http: reqwest::Client,
    pub ecr: EcrSwapper,
    /// For requests made for users who are not site administrators.
    pub restricted: Egress,
    pub unrestricted: Egress,
    /// Directories under which users may set a local (`file://`) clone URL.
    pub local_clone_dirs: Vec<std::path::PathBuf>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote").field("ecr", &self.ecr).finish()
    }
}

impl Remote {
    /// The default egress policy; ECR's endpoint from `AWS_ENDPOINT_URL_ECR` /
    /// `AWS_ENDPOINT_URL`, as the AWS SDKs do.
    pub fn from_env() -> Self {
        Self::new(&EgressPolicy::default(), &[])
    }

    /// `policy` for users' requests, the host's own addresses refused too.
    pub fn new(policy: &EgressPolicy, host_addresses: &[std::net::IpAddr]) -> Self {
        let unrestricted = Egress::unrestricted();
        let http = unrestricted.client().clone();
        Self {
            ecr: EcrSwapper::from_env(http.clone()),
            http,
            restricted: Egress::restricted(policy, host_addresses),
            unrestricted,
            local_clone_dirs: Vec::new(),
        }
    }

    /// Lets users set local clone URLs under `dirs`.
    pub fn with_local_clone_dirs(mut self, dirs: Vec<std::path::PathBuf>) -> Self {
        self.local_clone_dirs = dirs;
        self
    }

    /// The egress for a request made on `user`'s behalf: the policy, unless they are a site
    /// administrator.
    pub fn egress_for(&self, user: &Account) -> &Egress {
        if user.site_admin {
            &self.unrestricted
        } else {
            &self.restricted
        }
    }
}

/// The logins an environment gets, and what was wrong with the other triples.
#[derive(Debug)]
pub struct LoginSet {
    pub logins: Vec<RegistryLogin>,
    pub problems: Vec<LoginProblem>,
}

/// `registry check` for every login of an environment.
#[derive(Debug, serde::Serialize)]
pub struct EnvironmentCheck {
    /// Incomplete, unusable or duplicate triples, as sentences with names only.
    pub problems: Vec<String>,
    pub logins: Vec<CheckReport>,
}

/// The logins the triples among `secrets` make (SPEC §3), and what was wrong with the others.
pub fn logins_from_secrets(secrets: &[ResolvedSecret<SecretString>]) -> LoginSet {
    let plan = registry_logins(secrets, |v| v.expose_secret());
    let logins = plan
        .logins
        .into_iter()
        .map(|l| {
            RegistryLogin::from_triple(
                l.prefix,
                l.host,
                l.scheme,
                l.username.expose_secret(),
                l.password,
            )
        })
        .collect();
    LoginSet {
        logins,
        problems: plan.problems,
    }
}

impl Berth {
    /// Runs the login flow, from this server, for every login an environment of `owner/name`
    /// started by the caller would get; with `repository`, also checks each may pull it.
    pub async fn check_environment_logins(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        repository: Option<&str>,
    ) -> Result<EnvironmentCheck> {
        let user = self.authz.check(p, Access::User).await?;
        let view = self
            .authz
            .repo_for(p, owner, name, Permission::Read)
            .await?;
        let secrets = self
            .secrets
            .environment_secret_values(user, &view.repo)
            .await?;
        let set = logins_from_secrets(&secrets);
        let now = OffsetDateTime::from_unix_timestamp(self.clock.now())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let mut logins = Vec::new();
        for login in &set.logins {
            logins.push(
                check(
                    self.remote.egress_for(user),
                    &self.remote.ecr,
                    login,
                    repository,
                    now,
                )
                .await,
            );
        }
        Ok(EnvironmentCheck {
            problems: set.problems.iter().map(ToString::to_string).collect(),
            logins,
        })
    }
}
