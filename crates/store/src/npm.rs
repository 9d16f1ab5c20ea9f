//! npm packages' versions and dist-tags. A version's tarball is a blob linked to its package
//! (stored and linked by the caller with [`Store::add_blob`] before the version is published);
//! the collector keeps it while a live version names it.

use berth_domain::oci::Digest;

use crate::binds::Bind;
use crate::columns::Column;
use crate::{Result, Store, VersionRecord, conflict_as};

/// One published version of an npm package.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NpmVersionRecord {
    pub id: i64,
    pub package_id: i64,
    pub version: String,
    /// The version's manifest as published (JSON).
    pub manifest: String,
    #[sqlx(try_from = "Column<Digest>")]
    pub tarball: Digest,
    pub size: i64,
    pub integrity: String,
    pub shasum: String,
    pub deprecated: Option<String>,
    pub created_at: i64,
}

/// A version about to be published.
#[derive(Debug, Clone, Copy)]
pub struct NewNpmVersion<'a> {
    pub version: &'a str,
    pub manifest: &'a str,
    pub tarball: &'a Digest,
    pub size: u64,
    pub integrity: &'a str,
    pub shasum: &'a str,
    /// Dist-tags to point at it.
    pub tags: &'a [&'a str],
}

const COLUMNS: &str = "id, package_id, version, manifest, tarball, size, integrity, shasum, \
                       deprecated, created_at";

impl Store {
    /// Publishes a version and points `new.tags` at it, at once. A version published before,
    /// even one since unpublished, is `Conflict("npm version")`.
    pub async fn publish_npm_version(
        &self,
        package_id: i64,
        new: &NewNpmVersion<'_>,
        now: i64,
    ) -> Result<NpmVersionRecord> {
        let mut tx = self.writer.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO npm_versions (package_id, version, manifest, tarball, size, integrity, \
             shasum, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .binds((
            package_id,
            new.version,
            new.manifest,
            new.tarball.as_str(),
            new.size as i64,
            new.integrity,
            new.shasum,
            now,
        ))
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict_as("npm version"))?;
        for tag in new.tags {
            sqlx::query(SET_TAG)
                .binds((package_id, *tag, new.version, now))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(NpmVersionRecord {
            id,
            package_id,
            version: new.version.to_owned(),
            manifest: new.manifest.to_owned(),
            tarball: new.tarball.clone(),
            size: new.size as i64,
            integrity: new.integrity.to_owned(),
            shasum: new.shasum.to_owned(),
            deprecated: None,
            created_at: now,
        })
    }

    /// The package's published (not unpublished) versions, oldest first.
    pub async fn npm_versions(&self, package_id: i64) -> Result<Vec<NpmVersionRecord>> {
        self.rows(
            &format!(
                "SELECT {COLUMNS} FROM npm_versions WHERE package_id = $1 \
                 AND deleted_at IS NULL ORDER BY id"
            ),
            (package_id,),
        )
        .await
    }

    /// One published version.
    pub async fn npm_version(
        &self,
        package_id: i64,
        version: &str,
    ) -> Result<Option<NpmVersionRecord>> {
        self.row(
            &format!(
                "SELECT {COLUMNS} FROM npm_versions WHERE package_id = $1 AND version = $2 \
                 AND deleted_at IS NULL"
            ),
            (package_id, version),
        )
        .await
    }

    /// The package's dist-tags and the versions they name, by tag.
    pub async fn npm_dist_tags(&self, package_id: i64) -> Result<Vec<(String, String)>> {
        self.rows(
            "SELECT tag, version FROM npm_dist_tags WHERE package_id = $1 ORDER BY tag",
            (package_id,),
        )
        .await
    }

    /// Points `tag` at `version`, which must be published; `false` when it is not.
    pub async fn set_npm_dist_tag(
        &self,
        package_id: i64,
        tag: &str,
        version: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let published: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM npm_versions WHERE package_id = $1 AND version = $2 \
             AND deleted_at IS NULL",
        )
        .binds((package_id, version))
        .fetch_optional(&mut *tx)
        .await?;
        if published.is_none() {
            return Ok(false);
        }
        sqlx::query(SET_TAG)
            .binds((package_id, tag, version, now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes a dist-tag; `false` when the package has no such tag.
    pub async fn remove_npm_dist_tag(&self, package_id: i64, tag: &str) -> Result<bool> {
        self.change(
            "DELETE FROM npm_dist_tags WHERE package_id = $1 AND tag = $2",
            (package_id, tag),
        )
        .await
    }

    /// Deprecates a published version with `message`, or un-deprecates it (`None`); `false`
    /// when it is not published.
    pub async fn deprecate_npm_version(
        &self,
        package_id: i64,
        version: &str,
        message: Option<&str>,
    ) -> Result<bool> {
        self.change(
            "UPDATE npm_versions SET deprecated = $3 WHERE package_id = $1 AND version = $2 \
             AND deleted_at IS NULL",
            (package_id, version, message),
        )
        .await
    }

    /// Unpublishes a version: it is no longer served, the tags naming it go, and its number
    /// stays taken. `false` when it is not published.
    pub async fn unpublish_npm_version(
        &self,
        package_id: i64,
        version: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE npm_versions SET deleted_at = $3 WHERE package_id = $1 AND version = $2 \
             AND deleted_at IS NULL",
        )
        .binds((package_id, version, now))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM npm_dist_tags WHERE package_id = $1 AND version = $2")
            .binds((package_id, version))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// The package's versions as the packages API lists them, newest first: published ones with
    /// the dist-tags naming them, or (`deleted`) the unpublished ones. `id` picks one.
    pub async fn npm_version_records(
        &self,
        package_id: i64,
        deleted: bool,
        id: Option<i64>,
    ) -> Result<Vec<VersionRecord>> {
        const SQL: &str = "SELECT id, version, created_at, deleted_at FROM npm_versions \
                           WHERE package_id = $1 AND (deleted_at IS NOT NULL) = $2 \
                           AND ($3 < 0 OR id = $3) ORDER BY id DESC";
        let rows: Vec<(i64, String, i64, Option<i64>)> = self
            .rows(SQL, (package_id, deleted, id.unwrap_or(-1)))
            .await?;
        let tags = self.npm_dist_tags(package_id).await?;
        Ok(rows
            .into_iter()
            .map(|(id, version, created_at, deleted_at)| VersionRecord {
                tags: tags
                    .iter()
                    .filter(|(_, v)| *v == version)
                    .map(|(t, _)| t.clone())
                    .collect(),
                id,
                name: version,
                created_at,
                deleted_at,
            })
            .collect())
    }

    /// Restores an unpublished version (its number was never reused); its dist-tags are not
    /// restored. `false` when no unpublished version has that id.
    pub async fn restore_npm_version(&self, package_id: i64, id: i64) -> Result<bool> {
        self.change(
            "UPDATE npm_versions SET deleted_at = NULL WHERE package_id = $1 AND id = $2 \
             AND deleted_at IS NOT NULL",
            (package_id, id),
        )
        .await
    }
}

const SET_TAG: &str = "INSERT INTO npm_dist_tags (package_id, tag, version, updated_at) \
                       VALUES ($1, $2, $3, $4) ON CONFLICT (package_id, tag) \
                       DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at";
