//! The package registries as services — the container registry (OCI Distribution v1.1) and the
//! npm registry ([`npm`]): who may touch which package
//! (decided here, in [`Registry::authorize_package`], with the domain's `authorize`), uploads,
//! blobs, manifests, tags, referrers, and the registry's bearer tokens.
//!
//! Storage layout in the blob driver (the one place it is written down):
//!
//! ```text
//! blobs/<algorithm>/<first two hex>/<hex>     committed blobs, immutable, shared by all packages
//! uploads/<uuid>                              data of an upload in progress
//! trash/<algorithm>/<hex>                     a blob being collected (see `collect.rs`)
//! ```
//!
//! Metadata (which package links which blob, manifests, tags, uploads) is in the store.

mod auth;
mod blobs;
mod collect;
mod lookups;
mod manifests;
mod npm;
mod settings;
mod uploads;
mod versions;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_blob::{BlobDriver, BlobError};
use berth_domain::oci::{Digest, RepositoryName};
use berth_domain::package::{
    PackageAction, PackageFacts, PackagePrincipal, RepoStanding, UserStanding, authorize,
};
use berth_domain::{AccountKind, Login};
use berth_domain::{Actor, Permission, RepoFacts, Scopes, Visibility, repo_permission};
use berth_store::{
    Account, NewPackage, Package, PackageKind, PackageSource, RepoGrant, Store, StoreError,
};

pub use auth::{Grant, GrantedAccess, IssuedToken, RegistryCaller, TokenGrantRequest};
pub use blobs::{BlobBody, ByteRange};
pub use collect::{CollectPolicy, CollectReport};
pub use manifests::{MAX_MANIFEST, ManifestBody, PutManifest, PutOutcome, Referrer, TagPage};
pub use npm::{NpmDocument, NpmTarball};
pub use settings::{Grantee, PackageAccessList, RepoGrantChange};
pub use uploads::{UploadOutcome, UploadStatus};

use crate::authz::Authz;
use crate::{Clock, Principal};
use lookups::Lookups;

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
    /// Anonymous, and the action needs credentials, or a registry token that does not carry
    /// the action (`insufficient`); `scope` is what to ask the token endpoint for.
    #[error("authentication required")]
    Unauthorized { scope: String, insufficient: bool },
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

