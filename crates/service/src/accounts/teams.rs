//! An organization's teams (GitHub's `/orgs/{org}/teams`): creating, listing, editing and
//! deleting them, and their memberships. Who may do each is stated as an [`Access`] and decided
//! in `authz.rs` from the domain's `sees_team` / `manages_team`; what a team is granted on
//! packages is in `registry/settings.rs` and counts in the one package decision.

use berth_domain::Login;
use berth_domain::teams::{TeamName, TeamPrivacy, TeamRole, sees_team};
use berth_store::{Account, Listing, Team, TeamFields, Window};

use super::Accounts;
use crate::authz::Access;
use crate::error::found;
use crate::{Principal, Result, ServiceError};

/// A new team.
#[derive(Debug, Clone)]
pub struct NewTeam {
    pub name: String,
    pub description: Option<String>,
    pub privacy: Option<TeamPrivacy>,
    /// Members of the organization who become maintainers (besides the creator).
    pub maintainers: Vec<Login>,
}

/// Changes to a team; `None` keeps a field as it is (`description: Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct TeamChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub privacy: Option<TeamPrivacy>,
}

/// A store conflict on a team's slug, as the 422 that names it.
fn slug_taken(e: berth_store::StoreError, org: &Account, name: &TeamName) -> ServiceError {
    match e {
        berth_store::StoreError::Conflict(_) => ServiceError::invalid(
            "Team",
            "name",
            "already_exists",
            format!("{} already has a team named {}", org.login, name.slug()),
        ),
        e => e.into(),
    }
}

fn team_name(s: &str) -> Result<TeamName> {
    TeamName::parse(s).map_err(|e| ServiceError::invalid("Team", "name", "invalid", e.to_string()))
}

impl Accounts {
    /// `POST /orgs/{org}/teams`: org owners. The creator, when a member of the organization,
    /// becomes the team's first maintainer (as on GitHub).
    pub async fn create_team(
        &self,
        p: &Principal,
        org: &Login,
        new: NewTeam,
    ) -> Result<(Account, Team)> {
        let org = self.authz.organization(org).await?;
        let caller = self.authz.check(p, Access::OrgOwner { org: &org }).await?;
        let name = team_name(&new.name)?;
        let mut maintainers = Vec::new();
        for login in &new.maintainers {
            maintainers.push(self.org_member(&org, login, "maintainers").await?);
        }
        let creator = self
            .store
            .membership(org.id, caller.id)
            .await?
            .map(|_| caller.id);
        let team = self
            .store
            .create_team(
                org.id,
                TeamFields {
                    name: &name,
                    description: new.description.as_deref(),
                    privacy: new.privacy.unwrap_or(TeamPrivacy::Closed),
                },
                creator,
                self.now(),
            )
            .await
            .map_err(|e| slug_taken(e, &org, &name))?;
        for user in maintainers {
            self.store
                .set_team_membership(team.id, user.id, TeamRole::Maintainer)
                .await?;
        }
        Ok((org, team))
    }

    /// `GET /orgs/{org}/teams`: the teams the caller sees, by slug.
    pub async fn list_teams(
        &self,
        p: &Principal,
        org: &Login,
        w: Window,
    ) -> Result<(Account, Listing<Team>)> {
        let org = self.authz.organization(org).await?;
        let caller = self.authz.check(p, Access::User).await?;
        let site_admin = self.authz.check(p, Access::SiteAdmin).await.is_ok();
        let org_role = self.store.membership(org.id, caller.id).await?;
        if org_role.is_none() && !site_admin {
            return Err(ServiceError::Forbidden(format!(
                "you must be a member of {} to list its teams",
                org.login
            )));
        }
        let seen: Vec<Team> = self
            .store
            .teams_of_org(org.id, caller.id)
            .await?
            .into_iter()
            .filter(|(t, mine)| site_admin || sees_team(t.privacy, org_role, *mine))
            .map(|(t, _)| t)
            .collect();
        Ok((org, Listing::page(seen, w)))
    }

