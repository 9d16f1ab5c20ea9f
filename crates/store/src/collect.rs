//! What garbage collection needs from the metadata: deleted versions past their retention,
//! blob links no manifest uses, blobs no package links, and uploads nobody finished.
//!
//! A blob is collected in three steps so that an upload of the same digest at the same time is
//! never lost: [`Store::doom_blobs`] marks unlinked, unpinned rows `doomed`; the caller moves the
//! files to the trash; [`Store::bury_blob`] deletes a row only while it is still doomed. An upload
//! pins the row ([`Store::pin_blob`]) before it commits the file, which revives a doomed row, and
//! the collector then puts the file back.

use crate::binds::Bind;
use crate::{Result, Store};

/// What a collection pass with the same cutoffs would remove now (a dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectPreview {
    /// Untagged container versions a pass would delete (see [`Store::delete_untagged_versions`]).
    pub untagged: u64,
    pub versions: u64,
    pub links: u64,
    pub blobs: u64,
    pub bytes: u64,
    pub uploads: u64,
}

/// The cutoffs of one pass: versions deleted, blobs linked or pinned, and uploads touched before
/// them are collectable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectCutoffs {
    pub versions: i64,
    pub blobs: i64,
    pub uploads: i64,
    /// Untagged container versions pushed before it are deleted (`None`: they are kept).
    pub untagged: Option<i64>,
}

/// Container versions `v` with their manifests `m`.
const VERSIONS: &str = "FROM package_versions v \
    JOIN manifests m ON m.package_id = v.package_id AND m.digest = v.digest";

/// A container version `v` (its manifest `m`) that an untagged pass deletes (`$1`: the cutoff):
/// live, pushed before the cutoff, and kept by nothing ([`UNKEPT`]).
const UNTAGGED: &str = "v.deleted_at IS NULL AND v.created_at < $1 AND ";

/// Nothing keeps the container version `v` (its manifest `m`): no tag names it, no live manifest
/// of its package refers to it (an index's platform images), and it is not a referrer of a live
/// manifest (a signature or an SBOM whose subject is still there).
const UNKEPT: &str = "NOT EXISTS (SELECT 1 FROM tags t WHERE t.package_id = v.package_id AND t.digest = v.digest) \
    AND NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN package_versions p \
        ON p.package_id = r.package_id AND p.digest = r.manifest_digest AND p.deleted_at IS NULL \
        WHERE r.package_id = v.package_id AND r.digest = v.digest) \
    AND NOT EXISTS (SELECT 1 FROM package_versions s WHERE s.package_id = v.package_id \
        AND s.digest = m.subject AND s.deleted_at IS NULL)";

/// A package-blob link `pb` that a pass would remove (`$1`: the versions' cutoff, `$2`: the
/// blobs'): made before the cutoff, used by no manifest that outlives the pass, and the tarball
/// of no published npm version.
const UNUSED_LINK: &str = "pb.linked_at < $2 AND NOT EXISTS ( \
        SELECT 1 FROM manifest_refs r \
        WHERE r.package_id = pb.package_id AND r.digest = pb.digest AND NOT EXISTS ( \
            SELECT 1 FROM package_versions v WHERE v.package_id = r.package_id \
            AND v.digest = r.manifest_digest AND v.deleted_at IS NOT NULL AND v.deleted_at < $1)) \
    AND NOT EXISTS ( \
        SELECT 1 FROM npm_versions n WHERE n.package_id = pb.package_id \
        AND n.tarball = pb.digest AND n.deleted_at IS NULL)";

/// A blob chosen for collection.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DoomedBlob {
    pub digest: String,
    pub size: i64,
}

