//! Users' SSH public keys (GitHub's `/user/keys`): added with `write:public_key`, read with
//! `read:public_key`, deleted with `admin:public_key`, each only by its own user. The SSH gateway
//! finds a presented key by its fingerprint.

use berth_domain::Scope;
use berth_domain::ssh_keys::{self, KEYS_PER_USER, SshKeyError};
use berth_store::{NewSshKey, SshKeyRecord, StoreError};

use super::Accounts;
use crate::authz::Access;
use crate::error::found;
use crate::{Principal, Result, ServiceError};

fn invalid(field: &'static str, e: SshKeyError) -> ServiceError {
    ServiceError::invalid("PublicKey", field, "custom", e.to_string())
}

impl Accounts {
    /// `POST /user/keys` `{title?, key}`. The title defaults to the key's comment, else its kind.
    pub async fn add_ssh_key(
        &self,
        p: &Principal,
        title: Option<&str>,
        key: &str,
    ) -> Result<SshKeyRecord> {
        let user = self
            .authz
            .check(p, Access::Scope(Scope::WritePublicKey))
            .await?;
        let parsed = ssh_keys::parse_public_key(key).map_err(|e| invalid("key", e))?;
        let comment = key
            .trim()
            .splitn(3, char::is_whitespace)
            .nth(2)
            .map(|c| c.trim().to_owned());
        let title = title
            .map(str::to_owned)
            .or(comment)
            .unwrap_or_else(|| parsed.key.split(' ').next().unwrap_or("key").to_owned());
        ssh_keys::check_title(&title).map_err(|e| invalid("title", e))?;
        let new = NewSshKey {
            user_id: user.id,
            title: &title,
            key: &parsed.key,
            fingerprint: &parsed.fingerprint,
        };
        match self.store.add_ssh_key(new, KEYS_PER_USER, self.now()).await {
            Ok(Some(record)) => {
                tracing::info!(user = %user.login, fingerprint = %record.fingerprint, "SSH key added");
                Ok(record)
            }
            Ok(None) => Err(ServiceError::invalid(
                "PublicKey",
                "key",
                "custom",
                format!(
                    "{} already has {KEYS_PER_USER} keys, the most one account holds; delete one first (berth key delete ID)",
                    user.login
                ),
            )),
            Err(StoreError::Conflict(_)) => Err(ServiceError::invalid(
                "PublicKey",
                "key",
                "custom",
                "key is already in use",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /user/keys`.
    pub async fn list_ssh_keys(&self, p: &Principal) -> Result<Vec<SshKeyRecord>> {
        let user = self
            .authz
            .check(p, Access::Scope(Scope::ReadPublicKey))
            .await?;
        Ok(self.store.ssh_keys(user.id).await?)
    }

    /// `GET /user/keys/{id}`: another user's key is `NotFound`, as a missing one.
    pub async fn ssh_key(&self, p: &Principal, id: i64) -> Result<SshKeyRecord> {
        let user = self
            .authz
            .check(p, Access::Scope(Scope::ReadPublicKey))
            .await?;
        self.store
            .ssh_key(user.id, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// `DELETE /user/keys/{id}`: new connections with it are refused at once; open ones stay.
    pub async fn delete_ssh_key(&self, p: &Principal, id: i64) -> Result<()> {
        let user = self
            .authz
            .check(p, Access::Scope(Scope::AdminPublicKey))
            .await?;
        found(self.store.delete_ssh_key(user.id, id).await?)?;
        tracing::info!(user = %user.login, key = id, "SSH key deleted");
        Ok(())
    }

    /// Whom a key presented to the SSH gateway stands for: its user, acting with the
    /// `codespace` scope only (what reaching one's environments needs). `None`: no account holds
    /// the key (a deleted one included, so new connections with it are refused at once).
    pub async fn ssh_principal(&self, fingerprint: &str) -> Result<Option<Principal>> {
        let Some(record) = self.store.ssh_key_by_fingerprint(fingerprint).await? else {
            return Ok(None);
        };
        self.ssh_principal_of(record.user_id).await
    }

    /// The user `user_id` as the SSH gateway acts for them (the `codespace` scope only): what
    /// another replica's gateway relays a connection it signed in for.
    pub async fn ssh_principal_of(&self, user_id: i64) -> Result<Option<Principal>> {
        let Some(account) = self.store.account_by_id(user_id).await? else {
            return Ok(None);
        };
        Ok(Some(Principal::User {
            account,
            scopes: berth_domain::Scopes::from_iter([Scope::Codespace]),
            token_id: 0,
        }))
    }
}
