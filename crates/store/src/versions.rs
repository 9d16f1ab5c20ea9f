//! Container package versions: one per manifest digest, listed with their tags, deleted softly and
//! restored with the tags they had.

use crate::binds::Bind;
use crate::{Result, Store};

/// A version of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub id: i64,
    /// What names it: a manifest digest (container), a version number (npm).
    pub name: String,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
    /// Its tags now (or, while deleted, the tags it had).
    pub tags: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: i64,
    digest: String,
    created_at: i64,
    deleted_at: Option<i64>,
    deleted_tags: Option<String>,
}

impl Store {
    async fn version_rows(&self, package_id: i64, id: Option<i64>) -> Result<Vec<VersionRecord>> {
        let rows: Vec<VersionRow> = self
            .rows(
                "SELECT id, digest, created_at, deleted_at, deleted_tags FROM package_versions \
                 WHERE package_id = $1 AND ($2 < 0 OR id = $2) ORDER BY id DESC",
                (package_id, id.unwrap_or(-1)),
            )
            .await?;
        let tags: Vec<(String, String)> = self
            .rows(
                "SELECT digest, name FROM tags WHERE package_id = $1 ORDER BY name",
                (package_id,),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let tags = match (&r.deleted_at, r.deleted_tags) {
                    (Some(_), Some(kept)) => parse_tag_list(&kept),
                    _ => tags
                        .iter()
                        .filter(|(d, _)| *d == r.digest)
                        .map(|(_, t)| t.clone())
                        .collect(),
                };
                VersionRecord {
                    id: r.id,
                    name: r.digest,
                    created_at: r.created_at,
                    deleted_at: r.deleted_at,
                    tags,
                }
            })
            .collect())
    }

    /// A package's versions, newest first; deleted ones only when asked.
    pub async fn versions(&self, package_id: i64, deleted: bool) -> Result<Vec<VersionRecord>> {
        let all = self.version_rows(package_id, None).await?;
        Ok(all
            .into_iter()
            .filter(|v| v.deleted_at.is_some() == deleted)
            .collect())
    }

    pub async fn version(&self, package_id: i64, id: i64) -> Result<Option<VersionRecord>> {
        Ok(self
            .version_rows(package_id, Some(id))
            .await?
            .into_iter()
            .next())
    }

    /// The version `id` of the package, if it is `deleted` (softly), or not.
    async fn version_deleted_or_not(
        &self,
        package_id: i64,
        id: i64,
        deleted: bool,
    ) -> Result<Option<VersionRecord>> {
        let version = self.version(package_id, id).await?;
        Ok(version.filter(|v| v.deleted_at.is_some() == deleted))
    }

    /// Deletes a version softly: its tags are removed (and remembered), its manifest hidden.
    pub async fn soft_delete_version(&self, package_id: i64, id: i64, now: i64) -> Result<bool> {
        let Some(v) = self.version_deleted_or_not(package_id, id, false).await? else {
            return Ok(false);
        };
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM tags WHERE package_id = $1 AND digest = $2")
            .binds((package_id, &v.name))
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE package_versions SET deleted_at = $3, deleted_tags = $4 WHERE package_id = $1 AND id = $2")
            .binds((package_id, id, now, tag_list(&v.tags)))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Restores a deleted version and the tags it had, except tags that point elsewhere now.
    pub async fn restore_version(&self, package_id: i64, id: i64, now: i64) -> Result<bool> {
        let Some(v) = self.version_deleted_or_not(package_id, id, true).await? else {
            return Ok(false);
        };
        let mut tx = self.writer.begin().await?;
        sqlx::query("UPDATE package_versions SET deleted_at = NULL, deleted_tags = NULL WHERE package_id = $1 AND id = $2")
            .binds((package_id, id))
            .execute(&mut *tx)
            .await?;
        for tag in &v.tags {
            sqlx::query("INSERT INTO tags (package_id, name, digest, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (package_id, name) DO NOTHING")
                .binds((package_id, tag, &v.name, now))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Tags are plain `[A-Za-z0-9_.-]` words, so a space-separated list is enough and needs no
/// JSON dependency in the store.
fn tag_list(tags: &[String]) -> String {
    tags.join(" ")
}

fn parse_tag_list(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}
