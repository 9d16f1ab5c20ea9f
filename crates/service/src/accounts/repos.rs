//! Repositories and collaborators.

use berth_domain::OrgRole;
use berth_domain::{AccountKind, Login, Permission, RepoName, Visibility};
use berth_store::{Collaborator, Grants, Listing, Repo, RepoFields, StoreError, Window};

use super::{Accounts, only_a_user};
use crate::authz::Access;
use crate::clone_source::{CloneSource, check_local};
use crate::error::found;
use crate::{Principal, Result, ServiceError};

/// A repository as one caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoView {
    pub repo: Repo,
    pub permission: Permission,
}

/// What a new repository is made of.
#[derive(Debug, Clone)]
pub struct NewRepo {
    pub name: RepoName,
    pub visibility: Visibility,
    /// Any git URL (`https://`, `ssh://`, `git@host:path`, `file://`), used by environments.
    pub clone_url: Option<String>,
    pub description: Option<String>,
}

/// What `PATCH /repos/{o}/{r}` changes: `None` leaves a field as it is; for the nullable ones
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct RepoChange {
    pub name: Option<RepoName>,
    pub visibility: Option<Visibility>,
    pub description: Option<Option<String>>,
    pub clone_url: Option<Option<String>>,
    pub default_branch: Option<Option<String>>,
}

/// A clone URL as it may be shown: without the user name and password it may carry (they are
/// used to clone, never rendered).
pub fn shown_clone_url(url: &str) -> String {
    crate::environments::shown_url(url)
}

fn clone_url_invalid(e: crate::clone_source::CloneUrlError) -> ServiceError {
    ServiceError::invalid("Repository", "clone_url", "invalid", e.to_string())
}

fn internal_needs_org() -> ServiceError {
    ServiceError::invalid(
        "Repository",
        "visibility",
        "invalid",
        "internal visibility is only for repositories owned by an organization",
    )
}

/// A store conflict on a repository's name, as the 422 GitHub answers.
fn name_taken(e: StoreError, name: &RepoName) -> ServiceError {
    match e {
        StoreError::Conflict(_) => ServiceError::invalid(
            "Repository",
            "name",
            "already_exists",
            format!("name already exists on this account: {name}"),
        ),
        e => e.into(),
    }
}

impl Accounts {
    /// A clone URL the caller may set: one git reads as a network URL (the egress policy
    /// applies when it is cloned), or a local path under the directories a site administrator
    /// lists — any local path for a site administrator (SPEC §8).
    async fn check_clone_url(&self, p: &Principal, url: &str) -> Result<()> {
        match CloneSource::parse(url).map_err(clone_url_invalid)? {
            CloneSource::Network { .. } => Ok(()),
            CloneSource::Local(_) if self.authz.check(p, Access::SiteAdmin).await.is_ok() => Ok(()),
            CloneSource::Local(path) => {
                check_local(&path, &self.local_clone_dirs).map_err(clone_url_invalid)
            }
        }
    }

    /// The repositories the signed-in user owns, collaborates on, or reaches through an org.
    pub async fn list_user_repos(&self, p: &Principal, w: Window) -> Result<Listing<RepoView>> {
        let user = self.authz.check(p, Access::User).await?;
        let rows = self.store.repos_related_to(user.id).await?;
        Ok(Listing::page(self.authz.visible(p, rows), w))
    }

    /// An account's repositories that the caller can see.
    pub async fn list_owner_repos(
        &self,
        p: &Principal,
        owner: &Login,
        w: Window,
    ) -> Result<Listing<RepoView>> {
        let owner = self.authz.account(owner).await?;
        let rows = self.store.repos_of_owner(owner.id, p.user_id()).await?;
        Ok(Listing::page(self.authz.visible(p, rows), w))
    }

    /// Creates a repository for the caller (`org: None`) or for an organization they belong to.
    pub async fn create_repo(
        &self,
        p: &Principal,
        org: Option<&Login>,
        new: NewRepo,
    ) -> Result<RepoView> {
        let owner = match org {
            None => self
                .authz
                .check(p, Access::Scope(berth_domain::Scope::Repo))
                .await?
                .clone(),
            Some(login) => {
                let org = self.authz.organization(login).await?;
                self.authz.check(p, Access::OrgMember { org: &org }).await?;
                org
            }
        };
        if new.visibility == Visibility::Internal && owner.kind != AccountKind::Organization {
            return Err(internal_needs_org());
        }
        if let Some(url) = &new.clone_url {
            self.check_clone_url(p, url).await?;
        }
        // An organization member who creates a repository administers it, as on GitHub.
        let creator_admin = match org {
            Some(_) => {
                let creator = self.authz.check(p, Access::User).await?;
                let role = self.store.membership(owner.id, creator.id).await?;
                (role != Some(OrgRole::Owner)).then_some(creator.id)
            }
            None => None,
        };
        let fields = RepoFields {
            name: &new.name,
            visibility: new.visibility,
            clone_url: new.clone_url.as_deref(),
            description: new.description.as_deref(),
            default_branch: None,
        };
        let repo = self
            .store
            .create_repo(owner.id, fields, creator_admin, self.now())
            .await
            .map_err(|e| name_taken(e, &new.name))?;
        self.authz
            .repo_by_id_for(p, repo.id, Permission::Read)
            .await
    }

