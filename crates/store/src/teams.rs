//! An organization's teams, their members, and their grants on packages.

use std::collections::HashMap;

use berth_domain::Permission;
use berth_domain::teams::{TeamName, TeamPrivacy, TeamRole, TeamSlug};

use crate::binds::Bind;
use crate::columns::Column;
use crate::db::RowsOf;
use crate::roles::TEAM_MEMBERS;
use crate::{Account, Result, Store, conflict_as, corrupt};

/// A team.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Team {
    pub id: i64,
    pub org_id: i64,
    #[sqlx(try_from = "Column<TeamSlug>")]
    pub slug: TeamSlug,
    pub name: String,
    pub description: Option<String>,
    #[sqlx(try_from = "Column<TeamPrivacy>")]
    pub privacy: TeamPrivacy,
    pub created_at: i64,
    pub updated_at: i64,
}

const TEAM_COLUMNS: &str = "id, org_id, slug, name, description, privacy, created_at, updated_at";

/// A team's editable fields.
#[derive(Debug, Clone, Copy)]
pub struct TeamFields<'a> {
    pub name: &'a TeamName,
    pub description: Option<&'a str>,
    pub privacy: TeamPrivacy,
}

impl TeamFields<'_> {
    /// `sql` with `$1` bound to `first`, `$2`–`$5` to the fields and `$6` to `now`.
    fn bound<'q>(&self, sql: &'q str, first: i64, now: i64) -> RowsOf<'q, Team> {
        sqlx::query_as(sql).binds((
            first,
            self.name.slug().as_str().to_owned(),
            self.name.as_str().to_owned(),
            self.description.map(str::to_owned),
            self.privacy.as_str(),
            now,
        ))
    }
}

impl Store {
    /// A new team, its creator (if given) its first maintainer, in one transaction.
    pub async fn create_team(
        &self,
        org_id: i64,
        fields: TeamFields<'_>,
        maintainer: Option<i64>,
        now: i64,
    ) -> Result<Team> {
        let mut tx = self.writer.begin().await?;
        let sql = format!(
            "INSERT INTO teams (org_id, slug, name, description, privacy, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {TEAM_COLUMNS}"
        );
        let team = fields
            .bound(&sql, org_id, now)
            .fetch_one(&mut *tx)
            .await
            .map_err(conflict_as("team"))?;
        if let Some(user_id) = maintainer {
            TEAM_MEMBERS
                .set(&mut *tx, team.id, user_id, TeamRole::Maintainer)
                .await?;
        }
        tx.commit().await?;
        Ok(team)
    }

    pub async fn update_team(&self, id: i64, fields: TeamFields<'_>, now: i64) -> Result<Team> {
        let sql = format!(
            "UPDATE teams SET slug = $2, name = $3, description = $4, privacy = $5, updated_at = $6 \
             WHERE id = $1 RETURNING {TEAM_COLUMNS}"
        );
        let team = fields.bound(&sql, id, now).fetch_one(&self.writer).await;
        team.map_err(conflict_as("team"))
    }

    /// Deletes a team with its memberships and grants.
    pub async fn delete_team(&self, id: i64) -> Result<bool> {
        self.delete_where("teams", "id", id).await
    }

    pub async fn team_by_slug(&self, org_id: i64, slug: &TeamSlug) -> Result<Option<Team>> {
        self.row(
            &format!("SELECT {TEAM_COLUMNS} FROM teams WHERE org_id = $1 AND slug = $2"),
            (org_id, slug.as_str()),
        )
        .await
    }

