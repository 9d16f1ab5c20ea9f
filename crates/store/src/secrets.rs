//! Environment secrets at rest: the scope key pairs, the secrets, the repositories they are
//! selected for, and the audit trail. The store only ever sees envelopes ([`Envelope`]): values
//! encrypted under a data key, the data key wrapped by a master key the store never holds.

use berth_domain::secrets::{OrgSecretVisibility, SecretLevel, SecretName};

use crate::binds::{Bind, Values};
use crate::columns::Column;
use crate::{Listing, Result, Store, Window, corrupt};

/// Whose secrets: a user's, a repository's or an organization's (by account or repository id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretScope {
    pub level: SecretLevel,
    pub id: i64,
}

impl SecretScope {
    fn kind(&self) -> &'static str {
        self.level.as_str()
    }
}

/// An encrypted value as stored: base64 `ciphertext` (nonce and sealed data) under a data key,
/// and that data key `wrapped_key` under the master key `master_key_id`.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Envelope {
    pub ciphertext: String,
    pub wrapped_key: String,
    pub master_key_id: String,
}

/// An envelope's columns, in the order it binds them.
const ENVELOPE: &str = "ciphertext, wrapped_key, master_key_id";

/// An envelope binds as its three columns, in this order: `ciphertext, wrapped_key,
/// master_key_id`.
impl<'q> Values<'q> for &'q Envelope {
    fn bind_to<Q: Bind<'q>>(self, query: Q) -> Q {
        (&self.ciphertext, &self.wrapped_key, &self.master_key_id).bind_to(query)
    }
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}

/// A scope's key pair: the public half as given to clients, the private half in an envelope.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretKeyRecord {
    pub key_id: String,
    pub public_key: String,
    #[sqlx(flatten)]
    pub private: Envelope,
}

/// An envelope with the id of its row.
#[derive(sqlx::FromRow)]
struct Wrapped {
    id: i64,
    #[sqlx(flatten)]
    envelope: Envelope,
}

/// A stored secret (its value stays in the envelope).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretRecord {
    pub id: i64,
    #[sqlx(try_from = "Column<SecretName>")]
    pub name: SecretName,
    /// Organization secrets' reach; `Selected` for user secrets; `None` for repository secrets.
    #[sqlx(try_from = "Column<Option<OrgSecretVisibility>>")]
    pub visibility: Option<OrgSecretVisibility>,
    pub created_at: i64,
    pub updated_at: i64,
    #[sqlx(flatten)]
    pub value: Envelope,
}

/// A secret to create or replace.
#[derive(Debug, Clone)]
pub struct NewSecret<'a> {
    pub scope: SecretScope,
    pub name: &'a SecretName,
    pub visibility: Option<OrgSecretVisibility>,
    pub value: Envelope,
    /// Replaces the selected repositories when given.
    pub selected: Option<&'a [i64]>,
    pub actor_id: i64,
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretAuditRecord {
    pub at: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub scope_kind: String,
    pub scope_id: i64,
    pub name: String,
}

/// Which table an envelope lives in, for re-wrapping under a new master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeTable {
    SecretKeys,
    Secrets,
}

impl EnvelopeTable {
    fn name(self) -> &'static str {
        match self {
            Self::SecretKeys => "secret_keys",
            Self::Secrets => "secrets",
        }
    }
}

const SECRET_COLUMNS: &str =
    "id, name, visibility, created_at, updated_at, ciphertext, wrapped_key, master_key_id";

/// Whether a put created the secret or replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutSecret {
    Created,
    Updated,
}

impl Store {
    pub async fn secret_key(&self, scope: SecretScope) -> Result<Option<SecretKeyRecord>> {
        self.row(
            &format!(
                "SELECT key_id, public_key, {ENVELOPE} FROM secret_keys \
                 WHERE scope_kind = $1 AND scope_id = $2"
            ),
            (scope.kind(), scope.id),
        )
        .await
    }

    /// Stores a scope's key pair unless it has one already, and returns the one it has.
    pub async fn insert_secret_key(
        &self,
        scope: SecretScope,
        key: &SecretKeyRecord,
        now: i64,
    ) -> Result<SecretKeyRecord> {
        sqlx::query(&format!(
            "INSERT INTO secret_keys (scope_kind, scope_id, key_id, public_key, created_at, \
             {ENVELOPE}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (scope_kind, scope_id) DO NOTHING"
        ))
        .binds((scope.kind(), scope.id, &key.key_id, &key.public_key, now))
        .binds(&key.private)
        .execute(&self.writer)
        .await?;
        self.secret_key(scope)
            .await?
            .ok_or_else(|| corrupt("secret key", "missing right after it was stored"))
    }

