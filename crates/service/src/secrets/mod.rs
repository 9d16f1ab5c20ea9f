//! Environment secrets (SPEC §2) at the user, repository and organization levels: who manages
//! them, the sealed-box exchange with clients, encryption at rest, and which secrets an
//! environment gets ([`resolve`]).
//!
//! Clients seal a value with libsodium's `crypto_box_seal` to the scope's X25519 public key.
//! Berth opens it (proving it was sealed to the right key), checks it, and stores it in an
//! envelope under the master keys ([`keyring`]); the scope's private key is kept the same way.
//! Plaintext lives only in [`Zeroizing`] buffers and [`SecretString`]s, never in a log line.

mod keyring;
mod resolve;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use berth_domain::secrets::{
    MAX_PER_SCOPE, MAX_VALUE_BYTES, OrgSecretVisibility, SecretLevel, SecretName,
};
use berth_domain::{Login, Permission, RepoName, Scope};
use berth_store::{
    Account, Listing, NewSecret, PutSecret, SecretAuditRecord, SecretKeyRecord, SecretRecord,
    SecretScope, Store, Window,
};
use rand::Rng;
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use keyring::{KeyringError, MasterKey, MasterKeys, PersistKeys};
pub use resolve::PreviewedSecret;

use crate::authz::Access;
use crate::authz::Authz;
use crate::repos::RepoView;
use crate::{Clock, Principal, Result, ServiceError};

/// Which secrets a call is about, as its path names them.
#[derive(Debug, Clone, Copy)]
pub enum SecretOwner<'a> {
    /// The caller's own user secrets.
    User,
    Repository {
        owner: &'a Login,
        name: &'a RepoName,
    },
    Organization(&'a Login),
}

/// A scope the caller may manage, and who they are.
struct Managed {
    scope: SecretScope,
    actor: Account,
    /// The organization, for organization secrets.
    org: Option<Account>,
}

/// A scope's public key, as clients fetch it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicKey {
    pub key_id: String,
    pub key: String,
}

/// A secret as the API shows it: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub level: SecretLevel,
    pub name: SecretName,
    pub visibility: Option<OrgSecretVisibility>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<(SecretLevel, SecretRecord)> for SecretMeta {
    fn from((level, r): (SecretLevel, SecretRecord)) -> Self {
        SecretMeta {
            level,
            name: r.name,
            visibility: r.visibility,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A create-or-update request as the API receives it.
pub struct SetSecret {
    /// Base64 of a sealed box.
    pub encrypted_value: String,
    pub key_id: String,
    /// Organization secrets only: `all`, `private` or `selected`.
    pub visibility: Option<String>,
    pub selected_repository_ids: Option<Vec<i64>>,
}

impl std::fmt::Debug for SetSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetSecret")
            .field("key_id", &self.key_id)
            .field("visibility", &self.visibility)
            .finish_non_exhaustive()
    }
}

/// An audit line with the actor's login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLine {
    pub actor: Option<Login>,
    pub record: SecretAuditRecord,
}

/// What a master key rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    /// The key that wraps everything now.
    pub master_key_id: String,
    /// Whether a new key was generated (false when the keys come from `BERTH_MASTER_KEY`).
    pub generated: bool,
    pub rewrapped: u64,
    /// Keys no value uses any more, dropped from the key file (or safe to drop from the variable).
    pub retired: Vec<String>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::invalid("Secret", field, "invalid", message)
}

/// The associated data binding a value to its place: moved elsewhere, it does not decrypt.
fn value_place(scope: SecretScope, name: &SecretName) -> String {
    format!("secret/{}/{}/{}", scope.level.as_str(), scope.id, name)
}

fn key_place(scope: SecretScope) -> String {
    format!("secret-key/{}/{}", scope.level.as_str(), scope.id)
}

/// GitHub's key ids are digit strings; this one is derived from the public key.
fn key_id(public: &[u8]) -> String {
    let h = Sha256::digest(public);
    u64::from_be_bytes(h[..8].try_into().expect("8 bytes")).to_string()
}

