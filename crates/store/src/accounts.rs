//! Users, organizations and organization membership.

use berth_domain::{AccountKind, Login, OrgRole};

use crate::{Listing, Result, Store, Window, conflict_as, corrupt};

/// A user or an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub login: Login,
    pub kind: AccountKind,
    pub site_admin: bool,
    pub name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: i64,
    login: String,
    kind: String,
    site_admin: i64,
    name: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = crate::StoreError;
    fn try_from(r: AccountRow) -> Result<Self> {
        Ok(Account {
            id: r.id,
            login: Login::parse(&r.login).map_err(|e| corrupt("login", e))?,
            kind: AccountKind::parse(&r.kind).ok_or_else(|| corrupt("account kind", &r.kind))?,
            site_admin: r.site_admin != 0,
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const ACCOUNT_COLUMNS: &str = "id, login, kind, site_admin, name, created_at, updated_at";

fn role_word(role: OrgRole) -> &'static str {
    role.as_str()
}

impl Store {
    /// Creates a user or organization; a login taken in either namespace is a conflict.
    pub async fn create_account(
        &self,
        login: &Login,
        kind: AccountKind,
        site_admin: bool,
        now: i64,
    ) -> Result<Account> {
        let row: AccountRow = sqlx::query_as(&format!(
            "INSERT INTO accounts (login, login_key, kind, site_admin, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {ACCOUNT_COLUMNS}"
        ))
        .bind(login.as_str())
        .bind(login.key())
        .bind(kind.as_str())
        .bind(i64::from(site_admin))
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(conflict_as("login"))?;
        row.try_into()
    }

    pub async fn account_by_login(&self, login: &Login) -> Result<Option<Account>> {
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE login_key = $1"
        ))
        .bind(login.key())
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub async fn account_by_id(&self, id: i64) -> Result<Option<Account>> {
        let row: Option<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Whether any account exists yet (a fresh data directory has none).
    pub async fn has_accounts(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Adds `user_id` to the org or changes their role.
    pub async fn set_membership(&self, org_id: i64, user_id: i64, role: OrgRole) -> Result<()> {
        sqlx::query(
            "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(role_word(role))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Removes a member; returns whether they were one.
    /// Removes a member from an organization, and from its teams with them.
    pub async fn remove_membership(&self, org_id: i64, user_id: i64) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM team_members WHERE user_id = $2 AND team_id IN (SELECT id FROM teams WHERE org_id = $1)",
        )
        .bind(org_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn membership(&self, org_id: i64, user_id: i64) -> Result<Option<OrgRole>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        role.map(|r| OrgRole::parse(&r).ok_or_else(|| corrupt("org role", r)))
            .transpose()
    }

    /// An organization's members with their roles (only those of `role`, when given), ordered
    /// by login.
    pub async fn list_members(
        &self,
        org_id: i64,
        role: Option<OrgRole>,
        w: Window,
    ) -> Result<Listing<(Account, OrgRole)>> {
        let role = role.map(OrgRole::as_str);
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            account: AccountRow,
            role: String,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT a.id, a.login, a.kind, a.site_admin, a.name, a.created_at, a.updated_at, m.role \
             FROM org_members m JOIN accounts a ON a.id = m.user_id \
             WHERE m.org_id = $1 AND ($4 IS NULL OR m.role = $4) \
             ORDER BY a.login_key LIMIT $2 OFFSET $3",
        )
        .bind(org_id)
        .bind(w.limit)
        .bind(w.offset)
        .bind(role)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM org_members WHERE org_id = $1 AND ($2 IS NULL OR role = $2)",
        )
        .bind(org_id)
        .bind(role)
        .fetch_one(&self.pool)
        .await?;
        let items = rows
            .into_iter()
            .map(|r| {
                let role = OrgRole::parse(&r.role).ok_or_else(|| corrupt("org role", &r.role))?;
                Ok((Account::try_from(r.account)?, role))
            })
            .collect::<Result<_>>()?;
        Ok(Listing { items, total })
    }
}