    /// An organization's teams, each with `user_id`'s role in it, by slug. The caller filters by
    /// what the user may see.
    pub async fn teams_of_org(
        &self,
        org_id: i64,
        user_id: i64,
    ) -> Result<Vec<(Team, Option<TeamRole>)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            team: Team,
            #[sqlx(try_from = "Column<Option<TeamRole>>")]
            my_role: Option<TeamRole>,
        }
        const SQL: &str = "SELECT t.id, t.org_id, t.slug, t.name, t.description, t.privacy, \
                           t.created_at, t.updated_at, m.role AS my_role FROM teams t \
                           LEFT JOIN team_members m ON m.team_id = t.id AND m.user_id = $2 \
                           WHERE t.org_id = $1 ORDER BY t.slug";
        let rows: Vec<Row> = self.rows(SQL, (org_id, user_id)).await?;
        Ok(rows.into_iter().map(|r| (r.team, r.my_role)).collect())
    }

    pub async fn team_membership(&self, team_id: i64, user_id: i64) -> Result<Option<TeamRole>> {
        TEAM_MEMBERS.get(&self.pool, team_id, user_id).await
    }

    /// Adds a member or changes their role.
    pub async fn set_team_membership(
        &self,
        team_id: i64,
        user_id: i64,
        role: TeamRole,
    ) -> Result<()> {
        TEAM_MEMBERS.set(&self.writer, team_id, user_id, role).await
    }

    pub async fn remove_team_membership(&self, team_id: i64, user_id: i64) -> Result<bool> {
        TEAM_MEMBERS.remove(&self.writer, team_id, user_id).await
    }

    /// A team's members with their roles, by login.
    pub async fn team_members(&self, team_id: i64) -> Result<Vec<(Account, TeamRole)>> {
        Ok(TEAM_MEMBERS
            .accounts(&self.pool, team_id, None, None)
            .await?
            .items)
    }

    /// Every team grant of a package: (slug, role), by slug.
    pub async fn team_grants(&self, package_id: i64) -> Result<Vec<(TeamSlug, Permission)>> {
        let rows: Vec<(String, String)> = self
            .rows(
                "SELECT t.slug, g.role FROM package_team_grants g JOIN teams t ON t.id = g.team_id \
                 WHERE g.package_id = $1 ORDER BY t.slug",
                (package_id,),
            )
            .await?;
        rows.into_iter()
            .map(|(slug, r)| {
                Ok((
                    TeamSlug::parse(&slug).ok_or_else(|| corrupt("team slug", &slug))?,
                    Permission::parse(&r).ok_or_else(|| corrupt("grant role", &r))?,
                ))
            })
            .collect()
    }

    /// The strongest grant on a package to a team `user_id` is in: only teams of the package's
    /// owner, and only while the user is still a member of that organization.
    pub async fn user_team_grant(
        &self,
        package_id: i64,
        user_id: i64,
    ) -> Result<Option<Permission>> {
        let mut held = self
            .team_grants_where("g.package_id = $1", package_id, user_id)
            .await?;
        Ok(held.remove(&package_id))
    }

    /// The strongest grant through a team to `user_id` on each package of the organization
    /// `owner_id` that granted one of their teams anything.
    pub async fn user_team_grants_on_owner(
        &self,
        owner_id: i64,
        user_id: i64,
    ) -> Result<HashMap<i64, Permission>> {
        self.team_grants_where("p.owner_id = $1", owner_id, user_id)
            .await
    }

    /// The strongest team grant to user `$2` on each package `filter` (on `g` and `p`, with
    /// `$1`) picks.
    async fn team_grants_where(
        &self,
        filter: &str,
        first: i64,
        user_id: i64,
    ) -> Result<HashMap<i64, Permission>> {
        let rows: Vec<(i64, String)> = self
            .rows(
                &format!(
                    "SELECT g.package_id, g.role FROM package_team_grants g \
                     JOIN teams t ON t.id = g.team_id \
                     JOIN packages p ON p.id = g.package_id AND p.owner_id = t.org_id \
                     JOIN team_members m ON m.team_id = t.id AND m.user_id = $2 \
                     JOIN org_members o ON o.org_id = t.org_id AND o.user_id = $2 \
                     WHERE {filter}"
                ),
                (first, user_id),
            )
            .await?;
        let mut strongest: HashMap<i64, Permission> = HashMap::new();
        for (package, word) in rows {
            let role = Permission::parse(&word).ok_or_else(|| corrupt("grant role", &word))?;
            let held = strongest.entry(package).or_insert(role);
            *held = (*held).max(role);
        }
        Ok(strongest)
    }
}