    /// A scope's secrets, by name.
    pub async fn secrets(&self, scope: SecretScope) -> Result<Vec<SecretRecord>> {
        self.rows(&format!(
            "SELECT {SECRET_COLUMNS} FROM secrets WHERE scope_kind = $1 AND scope_id = $2 ORDER BY name"
        ), (scope.kind(), scope.id))
        .await
    }

    /// A scope's secrets with whether each is selected for `repo_id`.
    pub async fn secrets_for_repo(
        &self,
        scope: SecretScope,
        repo_id: i64,
    ) -> Result<Vec<(SecretRecord, bool)>> {
        let records = self.secrets(scope).await?;
        const SQL: &str = "SELECT sr.secret_id FROM secret_repositories sr \
                           JOIN secrets s ON s.id = sr.secret_id \
                           WHERE s.scope_kind = $1 AND s.scope_id = $2 AND sr.repo_id = $3";
        let selected: Vec<i64> = self.column(SQL, (scope.kind(), scope.id, repo_id)).await?;
        Ok(records
            .into_iter()
            .map(|r| {
                let on = selected.contains(&r.id);
                (r, on)
            })
            .collect())
    }

    pub async fn secret(
        &self,
        scope: SecretScope,
        name: &SecretName,
    ) -> Result<Option<SecretRecord>> {
        self.row(&format!(
            "SELECT {SECRET_COLUMNS} FROM secrets WHERE scope_kind = $1 AND scope_id = $2 AND name = $3"
        ), (scope.kind(), scope.id, name.as_str()))
        .await
    }

