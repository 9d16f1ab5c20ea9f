//! Explicit grants on packages.

use std::collections::HashMap;

use berth_domain::Permission;

use crate::binds::Bind;
use crate::roles::{COLLABORATORS, RoleTable, TEAM_GRANTS, USER_GRANTS};
use crate::{Result, Store, corrupt};

/// What a repository was granted on a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RepoGrant {
    /// Environments of the repository may pull.
    pub environments: bool,
    /// The repository's tokens have this role.
    pub token_role: Option<Permission>,
}

/// The tables that give a user or a team a [`Permission`] on something, one row per pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grants {
    /// A user's permission on a repository (subject: the repository, holder: the user).
    Collaborators,
    /// A user's role on a package (subject: the package).
    PackageUsers,
    /// A team's role on a package of its organization (subject: the package, holder: the team).
    PackageTeams,
}

impl Grants {
    fn table(self) -> RoleTable {
        match self {
            Grants::Collaborators => COLLABORATORS,
            Grants::PackageUsers => USER_GRANTS,
            Grants::PackageTeams => TEAM_GRANTS,
        }
    }
}

fn role(word: Option<String>) -> Result<Option<Permission>> {
    word.map(|w| Permission::parse(&w).ok_or_else(|| corrupt("grant role", w)))
        .transpose()
}

impl Store {
    /// Gives `holder` `role` on `subject` in `grants`, replacing any role it had.
    pub async fn grant(
        &self,
        grants: Grants,
        subject: i64,
        holder: i64,
        role: Permission,
    ) -> Result<()> {
        grants
            .table()
            .set(&self.writer, subject, holder, role)
            .await
    }

    /// Takes `holder`'s role on `subject` in `grants` away; whether it had one.
    pub async fn revoke(&self, grants: Grants, subject: i64, holder: i64) -> Result<bool> {
        grants.table().remove(&self.writer, subject, holder).await
    }

    /// Takes every role on `subject` in `grants` away (a package's grants when its inheritance
    /// is switched).
    pub async fn revoke_all(&self, grants: Grants, subject: i64) -> Result<()> {
        grants.table().clear(&self.writer, subject).await
    }

    /// `holder`'s role on `subject` in `grants`, if any.
    pub async fn granted(
        &self,
        grants: Grants,
        subject: i64,
        holder: i64,
    ) -> Result<Option<Permission>> {
        grants.table().get(&self.pool, subject, holder).await
    }

    /// The role granted to `user_id` on each package of `owner_id` that granted them one.
    pub async fn user_grants_on_owner(
        &self,
        owner_id: i64,
        user_id: i64,
    ) -> Result<HashMap<i64, Permission>> {
        let rows: Vec<(i64, String)> = self
            .rows(
                "SELECT g.package_id, g.role FROM package_user_grants g \
                 JOIN packages p ON p.id = g.package_id WHERE p.owner_id = $1 AND g.user_id = $2",
                (owner_id, user_id),
            )
            .await?;
        rows.into_iter()
            .map(|(package, word)| {
                let role = Permission::parse(&word).ok_or_else(|| corrupt("grant role", &word))?;
                Ok((package, role))
            })
            .collect()
    }

    /// Every user grant of a package: (login, role), by login.
    pub async fn user_grants(&self, package_id: i64) -> Result<Vec<(String, Permission)>> {
        const SQL: &str = "SELECT a.login, g.role FROM package_user_grants g \
                           JOIN accounts a ON a.id = g.user_id \
                           WHERE g.package_id = $1 ORDER BY a.login_key";
        let rows: Vec<(String, String)> = self.rows(SQL, (package_id,)).await?;
        rows.into_iter()
            .map(|(login, r)| Ok((login, role(Some(r))?.unwrap_or(Permission::Read))))
            .collect()
    }

