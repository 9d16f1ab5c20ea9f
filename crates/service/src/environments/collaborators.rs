//! What environments need from the rest of Berth, named as traits so that a reader of this module
//! needs no other subsystem's files, and a test can stand in for any of them. The real ones are
//! the secrets service ([`crate::secrets::Secrets`]) and the accounts service
//! ([`crate::accounts::Accounts`]); the runtime is [`berth_runtime::Runtime`].

use std::fmt;

use berth_domain::secrets::ResolvedSecret;
use berth_store::{Account, EnvironmentTokenRecord, Repo};
use secrecy::SecretString;

use crate::Result;
use crate::accounts::Accounts;
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
    /// A fresh token for the environment `name` of `repo` started by `user`, valid `ttl` seconds.
    async fn environment_token(
        &self,
        user: &Account,
        repo: &Repo,
        name: &str,
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
        user: &Account,
        repo: &Repo,
        name: &str,
        ttl: i64,
    ) -> Result<(SecretString, EnvironmentTokenRecord)> {
        self.mint_environment_token(user, repo, name, ttl).await
    }
}
