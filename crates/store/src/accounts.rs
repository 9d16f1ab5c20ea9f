//! Users, organizations and organization membership.

use berth_domain::{AccountKind, Login, OrgRole};

use crate::binds::Bind;
use crate::columns::Column;
use crate::roles::ORG_MEMBERS;
use crate::{Listing, Result, Store, Window, conflict_as};

/// A user or an organization.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    #[sqlx(try_from = "Column<Login>")]
    pub login: Login,
    #[sqlx(try_from = "Column<AccountKind>")]
    pub kind: AccountKind,
    #[sqlx(try_from = "Column<bool>")]
    pub site_admin: bool,
    pub name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const ACCOUNT_COLUMNS: &str = "id, login, kind, site_admin, name, created_at, updated_at";
const ACCOUNTS: (&str, &str) = ("accounts", ACCOUNT_COLUMNS);
/// The same columns, of a table aliased `a`.
pub(crate) const ACCOUNT_COLUMNS_OF_A: &str =
    "a.id, a.login, a.kind, a.site_admin, a.name, a.created_at, a.updated_at";

impl Store {
    /// Creates a user or organization; a login taken in either namespace is a conflict.
    pub async fn create_account(
        &self,
        login: &Login,
        kind: AccountKind,
        site_admin: bool,
        now: i64,
    ) -> Result<Account> {
        sqlx::query_as(&format!(
            "INSERT INTO accounts (login, login_key, kind, site_admin, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {ACCOUNT_COLUMNS}"
        ))
        .binds((
            login.as_str(),
            login.key(),
            kind.as_str(),
            i64::from(site_admin),
            now,
        ))
        .fetch_one(&self.writer)
        .await
        .map_err(conflict_as("login"))
    }

    pub async fn account_by_login(&self, login: &Login) -> Result<Option<Account>> {
        let key = login.key();
        self.row_where(ACCOUNTS, "login_key", key).await
    }

    pub async fn account_by_id(&self, id: i64) -> Result<Option<Account>> {
        self.row_where(ACCOUNTS, "id", id).await
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
        ORG_MEMBERS.set(&self.writer, org_id, user_id, role).await
    }

    /// Removes a member from an organization, and from its teams with them; whether they were one.
    pub async fn remove_membership(&self, org_id: i64, user_id: i64) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let was = ORG_MEMBERS.remove(&mut *tx, org_id, user_id).await?;
        sqlx::query(
            "DELETE FROM team_members WHERE user_id = $2 AND team_id IN (SELECT id FROM teams WHERE org_id = $1)",
        )
        .binds((org_id, user_id))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(was)
    }

    pub async fn membership(&self, org_id: i64, user_id: i64) -> Result<Option<OrgRole>> {
        ORG_MEMBERS.get(&self.pool, org_id, user_id).await
    }

    /// An organization's members with their roles (only those of `role`, when given), ordered
    /// by login.
    pub async fn list_members(
        &self,
        org_id: i64,
        role: Option<OrgRole>,
        w: Window,
    ) -> Result<Listing<(Account, OrgRole)>> {
        ORG_MEMBERS
            .accounts(&self.pool, org_id, role, Some(w))
            .await
    }

    /// The organizations `user_id` is a member of, with their role in each, by login.
    pub async fn organizations_of(&self, user_id: i64) -> Result<Vec<(Account, OrgRole)>> {
        ORG_MEMBERS.subject_accounts(&self.pool, user_id).await
    }
}

impl Store {
    /// Sets (or, with `None`, removes) a user's password hash; `false` when no such account.
    pub async fn set_password_hash(
        &self,
        account_id: i64,
        hash: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        self.change(
            "UPDATE accounts SET password_hash = $2, updated_at = $3 WHERE id = $1",
            (account_id, hash, now),
        )
        .await
    }

    /// A user's password hash, when they have a password.
    pub async fn password_hash(&self, account_id: i64) -> Result<Option<String>> {
        let hash: Option<Option<String>> =
            sqlx::query_scalar("SELECT password_hash FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(hash.flatten())
    }
}

impl Store {
    /// Every account of `kind`, by login (for the site administrator's page).
    pub async fn accounts_of_kind(&self, kind: AccountKind) -> Result<Vec<Account>> {
        self.rows(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE kind = $1 ORDER BY login_key"),
            (kind.as_str(),),
        )
        .await
    }
}
