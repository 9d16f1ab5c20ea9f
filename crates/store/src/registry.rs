//! Registry metadata: packages, blobs and their links to packages, manifests, tags, uploads.

use berth_domain::Visibility;
use berth_domain::oci::Digest;

use crate::binds::Bind;
use crate::columns::Column;
use crate::{Result, Store, conflict_as, corrupt};

/// The kind of registry a package lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageKind {
    Container,
    Npm,
}

impl PackageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Npm => "npm",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Package {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    #[sqlx(try_from = "Column<Visibility>")]
    pub visibility: Visibility,
    pub publisher_id: Option<i64>,
    /// The source repository the package is linked to.
    pub source_repo_id: Option<i64>,
    /// Whether the package inherits its source repository's access.
    #[sqlx(rename = "inherit_access", try_from = "Column<bool>")]
    pub inherit: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A package to create.
#[derive(Debug, Clone, Copy)]
pub struct NewPackage<'a> {
    pub owner_id: i64,
    pub kind: PackageKind,
    pub name: &'a str,
    pub visibility: Visibility,
    pub publisher_id: Option<i64>,
    pub source: PackageSource,
}

/// Who a new package links to, and whether it inherits from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PackageSource {
    pub repo_id: Option<i64>,
    pub inherit: bool,
}

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Upload {
    pub id: String,
    pub repository: String,
    pub size: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stored manifest.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ManifestRecord {
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<String>,
    /// The manifest's annotations as a JSON object, when it has any.
    pub annotations: Option<String>,
    pub size: i64,
    pub body: String,
    pub created_at: i64,
}

/// A manifest to store, with what it references.
#[derive(Debug, Clone)]
pub struct NewManifest<'a> {
    pub digest: &'a Digest,
    pub media_type: &'a str,
    pub artifact_type: Option<&'a str>,
    pub subject: Option<&'a Digest>,
    pub annotations: Option<&'a str>,
    pub body: &'a str,
    pub refs: Vec<&'a Digest>,
    /// The blobs it needs (its config and layers): each must still be the package's when the
    /// manifest is stored.
    pub blobs: Vec<&'a Digest>,
}

/// What storing a manifest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestPut {
    Stored,
    /// A blob it needs is no longer the package's (the collector took it after the caller
    /// checked): nothing was stored, and a push of the blob again lets the manifest through.
    BlobGone(Digest),
}

const PACKAGE_COLUMNS: &str = "id, owner_id, name, visibility, publisher_id, source_repo_id, inherit_access, created_at, updated_at";
const MANIFEST_COLUMNS: &str =
    "digest, media_type, artifact_type, subject, annotations, size, body, created_at";

/// Creates a blob row, or revives and re-pins an existing one.
const PIN_BLOB: &str = "INSERT INTO blobs (digest, size, created_at, state, touched_at) \
     VALUES ($1, $2, $3, 'live', $3) \
     ON CONFLICT (digest) DO UPDATE SET state = 'live', touched_at = excluded.touched_at";