    /// Changes a repository's name, visibility, description, clone URL or default branch
    /// (repository admins).
    pub async fn update_repo(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        change: RepoChange,
    ) -> Result<RepoView> {
        let view = self
            .authz
            .repo_for(p, owner, name, Permission::Admin)
            .await?;
        let r = &view.repo;
        let visibility = change.visibility.unwrap_or(r.visibility);
        if visibility == Visibility::Internal && r.owner_kind != AccountKind::Organization {
            return Err(internal_needs_org());
        }
        let pick =
            |c: Option<Option<String>>, old: &Option<String>| c.unwrap_or_else(|| old.clone());
        let clone_url = pick(change.clone_url, &r.clone_url);
        if let Some(url) = &clone_url
            && Some(url) != r.clone_url.as_ref()
        {
            self.check_clone_url(p, url).await?;
        }
        let default_branch = pick(change.default_branch, &r.default_branch);
        if let Some(b) = &default_branch {
            crate::environments::check_branch(b, "Repository", "default_branch")?;
        }
        let description = pick(change.description, &r.description);
        let new_name = change.name.unwrap_or_else(|| r.name.clone());
        let fields = RepoFields {
            name: &new_name,
            visibility,
            clone_url: clone_url.as_deref(),
            description: description.as_deref(),
            default_branch: default_branch.as_deref(),
        };
        self.store
            .update_repo(r.id, fields, self.now())
            .await
            .map_err(|e| name_taken(e, &new_name))?;
        let view = self.authz.repo_by_id_for(p, r.id, Permission::Read).await?;
        tracing::info!(repository = %view.repo.full_name(), "repository updated");
        Ok(view)
    }

    /// Deletes a repository (repository admins) with its secrets, collaborators, tokens and
    /// grants; packages linked to it stay, unlinked. Refused while it has environments.
    pub async fn delete_repo(&self, p: &Principal, owner: &Login, name: &RepoName) -> Result<()> {
        let view = self
            .authz
            .repo_for(p, owner, name, Permission::Admin)
            .await?;
        let environments = self.store.codespaces_of_repo(view.repo.id).await?;
        if !environments.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "{} still has {} environment(s) ({}); delete them first (`berth codespace delete NAME`)",
                view.repo.full_name(),
                environments.len(),
                environments.join(", ")
            )));
        }
        if !self.store.delete_repo(view.repo.id).await? {
            return Err(ServiceError::NotFound);
        }
        tracing::info!(repository = %view.repo.full_name(), "repository deleted");
        Ok(())
    }

    /// Adds a collaborator or changes their role (repository admins).
    pub async fn set_collaborator(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        login: &Login,
        permission: Permission,
    ) -> Result<()> {
        let (view, user) = self.repo_and_account(p, owner, name, login).await?;
        let user = only_a_user(user, "Collaborator", || {
            format!("{login} is an organization; only users can be collaborators")
        })?;
        Ok(self
            .store
            .grant(Grants::Collaborators, view.repo.id, user.id, permission)
            .await?)
    }

    /// Removes a collaborator (repository admins).
    pub async fn remove_collaborator(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        login: &Login,
    ) -> Result<()> {
        let (view, user) = self.repo_and_account(p, owner, name, login).await?;
        found(
            self.store
                .revoke(Grants::Collaborators, view.repo.id, user.id)
                .await?,
        )
    }

    /// A repository's collaborators (visible to those who can write it, as on GitHub).
    pub async fn list_collaborators(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        w: Window,
    ) -> Result<Listing<Collaborator>> {
        let view = self
            .authz
            .repo_for(p, owner, name, Permission::Write)
            .await?;
        Ok(Listing::page(
            self.store.collaborators(view.repo.id).await?,
            w,
        ))
    }
}

impl Accounts {
    /// A repository its caller administers, and the account `login` names (a collaborator's).
    async fn repo_and_account(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        login: &Login,
    ) -> Result<(RepoView, berth_store::Account)> {
        let view = self
            .authz
            .repo_for(p, owner, name, Permission::Admin)
            .await?;
        Ok((view, self.authz.account(login).await?))
    }
}
