//! Repositories and their collaborators.
//!
//! Every repository query returns the repository together with the asking user's relationship to
//! it ([`RepoAccessFacts`]) in one round trip, so the service can hand both to the pure access
//! decision without a second query.

use berth_domain::{AccountKind, Login, OrgRole, Permission, RepoName, Visibility};

use crate::accounts::Account;
use crate::binds::Bind;
use sqlx::Row;

use crate::columns::Column;
use crate::db::Statement;
use crate::roles::COLLABORATORS;
use crate::{Result, Store, conflict_as, corrupt};

/// A repository with its owner's login and kind.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Repo {
    pub id: i64,
    pub owner_id: i64,
    #[sqlx(try_from = "Column<Login>")]
    pub owner_login: Login,
    #[sqlx(try_from = "Column<AccountKind>")]
    pub owner_kind: AccountKind,
    #[sqlx(try_from = "Column<RepoName>")]
    pub name: RepoName,
    #[sqlx(try_from = "Column<Visibility>")]
    pub visibility: Visibility,
    pub clone_url: Option<String>,
    pub description: Option<String>,
    /// The branch environments clone when none is asked for (`None`: the clone's `HEAD`).
    pub default_branch: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A repository's editable fields, as created or as they are to become.
#[derive(Debug, Clone, Copy)]
pub struct RepoFields<'a> {
    pub name: &'a RepoName,
    pub visibility: Visibility,
    pub clone_url: Option<&'a str>,
    pub description: Option<&'a str>,
    pub default_branch: Option<&'a str>,
}

impl RepoFields<'_> {
    /// `sql` with `$1` bound to `first`, `$2`–`$7` to the fields and `$8` to `now`.
    fn bound<'q>(&self, sql: &'q str, first: i64, now: i64) -> Statement<'q> {
        sqlx::query(sql).binds((
            first,
            self.name.as_str().to_owned(),
            self.name.key(),
            self.visibility.as_str(),
            self.clone_url.map(str::to_owned),
            self.description.map(str::to_owned),
            self.default_branch.map(str::to_owned),
            now,
        ))
    }
}

impl Repo {
    /// `owner/name` as given at creation.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner_login, self.name)
    }
}

/// A user's standing with respect to one repository, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RepoAccessFacts {
    pub is_owner: bool,
    pub org_role: Option<OrgRole>,
    pub collaborator: Option<Permission>,
}

/// A collaborator and their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collaborator {
    pub account: Account,
    pub permission: Permission,
}

#[derive(sqlx::FromRow)]
struct RepoRow {
    #[sqlx(flatten)]
    repo: Repo,
    #[sqlx(try_from = "Column<Option<OrgRole>>")]
    org_role: Option<OrgRole>,
    #[sqlx(try_from = "Column<Option<Permission>>")]
    collaborator: Option<Permission>,
}

impl RepoRow {
    fn into_parts(self, user_id: Option<i64>) -> (Repo, RepoAccessFacts) {
        let facts = RepoAccessFacts {
            is_owner: user_id == Some(self.repo.owner_id),
            org_role: self.org_role,
            collaborator: self.collaborator,
        };
        (self.repo, facts)
    }
}

/// The one repository SELECT; `$1` is the asking user's id (or -1), filters follow from `$2`.
const REPO_SELECT: &str = "\
    SELECT r.id, r.owner_id, o.login AS owner_login, o.kind AS owner_kind, r.name, r.visibility, \
           r.clone_url, r.description, r.default_branch, r.created_at, r.updated_at, \
           m.role AS org_role, c.permission AS collaborator \
    FROM repositories r \
    JOIN accounts o ON o.id = r.owner_id \
    LEFT JOIN org_members m ON m.org_id = r.owner_id AND m.user_id = $1 \
    LEFT JOIN collaborators c ON c.repo_id = r.id AND c.user_id = $1";