/// The container registry (SPEC §6): packages, manifests, blobs and uploads, bearer tokens, and
/// garbage collection. Its process-local state is the running hashes of uploads in progress (a
/// cache: when missing, the upload is hashed again from storage) and their locks.
pub struct Registry {
    store: Store,
    authz: Authz,
    clock: Arc<dyn Clock>,
    blobs: Arc<dyn BlobDriver>,
    signing_key: [u8; 32],
    hashes: Mutex<HashMap<String, uploads::RunningHash>>,
    upload_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub(crate) fn new(
        store: Store,
        authz: Authz,
        clock: Arc<dyn Clock>,
        blobs: Arc<dyn BlobDriver>,
        signing_key: [u8; 32],
    ) -> Self {
        Self {
            store,
            authz,
            clock,
            blobs,
            signing_key,
            hashes: Mutex::default(),
            upload_locks: Mutex::default(),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A registry on `store` and `blobs` alone, for its unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(store: Store, blobs: Arc<dyn BlobDriver>) -> Self {
        Self::new(
            store.clone(),
            Authz::new(store),
            Arc::new(crate::SystemClock),
            blobs,
            [2; 32],
        )
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

impl Registry {
    /// Whether blob storage answers: a look for an object that is never written.
    pub async fn storage_answers(&self) -> std::result::Result<(), berth_blob::BlobError> {
        self.blobs.size("readiness-probe").await.map(|_| ())
    }
}

impl Registry {
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

    /// The principal and facts the domain decision needs: `p` looked up against the package's
    /// owner, the package (when it exists) and its linked source repository.
    async fn package_principal(
        &self,
        p: &Principal,
        owner: &Account,
        package: Option<&Package>,
    ) -> RegistryResult<(PackagePrincipal, PackageFacts)> {
        self.package_principal_with(p, owner, package, &mut Lookups::each())
            .await
    }

    /// [`Self::package_principal`], reading through `lookups` (which a listing fills once for
    /// all of an owner's packages).
    async fn package_principal_with(
        &self,
        p: &Principal,
        owner: &Account,
        package: Option<&Package>,
        lookups: &mut Lookups,
    ) -> RegistryResult<(PackagePrincipal, PackageFacts)> {
        let store = &self.store;
        let source = package.and_then(|p| p.source_repo_id);
        let inherit = package.is_some_and(|p| p.inherit);
        // While it inherits from a public repository, everyone reads it.
        let linked_public = match source {
            Some(id) if inherit => lookups
                .repo(store, id, None)
                .await?
                .is_some_and(|(r, _)| r.visibility == berth_domain::Visibility::Public),
            _ => false,
        };
        let facts = PackageFacts {
            visibility: package.map(|p| p.visibility),
            linked: source.is_some(),
            inherit,
            linked_public,
        };
        let principal = match p {
            Principal::Anonymous => PackagePrincipal::Anonymous,
            Principal::Repository { repo, .. } => PackagePrincipal::RepoToken(
                self.repo_standing(repo, owner, package, lookups).await?,
            ),
            Principal::Environment { repo, .. } => PackagePrincipal::Environment(
                self.repo_standing(repo, owner, package, lookups).await?,
            ),
            Principal::User {
                account, scopes, ..
            } => {
                let org = owner.kind == AccountKind::Organization;
                let org_role = if org {
                    lookups.org_role(store, owner, account.id).await?
                } else {
                    None
                };
                let linked_repo_role = match source {
                    Some(id) if facts.inherit => {
                        Self::inherited_role(store, account, id, lookups).await?
                    }
                    _ => None,
                };
                let (grant, team_grant) = match package {
                    Some(p) => lookups.user_grants(store, p.id, account.id, org).await?,
                    None => (None, None),
                };
                let standing = UserStanding {
                    is_owner: owner.id == account.id,
                    org_role,
                    is_publisher: package.is_some_and(|p| p.publisher_id == Some(account.id)),
                    site_admin: account.site_admin,
                    grant,
                    team_grant,
                    linked_repo_role,
                };
                PackagePrincipal::User {
                    standing,
                    scopes: *scopes,
                }
            }
        };
        Ok((principal, facts))
    }

    /// Whether a repository token's publish turns inheritance on for packages of `owner` (an
    /// organization can turn that off).
    pub(crate) async fn auto_inherit(&self, owner: &Account) -> RegistryResult<bool> {
        Ok(
            owner.kind != AccountKind::Organization
                || self.store.org_auto_inherit(owner.id).await?,
        )
    }

    /// A repository's standing towards a package: for its tokens and its environments.
    async fn repo_standing(
        &self,
        repo: &berth_store::Repo,
        owner: &Account,
        package: Option<&Package>,
        lookups: &Lookups,
    ) -> RegistryResult<RepoStanding> {
        let grant = match package {
            Some(p) => lookups.repo_grant(&self.store, p.id, repo.id).await?,
            None => RepoGrant::default(),
        };
        Ok(RepoStanding {
            is_linked: package.and_then(|p| p.source_repo_id) == Some(repo.id),
            visibility: repo.visibility,
            same_owner: repo.owner_id == owner.id,
            environments_access: grant.environments,
            token_access: grant.token_role,
        })
    }

    /// A user's role on a source repository as an access list: what they hold as owner, org
    /// member or collaborator. A public repository's read-for-everyone is not part of it
    /// (that one is the package decision's `linked_public` fact: everyone reads a package that
    /// inherits from a public repository), and the token's scopes are judged by the package
    /// decision.
    async fn inherited_role(
        store: &Store,
        account: &Account,
        repo_id: i64,
        lookups: &mut Lookups,
    ) -> RegistryResult<Option<Permission>> {
        let Some((repo, f)) = lookups.repo(store, repo_id, Some(account.id)).await? else {
            return Ok(None);
        };
        let actor = Actor::User {
            is_owner: f.is_owner,
            org_role: f.org_role,
            collaborator: f.collaborator,
            site_admin: account.site_admin,
            scopes: Scopes::all(),
        };
        let visibility = if repo.visibility == Visibility::Public {
            Visibility::Private
        } else {
            repo.visibility
        };
        Ok(repo_permission(&actor, RepoFacts { visibility }))
    }

    /// Whether a principal may do `action` on the (possibly missing) package.
    async fn principal_allows(
        &self,
        p: &Principal,
        owner: &Account,
        package: Option<&Package>,
        action: PackageAction,
    ) -> RegistryResult<bool> {
        let (principal, facts) = self.package_principal(p, owner, package).await?;
        Ok(authorize(&principal, facts, action))
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
        // Anonymous callers, and registry tokens that lack the action, are sent back to the
        // token endpoint with the scope this route needs (Docker's token flow: a client that
        // pulled with a pull token asks again for pull,push before it pushes). The token endpoint
        // grants only what is allowed, so this tells nothing about the package.
        let grant = matches!(caller, RegistryCaller::Grant(_));
        if caller.is_anonymous() || grant {
            let actions = match action {
                PackageAction::Read | PackageAction::Admin => "pull",
                PackageAction::Write => "pull,push",
                PackageAction::Delete => "delete",
            };
            return Err(RegistryError::Unauthorized {
                scope: format!("repository:{name}:{actions}"),
                insufficient: grant,
            });
        }
        let may_read = match (&target, caller) {
            (Some(t), RegistryCaller::Grant(g)) => {
                t.package.is_some() && g.allows(name, PackageAction::Read)
            }
            (Some(t), RegistryCaller::Principal(p)) => {
                t.package.is_some()
                    && self
                        .principal_allows(p, &t.owner, t.package.as_ref(), PackageAction::Read)
                        .await?
            }
            (None, _) => false,
        };
        if action == PackageAction::Read || (!may_read && action == PackageAction::Delete) {
            return Err(RegistryError::NameUnknown);
        }
        Err(RegistryError::Denied(format!(
            "you may not {} {name}",
            match action {
                PackageAction::Read => "pull from",
                PackageAction::Write => "push to",
                PackageAction::Delete => "delete from",
                PackageAction::Admin => "administer",
            }
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
            .create_package(
                &target.owner,
                PackageKind::Container,
                target.name.package(),
                caller.account_id(),
                caller.repo_id(),
            )
            .await?;
        tracing::info!(package = %target.name, "created container package");
        Ok(package)
    }

    /// A new private package of `owner`, published by `publisher` (an account) or by the token
    /// of repository `repo`. A repository token's first publish links the package to its
    /// repository and inherits its access (GitHub's rule for GITHUB_TOKEN publishes) unless the
    /// organization turned that off; without inheritance the repository's token keeps admin
    /// access, as GitHub grants the publishing workflow's repository.
    async fn create_package(
        &self,
        owner: &Account,
        kind: PackageKind,
        name: &str,
        publisher: Option<i64>,
        repo: Option<i64>,
    ) -> RegistryResult<Package> {
        let package = self
            .store
            .create_package(
                &NewPackage {
                    owner_id: owner.id,
                    kind,
                    name,
                    visibility: berth_domain::Visibility::Private,
                    publisher_id: publisher,
                    source: PackageSource {
                        repo_id: repo,
                        inherit: repo.is_some() && self.auto_inherit(owner).await?,
                    },
                },
                self.now(),
            )
            .await?;
        if let Some(repo_id) = repo
            && !package.inherit
        {
            let grant = RepoGrant {
                environments: false,
                token_role: Some(Permission::Admin),
            };
            self.store
                .set_repo_grant(package.id, repo_id, grant)
                .await?;
        }
        Ok(package)
    }

    /// Links an unlinked package to the repository `repo` of its owner, when there is one; its
    /// access is inherited only when the publisher is that repository's own token (`caller_repo`).
    async fn link_source(
        &self,
        caller_repo: Option<i64>,
        owner: &Account,
        package: &Package,
        repo: &berth_domain::RepoName,
    ) -> RegistryResult<()> {
        let Some((repo, _)) = self.store.repo_by_name(&owner.login, repo, None).await? else {
            return Ok(());
        };
        let inherit = caller_repo == Some(repo.id) && self.auto_inherit(owner).await?;
        self.store
            .set_package_source(
                package.id,
                PackageSource {
                    repo_id: Some(repo.id),
                    inherit,
                },
                self.now(),
            )
            .await?;
        tracing::info!(package = %package.name, repository = %repo.full_name(), inherit, "linked package to its source repository");
        Ok(())
    }
}

impl Registry {
    /// Changes a package's visibility (its admins: the owner, the owning org's owners,
    /// the publisher, with `write:packages`). Public is final: a public package cannot be made
    /// private or internal again (GitHub's rule).
    pub async fn set_package_visibility(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        package: &str,
        visibility: berth_domain::Visibility,
    ) -> crate::Result<Package> {
        use crate::ServiceError;
        let (account, found) = self
            .package_for(p, kind, owner, package, PackageAction::Admin)
            .await?;
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

impl Registry {
    /// A package as the caller sees it, with its source repository when the caller can see that
    /// too. A package the caller may not read is `NotFound`, as a missing one.
    pub async fn package(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
    ) -> crate::Result<(Package, Option<berth_store::Repo>)> {
        let (_, found) = self
            .package_for(p, kind, owner, name, PackageAction::Read)
            .await?;
        let repo = match found.source_repo_id {
            Some(id) => self
                .store
                .repo_by_id(id, p.user_id())
                .await?
                .filter(|(r, f)| self.authz.repo_permission(p, r, *f).is_some())
                .map(|(r, _)| r),
            None => None,
        };
        Ok((found, repo))
    }
}
