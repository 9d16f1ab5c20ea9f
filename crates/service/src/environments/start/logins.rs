//! Step 8 of a start: the registries logged in inside the environment — `config.json` and
//! `auth.json` for every login and Berth's own registry (with the environment token), `.npmrc`
//! for Berth's npm registry — and kept fresh while it runs (ECR passwords expire).

use berth_domain::logins::RegistryHost;
use berth_registry_client::Credentials;
use berth_registry_client::logins::{AuthFiles, LoginSecret, RegistryLogin, write_private_file_as};
use secrecy::{ExposeSecret, SecretString};

use super::super::{CreationLog, Environments, Paths, State};
use super::{StartError, StartResult};
use crate::logins::LoginSet;

/// The prefix Berth's own registry login is shown under.
const BERTH_LOGIN: &str = "BERTH";

/// What [`Environments::write_logins`] writes besides the auth files.
pub(in super::super) struct Rewrite<'a> {
    /// `.npmrc` too, with these owners' scopes on Berth's npm registry (only before a start: it
    /// is mounted as a file, so a running environment would not see a replaced one).
    pub npm_scopes: Option<&'a [String]>,
    /// The auth files' owner, once the environment's user is known.
    pub owner: Option<(u32, u32)>,
}

/// The login for Berth's own registry: the user's login with the environment token.
pub(in super::super) fn own_login(
    server_url: &str,
    user: &str,
    token: &SecretString,
) -> StartResult<RegistryLogin> {
    let (host, scheme) =
        RegistryHost::parse(server_url).map_err(|e| StartError::ServerUrl(e.to_string()))?;
    Ok(RegistryLogin {
        prefix: BERTH_LOGIN.to_owned(),
        host,
        scheme,
        secret: LoginSecret::Password(Credentials {
            username: user.to_owned(),
            password: token.clone(),
        }),
    })
}

impl Environments {
    /// Writes the environment's `config.json`, `auth.json` (every login, and Berth's registry
    /// with the environment token) and `.npmrc`; returns the auth files to keep fresh.
    pub(in super::super) async fn write_logins(
        &self,
        paths: &Paths,
        set: &LoginSet,
        berth_login: RegistryLogin,
        token: &SecretString,
        rewrite: Rewrite<'_>,
        log: &CreationLog,
    ) -> StartResult<AuthFiles> {
        let server = self
            .state
            .as_ref()
            .map(|e| e.config.server_url.trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let npm_host = server
            .split_once("://")
            .map_or(server.as_str(), |(_, rest)| rest);
        if let Some(scopes) = rewrite.npm_scopes {
            let mut npmrc = String::from("; written by Berth for this codespace\n");
            for owner in scopes {
                npmrc.push_str(&format!(
                    "@{}:registry={server}/npm/\n",
                    owner.to_ascii_lowercase()
                ));
            }
            npmrc.push_str(&format!(
                "//{npm_host}/npm/:_authToken={}\n",
                token.expose_secret()
            ));
            write_private_file_as(&paths.npmrc(), npmrc.as_bytes(), None)
                .map_err(StartError::logins(".npmrc"))?;
        }

        let own_host = berth_login.host.clone();
        let mut logins = set.logins.clone();
        logins.retain(|l| l.host.config_key() != own_host.config_key());
        logins.push(berth_login);
        let mut files = AuthFiles::new(
            vec![
                paths.docker_dir().join("config.json"),
                paths.containers_dir().join("auth.json"),
            ],
            logins,
        );
        if let Some((uid, gid)) = rewrite.owner {
            files.set_owner(uid, gid);
        }
        let report = files
            .write(&self.remote().ecr, self.now_utc())
            .await
            .map_err(StartError::logins("registry logins"))?;
        for failure in &report.failures {
            log.line(&format!("warning: {failure}"));
        }
        let hosts: Vec<String> = report.written.iter().map(ToString::to_string).collect();
        log.line(&format!(
            "logged in inside the environment (~/.docker/config.json, ~/.config/containers/auth.json): {}; npm: ~/.npmrc",
            hosts.join(", ")
        ));
        Ok(files)
    }

    /// Rewrites the environment's auth files whenever a swapped (ECR) password nears the end of
    /// its life, until the environment stops.
    pub(in super::super) fn keep_fresh(
        &self,
        envs: &State,
        name: &str,
        mut files: AuthFiles,
        log: CreationLog,
    ) {
        if files.next_refresh().is_none() {
            return;
        }
        let berth = self.clone();
        let task = tokio::spawn(async move {
            while let Some(at) = files.next_refresh() {
                let wait = (at - berth.now_utc()).max(time::Duration::ZERO);
                tokio::time::sleep(
                    std::time::Duration::from_secs(wait.whole_seconds().unsigned_abs())
                        + std::time::Duration::from_millis(100),
                )
                .await;
                match files
                    .refresh_if_due(&berth.remote().ecr, berth.now_utc())
                    .await
                {
                    Ok(Some(report)) => {
                        for failure in &report.failures {
                            log.line(&format!(
                                "warning: renewing a registry login failed: {failure}"
                            ));
                        }
                        if report.failures.is_empty() {
                            log.line("renewed the environment's ECR logins");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        log.line(&format!("warning: cannot rewrite the registry logins: {e}"))
                    }
                }
            }
        });
        if let Some(old) = envs
            .refreshers
            .lock()
            .expect("refresher map poisoned")
            .insert(name.to_owned(), task)
        {
            old.abort();
        }
    }
}
