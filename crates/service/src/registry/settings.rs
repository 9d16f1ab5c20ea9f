//! Package settings, for a package's admins: its source repository and inheritance, and explicit
//! grants to users and to repositories.

use berth_domain::package::{PackageAction, PackageFacts, PackagePrincipal, authorize};
use berth_domain::{Login, Permission, RepoName};
use berth_store::{Account, Grants, Package, PackageKind, PackageSource, Repo, RepoGrant};

use super::Registry;
use super::RegistryError;
use super::lookups::Lookups;
use crate::error::found;
use crate::{Principal, Result, ServiceError};

/// Whom a package grant is to: a user, or a team of the package's organization (by slug).
#[derive(Debug, Clone, Copy)]
pub enum Grantee<'a> {
    User(&'a Login),
    Team(&'a str),
}

/// Who has explicit access to a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageAccessList {
    pub users: Vec<(String, Permission)>,
    /// Teams of the owning organization: (slug, role).
    pub teams: Vec<(berth_domain::teams::TeamSlug, Permission)>,
    pub repositories: Vec<(String, RepoGrant)>,
}

/// Grants to `whom` (users, teams) are the access list only while a package does not inherit.
fn not_inheriting(package: &Package, whom: &str) -> Result<()> {
    if package.inherit {
        return Err(ServiceError::invalid(
            "Package",
            "inherit_access",
            "invalid",
            format!(
                "the package inherits its access from its repository; turn inheritance off to grant {whom} directly"
            ),
        ));
    }
    Ok(())
}

/// A change to a repository's grant on a package; `None` leaves that part as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepoGrantChange {
    pub environments: Option<bool>,
    pub token_role: Option<Option<Permission>>,
}

impl Registry {
    /// The package `owner/name`, when the caller administers it.
    async fn administered_package(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
    ) -> Result<(Account, Package)> {
        self.package_for(p, kind, owner, name, PackageAction::Admin)
            .await
    }

    /// Who `p` is to `package` of `account`, and the package's facts, for [`authorize`]; a
    /// caller it cannot place is `NotFound`.
    async fn principal_for(
        &self,
        p: &Principal,
        account: &Account,
        package: &Package,
        lookups: &mut Lookups,
    ) -> Result<(PackagePrincipal, PackageFacts)> {
        self.package_principal_with(p, account, Some(package), lookups)
            .await
            .map_err(|e| match e {
                RegistryError::Store(s) => ServiceError::Store(s),
                _ => ServiceError::NotFound,
            })
    }

    /// The package `owner/name`, when the caller may do `action` to it. One the caller cannot
    /// read is `NotFound`, as a missing one; one they read but may not act on is `Forbidden`.
    pub(crate) async fn package_for(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
        action: PackageAction,
    ) -> Result<(Account, Package)> {
        let account = self.authz.account(owner).await?;
        let package = self
            .store
            .package(account.id, kind, name)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let (principal, facts) = self
            .principal_for(p, &account, &package, &mut Lookups::each())
            .await?;
        if !authorize(&principal, facts, PackageAction::Read) {
            return Err(ServiceError::NotFound);
        }
        if !authorize(&principal, facts, action) {
            let need = match action {
                PackageAction::Delete => "an admin of the package, using delete:packages,",
                PackageAction::Write => "a writer of the package, using write:packages,",
                PackageAction::Read | PackageAction::Admin => {
                    "an admin of the package, using write:packages,"
                }
            };
            return Err(ServiceError::Forbidden(format!(
                "you must be {need} to do this to {owner}/{name}"
            )));
        }
        Ok((account, package))
    }

    /// Links the package to `repository` (which must have the package's owner) or unlinks it
    /// (`Some(None)`), and/or turns inheritance on or off. Switching inheritance replaces the
    /// explicit user grants: they are removed, and the access list is the repository's (on) or
    /// starts empty (off). The package's visibility setting is never changed by it (but while it
    /// inherits from a public repository, everyone reads it).
    pub async fn set_package_source(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
        repository: Option<Option<RepoName>>,
        inherit: Option<bool>,
    ) -> Result<Package> {
        let (account, package) = self.administered_package(p, kind, owner, name).await?;
        let repo_id = match repository {
            None => package.source_repo_id,
            Some(None) => None,
            Some(Some(repo)) => {
                let found = self
                    .store
                    .repo_by_name(&account.login, &repo, p.user_id())
                    .await?;
                let r = found.filter(|(r, f)| self.authz.repo_permission(p, r, *f).is_some()).map(|(r, _)| r).ok_or_else(|| {
                    ServiceError::invalid("Package", "repository", "invalid", format!("{owner} has no repository named {repo} that you can see; a package links to a repository of its own owner"))
                })?;
                Some(r.id)
            }
        };
        let inherit = inherit.unwrap_or(package.inherit) && repo_id.is_some();
        if inherit != package.inherit {
            for grants in [Grants::PackageUsers, Grants::PackageTeams] {
                self.store.revoke_all(grants, package.id).await?;
            }
        }
        let source = PackageSource { repo_id, inherit };
        self.store
            .set_package_source(package.id, source, self.now())
            .await?;
        Ok(Package {
            source_repo_id: repo_id,
            inherit,
            ..package
        })
    }