impl Store {
    /// Creates a repository; `admin`, when given, becomes an admin collaborator in the same
    /// transaction (an organization member who creates a repository administers it).
    pub async fn create_repo(
        &self,
        owner_id: i64,
        fields: RepoFields<'_>,
        admin: Option<i64>,
        now: i64,
    ) -> Result<Repo> {
        let mut tx = self.writer.begin().await?;
        let inserted = fields
            .bound(
                "INSERT INTO repositories (owner_id, name, name_key, visibility, clone_url, \
                 description, default_branch, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
                owner_id,
                now,
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(conflict_as("repository"))?;
        let id: i64 = inserted.try_get(0)?;
        if let Some(user_id) = admin {
            COLLABORATORS
                .set(&mut *tx, id, user_id, Permission::Admin)
                .await?;
        }
        tx.commit().await?;
        let (repo, _) = self
            .repo_by_id(id, None)
            .await?
            .ok_or_else(|| corrupt("repository", "vanished after insert"))?;
        Ok(repo)
    }

    /// Replaces a repository's editable fields; `false` when it does not exist.
    pub async fn update_repo(&self, id: i64, fields: RepoFields<'_>, now: i64) -> Result<bool> {
        let statement = fields.bound(
            "UPDATE repositories SET name = $2, name_key = $3, visibility = $4, clone_url = $5, \
             description = $6, default_branch = $7, updated_at = $8 WHERE id = $1",
            id,
            now,
        );
        let changed = self.changed(statement).await;
        changed.map_err(conflict_as("repository"))
    }

    /// Deletes a repository and everything that exists only for it, in one transaction: its
    /// secrets and their key pair, collaborators, repository tokens, environment records and
    /// package grants (by cascade). Packages linked to it stay, unlinked and no longer
    /// inheriting. Callers make sure no environment of it still runs.
    pub async fn delete_repo(&self, id: i64) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("UPDATE packages SET inherit_access = 0 WHERE source_repo_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for table in ["secrets", "secret_keys"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE scope_kind = 'repository' AND scope_id = $1"
            ))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query("DELETE FROM repositories WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// A repository by `owner/name` (case-insensitive), with `user_id`'s standing towards it.
    pub async fn repo_by_name(
        &self,
        owner: &Login,
        name: &RepoName,
        user_id: Option<i64>,
    ) -> Result<Option<(Repo, RepoAccessFacts)>> {
        let sql = format!("{REPO_SELECT} WHERE o.login_key = $2 AND r.name_key = $3");
        let query = sqlx::query_as(&sql).binds((user_id.unwrap_or(-1), owner.key(), name.key()));
        self.one_repo(query, user_id).await
    }

    /// The repository `query` (a [`REPO_SELECT`], `$1` bound to `user_id`) finds.
    async fn one_repo(
        &self,
        query: crate::db::RowsOf<'_, RepoRow>,
        user_id: Option<i64>,
    ) -> Result<Option<(Repo, RepoAccessFacts)>> {
        let row: Option<RepoRow> = query.fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.into_parts(user_id)))
    }

    pub async fn repo_by_id(
        &self,
        id: i64,
        user_id: Option<i64>,
    ) -> Result<Option<(Repo, RepoAccessFacts)>> {
        let sql = format!("{REPO_SELECT} WHERE r.id = $2");
        let query = sqlx::query_as(&sql).bind(user_id.unwrap_or(-1)).bind(id);
        self.one_repo(query, user_id).await
    }

    /// Every repository of one owner, by name, with `user_id`'s standing towards each. The caller
    /// filters by access and pages.
    pub async fn repos_of_owner(
        &self,
        owner_id: i64,
        user_id: Option<i64>,
    ) -> Result<Vec<(Repo, RepoAccessFacts)>> {
        let rows: Vec<RepoRow> = self
            .rows(
                &format!("{REPO_SELECT} WHERE r.owner_id = $2 ORDER BY r.name_key"),
                (user_id.unwrap_or(-1), owner_id),
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.into_parts(user_id)).collect())
    }

    /// Every repository a user owns, collaborates on, or whose owning org they belong to, ordered
    /// by full name.
    pub async fn repos_related_to(&self, user_id: i64) -> Result<Vec<(Repo, RepoAccessFacts)>> {
        let sql = format!(
            "{REPO_SELECT} WHERE r.owner_id = $1 OR m.role IS NOT NULL OR c.permission IS NOT NULL \
             ORDER BY o.login_key, r.name_key"
        );
        let rows: Vec<RepoRow> = self.rows(&sql, (user_id,)).await?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_parts(Some(user_id)))
            .collect())
    }

    /// A repository's collaborators, ordered by login.
    pub async fn collaborators(&self, repo_id: i64) -> Result<Vec<Collaborator>> {
        let listing = COLLABORATORS
            .accounts(&self.pool, repo_id, None, None)
            .await?;
        Ok(listing
            .items
            .into_iter()
            .map(|(account, permission)| Collaborator {
                account,
                permission,
            })
            .collect())
    }
}