    /// `PATCH /orgs/{org}/teams/{team_slug}`: the org's owners and the team's maintainers. A new
    /// name makes a new slug.
    pub async fn update_team(
        &self,
        p: &Principal,
        org: &Login,
        slug: &str,
        changes: TeamChanges,
    ) -> Result<(Account, Team)> {
        let (org, team) = self.managed_team(p, org, slug).await?;
        let name = team_name(changes.name.as_deref().unwrap_or(&team.name))?;
        let description = match &changes.description {
            Some(d) => d.as_deref(),
            None => team.description.as_deref(),
        };
        let updated = self
            .store
            .update_team(
                team.id,
                TeamFields {
                    name: &name,
                    description,
                    privacy: changes.privacy.unwrap_or(team.privacy),
                },
                self.now(),
            )
            .await
            .map_err(|e| slug_taken(e, &org, &name))?;
        Ok((org, updated))
    }

    /// `DELETE /orgs/{org}/teams/{team_slug}`: with its memberships and package grants.
    pub async fn delete_team(&self, p: &Principal, org: &Login, slug: &str) -> Result<()> {
        let (_, team) = self.managed_team(p, org, slug).await?;
        self.store.delete_team(team.id).await?;
        Ok(())
    }

    /// `GET /orgs/{org}/teams/{team_slug}/members`.
    pub async fn team_members(
        &self,
        p: &Principal,
        org: &Login,
        slug: &str,
    ) -> Result<Vec<(Account, TeamRole)>> {
        let (_, team) = self.authz.team(p, org, slug).await?;
        Ok(self.store.team_members(team.id).await?)
    }

    /// `GET /orgs/{org}/teams/{team_slug}/memberships/{username}`.
    pub async fn team_membership(
        &self,
        p: &Principal,
        org: &Login,
        slug: &str,
        login: &Login,
    ) -> Result<TeamRole> {
        let (_, team) = self.authz.team(p, org, slug).await?;
        let user = self.user_account(login).await?;
        self.store
            .team_membership(team.id, user.id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// `PUT /orgs/{org}/teams/{team_slug}/memberships/{username}`: adds a member of the
    /// organization to the team, or changes their role.
    pub async fn set_team_membership(
        &self,
        p: &Principal,
        org: &Login,
        slug: &str,
        login: &Login,
        role: TeamRole,
    ) -> Result<TeamRole> {
        let (org, team) = self.managed_team(p, org, slug).await?;
        let user = self.org_member(&org, login, "username").await?;
        self.store
            .set_team_membership(team.id, user.id, role)
            .await?;
        Ok(role)
    }

    /// `DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}`: by a manager of the team,
    /// or by the member themself (leaving).
    pub async fn remove_team_membership(
        &self,
        p: &Principal,
        org: &Login,
        slug: &str,
        login: &Login,
    ) -> Result<()> {
        let (_, team) = self.authz.team(p, org, slug).await?;
        let caller = self.authz.check(p, Access::User).await?;
        let user = self.user_account(login).await?;
        if caller.id != user.id {
            self.managed_team(p, org, slug).await?;
        }
        found(self.store.remove_team_membership(team.id, user.id).await?)
    }

    /// A team the caller manages (`Access::TeamManager`).
    async fn managed_team(
        &self,
        p: &Principal,
        org: &Login,
        slug: &str,
    ) -> Result<(Account, Team)> {
        let (org, team) = self.authz.find_team(org, slug).await?;
        self.authz
            .check(
                p,
                Access::TeamManager {
                    org: &org,
                    team: &team,
                },
            )
            .await?;
        Ok((org, team))
    }

    /// `login`, who must be a member of `org` to join one of its teams.
    async fn org_member(
        &self,
        org: &Account,
        login: &Login,
        field: &'static str,
    ) -> Result<Account> {
        let user = self.user_account(login).await?;
        if self.store.membership(org.id, user.id).await?.is_none() {
            return Err(ServiceError::invalid(
                "Team",
                field,
                "invalid",
                format!(
                    "{login} is not a member of {org}; an owner adds them first (PUT /orgs/{org}/memberships/{login}, or `berth org member add {org} {login}`)",
                    org = org.login
                ),
            ));
        }
        Ok(user)
    }
}