    /// Grants a user, or a team of the package's organization, a role on the package (or changes
    /// it): GitHub's "Manage access"; a team's members hold the role while they are in it. Not
    /// while the package inherits: its access list is then the repository's.
    pub async fn grant(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
        to: Grantee<'_>,
        role: Permission,
    ) -> Result<()> {
        let (_, package) = self.administered_package(p, kind, owner, name).await?;
        match to {
            Grantee::User(login) => {
                not_inheriting(&package, "users")?;
                let user = self.authz.user(login).await?;
                let grants = Grants::PackageUsers;
                Ok(self.store.grant(grants, package.id, user.id, role).await?)
            }
            Grantee::Team(slug) => {
                not_inheriting(&package, "teams")?;
                // A secret team the caller does not see is named exactly as a missing one.
                let (_, team) = self.authz.team(p, owner, slug).await?;
                let grants = Grants::PackageTeams;
                Ok(self.store.grant(grants, package.id, team.id, role).await?)
            }
        }
    }

    /// Removes what [`Registry::grant`] gave.
    pub async fn revoke(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
        from: Grantee<'_>,
    ) -> Result<()> {
        let (_, package) = self.administered_package(p, kind, owner, name).await?;
        found(match from {
            Grantee::User(login) => {
                let user = self.authz.account(login).await?;
                let grants = Grants::PackageUsers;
                self.store.revoke(grants, package.id, user.id).await?
            }
            Grantee::Team(slug) => {
                let (_, team) = self.authz.team(p, owner, slug).await?;
                let grants = Grants::PackageTeams;
                self.store.revoke(grants, package.id, team.id).await?
            }
        })
    }

    /// The repository `owner/name` if the caller can see it; `NotFound` exactly as for a
    /// missing one otherwise.
    async fn visible_repo(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
    ) -> Result<berth_store::Repo> {
        self.store
            .repo_by_name(owner, name, p.user_id())
            .await?
            .filter(|(r, f)| self.authz.repo_permission(p, r, *f).is_some())
            .map(|(r, _)| r)
            .ok_or(ServiceError::NotFound)
    }

    /// Grants a repository environments access and/or a token role, combined with what it
    /// already has: a field left `None` keeps its value (`token_role: Some(None)` removes the
    /// token role). A grant left with nothing is removed. Returns the grant as it now is.
    pub async fn grant_repository(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
        (repo_owner, repo_name): (&Login, &RepoName),
        change: RepoGrantChange,
    ) -> Result<RepoGrant> {
        let (_, package) = self.administered_package(p, kind, owner, name).await?;
        // A repository the caller cannot see answers exactly as one that does not exist.
        let repo = self.visible_repo(p, repo_owner, repo_name).await?;
        let current = self.store.repo_grant(package.id, repo.id).await?;
        let grant = RepoGrant {
            environments: change.environments.unwrap_or(current.environments),
            token_role: change.token_role.unwrap_or(current.token_role),
        };
        self.store
            .set_repo_grant(package.id, repo.id, grant)
            .await?;
        Ok(grant)
    }

    pub async fn revoke_repository(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
        repo_owner: &Login,
        repo_name: &RepoName,
    ) -> Result<()> {
        let (_, package) = self.administered_package(p, kind, owner, name).await?;
        let repo = self.visible_repo(p, repo_owner, repo_name).await?;
        found(self.store.remove_repo_grant(package.id, repo.id).await?)
    }

    /// The package's explicit grants.
    pub async fn package_access(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
    ) -> Result<PackageAccessList> {
        let (_, package) = self.administered_package(p, kind, owner, name).await?;
        Ok(PackageAccessList {
            users: self.store.user_grants(package.id).await?,
            teams: self.store.team_grants(package.id).await?,
            repositories: self.store.repo_grants(package.id).await?,
        })
    }
}

impl Registry {
    /// An account's packages of `kind` that the caller may read, by name.
    pub async fn list_packages(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
    ) -> Result<(Account, Vec<(Package, Option<Repo>)>)> {
        let account = self.authz.account(owner).await?;
        let mut lookups = Lookups::listing(&self.store, p, &account).await?;
        let mut visible = Vec::new();
        for package in self.store.packages_of_owner(account.id, kind).await? {
            let (principal, facts) = self
                .principal_for(p, &account, &package, &mut lookups)
                .await?;
            if !authorize(&principal, facts, PackageAction::Read) {
                continue;
            }
            let repo = match package.source_repo_id {
                Some(id) => lookups
                    .repo(&self.store, id, p.user_id())
                    .await?
                    .filter(|(r, f)| self.authz.repo_permission(p, r, *f).is_some())
                    .map(|(r, _)| r),
                None => None,
            };
            visible.push((package, repo));
        }
        Ok((account, visible))
    }
}

impl Registry {
    /// Deletes a package and all its versions (admins, with `delete:packages`).
    pub async fn delete_package(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
    ) -> Result<()> {
        let (_, package) = self
            .package_for(p, kind, owner, name, PackageAction::Delete)
            .await?;
        self.store.delete_package(package.id).await?;
        tracing::info!(package = %format!("{owner}/{name}"), kind = kind.as_str(), "deleted package");
        Ok(())
    }

    /// An organization's package settings: whether repository-token publishes inherit.
    pub async fn org_package_settings(&self, p: &Principal, org: &Login) -> Result<bool> {
        let org = self.authz.organization(org).await?;
        self.authz.check(p, crate::Access::User).await?;
        Ok(self.store.org_auto_inherit(org.id).await?)
    }

    /// Changes whether repository-token publishes in the organization inherit (owners only).
    pub async fn set_org_package_settings(
        &self,
        p: &Principal,
        org: &Login,
        auto_inherit: bool,
    ) -> Result<bool> {
        let org = self.authz.organization(org).await?;
        self.authz
            .check(p, crate::Access::OrgOwner { org: &org })
            .await?;
        self.store
            .set_org_auto_inherit(org.id, auto_inherit)
            .await?;
        Ok(auto_inherit)
    }
}
