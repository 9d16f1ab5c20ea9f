//! Tables that give a holder a role on a subject, one row per pair: organization and team members,
//! repository collaborators, and grants on packages to users and to teams. They share their
//! statements here; what is particular to each table stays in its module.

use berth_domain::teams::TeamRole;
use berth_domain::{OrgRole, Permission};
use sqlx::{Any, Executor};

use crate::accounts::ACCOUNT_COLUMNS_OF_A;
use crate::binds::Bind;
use crate::{Account, Listing, Result, Window, corrupt};

/// A role as stored: a word, parsed back when read.
pub(crate) trait RoleWord: Copy + Sized {
    fn word(self) -> &'static str;
    fn parse_word(word: &str) -> Option<Self>;
}

macro_rules! role_words {
    ($($t:ty),*) => {$(
        impl RoleWord for $t {
            fn word(self) -> &'static str {
                self.as_str()
            }
            fn parse_word(word: &str) -> Option<Self> {
                Self::parse(word)
            }
        }
    )*};
}

role_words!(OrgRole, TeamRole, Permission);

/// One table of roles: `holder` has `role` on `subject`, unique per (subject, holder).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoleTable {
    table: &'static str,
    subject: &'static str,
    holder: &'static str,
    role: &'static str,
    /// What the role is called when a stored one does not parse.
    what: &'static str,
}

pub(crate) const ORG_MEMBERS: RoleTable = RoleTable {
    table: "org_members",
    subject: "org_id",
    holder: "user_id",
    role: "role",
    what: "org role",
};
pub(crate) const TEAM_MEMBERS: RoleTable = RoleTable {
    table: "team_members",
    subject: "team_id",
    holder: "user_id",
    role: "role",
    what: "team role",
};
pub(crate) const COLLABORATORS: RoleTable = RoleTable {
    table: "collaborators",
    subject: "repo_id",
    holder: "user_id",
    role: "permission",
    what: "collaborator permission",
};
pub(crate) const USER_GRANTS: RoleTable = RoleTable {
    table: "package_user_grants",
    subject: "package_id",
    holder: "user_id",
    role: "role",
    what: "grant role",
};
pub(crate) const TEAM_GRANTS: RoleTable = RoleTable {
    table: "package_team_grants",
    subject: "package_id",
    holder: "team_id",
    role: "role",
    what: "grant role",
};

impl RoleTable {
    fn parse<R: RoleWord>(self, word: &str) -> Result<R> {
        R::parse_word(word).ok_or_else(|| corrupt(self.what, word))
    }

    /// Gives `holder` `role` on `subject`, replacing any role it had.
    pub(crate) async fn set<'e>(
        self,
        db: impl Executor<'e, Database = Any>,
        subject: i64,
        holder: i64,
        role: impl RoleWord,
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO {t} ({s}, {h}, {r}) VALUES ($1, $2, $3) \
             ON CONFLICT ({s}, {h}) DO UPDATE SET {r} = excluded.{r}",
            t = self.table,
            s = self.subject,
            h = self.holder,
            r = self.role,
        ))
        .binds((subject, holder, role.word()))
        .execute(db)
        .await?;
        Ok(())
    }

    /// Takes `holder`'s role on `subject` away; whether it had one.
    pub(crate) async fn remove<'e>(
        self,
        db: impl Executor<'e, Database = Any>,
        subject: i64,
        holder: i64,
    ) -> Result<bool> {
        let done = sqlx::query(&format!(
            "DELETE FROM {} WHERE {} = $1 AND {} = $2",
            self.table, self.subject, self.holder
        ))
        .binds((subject, holder))
        .execute(db)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes every role on `subject` away.
    pub(crate) async fn clear<'e>(
        self,
        db: impl Executor<'e, Database = Any>,
        subject: i64,
    ) -> Result<()> {
        sqlx::query(&format!(
            "DELETE FROM {} WHERE {} = $1",
            self.table, self.subject
        ))
        .bind(subject)
        .execute(db)
        .await?;
        Ok(())
    }

    /// `holder`'s role on `subject`, if any.
    pub(crate) async fn get<'e, R: RoleWord>(
        self,
        db: impl Executor<'e, Database = Any>,
        subject: i64,
        holder: i64,
    ) -> Result<Option<R>> {
        let word: Option<String> = sqlx::query_scalar(&format!(
            "SELECT {} FROM {} WHERE {} = $1 AND {} = $2",
            self.role, self.table, self.subject, self.holder
        ))
        .binds((subject, holder))
        .fetch_optional(db)
        .await?;
        word.map(|w| self.parse(&w)).transpose()
    }

    /// The accounts holding a role on `subject` (only those with `only`, when given), by login,
    /// cut to `window` when given, with how many there are in all.
    pub(crate) async fn accounts<'e, R: RoleWord>(
        self,
        db: impl Executor<'e, Database = Any> + Copy,
        subject: i64,
        only: Option<R>,
        window: Option<Window>,
    ) -> Result<Listing<(Account, R)>> {
        let window = window.unwrap_or(Window {
            limit: i64::MAX,
            offset: 0,
        });
        let only = only.map(RoleWord::word);
        let rows: Vec<AccountRoleRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS_OF_A}, m.{r} AS role \
             FROM {t} m JOIN accounts a ON a.id = m.{h} \
             WHERE m.{s} = $1 AND ($4 IS NULL OR m.{r} = $4) \
             ORDER BY a.login_key LIMIT $2 OFFSET $3",
            t = self.table,
            s = self.subject,
            h = self.holder,
            r = self.role,
        ))
        .binds((subject, window.limit, window.offset, only))
        .fetch_all(db)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {t} WHERE {s} = $1 AND ($2 IS NULL OR {r} = $2)",
            t = self.table,
            s = self.subject,
            r = self.role,
        ))
        .binds((subject, only))
        .fetch_one(db)
        .await?;
        let items = self.account_roles(rows)?;
        Ok(Listing { items, total })
    }

    /// The subjects `holder` holds a role on, with that role, by login; for tables whose
    /// subjects are accounts (an organization's members: the organizations of a user).
    pub(crate) async fn subject_accounts<'e, R: RoleWord>(
        self,
        db: impl Executor<'e, Database = Any>,
        holder: i64,
    ) -> Result<Vec<(Account, R)>> {
        let rows: Vec<AccountRoleRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS_OF_A}, m.{r} AS role \
             FROM {t} m JOIN accounts a ON a.id = m.{s} \
             WHERE m.{h} = $1 ORDER BY a.login_key",
            t = self.table,
            s = self.subject,
            h = self.holder,
            r = self.role,
        ))
        .bind(holder)
        .fetch_all(db)
        .await?;
        self.account_roles(rows)
    }

    fn account_roles<R: RoleWord>(self, rows: Vec<AccountRoleRow>) -> Result<Vec<(Account, R)>> {
        rows.into_iter()
            .map(|row| Ok((row.account, self.parse(&row.role)?)))
            .collect()
    }
}

#[derive(sqlx::FromRow)]
struct AccountRoleRow {
    #[sqlx(flatten)]
    account: Account,
    role: String,
}
