//! What environments need from the rest of Berth and from the machine, named as traits so that a
//! reader of this module needs no other subsystem's files, and a test can stand in for any of
//! them. The real ones are the secrets service ([`crate::secrets::Secrets`]), the accounts service
//! ([`crate::accounts::Accounts`]), the registry ([`crate::registry::Registry`]) and git on this server ([`Git`]); the runtime is
//! [`berth_runtime::Runtime`].

use std::fmt;
use std::path::Path;

use berth_domain::Login;
use berth_domain::secrets::ResolvedSecret;
use berth_store::{Account, EnvironmentTokenRecord, Repo};
use secrecy::SecretString;

use super::CodespaceView;
use super::git::{self, Upstream};
use super::workspace::WorkspaceError;
use crate::Result;
use crate::accounts::Accounts;
use crate::registry::Registry;
use crate::secrets::Secrets;

/// Where an environment's secrets come from.
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync + fmt::Debug {
    /// The secrets an environment of `repo` started by `user` receives, opened, with the level
    /// each comes from.
    async fn environment_secrets(
        &self,
        user: &Account,
        repo: &Repo,
    ) -> Result<Vec<ResolvedSecret<SecretString>>>;
}

/// Who issues an environment its own token (for Berth's registry and API from inside).
#[async_trait::async_trait]
pub trait TokenIssuer: Send + Sync + fmt::Debug {
    /// A fresh token for the environment `view` (acting for its owner, on its repository), valid
    /// `ttl` seconds.
    async fn environment_token(
        &self,
        view: &CodespaceView,
        ttl: i64,
    ) -> Result<(SecretString, EnvironmentTokenRecord)>;
}

#[async_trait::async_trait]
impl SecretSource for Secrets {
    async fn environment_secrets(
        &self,
        user: &Account,
        repo: &Repo,
    ) -> Result<Vec<ResolvedSecret<SecretString>>> {
        self.environment_secret_values(user, repo).await
    }
}

#[async_trait::async_trait]
impl TokenIssuer for Accounts {
    async fn environment_token(
        &self,
        view: &CodespaceView,
        ttl: i64,
    ) -> Result<(SecretString, EnvironmentTokenRecord)> {
        self.mint_environment_token(&view.owner, &view.repo, &view.record.name, ttl)
            .await
    }
}

/// Which owners' npm packages an environment reads, for the scopes its `.npmrc` points at Berth.
#[async_trait::async_trait]
pub trait NpmScopes: Send + Sync + fmt::Debug {
    /// The owners (by login) any of whose npm packages an environment of `repo` started by
    /// `user` may read.
    async fn npm_scopes(&self, user: &Account, repo: &Repo) -> Result<Vec<Login>>;
}

#[async_trait::async_trait]
impl NpmScopes for Registry {
    async fn npm_scopes(&self, user: &Account, repo: &Repo) -> Result<Vec<Login>> {
        let inside = crate::Principal::Environment {
            account: user.clone(),
            repo: repo.clone(),
            token_id: 0,
        };
        self.npm_readable_scopes(&inside).await
    }
}

/// Where a repository's code comes from: the workspace's clone, and the shallow looks that list
/// its dev container configurations. Both go out under the user's egress policy.
#[async_trait::async_trait]
pub trait Sources: Send + Sync + fmt::Debug {
    /// Clones `from` into `into`, which must not exist: whole, or not at all.
    async fn clone_repo(
        &self,
        from: &Upstream<'_>,
        into: &Path,
    ) -> std::result::Result<(), WorkspaceError>;

    /// The dev container configurations in `from`, defaults first.
    async fn config_paths(
        &self,
        from: &Upstream<'_>,
    ) -> std::result::Result<Vec<String>, WorkspaceError>;
}

/// git, run on this server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Git;

#[async_trait::async_trait]
impl Sources for Git {
    async fn clone_repo(
        &self,
        from: &Upstream<'_>,
        into: &Path,
    ) -> std::result::Result<(), WorkspaceError> {
        git::clone(from, into).await
    }

    async fn config_paths(
        &self,
        from: &Upstream<'_>,
    ) -> std::result::Result<Vec<String>, WorkspaceError> {
        git::config_paths(from).await
    }
}
