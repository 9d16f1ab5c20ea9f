//! The container registry (OCI Distribution v1.1) as services: who may touch which package
//! (decided here, in [`Berth::authorize_package`], with the domain's `package_allows`), uploads,
//! blobs, manifests, tags, referrers, and the registry's bearer tokens.
//!
//! Storage layout in the blob driver (the one place it is written down):
//!
//! ```text
//! blobs/<algorithm>/<first two hex>/<hex>     committed blobs, immutable, shared by all packages
//! uploads/<uuid>                              data of an upload in progress
//! ```
//!
//! Metadata (which package links which blob, manifests, tags, uploads) is in the store.

mod auth;
mod blobs;
mod manifests;
mod uploads;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_blob::{BlobDriver, BlobError};
use berth_domain::oci::{Digest, RepositoryName};
use berth_domain::package::{PackageAction, PackageActor, PackageFacts, package_allows};
use berth_domain::{AccountKind, Login};
use berth_store::{Account, Package, PackageKind, StoreError};

pub use auth::{Grant, GrantedAccess, IssuedToken, RegistryCaller, TokenGrantRequest};
pub use blobs::{BlobBody, ByteRange};
pub use manifests::{MAX_MANIFEST, ManifestBody, PutManifest, PutOutcome, Referrer, TagPage};
pub use uploads::{UploadOutcome, UploadStatus};

use crate::{Berth, Principal};

/// A registry failure, one variant per OCI error code (plus the two HTTP range failures); the
/// HTTP edge maps each to its status and JSON.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry")]
    BlobUnknown,
    #[error("{0}")]
    BlobUploadInvalid(String),
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    #[error("{0}")]
    DigestInvalid(String),
    #[error("manifest references a blob the repository does not have: {0}")]
    ManifestBlobUnknown(Digest),
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("manifest unknown to registry")]
    ManifestUnknown,
    #[error("{0}")]
    NameInvalid(String),
    #[error("repository name not known to registry")]
    NameUnknown,
    #[error("{0}")]
    SizeInvalid(String),
    /// Anonymous, and the action needs credentials; `scope` is what to ask the token endpoint for.
    #[error("authentication required")]
    Unauthorized { scope: String },
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Unsupported(String),
    /// A chunk that does not start where the upload ends; `size` is where it ends.
    #[error("the chunk does not start at the end of the upload ({size} bytes so far)")]
    ChunkOutOfOrder { size: u64 },
    /// A blob range that cannot be served from a blob of `size` bytes.
    #[error("the requested range is not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] BlobError),
}

pub type RegistryResult<T> = Result<T, RegistryError>;

/// Process-local registry state: blob storage, the signing key, and the running hashes of
/// uploads in progress (a cache: when missing, the upload is hashed again from storage).
pub struct RegistryState {
    blobs: Arc<dyn BlobDriver>,
    signing_key: [u8; 32],
    hashes: Mutex<HashMap<String, uploads::RunningHash>>,
    upload_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for RegistryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryState")
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

impl RegistryState {
    pub fn new(blobs: Arc<dyn BlobDriver>, signing_key: [u8; 32]) -> Self {
        Self {
            blobs,
            signing_key,
            hashes: Mutex::default(),
            upload_locks: Mutex::default(),
        }
    }
}

/// Where a blob lives in storage.
pub(crate) fn blob_path(d: &Digest) -> String {
    let hex = d.hex();
    format!("blobs/{}/{}/{}", d.algorithm().as_str(), &hex[..2], hex)
}

/// A repository name resolved: its owner and, when it exists, its package.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: RepositoryName,
    pub owner: Account,
    pub package: Option<Package>,
}

impl Target {
    pub(crate) fn package(&self) -> RegistryResult<&Package> {
        self.package.as_ref().ok_or(RegistryError::NameUnknown)
    }
}

/// Parses a repository name from a URL.
pub fn repository_name(s: &str) -> RegistryResult<RepositoryName> {
    RepositoryName::parse(s).map_err(|e| RegistryError::NameInvalid(e.to_string()))
}

impl Berth {
    async fn resolve(&self, name: &RepositoryName) -> RegistryResult<Option<Target>> {
        let Ok(login) = Login::parse(name.owner()) else {
            return Ok(None);
        };
        let Some(owner) = self.store.account_by_login(&login).await? else {
            return Ok(None);
        };
        let package = self
            .store
            .package(owner.id, PackageKind::Container, name.package())
            .await?;
        Ok(Some(Target {
            name: name.clone(),
            owner,
            package,
        }))
    }

    /// The package actor for a principal, relative to `owner` and `package`.
    async fn package_actor(
        &self,
        p: &Principal,
        owner: &Account,
        package: Option<&Package>,
    ) -> RegistryResult<PackageActor> {
        Ok(match p {
            Principal::Anonymous => PackageActor::Anonymous,
            Principal::Repository { .. } => PackageActor::RepoToken,
            Principal::User {
                account, scopes, ..
            } => {
                let org_role = if owner.kind == AccountKind::Organization {
                    self.store.membership(owner.id, account.id).await?
                } else {
                    None
                };
                PackageActor::User {
                    is_owner: owner.id == account.id,
                    org_role,
                    is_publisher: package.is_some_and(|p| p.publisher_id == Some(account.id)),
                    site_admin: account.site_admin,
                    scopes: *scopes,
                }
            }
        })
    }

