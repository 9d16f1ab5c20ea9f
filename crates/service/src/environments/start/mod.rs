//! One start of an environment, in SPEC §5's order, one step per function:
//!
//! 1. still allowed? ([`Environments::still_allowed`]) → 2. secrets and the registry logins among them
//!    ([`Environments::resolve_secrets`]) → 3. a fresh environment token ([`Environments::fresh_token`]) →
//! 4. its disk and workspace, cloned at the first start ([`Environments::prepare_workspace`]) →
//! 5. the dev container configuration and the image ([`source::read_config`],
//!    [`source::choose_image`]) → 6. where to pull it from, with which login
//!    ([`Environments::image_source`]) → 7. the run spec, the image pulled and unpacked, the variables
//!    ([`spec`]) → 8. the logins written inside ([`Environments::write_logins`]) → 9. run, and Berth
//!    served inside its network ([`Environments::run_environment`]) → 10. `postCreateCommand` at the
//!    first start ([`Environments::post_create`]).
//!
//! Every step is narrated in the creation log; the first failure ends the start as `Failed` with
//! its [`StartError`] as the reason, after the runtime is stopped, the plaintext secrets are
//! removed and the environment token is revoked.

mod error;
mod logins;
mod run;
mod source;
mod spec;
mod workspace;

use berth_domain::codespace::CodespaceState;
use berth_domain::codespace::CodespaceState::{Available, Provisioning, Queued, Starting};
use berth_domain::secrets::ResolvedSecret;
use berth_registry_client::logins::LoginSecret;
use secrecy::SecretString;

use super::{CodespaceView, CreationLog, Environments, Paths, State, Verb};
use crate::Result;
use crate::clock::rfc3339;
use crate::logins::{LoginSet, logins_from_secrets};

pub(crate) use error::StartError;
pub(super) use logins::{Rewrite, own_login};

type StartResult<T> = std::result::Result<T, StartError>;

impl Environments {
    /// Runs a start of `name` that was queued. Its outcome is recorded as the environment's state.
    pub(crate) async fn run_start(&self, name: &str, verb: Verb) -> Result<()> {
        let envs = self.state()?.clone();
        let lock = envs.lock(name);
        let _held = lock.lock().await;
        let Some(record) = self.store.codespace_by_name(name).await? else {
            return Ok(());
        };
        if record.state != CodespaceState::Queued {
            return Ok(());
        }
        let view = self.view(record).await?;
        let paths = envs.paths(name);
        let log = envs.log(name);
        log.line(&format!(
            "{} codespace {name} for {} (runtime {})",
            match verb {
                Verb::Create => "creating",
                Verb::Start => "starting",
            },
            view.repo.full_name(),
            envs.config.runtime.kind()
        ));
        self.transition(name, &[Queued], Provisioning).await?;
        match self.provision(&envs, &view, &paths, &log).await {
            Ok(()) => {
                log.line("codespace is Available");
                tracing::info!(codespace = %name, "an environment is available");
                self.transition(name, &[Starting], Available).await?;
                self.collect_caches_soon();
            }
            Err(failure) => {
                self.fail_start(&envs, &view, &paths, &log, &failure)
                    .await?
            }
        }
        Ok(())
    }

    /// Ends a start that failed: the runtime stopped, the plaintext secrets removed, the
    /// environment token revoked, and the state `Failed` with the reason.
    async fn fail_start(
        &self,
        envs: &State,
        view: &CodespaceView,
        paths: &Paths,
        log: &CreationLog,
        failure: &StartError,
    ) -> Result<()> {
        let name = view.record.name.as_str();
        let reason = failure.to_string();
        log.line(&format!("failed: {reason}"));
        tracing::warn!(codespace = %name, %reason, "an environment failed to start");
        envs.stop_refreshing(name);
        let spec = self.bare_spec(envs, &view.record, &view.repo);
        if let Err(e) = envs.config.runtime.stop(&spec).await {
            log.line(&format!("could not tidy up after the failure: {e}"));
        }
        if let Err(e) = super::remove_dir(&paths.secrets) {
            log.line(&format!("could not tidy up after the failure: {e}"));
        }
        self.store
            .revoke_environment_tokens(name, self.now())
            .await?;
        self.mark_failed(name, &[Provisioning, Starting], &reason)
            .await?;
        Ok(())
    }

