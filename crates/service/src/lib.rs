//! Berth's services: what the API and CLI can ask of the platform, each call checked by the one
//! authorization point in [`authz`].
//!
//! **Architecture Invariant:** every operation that touches a protected resource takes the
//! caller's [`Principal`] and goes through [`Authz::check`]; nothing else decides access.
//! **Architecture Invariant:** tokens never leave this crate except once, at creation, as a
//! [`secrecy::SecretString`]; only their keyed hash is stored.

pub mod accounts;
pub mod authz;
pub mod clock;
pub mod clone_source;
pub mod environments;
pub mod error;
pub mod logins;
pub mod principal;
pub mod registry;
pub mod secrets;

use std::sync::Arc;

use berth_blob::BlobDriver;
use berth_store::Store;

pub use accounts::{repos, teams, tokens};
pub use authz::{Access, Authz};
pub use clock::{Clock, SystemClock};
pub use error::{Invalid, ServiceError};
pub use principal::Principal;
pub use tokens::{MintedToken, TokenHasher};

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// What the platform is built from. Its `Debug` never shows the keys.
pub struct BerthParts {
    pub store: Store,
    /// The key tokens are hashed with (kept in the data directory).
    pub token_key: [u8; 32],
    /// The key registry bearer tokens are signed with (kept in the data directory).
    pub signing_key: [u8; 32],
    pub blobs: Arc<dyn BlobDriver>,
    pub clock: Arc<dyn Clock>,
    /// The master keys environment secrets are wrapped with (kept outside the database).
    pub master_keys: secrets::MasterKeys,
}

impl std::fmt::Debug for BerthParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BerthParts")
            .field("store", &self.store)
            .field("token_key", &"<redacted>")
            .field("signing_key", &"<redacted>")
            .field("blobs", &self.blobs)
            .field("master_keys", &self.master_keys)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn parts_never_show_their_keys() {
        let (dir, store) = berth_store::testing::sqlite_store().await;
        let parts = super::BerthParts {
            store,
            token_key: [0xAB; 32],
            signing_key: [0xCD; 32],
            blobs: std::sync::Arc::new(berth_blob::FsDriver::new(dir.path(), false)),
            clock: std::sync::Arc::new(super::SystemClock),
            master_keys: super::secrets::MasterKeys::new(
                vec![super::secrets::MasterKey::from_bytes([0xEF; 32])],
                None,
            )
            .unwrap(),
        };
        let shown = format!("{parts:?}");
        assert!(
            !shown.contains("171, 171")
                && !shown.contains("205, 205")
                && !shown.contains("239, 239")
                && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}

/// The platform: the store, blob storage, and what it needs to mint and check tokens. Shared by
/// every request; cheap to clone.
#[derive(Debug, Clone)]
pub struct Berth {
    store: Store,
    authz: Authz,
    accounts: accounts::Accounts,
    clock: Arc<dyn Clock>,
    registry: Arc<registry::Registry>,
    secrets: secrets::Secrets,
    remote: Arc<logins::Remote>,
    environments: environments::Environments,
}

impl Berth {
    pub fn new(p: BerthParts) -> Self {
        let authz = Authz::new(p.store.clone());
        let secrets = secrets::Secrets::new(
            p.store.clone(),
            authz.clone(),
            p.clock.clone(),
            p.master_keys,
        );
        let registry = Arc::new(registry::Registry::new(
            p.store.clone(),
            authz.clone(),
            p.clock.clone(),
            p.blobs,
            p.signing_key,
        ));
        let hasher = Arc::new(TokenHasher::new(p.token_key));
        let accounts = accounts::Accounts::new(
            p.store.clone(),
            authz.clone(),
            p.clock.clone(),
            hasher.clone(),
        );
        let remote = Arc::new(logins::Remote::from_env());
        let environments = environments::Environments::new(environments::Collaborators {
            store: p.store.clone(),
            authz: authz.clone(),
            clock: p.clock.clone(),
            remote: remote.clone(),
            secrets: Arc::new(secrets.clone()),
            tokens: Arc::new(accounts.clone()),
            npm: registry.clone(),
        });
        Self {
            store: p.store,
            authz,
            accounts,
            clock: p.clock,
            registry,
            secrets,
            remote,
            environments,
        }
    }

    /// Reaches other registries (and ECR) through `remote` instead of what the environment says.
    pub fn with_remote(mut self, remote: logins::Remote) -> Self {
        self.accounts = self
            .accounts
            .with_local_clone_dirs(remote.local_clone_dirs.clone());
        self.remote = Arc::new(remote);
        self.environments = self.environments.with_remote(self.remote.clone());
        self
    }

    /// Runs environments with `config` (without it, the environment API answers that they are
    /// not enabled on this server).
    pub fn with_environments(mut self, config: environments::EnvironmentConfig) -> Self {
        self.environments = self.environments.run(config);
        self
    }

    /// Development environments.
    pub fn environments(&self) -> &environments::Environments {
        &self.environments
    }

    /// Users, organizations, teams, repositories and tokens.
    pub fn accounts(&self) -> &accounts::Accounts {
        &self.accounts
    }

    /// The container registry.
    pub fn registry(&self) -> &registry::Registry {
        &self.registry
    }

    /// Environment secrets.
    pub fn secrets(&self) -> &secrets::Secrets {
        &self.secrets
    }

    /// The service's time, in Unix seconds (what expiries are measured against).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The one access point.
    pub fn authz(&self) -> &Authz {
        &self.authz
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What `/readyz` reports: the parts every request needs (the database, blob storage) that
    /// do not answer now, by name. Why is logged, not returned: the probe is unauthenticated.
    pub async fn unreachable(&self) -> Vec<&'static str> {
        let mut down = Vec::new();
        if let Err(e) = self.store.ping().await {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            down.push("database");
        }
        if let Err(e) = self.registry.storage_answers().await {
            tracing::warn!(error = %e, "not ready: blob storage does not answer");
            down.push("blob storage");
        }
        down
    }
}