impl Store {
    pub async fn package(
        &self,
        owner_id: i64,
        kind: PackageKind,
        name: &str,
    ) -> Result<Option<Package>> {
        self.row(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM packages WHERE owner_id = $1 AND kind = $2 AND name = $3"
        ), (owner_id, kind.as_str(), name))
        .await
    }

    /// Every package of one owner and kind, by name.
    pub async fn packages_of_owner(
        &self,
        owner_id: i64,
        kind: PackageKind,
    ) -> Result<Vec<Package>> {
        self.rows(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM packages WHERE owner_id = $1 AND kind = $2 ORDER BY name"
        ), (owner_id, kind.as_str()))
        .await
    }

    /// Every package of one kind, by owner.
    pub async fn packages_of_kind(&self, kind: PackageKind) -> Result<Vec<Package>> {
        self.rows(
            &format!(
                "SELECT {PACKAGE_COLUMNS} FROM packages WHERE kind = $1 ORDER BY owner_id, name"
            ),
            (kind.as_str(),),
        )
        .await
    }

    pub async fn package_by_id(&self, id: i64) -> Result<Option<Package>> {
        self.row_where(("packages", PACKAGE_COLUMNS), "id", id)
            .await
    }

    /// Creates the package, or returns the one that a concurrent request created first.
    pub async fn create_package(&self, new: &NewPackage<'_>, now: i64) -> Result<Package> {
        let NewPackage {
            owner_id,
            kind,
            name,
            visibility,
            publisher_id,
            source,
        } = *new;
        let inserted = sqlx::query(
            "INSERT INTO packages (owner_id, kind, name, visibility, publisher_id, source_repo_id, inherit_access, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (owner_id, kind, name) DO NOTHING",
        )
        .binds((owner_id, kind.as_str(), name, visibility.as_str(), publisher_id, source.repo_id, i64::from(source.inherit), now))
        .execute(&self.writer)
        .await;
        inserted.map_err(conflict_as("package"))?;
        self.package(owner_id, kind, name)
            .await?
            .ok_or_else(|| corrupt("package", "vanished after insert"))
    }

    pub async fn set_package_visibility(
        &self,
        id: i64,
        visibility: Visibility,
        now: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE packages SET visibility = $2, updated_at = $3 WHERE id = $1")
            .binds((id, visibility.as_str(), now))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Links a package to a source repository (or unlinks it) and sets whether it inherits.
    pub async fn set_package_source(&self, id: i64, source: PackageSource, now: i64) -> Result<()> {
        sqlx::query("UPDATE packages SET source_repo_id = $2, inherit_access = $3, updated_at = $4 WHERE id = $1")
            .binds((id, source.repo_id, i64::from(source.inherit), now))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    // --- uploads ---------------------------------------------------------------------------

    pub async fn insert_upload(&self, id: &str, repository: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO uploads (id, repository, size, created_at, updated_at) VALUES ($1, $2, 0, $3, $3)")
            .binds((id, repository, now))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &str) -> Result<Option<Upload>> {
        self.row(
            "SELECT id, repository, size, created_at, updated_at FROM uploads WHERE id = $1",
            (id,),
        )
        .await
    }

    /// Records the new size of an upload, only if it still has `expected` bytes (so two
    /// concurrent chunks cannot both claim the same range).
    pub async fn advance_upload(
        &self,
        id: &str,
        expected: i64,
        size: i64,
        now: i64,
    ) -> Result<bool> {
        self.change(
            "UPDATE uploads SET size = $3, updated_at = $4 WHERE id = $1 AND size = $2",
            (id, expected, size, now),
        )
        .await
    }

    pub async fn delete_upload(&self, id: &str) -> Result<bool> {
        self.delete_where("uploads", "id", id.to_owned()).await
    }

    // --- blobs -----------------------------------------------------------------------------

    /// Records a committed blob (idempotent, reviving it if a collection had doomed it) and
    /// links it to a package.
    pub async fn add_blob(
        &self,
        package_id: i64,
        digest: &Digest,
        size: u64,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(PIN_BLOB)
            .binds((digest.as_str(), size as i64, now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO package_blobs (package_id, digest, linked_at) VALUES ($1, $2, $3) \
             ON CONFLICT (package_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
        )
        .binds((package_id, digest.as_str(), now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that an upload is about to commit a blob: the row is created or revived and its
    /// grace period restarts, so no collection removes the file the upload is committing.
    pub async fn pin_blob(&self, digest: &Digest, size: u64, now: i64) -> Result<()> {
        sqlx::query(PIN_BLOB)
            .binds((digest.as_str(), size as i64, now))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The size of a blob anywhere in the store.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(size.map(|s| s as u64))
    }

    /// The size of a blob if the package links it.
    pub async fn package_blob_size(&self, package_id: i64, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM package_blobs pb JOIN blobs b ON b.digest = pb.digest WHERE pb.package_id = $1 AND pb.digest = $2",
        )
        .binds((package_id, digest.as_str()))
        .fetch_optional(&self.pool)
        .await?;
        Ok(size.map(|s| s as u64))
    }

    /// The packages that link a blob (for mounting from wherever the caller may read).
    pub async fn packages_with_blob(&self, digest: &Digest) -> Result<Vec<i64>> {
        self.column(
            "SELECT package_id FROM package_blobs WHERE digest = $1 ORDER BY package_id",
            (digest.as_str(),),
        )
        .await
    }

    pub async fn unlink_blob(&self, package_id: i64, digest: &Digest) -> Result<bool> {
        self.change(
            "DELETE FROM package_blobs WHERE package_id = $1 AND digest = $2",
            (package_id, digest.as_str()),
        )
        .await
    }

    // --- manifests and tags ----------------------------------------------------------------

    /// Stores a manifest (idempotent for the same digest) with its references, and points `tags`
    /// at it, in one transaction.
    ///
    /// In the same transaction, each of its blobs is touched: its link to the package renewed
    /// and its row made live again, so that a collection running meanwhile either sees them in
    /// use and keeps them, or has already taken one and the manifest is not stored
    /// ([`ManifestPut::BlobGone`]). A manifest never points at a collected blob.
    pub async fn put_manifest(
        &self,
        package_id: i64,
        m: &NewManifest<'_>,
        tags: &[&str],
        now: i64,
    ) -> Result<ManifestPut> {
        let mut tx = self.writer.begin().await?;
        for blob in &m.blobs {
            let linked = sqlx::query(
                "UPDATE package_blobs SET linked_at = $3 WHERE package_id = $1 AND digest = $2",
            )
            .binds((package_id, blob.as_str(), now))
            .execute(&mut *tx)
            .await?;
            let live =
                sqlx::query("UPDATE blobs SET state = 'live', touched_at = $2 WHERE digest = $1")
                    .binds((blob.as_str(), now))
                    .execute(&mut *tx)
                    .await?;
            if linked.rows_affected() == 0 || live.rows_affected() == 0 {
                return Ok(ManifestPut::BlobGone((*blob).clone()));
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO manifests (package_id, digest, media_type, artifact_type, subject, annotations, size, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (package_id, digest) DO NOTHING",
        )
        .binds((package_id, m.digest.as_str(), m.media_type, m.artifact_type, m.subject.map(Digest::as_str), m.annotations, m.body.len() as i64, m.body, now))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO package_versions (package_id, digest, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (package_id, digest) DO UPDATE SET deleted_at = NULL, deleted_tags = NULL",
        )
        .binds((package_id, m.digest.as_str(), now))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            for r in &m.refs {
                sqlx::query("INSERT INTO manifest_refs (package_id, manifest_digest, digest) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .binds((package_id, m.digest.as_str(), r.as_str()))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for tag in tags {
            sqlx::query(
                "INSERT INTO tags (package_id, name, digest, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (package_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
            )
            .binds((package_id, tag, m.digest.as_str(), now))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE packages SET updated_at = $2 WHERE id = $1")
            .binds((package_id, now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ManifestPut::Stored)
    }

    pub async fn manifest(
        &self,
        package_id: i64,
        digest: &Digest,
    ) -> Result<Option<ManifestRecord>> {
        let sql = format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE package_id = $1 AND digest = $2 AND NOT EXISTS (SELECT 1 FROM package_versions v WHERE v.package_id = manifests.package_id AND v.digest = manifests.digest AND v.deleted_at IS NOT NULL)"
        );
        self.row(&sql, (package_id, digest.as_str())).await
    }

    /// The digest a tag points at.
    pub async fn tag(&self, package_id: i64, tag: &str) -> Result<Option<Digest>> {
        let d: Option<String> =
            sqlx::query_scalar("SELECT digest FROM tags WHERE package_id = $1 AND name = $2")
                .binds((package_id, tag))
                .fetch_optional(&self.pool)
                .await?;
        d.map(|d| Digest::parse(&d).map_err(|e| corrupt("tag digest", e)))
            .transpose()
    }

    /// Tags in lexical order, after `last`, at most `limit`.
    pub async fn tags(
        &self,
        package_id: i64,
        last: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>> {
        self.column(
            "SELECT name FROM tags WHERE package_id = $1 AND name > $2 ORDER BY name LIMIT $3",
            (package_id, last.unwrap_or(""), limit),
        )
        .await
    }

    /// Deletes a manifest, the tags that point at it and its references.
    pub async fn delete_manifest(&self, package_id: i64, digest: &Digest) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query("DELETE FROM manifests WHERE package_id = $1 AND digest = $2")
            .binds((package_id, digest.as_str()))
            .execute(&mut *tx)
            .await?;
        for table in [
            "DELETE FROM tags WHERE package_id = $1 AND digest = $2",
            "DELETE FROM manifest_refs WHERE package_id = $1 AND manifest_digest = $2",
            "DELETE FROM package_versions WHERE package_id = $1 AND digest = $2",
        ] {
            sqlx::query(table)
                .binds((package_id, digest.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_tag(&self, package_id: i64, tag: &str) -> Result<bool> {
        self.change(
            "DELETE FROM tags WHERE package_id = $1 AND name = $2",
            (package_id, tag),
        )
        .await
    }

    /// Manifests whose `subject` is `digest`, optionally only of one artifact type.
    pub async fn referrers(
        &self,
        package_id: i64,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ManifestRecord>> {
        let sql = format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE package_id = $1 AND subject = $2 AND NOT EXISTS (SELECT 1 FROM package_versions v WHERE v.package_id = manifests.package_id AND v.digest = manifests.digest AND v.deleted_at IS NOT NULL) \
             AND ($3 = '' OR artifact_type = $3) ORDER BY created_at, digest"
        );
        let artifact_type = artifact_type.unwrap_or("");
        self.rows(&sql, (package_id, digest.as_str(), artifact_type))
            .await
    }
}