    /// Whether a principal may do `action` on the (possibly missing) package.
    async fn principal_allows(
        &self,
        p: &Principal,
        owner: &Account,
        package: Option<&Package>,
        action: PackageAction,
    ) -> RegistryResult<bool> {
        let actor = self.package_actor(p, owner, package).await?;
        Ok(package_allows(
            &actor,
            PackageFacts {
                visibility: package.map(|p| p.visibility),
            },
            action,
        ))
    }

    /// The one registry access decision. Returns the resolved target when `caller` may do
    /// `action` on `name`. A caller that may not read a package gets exactly what a missing
    /// package gives: `NAME_UNKNOWN`, or `UNAUTHORIZED` when anonymous.
    pub async fn authorize_package(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        action: PackageAction,
    ) -> RegistryResult<Target> {
        let target = self.resolve(name).await?;
        let allowed = match (&target, caller) {
            (None, _) => false,
            (Some(_), RegistryCaller::Grant(g)) => g.allows(name, action),
            (Some(t), RegistryCaller::Principal(p)) => {
                self.principal_allows(p, &t.owner, t.package.as_ref(), action)
                    .await?
            }
        };
        if allowed && let Some(t) = target {
            return Ok(t);
        }
        if caller.is_anonymous() {
            return Err(RegistryError::Unauthorized {
                scope: format!("repository:{name}:{}", action.as_str()),
            });
        }
        let may_read = match (&target, caller) {
            (Some(t), RegistryCaller::Grant(g)) => {
                t.package.is_some() && g.allows(name, PackageAction::Pull)
            }
            (Some(t), RegistryCaller::Principal(p)) => {
                t.package.is_some()
                    && self
                        .principal_allows(p, &t.owner, t.package.as_ref(), PackageAction::Pull)
                        .await?
            }
            (None, _) => false,
        };
        if action == PackageAction::Pull || (!may_read && action == PackageAction::Delete) {
            return Err(RegistryError::NameUnknown);
        }
        Err(RegistryError::Denied(format!(
            "you may not {} {name}",
            action.as_str()
        )))
    }

    /// The target's package, created (private, published by the caller) when missing.
    async fn package_for_push(
        &self,
        caller: &RegistryCaller,
        target: &Target,
    ) -> RegistryResult<Package> {
        if let Some(p) = &target.package {
            return Ok(p.clone());
        }
        let package = self
            .store
            .create_package(
                target.owner.id,
                PackageKind::Container,
                target.name.package(),
                berth_domain::Visibility::Private,
                caller.account_id(),
                self.now(),
            )
            .await?;
        tracing::info!(package = %target.name, "created container package");
        Ok(package)
    }
}

impl Berth {
    /// Changes a container package's visibility (its admins: the owner, the owning org's owners,
    /// the publisher, with `write:packages`). Public is final: a public package cannot be made
    /// private or internal again (GitHub's rule).
    pub async fn set_container_visibility(
        &self,
        p: &Principal,
        owner: &Login,
        package: &str,
        visibility: berth_domain::Visibility,
    ) -> crate::Result<Package> {
        use crate::ServiceError;
        let account = self
            .store
            .account_by_login(owner)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let found = self
            .store
            .package(account.id, PackageKind::Container, package)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let actor = self
            .package_actor(p, &account, Some(&found))
            .await
            .map_err(|e| match e {
                RegistryError::Store(s) => ServiceError::Store(s),
                other => ServiceError::Forbidden(other.to_string()),
            })?;
        let facts = PackageFacts {
            visibility: Some(found.visibility),
        };
        if !package_allows(&actor, facts, PackageAction::Pull) {
            return Err(ServiceError::NotFound);
        }
        if !berth_domain::package::package_admin(&actor, facts) {
            return Err(ServiceError::Forbidden(format!(
                "you must be an admin of the package {owner}/{package} (and use write:packages) to change its visibility"
            )));
        }
        if found.visibility == berth_domain::Visibility::Public
            && visibility != berth_domain::Visibility::Public
        {
            return Err(ServiceError::invalid(
                "Package",
                "visibility",
                "invalid",
                "a public package cannot be made private or internal again",
            ));
        }
        if visibility == berth_domain::Visibility::Internal
            && account.kind != AccountKind::Organization
        {
            return Err(ServiceError::invalid(
                "Package",
                "visibility",
                "invalid",
                "internal visibility is only for packages owned by an organization",
            ));
        }
        self.store
            .set_package_visibility(found.id, visibility, self.now())
            .await?;
        Ok(Package {
            visibility,
            ..found
        })
    }
}