    /// Creates or replaces a secret (and its selected repositories, when given) with its audit
    /// line, in one transaction. `None`: the scope already holds `max` other secrets.
    pub async fn put_secret(
        &self,
        new: &NewSecret<'_>,
        max: usize,
        now: i64,
    ) -> Result<Option<PutSecret>> {
        let mut tx = self.writer.begin().await?;
        // Writers to one scope take turns, so that the count below stays true until the insert
        // (and two writers of one new name do not both insert it).
        self.take_turns(
            &mut tx,
            &format!("secrets:{}:{}", new.scope.kind(), new.scope.id),
        )
        .await?;
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM secrets WHERE scope_kind = $1 AND scope_id = $2 AND name = $3",
        )
        .binds((new.scope.kind(), new.scope.id, new.name.as_str()))
        .fetch_optional(&mut *tx)
        .await?;
        let visibility = new.visibility.map(OrgSecretVisibility::as_str);
        let (id, outcome) = match existing {
            Some(id) => {
                sqlx::query(
                    "UPDATE secrets SET visibility = $2, updated_at = $3, ciphertext = $4, \
                     wrapped_key = $5, master_key_id = $6 WHERE id = $1",
                )
                .binds((id, visibility, now))
                .binds(&new.value)
                .execute(&mut *tx)
                .await?;
                (id, PutSecret::Updated)
            }
            None => {
                let count: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM secrets WHERE scope_kind = $1 AND scope_id = $2",
                )
                .binds((new.scope.kind(), new.scope.id))
                .fetch_one(&mut *tx)
                .await?;
                if usize::try_from(count).unwrap_or(usize::MAX) >= max {
                    return Ok(None);
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO secrets (scope_kind, scope_id, name, visibility, created_at, \
                     updated_at, ciphertext, wrapped_key, master_key_id) \
                     VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) RETURNING id",
                )
                .binds((
                    new.scope.kind(),
                    new.scope.id,
                    new.name.as_str(),
                    visibility,
                    now,
                ))
                .binds(&new.value)
                .fetch_one(&mut *tx)
                .await?;
                (id, PutSecret::Created)
            }
        };
        if let Some(repos) = new.selected {
            replace_selection(&mut tx, id, repos).await?;
        }
        audit(
            &mut tx,
            now,
            new.actor_id,
            match outcome {
                PutSecret::Created => "created",
                PutSecret::Updated => "updated",
            },
            new.scope,
            new.name,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(outcome))
    }

    pub async fn delete_secret(
        &self,
        scope: SecretScope,
        name: &SecretName,
        actor_id: i64,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "DELETE FROM secrets WHERE scope_kind = $1 AND scope_id = $2 AND name = $3",
        )
        .binds((scope.kind(), scope.id, name.as_str()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            audit(&mut tx, now, actor_id, "deleted", scope, name).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The ids of the repositories a secret is selected for.
    pub async fn secret_repositories(&self, secret_id: i64) -> Result<Vec<i64>> {
        self.column(
            "SELECT repo_id FROM secret_repositories WHERE secret_id = $1 ORDER BY repo_id",
            (secret_id,),
        )
        .await
    }

    pub async fn set_secret_repositories(&self, secret_id: i64, repos: &[i64]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        replace_selection(&mut tx, secret_id, repos).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn add_secret_repository(&self, secret_id: i64, repo_id: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO secret_repositories (secret_id, repo_id) VALUES ($1, $2) \
             ON CONFLICT (secret_id, repo_id) DO NOTHING",
        )
        .binds((secret_id, repo_id))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn remove_secret_repository(&self, secret_id: i64, repo_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM secret_repositories WHERE secret_id = $1 AND repo_id = $2")
            .binds((secret_id, repo_id))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// One window of the audit lines, newest first, and how many there are.
    pub async fn secret_audit(&self, w: Window) -> Result<Listing<SecretAuditRecord>> {
        let items = self
            .rows(
                "SELECT at, actor_id, action, scope_kind, scope_id, name FROM secret_audit \
                 ORDER BY id DESC LIMIT $1 OFFSET $2",
                (w.limit, w.offset),
            )
            .await?;
        let total = sqlx::query_scalar("SELECT COUNT(*) FROM secret_audit")
            .fetch_one(&self.pool)
            .await?;
        Ok(Listing { items, total })
    }

    /// Envelopes of `table` not wrapped by `master_key_id`, up to `limit`, with their row ids.
    pub async fn envelopes_not_under(
        &self,
        table: EnvelopeTable,
        master_key_id: &str,
        limit: i64,
    ) -> Result<Vec<(i64, Envelope)>> {
        let rows: Vec<Wrapped> = self
            .rows(
                &format!(
                    "SELECT id, {ENVELOPE} FROM {} WHERE master_key_id <> $1 ORDER BY id LIMIT $2",
                    table.name()
                ),
                (master_key_id, limit),
            )
            .await?;
        Ok(rows.into_iter().map(|w| (w.id, w.envelope)).collect())
    }

    /// Replaces a row's wrapped data key, if it is still wrapped as `old` says (a concurrent
    /// update of the value wins). Returns whether it was replaced.
    pub async fn rewrap_envelope(
        &self,
        table: EnvelopeTable,
        id: i64,
        old: &Envelope,
        wrapped_key: &str,
        master_key_id: &str,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE {} SET wrapped_key = $2, master_key_id = $3 \
             WHERE id = $1 AND wrapped_key = $4 AND master_key_id = $5",
            table.name()
        );
        self.change(
            &sql,
            (
                id,
                wrapped_key,
                master_key_id,
                &old.wrapped_key,
                &old.master_key_id,
            ),
        )
        .await
    }

    /// How many envelopes each master key wraps.
    pub async fn envelopes_by_master_key(&self) -> Result<Vec<(String, i64)>> {
        const SQL: &str = "SELECT master_key_id, COUNT(*) FROM ( \
                           SELECT master_key_id FROM secret_keys \
                           UNION ALL SELECT master_key_id FROM secrets) e \
                           GROUP BY master_key_id ORDER BY master_key_id";
        self.rows(SQL, ()).await
    }
}

async fn replace_selection(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    secret_id: i64,
    repos: &[i64],
) -> Result<()> {
    sqlx::query("DELETE FROM secret_repositories WHERE secret_id = $1")
        .bind(secret_id)
        .execute(&mut **tx)
        .await?;
    for repo in repos {
        sqlx::query(
            "INSERT INTO secret_repositories (secret_id, repo_id) VALUES ($1, $2) \
             ON CONFLICT (secret_id, repo_id) DO NOTHING",
        )
        .binds((secret_id, repo))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    now: i64,
    actor_id: i64,
    action: &str,
    scope: SecretScope,
    name: &SecretName,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO secret_audit (at, actor_id, action, scope_kind, scope_id, name) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .binds((now, actor_id, action, scope.kind(), scope.id, name.as_str()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
