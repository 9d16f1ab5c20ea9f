//! The one place that decides whether a caller may do something. Services state what they need
//! as an [`Access`] value (or a repository permission) and ask [`Authz::check`] /
//! [`Authz::check_repo`]; the repository decision itself is the pure
//! [`berth_domain::repo_permission`].

use berth_domain::teams::{TeamSlug, manages_team, sees_team};
use berth_domain::{AccountKind, Login, RepoName};
use berth_domain::{Actor, OrgRole, Permission, RepoFacts, Scope, repo_permission};
use berth_store::{Account, Repo, RepoAccessFacts, Store, Team};

use crate::repos::RepoView;
use crate::{Principal, Result, ServiceError};

/// What an operation needs from its caller (other than a repository permission).
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    /// A signed-in user (personal token).
    User,
    /// A user whose token carries `scope`.
    Scope(Scope),
    /// A site administrator acting with the `site_admin` scope.
    SiteAdmin,
    /// An owner of `org` with the `admin:org` scope, or a site administrator.
    OrgOwner { org: &'a Account },
    /// A member of `org` (any role) with the `repo` scope, or a site administrator.
    OrgMember { org: &'a Account },
    /// Someone who sees `team` of `org`: every member of the organization for a closed team, its
    /// own members and the org's owners for a secret one; or a site administrator. A team the
    /// caller cannot see is `NotFound`, exactly as a missing one.
    TeamViewer { org: &'a Account, team: &'a Team },
    /// Someone who manages `team` of `org` (the org's owners and the team's maintainers) with the
    /// `admin:org` scope, or a site administrator.
    TeamManager { org: &'a Account, team: &'a Team },
    /// The owner of an environment (or a site administrator), with the `codespace` scope. An
    /// environment of someone else is `NotFound`, exactly as a missing one.
    CodespaceOwner { owner_id: i64 },
}

/// A token without `scope`. A token can only make tokens with scopes it holds itself, so the
/// advice names the two ways that can succeed: another token of this user's that holds the scope,
/// or a site administrator making one for them.
fn scope_missing(account: &Account, scope: Scope) -> ServiceError {
    ServiceError::Forbidden(format!(
        "this needs a token with the {scope} scope, and this one lacks it; use a token of {login}'s that has it \
         (a token makes tokens only with scopes it holds: `berth token create --scopes {scope}` run with such a token), \
         or ask a site administrator to run `berth token create --user {login} --scopes {scope}`",
        login = account.login
    ))
}

/// The one access point: every service holds one and asks it before touching anything
/// protected. It decides (from the pure domain rules) and finds what the caller may see.
#[derive(Debug, Clone)]
pub struct Authz {
    store: Store,
}

impl Authz {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    /// Checks `access` for `p` and returns the acting user.
    pub async fn check<'p>(&self, p: &'p Principal, access: Access<'_>) -> Result<&'p Account> {
        let (account, scopes) = match p {
            Principal::User {
                account, scopes, ..
            } => (account, *scopes),
            Principal::Anonymous => return Err(ServiceError::Unauthenticated),
            Principal::Repository { .. } => {
                return Err(ServiceError::Forbidden(
                    "repository tokens cannot do this; use a personal access token".into(),
                ));
            }
            Principal::Environment { .. } => {
                return Err(ServiceError::Forbidden(
                    "environment tokens only pull packages; use a personal access token".into(),
                ));
            }
        };
        let site_admin = account.site_admin && scopes.has(Scope::SiteAdmin);
        match access {
            Access::User => Ok(account),
            Access::Scope(scope) if scopes.has(scope) => Ok(account),
            Access::Scope(scope) => Err(scope_missing(account, scope)),
            Access::SiteAdmin if site_admin => Ok(account),
            Access::SiteAdmin => Err(ServiceError::Forbidden(
                "must be a site administrator acting with the site_admin scope".into(),
            )),
            Access::CodespaceOwner { owner_id } if owner_id != account.id && !site_admin => {
                Err(ServiceError::NotFound)
            }
            Access::CodespaceOwner { .. } if scopes.has(Scope::Codespace) => Ok(account),
            Access::CodespaceOwner { .. } => Err(scope_missing(account, Scope::Codespace)),
            Access::OrgOwner { .. }
            | Access::OrgMember { .. }
            | Access::TeamViewer { .. }
            | Access::TeamManager { .. }
                if site_admin =>
            {
                Ok(account)
            }
            Access::TeamViewer { org, team } | Access::TeamManager { org, team } => {
                let org_role = self.store.membership(org.id, account.id).await?;
                let team_role = self.store.team_membership(team.id, account.id).await?;
                if !sees_team(team.privacy, org_role, team_role) {
                    return Err(ServiceError::NotFound);
                }
                match access {
                    Access::TeamManager { .. } if !manages_team(org_role, team_role) => {
                        Err(ServiceError::Forbidden(format!(
                            "you must be an owner of {} or a maintainer of the team {} to do this",
                            org.login, team.slug
                        )))
                    }
                    Access::TeamManager { .. } if !scopes.has(Scope::AdminOrg) => {
                        Err(scope_missing(account, Scope::AdminOrg))
                    }
                    _ => Ok(account),
                }
            }
            Access::OrgOwner { org } => {
                let role = self.store.membership(org.id, account.id).await?;
                match role {
                    None => Err(ServiceError::NotFound),
                    Some(OrgRole::Member) => Err(ServiceError::Forbidden(format!(
                        "you must be an owner of {} to do this",
                        org.login
                    ))),
                    Some(OrgRole::Owner) if scopes.has(Scope::AdminOrg) => Ok(account),
                    Some(OrgRole::Owner) => Err(scope_missing(account, Scope::AdminOrg)),
                }
            }
            Access::OrgMember { org } => {
                if self.store.membership(org.id, account.id).await?.is_none() {
                    return Err(ServiceError::Forbidden(format!(
                        "you must be a member of {} to do this",
                        org.login
                    )));
                }
                if scopes.has(Scope::Repo) {
                    Ok(account)
                } else {
                    Err(scope_missing(account, Scope::Repo))
                }
            }
        }
    }

    /// The caller's permission on a repository (`None`: cannot see it).
    pub fn repo_permission(
        &self,
        p: &Principal,
        repo: &Repo,
        facts: RepoAccessFacts,
    ) -> Option<Permission> {
        let actor = match p {
            Principal::Anonymous => Actor::Anonymous,
            Principal::User {
                account, scopes, ..
            } => Actor::User {
                is_owner: facts.is_owner,
                org_role: facts.org_role,
                collaborator: facts.collaborator,
                site_admin: account.site_admin,
                scopes: *scopes,
            },
            Principal::Repository { repo: own, .. } => Actor::RepoToken {
                same_repo: own.id == repo.id,
            },
            // An environment reads its own repository (its user could, to create it) and public ones.
            Principal::Environment { repo: own, .. } => {
                return (own.id == repo.id || repo.visibility == berth_domain::Visibility::Public)
                    .then_some(Permission::Read);
            }
        };
        repo_permission(
            &actor,
            RepoFacts {
                visibility: repo.visibility,
            },
        )
    }

    /// Requires at least `at_least` on the repository. A repository the caller cannot see is
    /// `NotFound`, exactly as a missing one.
    pub fn check_repo(
        &self,
        p: &Principal,
        repo: &Repo,
        facts: RepoAccessFacts,
        at_least: Permission,
    ) -> Result<Permission> {
        match self.repo_permission(p, repo, facts) {
            None => Err(ServiceError::NotFound),
            Some(have) if have >= at_least => Ok(have),
            Some(_) if matches!(p, Principal::Anonymous) => Err(ServiceError::Unauthenticated),
            Some(_) => Err(ServiceError::Forbidden(format!(
                "must have {} rights to repository {}",
                at_least.as_str(),
                repo.full_name()
            ))),
        }
    }

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

    /// The same, found by id (GitHub's `/repositories/{id}` paths).
    pub async fn repo_by_id_for(
        &self,
        p: &Principal,
        id: i64,
        at_least: Permission,
    ) -> Result<RepoView> {
        let (repo, facts) = self
            .store
            .repo_by_id(id, p.user_id())
            .await?
            .ok_or(ServiceError::NotFound)?;
        let permission = self.check_repo(p, &repo, facts, at_least)?;
        Ok(RepoView { repo, permission })
    }

    pub(crate) fn visible(
        &self,
        p: &Principal,
        rows: Vec<(Repo, RepoAccessFacts)>,
    ) -> Vec<RepoView> {
        rows.into_iter()
            .filter_map(|(repo, facts)| {
                self.repo_permission(p, &repo, facts)
                    .map(|permission| RepoView { repo, permission })
            })
            .collect()
    }

    /// Any account by login (public information).
    pub async fn account(&self, login: &Login) -> Result<Account> {
        self.store
            .account_by_login(login)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// A user by login; an organization's login is `NotFound` here.
    pub async fn user(&self, login: &Login) -> Result<Account> {
        let account = self.account(login).await?;
        if account.kind != AccountKind::User {
            return Err(ServiceError::NotFound);
        }
        Ok(account)
    }

    /// An organization by login; a user's login is `NotFound` here.
    pub async fn organization(&self, login: &Login) -> Result<Account> {
        let account = self.account(login).await?;
        if account.kind != AccountKind::Organization {
            return Err(ServiceError::NotFound);
        }
        Ok(account)
    }

    /// A team the caller sees (`NotFound` for one they do not, exactly as for a missing one).
    pub async fn team(&self, p: &Principal, org: &Login, slug: &str) -> Result<(Account, Team)> {
        let (org, team) = self.find_team(org, slug).await?;
        self.check(
            p,
            Access::TeamViewer {
                org: &org,
                team: &team,
            },
        )
        .await?;
        Ok((org, team))
    }

    /// A team by its organization's login and its slug, before any access check.
    pub(crate) async fn find_team(&self, org: &Login, slug: &str) -> Result<(Account, Team)> {
        let org = self.organization(org).await?;
        let slug = TeamSlug::parse(slug).ok_or(ServiceError::NotFound)?;
        let team = self
            .store
            .team_by_slug(org.id, &slug)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok((org, team))
    }
}