impl From<KeyringError> for ServiceError {
    fn from(e: KeyringError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

/// Environment secrets (SPEC §4): each scope's sealed-box key pair, values sealed under the
/// master keys, who may manage which scope, and what an environment receives.
#[derive(Debug, Clone)]
pub struct Secrets {
    store: Store,
    authz: Authz,
    clock: Arc<dyn Clock>,
    master_keys: MasterKeys,
}

impl Secrets {
    pub(crate) fn new(
        store: Store,
        authz: Authz,
        clock: Arc<dyn Clock>,
        master_keys: MasterKeys,
    ) -> Self {
        Self {
            store,
            authz,
            clock,
            master_keys,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn master_keys(&self) -> &MasterKeys {
        &self.master_keys
    }

    /// Decides whether `p` manages the secrets `owner` names.
    async fn managed(&self, p: &Principal, owner: SecretOwner<'_>) -> Result<Managed> {
        match owner {
            SecretOwner::User => {
                let actor = self
                    .authz
                    .check(p, Access::Scope(Scope::CodespaceSecrets))
                    .await?
                    .clone();
                Ok(Managed {
                    scope: SecretScope {
                        level: SecretLevel::User,
                        id: actor.id,
                    },
                    actor,
                    org: None,
                })
            }
            SecretOwner::Repository { owner, name } => {
                let actor = self.authz.check(p, Access::User).await?.clone();
                let view = self
                    .authz
                    .repo_for(p, owner, name, Permission::Write)
                    .await?;
                Ok(Managed {
                    scope: SecretScope {
                        level: SecretLevel::Repository,
                        id: view.repo.id,
                    },
                    actor,
                    org: None,
                })
            }
            SecretOwner::Organization(login) => {
                let org = self.authz.organization(login).await?;
                let actor = self
                    .authz
                    .check(p, Access::OrgOwner { org: &org })
                    .await?
                    .clone();
                Ok(Managed {
                    scope: SecretScope {
                        level: SecretLevel::Organization,
                        id: org.id,
                    },
                    actor,
                    org: Some(org),
                })
            }
        }
    }

    /// The scope's key pair, made on first use.
    async fn scope_key(&self, scope: SecretScope) -> Result<SecretKeyRecord> {
        if let Some(k) = self.store.secret_key(scope).await? {
            return Ok(k);
        }
        let private = Zeroizing::new(rand::rng().random::<[u8; 32]>());
        let public = crypto_box::SecretKey::from(*private).public_key();
        let record = SecretKeyRecord {
            key_id: key_id(public.as_bytes()),
            public_key: B64.encode(public.as_bytes()),
            private: self.master_keys.seal(private.as_slice(), &key_place(scope)),
        };
        Ok(self
            .store
            .insert_secret_key(scope, &record, self.now())
            .await?)
    }

    /// `GET …/codespaces/secrets/public-key`.
    pub async fn secret_public_key(
        &self,
        p: &Principal,
        owner: SecretOwner<'_>,
    ) -> Result<PublicKey> {
        let m = self.managed(p, owner).await?;
        let k = self.scope_key(m.scope).await?;
        Ok(PublicKey {
            key_id: k.key_id,
            key: k.public_key,
        })
    }

    /// `GET …/codespaces/secrets`.
    pub async fn list_secrets(
        &self,
        p: &Principal,
        owner: SecretOwner<'_>,
    ) -> Result<Vec<SecretMeta>> {
        let m = self.managed(p, owner).await?;
        Ok(self
            .store
            .secrets(m.scope)
            .await?
            .into_iter()
            .map(|r| (m.scope.level, r).into())
            .collect())
    }

    async fn existing(&self, m: &Managed, name: &str) -> Result<SecretRecord> {
        let name = SecretName::parse(name).map_err(|_| ServiceError::NotFound)?;
        self.store
            .secret(m.scope, &name)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// `GET …/codespaces/secrets/{name}`.
    pub async fn get_secret(
        &self,
        p: &Principal,
        owner: SecretOwner<'_>,
        name: &str,
    ) -> Result<SecretMeta> {
        let m = self.managed(p, owner).await?;
        Ok((m.scope.level, self.existing(&m, name).await?).into())
    }

    /// Opens a sealed box sent for `scope` and checks the value.
    async fn open_sealed(&self, scope: SecretScope, req: &SetSecret) -> Result<Zeroizing<Vec<u8>>> {
        let key = self.scope_key(scope).await?;
        if req.key_id != key.key_id {
            return Err(invalid(
                "key_id",
                format!(
                    "key_id {:?} is not this scope's key ({}); fetch the public key again and seal the value to it",
                    req.key_id, key.key_id
                ),
            ));
        }
        let sealed = B64
            .decode(req.encrypted_value.trim())
            .map_err(|_| invalid("encrypted_value", "encrypted_value is not base64"))?;
        let private = self.master_keys.open(&key.private, &key_place(scope))?;
        let private: [u8; 32] = private.as_slice().try_into().map_err(|_| {
            ServiceError::Internal("a stored secret key has the wrong length".into())
        })?;
        let value = crypto_box::SecretKey::from(private)
            .unseal(&sealed)
            .map(Zeroizing::new)
            .map_err(|_| {
                invalid(
                    "encrypted_value",
                    format!(
                        "encrypted_value does not open with key {}: seal the value with crypto_box_seal to the public key from …/public-key",
                        key.key_id
                    ),
                )
            })?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(invalid(
                "encrypted_value",
                format!(
                    "the secret value is {} bytes; at most {MAX_VALUE_BYTES} (48 KB) are allowed",
                    value.len()
                ),
            ));
        }
        if std::str::from_utf8(&value).is_err() || value.contains(&0) {
            return Err(invalid(
                "encrypted_value",
                "the secret value must be UTF-8 text without NUL bytes (it becomes an environment variable)",
            ));
        }
        Ok(value)
    }

    /// Checks repository ids selected for a user or organization secret.
    async fn selectable(&self, p: &Principal, m: &Managed, ids: &[i64]) -> Result<Vec<i64>> {
        let mut ok = Vec::with_capacity(ids.len());
        for &id in ids {
            let found = self.store.repo_by_id(id, p.user_id()).await?;
            let fits = match (&m.org, found) {
                (Some(org), Some((repo, _))) => repo.owner_id == org.id,
                (None, Some((repo, facts))) => {
                    self.authz.repo_permission(p, &repo, facts).is_some()
                }
                (_, None) => false,
            };
            if !fits {
                let whose = match &m.org {
                    Some(org) => format!("of {}", org.login),
                    None => "that you can access".to_owned(),
                };
                return Err(invalid(
                    "selected_repository_ids",
                    format!("there is no repository with id {id} {whose}"),
                ));
            }
            ok.push(id);
        }
        ok.sort_unstable();
        ok.dedup();
        Ok(ok)
    }

    /// `PUT …/codespaces/secrets/{name}`: creates or replaces a secret.
    pub async fn put_secret(
        &self,
        p: &Principal,
        owner: SecretOwner<'_>,
        name: &str,
        req: SetSecret,
    ) -> Result<PutSecret> {
        let m = self.managed(p, owner).await?;
        let name = SecretName::parse(name).map_err(|e| invalid("name", e.to_string()))?;
        let existing = self.store.secret(m.scope, &name).await?;
        let visibility = match m.scope.level {
            SecretLevel::Repository => {
                if req.visibility.is_some() || req.selected_repository_ids.is_some() {
                    return Err(invalid(
                        "visibility",
                        "repository secrets have no visibility or selected repositories",
                    ));
                }
                None
            }
            SecretLevel::User => Some(OrgSecretVisibility::Selected),
            SecretLevel::Organization => match (&req.visibility, &existing) {
                (Some(v), _) => Some(OrgSecretVisibility::parse(v).ok_or_else(|| {
                    invalid(
                        "visibility",
                        format!("visibility {v:?} is not one of all, private, selected"),
                    )
                })?),
                (None, Some(e)) => e.visibility,
                (None, None) => {
                    return Err(invalid(
                        "visibility",
                        "visibility is required for a new organization secret (all, private or selected)",
                    ));
                }
            },
        };
        let selected = match &req.selected_repository_ids {
            Some(ids) => Some(self.selectable(p, &m, ids).await?),
            None => None,
        };
        let value = self.open_sealed(m.scope, &req).await?;
        let envelope = self.master_keys.seal(&value, &value_place(m.scope, &name));
        drop(value);
        self.store
            .put_secret(
                &NewSecret {
                    scope: m.scope,
                    name: &name,
                    visibility,
                    value: envelope,
                    selected: selected.as_deref(),
                    actor_id: m.actor.id,
                },
                MAX_PER_SCOPE,
                self.now(),
            )
            .await?
            .ok_or_else(|| {
                invalid(
                    "name",
                    format!(
                        "this {} already has {MAX_PER_SCOPE} secrets, the most allowed; delete one first",
                        m.scope.level.as_str()
                    ),
                )
            })
    }

    /// `DELETE …/codespaces/secrets/{name}`.
    pub async fn delete_secret(
        &self,
        p: &Principal,
        owner: SecretOwner<'_>,
        name: &str,
    ) -> Result<()> {
        let m = self.managed(p, owner).await?;
        let name = SecretName::parse(name).map_err(|_| ServiceError::NotFound)?;
        if self
            .store
            .delete_secret(m.scope, &name, m.actor.id, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// The secret behind a `…/{name}/repositories` call: user and organization secrets only,
    /// and for organizations only while their visibility is `selected`.
    async fn selection_target(
        &self,
        p: &Principal,
        owner: SecretOwner<'_>,
        name: &str,
    ) -> Result<(Managed, SecretRecord)> {
        if matches!(owner, SecretOwner::Repository { .. }) {
            return Err(ServiceError::NotFound);
        }
        let m = self.managed(p, owner).await?;
        let secret = self.existing(&m, name).await?;
        if secret.visibility != Some(OrgSecretVisibility::Selected) {
            return Err(ServiceError::Conflict(format!(
                "the secret's visibility is {}; set it to selected to choose repositories",
                secret
                    .visibility
                    .map_or("none", OrgSecretVisibility::as_str)
            )));
        }
        Ok((m, secret))
    }

    /// `GET …/{name}/repositories`.
    pub async fn secret_repositories(
        &self,
        p: &Principal,
        owner: SecretOwner<'_>,
        name: &str,
    ) -> Result<Vec<RepoView>> {
        let (_, secret) = self.selection_target(p, owner, name).await?;
        let mut views = Vec::new();
        for id in self.store.secret_repositories(secret.id).await? {
            if let Some((repo, facts)) = self.store.repo_by_id(id, p.user_id()).await?
                && let Some(permission) = self.authz.repo_permission(p, &repo, facts)
            {
                views.push(RepoView { repo, permission });
            }
        }
        Ok(views)
    }

    /// `PUT …/{name}/repositories`: replaces the selection.
    pub async fn set_secret_repositories(
        &self,
        p: &Principal,
        owner: SecretOwner<'_>,
        name: &str,
        ids: &[i64],
    ) -> Result<()> {
        let (m, secret) = self.selection_target(p, owner, name).await?;
        let ids = self.selectable(p, &m, ids).await?;
        Ok(self.store.set_secret_repositories(secret.id, &ids).await?)
    }

    /// `PUT|DELETE …/{name}/repositories/{repository_id}`.
    pub async fn select_secret_repository(
        &self,
        p: &Principal,
        owner: SecretOwner<'_>,
        name: &str,
        repo_id: i64,
        selected: bool,
    ) -> Result<()> {
        let (m, secret) = self.selection_target(p, owner, name).await?;
        if selected {
            self.selectable(p, &m, &[repo_id]).await?;
            self.store.add_secret_repository(secret.id, repo_id).await?;
        } else {
            self.store
                .remove_secret_repository(secret.id, repo_id)
                .await?;
        }
        Ok(())
    }

    /// The newest `limit` audit lines (site administrators).
    pub async fn secret_audit(&self, p: &Principal, w: Window) -> Result<Listing<AuditLine>> {
        self.authz.check(p, Access::SiteAdmin).await?;
        let page = self.store.secret_audit(w).await?;
        let mut lines = Vec::new();
        for r in page.items {
            let actor = match r.actor_id {
                Some(id) => self.store.account_by_id(id).await?.map(|a| a.login),
                None => None,
            };
            lines.push(AuditLine { actor, record: r });
        }
        Ok(Listing {
            items: lines,
            total: page.total,
        })
    }

    /// Re-wraps every stored value under a new master key (or, when the keys come from the
    /// environment, under the first of them), then retires the keys nothing uses any more. Values
    /// stay readable throughout: the old key stays in the ring until nothing needs it.
    pub async fn rotate_master_key(&self, p: &Principal) -> Result<RotationReport> {
        self.authz.check(p, Access::SiteAdmin).await?;
        let generated = self
            .master_keys
            .generate_primary()
            .map_err(|e| ServiceError::Internal(format!("cannot save the new master key: {e}")))?;
        let primary = self.master_keys.primary_id();
        let mut rewrapped = 0;
        for table in [
            berth_store::EnvelopeTable::SecretKeys,
            berth_store::EnvelopeTable::Secrets,
        ] {
            // A value written meanwhile under an older key is caught by the next batch; a row
            // updated between reading and re-wrapping keeps its new envelope.
            for _ in 0..10_000 {
                let batch = self.store.envelopes_not_under(table, &primary, 200).await?;
                if batch.is_empty() {
                    break;
                }
                for (id, old) in batch {
                    let (wrapped, kid) = self.master_keys.rewrap(&old)?;
                    if self
                        .store
                        .rewrap_envelope(table, id, &old, &wrapped, &kid)
                        .await?
                    {
                        rewrapped += 1;
                    }
                }
            }
        }
        let used: Vec<String> = self
            .store
            .envelopes_by_master_key()
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let retired = self
            .master_keys
            .retain_used(&used)
            .map_err(|e| ServiceError::Internal(format!("cannot save the master key file: {e}")))?;
        tracing::info!(master_key_id = %primary, rewrapped, ?retired, "master key rotated");
        Ok(RotationReport {
            master_key_id: primary,
            generated,
            rewrapped,
            retired,
        })
    }

    /// Opens a stored value (only environments, when they start, need this).
    fn open_value(&self, scope: SecretScope, r: &SecretRecord) -> Result<SecretString> {
        let bytes = self
            .master_keys
            .open(&r.value, &value_place(scope, &r.name))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ServiceError::Internal(format!("secret {} is not UTF-8", r.name)))?;
        Ok(SecretString::from(text.to_owned()))
    }
}