impl Store {
    /// Deletes (softly: restorable until purged, as any deleted version) the container versions
    /// no tag or live manifest keeps and pushed before `cutoff` (see [`UNKEPT`]); an index
    /// deleted so leaves its platform images to the next round, which this runs until none is
    /// left. Each is re-checked in the transaction that deletes it: a push that tags it
    /// meanwhile (which makes its version live in its own transaction) wins. Returns how many.
    pub async fn delete_untagged_versions(&self, cutoff: i64, now: i64) -> Result<u64> {
        let mut deleted = 0;
        loop {
            let rows: Vec<(i64, String)> = self
                .rows(
                    &format!("SELECT v.package_id, v.digest {VERSIONS} WHERE {UNTAGGED}{UNKEPT}"),
                    (cutoff,),
                )
                .await?;
            let mut round = 0;
            for (package_id, digest) in rows {
                let mut tx = self.writer.begin().await?;
                let taken = sqlx::query(
                    "UPDATE package_versions SET deleted_at = $3, deleted_tags = NULL \
                     WHERE package_id = $1 AND digest = $2 AND deleted_at IS NULL",
                )
                .binds((package_id, &digest, now))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                // Now that its row is ours, is it still untagged and unreferenced?
                let still: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) {VERSIONS} WHERE v.package_id = $1 AND v.digest = $2 AND {UNKEPT}"
                ))
                .binds((package_id, &digest))
                .fetch_one(&mut *tx)
                .await?;
                if taken && still == 1 {
                    tx.commit().await?;
                    round += 1;
                }
            }
            deleted += round;
            if round == 0 {
                return Ok(deleted);
            }
        }
    }

    /// Deletes, for good, versions deleted before `cutoff` (their manifests, references and
    /// remembered tags). Returns how many.
    pub async fn purge_deleted_versions(&self, cutoff: i64) -> Result<u64> {
        let rows: Vec<(i64, String)> = self
            .rows(
                "SELECT package_id, digest FROM package_versions \
                 WHERE deleted_at IS NOT NULL AND deleted_at < $1",
                (cutoff,),
            )
            .await?;
        let mut purged = 0;
        for (package_id, digest) in rows {
            let mut tx = self.writer.begin().await?;
            // Only while it is still deleted: a restore in between wins.
            let done = sqlx::query(
                "DELETE FROM package_versions WHERE package_id = $1 AND digest = $2 \
                 AND deleted_at IS NOT NULL AND deleted_at < $3",
            )
            .binds((package_id, &digest, cutoff))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                for table in [
                    "DELETE FROM manifests WHERE package_id = $1 AND digest = $2",
                    "DELETE FROM manifest_refs WHERE package_id = $1 AND manifest_digest = $2",
                ] {
                    sqlx::query(table)
                        .binds((package_id, &digest))
                        .execute(&mut *tx)
                        .await?;
                }
                purged += 1;
            }
            tx.commit().await?;
        }
        Ok(purged)
    }

    /// Removes package-blob links made before `cutoff` that no manifest of the package refers
    /// to (layers of deleted manifests, blobs pushed and never used) and no published npm
    /// version has as its tarball. Returns how many.
    pub async fn unlink_unreferenced_blobs(&self, cutoff: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM package_blobs WHERE linked_at < $1 AND NOT EXISTS ( \
                 SELECT 1 FROM manifest_refs r \
                 WHERE r.package_id = package_blobs.package_id AND r.digest = package_blobs.digest) \
             AND NOT EXISTS ( \
                 SELECT 1 FROM npm_versions v WHERE v.package_id = package_blobs.package_id \
                 AND v.tarball = package_blobs.digest AND v.deleted_at IS NULL)",
        )
        .bind(cutoff)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    /// Marks up to `limit` blobs that no package links and no upload pinned since `cutoff` as
    /// doomed, and returns them.
    pub async fn doom_blobs(&self, cutoff: i64, now: i64, limit: i64) -> Result<Vec<DoomedBlob>> {
        Ok(sqlx::query_as(
            "UPDATE blobs SET state = 'doomed', touched_at = $2 WHERE digest IN ( \
                 SELECT b.digest FROM blobs b WHERE b.state = 'live' AND b.touched_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM package_blobs pb WHERE pb.digest = b.digest) \
                 LIMIT $3) \
             AND state = 'live' AND touched_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM package_blobs pb WHERE pb.digest = blobs.digest) \
             RETURNING digest, size",
        )
        .binds((cutoff, now, limit))
        .fetch_all(&self.writer)
        .await?)
    }

    /// What a pass with `cutoffs` would remove, changing nothing: [`Store::purge_deleted_versions`],
    /// [`Store::unlink_unreferenced_blobs`], [`Store::doom_blobs`] (with the blobs an earlier
    /// pass left doomed) and the uploads [`Store::stale_uploads`] finds, counted as one pass
    /// would do them in order.
    pub async fn collect_preview(&self, cutoffs: CollectCutoffs) -> Result<CollectPreview> {
        let c = cutoffs;
        let count = |sql: &'static str, cutoff: i64| {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(cutoff)
                .fetch_one(&self.pool)
        };
        let versions = count(
            "SELECT COUNT(*) FROM package_versions \
             WHERE deleted_at IS NOT NULL AND deleted_at < $1",
            c.versions,
        )
        .await?;
        let uploads = count(
            "SELECT COUNT(*) FROM uploads WHERE updated_at < $1",
            c.uploads,
        )
        .await?;
        let links: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM package_blobs pb WHERE {UNUSED_LINK}"
        ))
        .binds((c.versions, c.blobs))
        .fetch_one(&self.pool)
        .await?;
        let (blobs, bytes): (i64, i64) = sqlx::query_as(&format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b \
             WHERE b.touched_at < $2 AND (b.state = 'doomed' OR (b.state = 'live' AND NOT EXISTS ( \
                 SELECT 1 FROM package_blobs pb WHERE pb.digest = b.digest AND NOT ({UNUSED_LINK}))))"
        ))
        .binds((c.versions, c.blobs))
        .fetch_one(&self.pool)
        .await?;
        let untagged: i64 = match c.untagged {
            None => 0,
            Some(cutoff) => {
                sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) {VERSIONS} WHERE {UNTAGGED}{UNKEPT}"
                ))
                .bind(cutoff)
                .fetch_one(&self.pool)
                .await?
            }
        };
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(CollectPreview {
            untagged: n(untagged),
            versions: n(versions),
            links: n(links),
            blobs: n(blobs),
            bytes: n(bytes),
            uploads: n(uploads),
        })
    }

    /// Blobs doomed before `cutoff` and never buried: a collection stopped half-way.
    pub async fn abandoned_doomed_blobs(&self, cutoff: i64) -> Result<Vec<DoomedBlob>> {
        self.rows(
            "SELECT digest, size FROM blobs WHERE state = 'doomed' AND touched_at < $1",
            (cutoff,),
        )
        .await
    }

    /// Deletes a blob's row if it is still doomed; `false` means an upload revived it.
    pub async fn bury_blob(&self, digest: &str) -> Result<bool> {
        self.change(
            "DELETE FROM blobs WHERE digest = $1 AND state = 'doomed'",
            (digest,),
        )
        .await
    }

    /// Uploads not touched since `cutoff`.
    pub async fn stale_uploads(&self, cutoff: i64) -> Result<Vec<String>> {
        self.column(
            "SELECT id FROM uploads WHERE updated_at < $1 ORDER BY id",
            (cutoff,),
        )
        .await
    }

    /// Deletes an upload's row if it is still untouched since `cutoff`.
    pub async fn expire_upload(&self, id: &str, cutoff: i64) -> Result<bool> {
        self.change(
            "DELETE FROM uploads WHERE id = $1 AND updated_at < $2",
            (id, cutoff),
        )
        .await
    }
}