    /// The steps of a start, in order.
    async fn provision(
        &self,
        envs: &State,
        view: &CodespaceView,
        paths: &Paths,
        log: &CreationLog,
    ) -> StartResult<()> {
        self.still_allowed(view).await?;
        let (secrets, logins) = self.resolve_secrets(view, log).await?;
        let token = self.fresh_token(envs, view, log).await?;
        self.prepare_workspace(envs, view, paths, &secrets, log)
            .await?;
        let dc = source::read_config(paths, view, log)?;
        let image = source::choose_image(view, &dc, log)?;
        let pull = self
            .image_source(envs, view, &image, &logins, &token, log)
            .await?;
        let mut spec = self.run_spec(envs, view, paths, &dc).await?;
        let info = envs
            .config
            .runtime
            .prepare(&spec, &pull.source, &|line: String| log.line(&line))
            .await
            .map_err(|e| {
                StartError::runtime(
                    e,
                    &image,
                    &pull.source.reference.host.to_string(),
                    &pull.with,
                )
            })?;
        spec.env = spec::variables(envs, view, &info, &dc, &secrets, &token);
        let npm_scopes = self.npm_scopes(view).await?;
        let files = self
            .write_logins(
                paths,
                &logins,
                pull.berth_login,
                &token,
                Rewrite {
                    npm_scopes: Some(&npm_scopes),
                    owner: None,
                },
                log,
            )
            .await?;
        let files = self.run_environment(envs, &spec, files, log).await?;
        self.post_create(envs, view, &spec, &dc, &secrets, &token, log)
            .await?;
        self.keep_fresh(envs, &view.record.name, files, log.clone());
        Ok(())
    }

    /// The scopes `.npmrc` points at Berth: every owner whose npm packages the environment may
    /// read, and always the user's and the repository's owner's (for what they publish later).
    async fn npm_scopes(&self, view: &CodespaceView) -> StartResult<Vec<String>> {
        let mut scopes = vec![
            view.owner.login.to_string(),
            view.repo.owner_login.to_string(),
        ];
        for owner in self.npm.npm_scopes(&view.owner, &view.repo).await? {
            scopes.push(owner.to_string());
        }
        scopes.iter_mut().for_each(|s| s.make_ascii_lowercase());
        scopes.sort();
        scopes.dedup();
        Ok(scopes)
    }

    /// Step 1: access may have been taken away since the environment was created.
    async fn still_allowed(&self, view: &CodespaceView) -> StartResult<()> {
        let (user, repo) = (&view.owner, &view.repo);
        let (_, facts) = self
            .store
            .repo_by_id(repo.id, Some(user.id))
            .await?
            .ok_or(StartError::RepositoryGone)?;
        let as_user = crate::Principal::User {
            account: user.clone(),
            scopes: berth_domain::Scopes::parse(["repo"]).expect("a known scope"),
            token_id: 0,
        };
        if self.authz.repo_permission(&as_user, repo, facts).is_none() {
            return Err(StartError::AccessLost {
                user: user.login.to_string(),
                repository: repo.full_name(),
            });
        }
        Ok(())
    }

    /// Step 2: the environment's secrets (names and levels narrated, never values), and the
    /// registry logins their triples make.
    async fn resolve_secrets(
        &self,
        view: &CodespaceView,
        log: &CreationLog,
    ) -> StartResult<(Vec<ResolvedSecret<SecretString>>, LoginSet)> {
        let secrets = self
            .secrets
            .environment_secrets(&view.owner, &view.repo)
            .await?;
        let listed: Vec<String> = secrets
            .iter()
            .map(|s| format!("{} ({})", s.name.as_str(), s.source.as_str()))
            .collect();
        log.line(&format!(
            "secrets: {}",
            if listed.is_empty() {
                "none".to_owned()
            } else {
                listed.join(", ")
            }
        ));
        let set = logins_from_secrets(&secrets);
        for problem in &set.problems {
            log.line(&format!("warning: {problem}"));
        }
        for login in &set.logins {
            let kind = match login.secret {
                LoginSecret::EcrKeys { .. } => " (AWS access keys, swapped for an ECR token)",
                _ => "",
            };
            log.line(&format!(
                "registry login {}: {}{kind}",
                login.prefix, login.host
            ));
        }
        Ok((secrets, set))
    }

    /// Step 3: the previous environment token revoked, a fresh one issued.
    async fn fresh_token(
        &self,
        envs: &State,
        view: &CodespaceView,
        log: &CreationLog,
    ) -> StartResult<SecretString> {
        let name = view.record.name.as_str();
        self.store
            .revoke_environment_tokens(name, self.now())
            .await?;
        let (token, record) = self
            .tokens
            .environment_token(view, envs.config.token_ttl)
            .await?;
        log.line(&format!(
            "issued a fresh environment token, valid until {}",
            rfc3339(record.expires_at)
        ));
        Ok(token)
    }
}
