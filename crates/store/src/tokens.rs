//! Access tokens, stored only as a keyed hash (the token itself is shown once, at creation).

use berth_domain::Scopes;

use crate::binds::Bind;
use crate::columns::Column;
use crate::{Result, Store, conflict_as};

/// Whom a token acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A personal access token: acts as its user, limited by its scopes.
    Personal,
    /// A repository token (like Actions' `GITHUB_TOKEN`): acts as its repository.
    Repository,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Repository => "repository",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<Self> {
        [Self::Personal, Self::Repository]
            .into_iter()
            .find(|k| k.as_str() == word)
    }
}

/// What to store for a new token.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// The keyed hash of the token (never the token).
    pub hash: &'a str,
    pub kind: TokenKind,
    pub user_id: Option<i64>,
    pub repo_id: Option<i64>,
    pub created_by: Option<i64>,
    pub scopes: Scopes,
    pub note: &'a str,
    /// The token's last eight characters, shown in listings so users can tell tokens apart.
    pub last_eight: &'a str,
    pub expires_at: Option<i64>,
    /// The token it was made with, if any: it is revoked with that one.
    pub parent_id: Option<i64>,
}

/// A stored token, without its hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: i64,
    #[sqlx(try_from = "Column<TokenKind>")]
    pub kind: TokenKind,
    pub user_id: Option<i64>,
    pub repo_id: Option<i64>,
    #[sqlx(try_from = "Column<Scopes>")]
    pub scopes: Scopes,
    pub note: String,
    pub last_eight: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl TokenRecord {
    /// Whether the token may be used at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}

const TOKEN_COLUMNS: &str =
    "id, kind, user_id, repo_id, scopes, note, last_eight, created_at, expires_at, revoked_at";
const TOKENS: (&str, &str) = ("tokens", TOKEN_COLUMNS);

impl Store {
    pub async fn insert_token(&self, t: &NewToken<'_>, now: i64) -> Result<TokenRecord> {
        sqlx::query_as(&format!(
            "INSERT INTO tokens (token_hash, kind, user_id, repo_id, created_by, scopes, note, last_eight, created_at, expires_at, parent_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {TOKEN_COLUMNS}"
        ))
        .binds((t.hash, t.kind.as_str(), t.user_id, t.repo_id, t.created_by, t.scopes.to_words(), t.note, t.last_eight, now, t.expires_at, t.parent_id))
        .fetch_one(&self.writer)
        .await
        .map_err(conflict_as("token"))
    }

    /// The token whose keyed hash is `hash`, live or not.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.row_where(TOKENS, "token_hash", hash.to_owned()).await
    }

    /// A user's personal tokens that are not revoked, newest first.
    pub async fn personal_tokens(&self, user_id: i64) -> Result<Vec<TokenRecord>> {
        self.live_tokens("personal", "user_id", user_id).await
    }

    /// A repository's tokens that are not revoked, newest first.
    pub async fn repository_tokens(&self, repo_id: i64) -> Result<Vec<TokenRecord>> {
        self.live_tokens("repository", "repo_id", repo_id).await
    }

    /// The tokens of `kind` whose `holder` column is `id` and that are not revoked, newest first.
    async fn live_tokens(
        &self,
        kind: &'static str,
        holder: &'static str,
        id: i64,
    ) -> Result<Vec<TokenRecord>> {
        self.rows(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE kind = '{kind}' AND {holder} = $1 \
                 AND revoked_at IS NULL ORDER BY id DESC"
            ),
            (id,),
        )
        .await
    }

    pub async fn token_by_id(&self, id: i64) -> Result<Option<TokenRecord>> {
        self.row_where(TOKENS, "id", id).await
    }

    /// Revokes a token and every token made with it, and with those, in one statement;
    /// returns whether the token itself was live.
    pub async fn revoke_token(&self, id: i64, now: i64) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let live: Option<i64> =
            sqlx::query_scalar("SELECT id FROM tokens WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query(
            "WITH RECURSIVE family(id) AS ( \
                 SELECT id FROM tokens WHERE id = $1 \
                 UNION SELECT t.id FROM tokens t JOIN family f ON t.parent_id = f.id) \
             UPDATE tokens SET revoked_at = $2 WHERE id IN (SELECT id FROM family) AND revoked_at IS NULL",
        )
        .binds((id, now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(live.is_some())
    }
}

/// A stored environment token, without its hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EnvironmentTokenRecord {
    pub id: i64,
    pub user_id: i64,
    pub repo_id: i64,
    pub environment: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// The table of environment tokens and the columns an [`EnvironmentTokenRecord`] reads.
const ENVIRONMENT_TOKENS: (&str, &str) = (
    "environment_tokens",
    "id, user_id, repo_id, environment, created_at, expires_at, revoked_at",
);

impl EnvironmentTokenRecord {
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

impl Store {
    pub async fn insert_environment_token(
        &self,
        hash: &str,
        user_id: i64,
        repo_id: i64,
        environment: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<EnvironmentTokenRecord> {
        sqlx::query_as(
            "INSERT INTO environment_tokens (token_hash, user_id, repo_id, environment, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, user_id, repo_id, environment, created_at, expires_at, revoked_at",
        )
        .binds((hash, user_id, repo_id, environment, now, expires_at))
        .fetch_one(&self.writer)
        .await
        .map_err(conflict_as("token"))
    }

    pub async fn environment_token_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<EnvironmentTokenRecord>> {
        self.row_where(ENVIRONMENT_TOKENS, "token_hash", hash.to_owned())
            .await
    }

    /// Revokes every live token of an environment (at stop and delete).
    pub async fn revoke_environment_tokens(&self, environment: &str, now: i64) -> Result<u64> {
        let done = sqlx::query("UPDATE environment_tokens SET revoked_at = $2 WHERE environment = $1 AND revoked_at IS NULL")
            .binds((environment, now))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}
