//! Which secrets an environment of repository R started by user U gets: the facts gathered from
//! the store, decided by the domain's `environment_secrets`, and only the winners decrypted.

use berth_domain::access::{Actor, RepoFacts};
use berth_domain::secrets::{
    OrgSecret, OrgSecretVisibility, RepoSecret, ResolvedSecret, SecretFacts, SecretLevel,
    SecretName, UserSecret, environment_secrets,
};
use berth_domain::{AccountKind, Login, Permission, RepoName, Scopes, repo_permission};
use berth_store::{Account, Repo, SecretRecord, SecretScope};
use secrecy::SecretString;
use serde::Serialize;

use super::Secrets;
use crate::authz::Access;
use crate::{Principal, Result, ServiceError};

/// A name an environment would get and where it comes from (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewedSecret {
    pub name: SecretName,
    pub source: SecretLevel,
}

type Candidate = (SecretScope, SecretRecord);

impl Secrets {
    /// The facts for U and R, each candidate carrying its stored record.
    async fn secret_facts(&self, user: &Account, repo: &Repo) -> Result<SecretFacts<Candidate>> {
        let (_, facts) = self
            .store
            .repo_by_id(repo.id, Some(user.id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        // Write access by role: what U's token could do does not matter here, and being a site
        // administrator gives no repository secrets.
        let role = repo_permission(
            &Actor::User {
                is_owner: facts.is_owner,
                org_role: facts.org_role,
                collaborator: facts.collaborator,
                site_admin: false,
                scopes: Scopes::all(),
            },
            RepoFacts {
                visibility: repo.visibility,
            },
        );
        let user_scope = SecretScope {
            level: SecretLevel::User,
            id: user.id,
        };
        let repo_scope = SecretScope {
            level: SecretLevel::Repository,
            id: repo.id,
        };
        let user_secrets = self.store.secrets_for_repo(user_scope, repo.id).await?;
        let repo_secrets = self.store.secrets(repo_scope).await?;
        let org_secrets = if repo.owner_kind == AccountKind::Organization {
            let scope = SecretScope {
                level: SecretLevel::Organization,
                id: repo.owner_id,
            };
            self.store
                .secrets_for_repo(scope, repo.id)
                .await?
                .into_iter()
                .map(|(r, selected)| (scope, r, selected))
                .collect()
        } else {
            Vec::new()
        };
        Ok(SecretFacts {
            user_can_write: role.is_some_and(|r| r >= Permission::Write),
            repo_visibility: repo.visibility,
            user: user_secrets
                .into_iter()
                .map(|(r, selected)| UserSecret {
                    name: r.name.clone(),
                    selected_for_repo: selected,
                    value: (user_scope, r),
                })
                .collect(),
            repository: repo_secrets
                .into_iter()
                .map(|r| RepoSecret {
                    name: r.name.clone(),
                    value: (repo_scope, r),
                })
                .collect(),
            organization: org_secrets
                .into_iter()
                .map(|(scope, r, selected)| OrgSecret {
                    name: r.name.clone(),
                    visibility: r.visibility.unwrap_or(OrgSecretVisibility::Selected),
                    selected_for_repo: selected,
                    value: (scope, r),
                })
                .collect(),
        })
    }

    /// The secrets, decrypted, that an environment of `repo` started by `user` gets now.
    pub async fn environment_secret_values(
        &self,
        user: &Account,
        repo: &Repo,
    ) -> Result<Vec<ResolvedSecret<SecretString>>> {
        let facts = self.secret_facts(user, repo).await?;
        environment_secrets(facts)
            .into_iter()
            .map(|r| {
                let (scope, record) = &r.value;
                Ok(ResolvedSecret {
                    value: self.open_value(*scope, record)?,
                    name: r.name,
                    source: r.source,
                })
            })
            .collect()
    }

    /// What an environment of `owner/name` started by the caller would get: names and levels.
    pub async fn preview_environment_secrets(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
    ) -> Result<Vec<PreviewedSecret>> {
        let user = self.authz.check(p, Access::User).await?;
        let view = self
            .authz
            .repo_for(p, owner, name, Permission::Read)
            .await?;
        let facts = self.secret_facts(user, &view.repo).await?;
        Ok(environment_secrets(facts)
            .into_iter()
            .map(|r| PreviewedSecret {
                name: r.name,
                source: r.source,
            })
            .collect())
    }
}