    /// Sets a repository's grant; a grant of nothing removes the row.
    pub async fn set_repo_grant(
        &self,
        package_id: i64,
        repo_id: i64,
        grant: RepoGrant,
    ) -> Result<()> {
        if grant == RepoGrant::default() {
            self.remove_repo_grant(package_id, repo_id).await?;
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO package_repo_grants (package_id, repo_id, environments, token_role) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (package_id, repo_id) DO UPDATE SET environments = excluded.environments, token_role = excluded.token_role",
        )
        .binds((package_id, repo_id, i64::from(grant.environments), grant.token_role.map(Permission::as_str)))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn remove_repo_grant(&self, package_id: i64, repo_id: i64) -> Result<bool> {
        self.change(
            "DELETE FROM package_repo_grants WHERE package_id = $1 AND repo_id = $2",
            (package_id, repo_id),
        )
        .await
    }

    pub async fn repo_grant(&self, package_id: i64, repo_id: i64) -> Result<RepoGrant> {
        let mut held = self
            .repo_grants_where("g.package_id = $1", package_id, repo_id)
            .await?;
        Ok(held.remove(&package_id).unwrap_or_default())
    }

    /// What `repo_id` was granted on each package of `owner_id` that granted it anything.
    pub async fn repo_grants_on_owner(
        &self,
        owner_id: i64,
        repo_id: i64,
    ) -> Result<HashMap<i64, RepoGrant>> {
        self.repo_grants_where("p.owner_id = $1", owner_id, repo_id)
            .await
    }

    /// The grants to repository `$2` on the packages `filter` (on `g` and `p`, with `$1`) picks.
    async fn repo_grants_where(
        &self,
        filter: &str,
        first: i64,
        repo_id: i64,
    ) -> Result<HashMap<i64, RepoGrant>> {
        let rows: Vec<(i64, i64, Option<String>)> = self
            .rows(
                &format!(
                    "SELECT g.package_id, g.environments, g.token_role FROM package_repo_grants g \
                     JOIN packages p ON p.id = g.package_id WHERE {filter} AND g.repo_id = $2"
                ),
                (first, repo_id),
            )
            .await?;
        rows.into_iter()
            .map(|(package, env, token)| {
                let grant = RepoGrant {
                    environments: env != 0,
                    token_role: role(token)?,
                };
                Ok((package, grant))
            })
            .collect()
    }

    /// Every repository grant of a package: (full name, grant), by name.
    pub async fn repo_grants(&self, package_id: i64) -> Result<Vec<(String, RepoGrant)>> {
        let rows: Vec<(String, String, i64, Option<String>)> = self
            .rows(
                "SELECT o.login, r.name, g.environments, g.token_role FROM package_repo_grants g \
                 JOIN repositories r ON r.id = g.repo_id JOIN accounts o ON o.id = r.owner_id \
                 WHERE g.package_id = $1 ORDER BY o.login_key, r.name_key",
                (package_id,),
            )
            .await?;
        rows.into_iter()
            .map(|(o, n, env, token)| {
                Ok((
                    format!("{o}/{n}"),
                    RepoGrant {
                        environments: env != 0,
                        token_role: role(token)?,
                    },
                ))
            })
            .collect()
    }
}

impl Store {
    /// Whether a repository token's first publish in this organization turns inheritance on
    /// (the default) — an organization setting.
    pub async fn org_auto_inherit(&self, org_id: i64) -> Result<bool> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT auto_inherit FROM org_package_settings WHERE org_id = $1")
                .bind(org_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.is_none_or(|v| v != 0))
    }

    pub async fn set_org_auto_inherit(&self, org_id: i64, on: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO org_package_settings (org_id, auto_inherit) VALUES ($1, $2) \
             ON CONFLICT (org_id) DO UPDATE SET auto_inherit = excluded.auto_inherit",
        )
        .binds((org_id, i64::from(on)))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Deletes a package with everything that hangs off it (versions, tags, grants, blob links).
    pub async fn delete_package(&self, package_id: i64) -> Result<bool> {
        self.delete_where("packages", "id", package_id).await
    }
}
