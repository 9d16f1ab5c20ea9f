//! Repositories and collaborators.

use berth_domain::{AccountKind, Login, Permission, RepoName, Visibility};
use berth_store::{Collaborator, Listing, Repo, RepoAccessFacts, StoreError, Window};

use crate::authz::Access;
use crate::{Berth, Principal, Result, ServiceError};

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

/// Checks that a clone URL is one token of printable characters; git itself judges the rest.
fn check_clone_url(url: &str) -> Result<()> {
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ServiceError::invalid(
            "Repository",
            "clone_url",
            "invalid",
            "clone_url must be a git URL without spaces",
        ));
    }
    Ok(())
}

impl Berth {
    /// The repository `owner/name` if the caller has at least `at_least` on it.
    pub async fn repo_for(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        at_least: Permission,
    ) -> Result<RepoView> {
        let (repo, facts) = self
            .store
            .repo_by_name(owner, name, p.user_id())
            .await?
            .ok_or(ServiceError::NotFound)?;
        let permission = self.check_repo(p, &repo, facts, at_least)?;
        Ok(RepoView { repo, permission })
    }

    fn visible(&self, p: &Principal, rows: Vec<(Repo, RepoAccessFacts)>) -> Vec<RepoView> {
        rows.into_iter()
            .filter_map(|(repo, facts)| {
                self.repo_permission(p, &repo, facts)
                    .map(|permission| RepoView { repo, permission })
            })
            .collect()
    }

    /// The repositories the signed-in user owns, collaborates on, or reaches through an org.
    pub async fn list_user_repos(&self, p: &Principal, w: Window) -> Result<Listing<RepoView>> {
        let user = self.check(p, Access::User).await?;
        let rows = self.store.repos_related_to(user.id).await?;
        Ok(Listing::page(self.visible(p, rows), w))
    }

    /// An account's repositories that the caller can see.
    pub async fn list_owner_repos(
        &self,
        p: &Principal,
        owner: &Login,
        w: Window,
    ) -> Result<Listing<RepoView>> {
        let owner = self.account(owner).await?;
        let rows = self.store.repos_of_owner(owner.id, p.user_id()).await?;
        Ok(Listing::page(self.visible(p, rows), w))
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
                .check(p, Access::Scope(berth_domain::Scope::Repo))
                .await?
                .clone(),
            Some(login) => {
                let org = self.organization(login).await?;
                self.check(p, Access::OrgMember { org: &org }).await?;
                org
            }
        };
        if new.visibility == Visibility::Internal && owner.kind != AccountKind::Organization {
            return Err(ServiceError::invalid(
                "Repository",
                "visibility",
                "invalid",
                "internal visibility is only for repositories owned by an organization",
            ));
        }
        if let Some(url) = &new.clone_url {
            check_clone_url(url)?;
        }
        let repo = self
            .store
            .create_repo(
                owner.id,
                &new.name,
                new.visibility,
                new.clone_url.as_deref(),
                new.description.as_deref(),
                self.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => ServiceError::invalid(
                    "Repository",
                    "name",
                    "already_exists",
                    format!("name already exists on this account: {}", new.name),
                ),
                e => e.into(),
            })?;
        let (repo, facts) = self
            .store
            .repo_by_id(repo.id, p.user_id())
            .await?
            .ok_or(ServiceError::NotFound)?;
        let permission = self.check_repo(p, &repo, facts, Permission::Read)?;
        Ok(RepoView { repo, permission })
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
        let view = self.repo_for(p, owner, name, Permission::Admin).await?;
        let user = self.account(login).await?;
        if user.kind != AccountKind::User {
            return Err(ServiceError::invalid(
                "Collaborator",
                "login",
                "invalid",
                format!("{login} is an organization; only users can be collaborators"),
            ));
        }
        Ok(self
            .store
            .set_collaborator(view.repo.id, user.id, permission)
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
        let view = self.repo_for(p, owner, name, Permission::Admin).await?;
        let user = self.account(login).await?;
        if !self
            .store
            .remove_collaborator(view.repo.id, user.id)
            .await?
        {
            return Err(ServiceError::NotFound);
        }
        Ok(())
    }

    /// A repository's collaborators (visible to those who can write it, as on GitHub).
    pub async fn list_collaborators(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        w: Window,
    ) -> Result<Listing<Collaborator>> {
        let view = self.repo_for(p, owner, name, Permission::Write).await?;
        Ok(Listing::page(
            self.store.collaborators(view.repo.id).await?,
            w,
        ))
    }
}
