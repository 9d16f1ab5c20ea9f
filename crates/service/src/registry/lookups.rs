//! The facts a package decision reads besides the package itself: the caller's role in the
//! owning organization, the grants held on the package, and linked repositories. Deciding on one
//! package, each is looked up when needed ([`Lookups::each`]); deciding on every package of an
//! owner (a listing), the grants are fetched once for all of them and each repository once
//! ([`Lookups::listing`]), so a listing costs a few queries rather than a few per package. Either
//! way the one decision, `authorize`, reads them.

use std::collections::HashMap;

use berth_domain::{AccountKind, OrgRole, Permission};
use berth_store::{Account, Grants, Repo, RepoAccessFacts, RepoGrant, Store};

use crate::Principal;

type Found<T> = berth_store::Result<T>;
/// A repository with a user's standing on it, or its absence.
type RepoSeen = Option<(Repo, RepoAccessFacts)>;

/// What the caller holds on each package of one owner, fetched for a listing.
#[derive(Default)]
struct Held {
    user: HashMap<i64, Permission>,
    team: HashMap<i64, Permission>,
    repo: HashMap<i64, RepoGrant>,
}

#[derive(Default)]
pub(crate) struct Lookups {
    held: Option<Held>,
    org_role: Option<Option<OrgRole>>,
    /// By (repository, the user whose standing on it is asked).
    repos: HashMap<(i64, Option<i64>), RepoSeen>,
}

impl Lookups {
    /// For one package: every fact looked up when asked for.
    pub(crate) fn each() -> Self {
        Self::default()
    }

    /// For every package of `owner`, decided for `p`: the grants `p` holds on any of them,
    /// fetched now.
    pub(crate) async fn listing(store: &Store, p: &Principal, owner: &Account) -> Found<Self> {
        let held = match p {
            Principal::User { account, .. } => Held {
                user: store.user_grants_on_owner(owner.id, account.id).await?,
                team: if owner.kind == AccountKind::Organization {
                    store
                        .user_team_grants_on_owner(owner.id, account.id)
                        .await?
                } else {
                    HashMap::new()
                },
                repo: HashMap::new(),
            },
            Principal::Repository { repo, .. } | Principal::Environment { repo, .. } => Held {
                repo: store.repo_grants_on_owner(owner.id, repo.id).await?,
                ..Held::default()
            },
            Principal::Anonymous => Held::default(),
        };
        Ok(Self {
            held: Some(held),
            ..Self::default()
        })
    }

    /// `user_id`'s role in the organization `owner`.
    pub(crate) async fn org_role(
        &mut self,
        store: &Store,
        owner: &Account,
        user_id: i64,
    ) -> Found<Option<OrgRole>> {
        if let Some(role) = self.org_role {
            return Ok(role);
        }
        let role = store.membership(owner.id, user_id).await?;
        self.org_role = Some(role);
        Ok(role)
    }

    /// What user `user_id` holds on package `package_id` themself, and through their teams
    /// (looked up only when `teams`: those of an organization's packages).
    pub(crate) async fn user_grants(
        &self,
        store: &Store,
        package_id: i64,
        user_id: i64,
        teams: bool,
    ) -> Found<(Option<Permission>, Option<Permission>)> {
        if let Some(held) = &self.held {
            let team = teams.then(|| held.team.get(&package_id).copied());
            return Ok((held.user.get(&package_id).copied(), team.flatten()));
        }
        let user = store
            .granted(Grants::PackageUsers, package_id, user_id)
            .await?;
        let team = match teams {
            true => store.user_team_grant(package_id, user_id).await?,
            false => None,
        };
        Ok((user, team))
    }

    pub(crate) async fn repo_grant(
        &self,
        store: &Store,
        package_id: i64,
        repo_id: i64,
    ) -> Found<RepoGrant> {
        match &self.held {
            Some(held) => Ok(held.repo.get(&package_id).copied().unwrap_or_default()),
            None => store.repo_grant(package_id, repo_id).await,
        }
    }

    /// Repository `id`, with `user_id`'s standing on it when given.
    pub(crate) async fn repo(
        &mut self,
        store: &Store,
        id: i64,
        user_id: Option<i64>,
    ) -> Found<RepoSeen> {
        if let Some(found) = self.repos.get(&(id, user_id)) {
            return Ok(found.clone());
        }
        let found = store.repo_by_id(id, user_id).await?;
        self.repos.insert((id, user_id), found.clone());
        Ok(found)
    }
}
