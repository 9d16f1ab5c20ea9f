//! Garbage collection of the container registry, safe to run while clients push and pull.
//!
//! One pass: versions deleted longer ago than the retention are purged; package-blob links that
//! no manifest uses (and that are older than the grace period, so blobs pushed just before their
//! manifest stay) are removed; blobs no package links are collected; uploads idle longer than
//! their time to live are removed with their data, and so are the blob store's incomplete
//! multipart uploads older than that (S3: what a server killed in the middle of a write left).
//!
//! A blob goes in three steps (see `berth_store::collect`): doomed in the database, its file moved
//! to `trash/`, then buried only if still doomed. An upload that commits the same digest at any
//! point revives it, and the file comes back from the trash, so a concurrent push never loses
//! data. A pass that stops half-way leaves doomed rows the next pass finishes.

use std::time::Duration;

use berth_blob::BlobError;
use berth_domain::oci::Digest;
use berth_store::{CollectCutoffs, DoomedBlob};
use serde::Serialize;

use super::Registry;
use super::blob_path;
use super::uploads::{UPLOADS, upload_path};
use crate::{Access, Principal, Result, ServiceError};

/// How long things are kept before a collection takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectPolicy {
    /// Deleted versions can be restored for this long (GitHub keeps them 30 days).
    pub version_retention: Duration,
    /// Blobs linked or pinned more recently than this are kept even when nothing refers to them.
    pub grace: Duration,
    /// Uploads idle for longer than this are removed.
    pub upload_ttl: Duration,
    /// Container versions no tag or live manifest keeps (an image whose tag moved on, one pushed
    /// by digest alone) are deleted once pushed this long ago, then purged after
    /// `version_retention` like any deleted version. `None` (the default, as GitHub Packages
    /// does): they are kept until deleted.
    pub untagged: Option<Duration>,
}

impl Default for CollectPolicy {
    fn default() -> Self {
        Self {
            version_retention: Duration::from_secs(30 * 24 * 3600),
            grace: Duration::from_secs(3600),
            upload_ttl: Duration::from_secs(24 * 3600),
            untagged: None,
        }
    }
}

/// What one pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CollectReport {
    /// Untagged container versions deleted (only with [`CollectPolicy::untagged`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub untagged_deleted: u64,
    pub versions_purged: u64,
    pub links_removed: u64,
    pub blobs_deleted: u64,
    pub bytes_freed: u64,
    /// Doomed blobs that an upload revived during the pass.
    pub blobs_revived: u64,
    pub uploads_expired: u64,
    /// Uploads no record names whose leftovers were still in the blob store (see
    /// `collect_upload_leftovers`).
    #[serde(skip_serializing_if = "is_zero")]
    pub upload_leftovers_removed: u64,
    /// Incomplete multipart uploads aborted in the blob store (S3: what a server killed in the
    /// middle of a write left; invisible, but kept and billed until aborted).
    #[serde(skip_serializing_if = "is_zero")]
    pub multipart_aborted: u64,
    /// Set on a dry run: the counts are what a pass would remove now; nothing was.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The job whose lead a collection pass takes.
const COLLECTOR: &str = "berth:registry-collection";

/// Blobs doomed per database round trip.
const BATCH: i64 = 500;

fn trash_path(d: &str) -> String {
    format!("trash/{}", d.replace(':', "/"))
}

impl Registry {
    /// Runs one collection pass as a site administrator asked for it, or with `dry_run` says
    /// what one would remove now, removing nothing.
    pub async fn collect_garbage(
        &self,
        p: &Principal,
        policy: CollectPolicy,
        dry_run: bool,
    ) -> Result<CollectReport> {
        self.authz.check(p, Access::SiteAdmin).await?;
        if !dry_run {
            return self.collect(policy).await;
        }
        let would = self.store.collect_preview(self.cutoffs(policy)).await?;
        let leftovers = self.collect_upload_leftovers(policy, true).await?;
        let multipart = self.abort_unfinished(policy, true).await;
        Ok(CollectReport {
            untagged_deleted: would.untagged,
            versions_purged: would.versions,
            links_removed: would.links,
            blobs_deleted: would.blobs,
            bytes_freed: would.bytes,
            blobs_revived: 0,
            uploads_expired: would.uploads,
            upload_leftovers_removed: leftovers,
            multipart_aborted: multipart,
            dry_run: true,
        })
    }

    /// What a pass under `policy` collects: what is older than these.
    fn cutoffs(&self, policy: CollectPolicy) -> CollectCutoffs {
        let now = self.now();
        let before = |d: Duration| now - i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        CollectCutoffs {
            versions: before(policy.version_retention),
            blobs: before(policy.grace),
            uploads: before(policy.upload_ttl),
            untagged: policy.untagged.map(before),
        }
    }

    /// Runs one collection pass (the server's periodic task calls this directly), on one server
    /// at a time among those sharing the database: while another runs one, this is a
    /// `Conflict` saying so.
    pub async fn collect(&self, policy: CollectPolicy) -> Result<CollectReport> {
        let Some(lead) = self.store.try_lead(COLLECTOR).await? else {
            return Err(ServiceError::Conflict(
                "another server is collecting the registry's garbage now; try again when it is done"
                    .into(),
            ));
        };
        let report = self.collect_led(policy).await;
        lead.end().await?;
        report
    }

    async fn collect_led(&self, policy: CollectPolicy) -> Result<CollectReport> {
        let (now, cutoffs) = (self.now(), self.cutoffs(policy));
        let store = &self.store;
        let untagged_deleted = match cutoffs.untagged {
            Some(cutoff) => store.delete_untagged_versions(cutoff, now).await?,
            None => 0,
        };
        let mut report = CollectReport {
            untagged_deleted,
            versions_purged: store.purge_deleted_versions(cutoffs.versions).await?,
            links_removed: store.unlink_unreferenced_blobs(cutoffs.blobs).await?,
            ..CollectReport::default()
        };
        let leftovers = store.abandoned_doomed_blobs(cutoffs.blobs).await?;
        self.collect_blobs(leftovers, &mut report).await?;
        loop {
            let doomed = store.doom_blobs(cutoffs.blobs, now, BATCH).await?;
            if doomed.is_empty() {
                break;
            }
            self.collect_blobs(doomed, &mut report).await?;
        }
        let cutoff = cutoffs.uploads;
        for id in self.store.stale_uploads(cutoff).await? {
            if self.store.expire_upload(&id, cutoff).await? {
                self.blobs.delete(&upload_path(&id)).await?;
                self.forget_upload(&id);
                report.uploads_expired += 1;
            }
        }
        report.upload_leftovers_removed = self.collect_upload_leftovers(policy, false).await?;
        report.multipart_aborted = self.abort_unfinished(policy, false).await;
        if report != CollectReport::default() {
            tracing::info!(?report, "registry garbage collected");
        }
        Ok(report)
    }

    /// Aborts the store's incomplete multipart uploads older than the upload TTL (with
    /// `dry_run`, counts them). A store that cannot list them (not every S3-compatible one can)
    /// still collects the rest: 0, and a warning.
    async fn abort_unfinished(&self, policy: CollectPolicy, dry_run: bool) -> u64 {
        match self
            .blobs
            .abort_unfinished(policy.upload_ttl, dry_run)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "incomplete multipart uploads were not listed; \
                    a lifecycle rule on the bucket (AbortIncompleteMultipartUpload) aborts them too");
                0
            }
        }
    }

    /// Removes what is kept under `uploads/` for an upload no record names any more (one that
    /// finished or expired) once it is older than the upload TTL: a write that lost a race for
    /// the same chunk on another replica can land after its upload finished. How many uploads'
    /// leftovers went (with `dry_run`: would go; nothing is removed).
    async fn collect_upload_leftovers(&self, policy: CollectPolicy, dry_run: bool) -> Result<u64> {
        let mut ids: Vec<String> = self
            .blobs
            .list_older(UPLOADS, policy.upload_ttl)
            .await?
            .iter()
            .filter_map(|path| {
                path.strip_prefix(UPLOADS)?
                    .strip_prefix('/')?
                    .split('/')
                    .next()
            })
            .map(str::to_owned)
            .collect();
        ids.dedup();
        let mut removed = 0;
        for id in ids {
            if self.store.upload(&id).await?.is_none() {
                if !dry_run {
                    self.blobs.delete(&upload_path(&id)).await?;
                }
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn collect_blobs(
        &self,
        doomed: Vec<DoomedBlob>,
        report: &mut CollectReport,
    ) -> Result<()> {
        let blobs = &self.blobs;
        for blob in doomed {
            let Ok(digest) = Digest::parse(&blob.digest) else {
                tracing::warn!(digest = %blob.digest, "a stored blob has an unparsable digest");
                continue;
            };
            let (live, trash) = (blob_path(&digest), trash_path(&blob.digest));
            match blobs.commit(&live, &trash).await {
                Ok(()) | Err(BlobError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            if self.store.bury_blob(&blob.digest).await? {
                blobs.delete(&trash).await?;
                report.blobs_deleted += 1;
                report.bytes_freed += u64::try_from(blob.size).unwrap_or(0);
            } else {
                // An upload revived it meanwhile: its file goes back (same bytes either way).
                match blobs.commit(&trash, &live).await {
                    Ok(()) | Err(BlobError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                report.blobs_revived += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};

    use berth_blob::{BlobDriver, ByteStream, FsDriver};
    use berth_store::Store;
    use bytes::Bytes;

    use super::*;

    /// A driver that, while the collector moves a blob to the trash, lets an upload of the same
    /// digest pin it: the race the three-step collection exists for.
    #[derive(Debug)]
    struct UploadDuringCollection {
        inner: FsDriver,
        store: OnceLock<Store>,
        race: AtomicBool,
    }

    #[async_trait::async_trait]
    impl BlobDriver for UploadDuringCollection {
        async fn append(&self, path: &str, data: ByteStream) -> berth_blob::Result<u64> {
            self.inner.append(path, data).await
        }
        async fn size(&self, path: &str) -> berth_blob::Result<Option<u64>> {
            self.inner.size(path).await
        }
        async fn read(
            &self,
            path: &str,
            offset: u64,
            len: Option<u64>,
        ) -> berth_blob::Result<ByteStream> {
            self.inner.read(path, offset, len).await
        }
        async fn commit(&self, from: &str, to: &str) -> berth_blob::Result<()> {
            if let Some(hex) = to.strip_prefix("trash/sha256/")
                && self.race.load(Ordering::SeqCst)
            {
                let digest = Digest::parse(&format!("sha256:{hex}")).unwrap();
                let store = self.store.get().unwrap();
                store.pin_blob(&digest, 5, i64::MAX / 2).await.unwrap();
            }
            self.inner.commit(from, to).await
        }
        async fn delete(&self, path: &str) -> berth_blob::Result<()> {
            self.inner.delete(path).await
        }
        async fn list_older(
            &self,
            prefix: &str,
            older_than: Duration,
        ) -> berth_blob::Result<Vec<String>> {
            self.inner.list_older(prefix, older_than).await
        }
    }

    async fn stored_blob(
        registry: &Registry,
        driver: &UploadDuringCollection,
        body: &'static [u8],
    ) -> Digest {
        use sha2::Digest as _;
        let hex: String = sha2::Sha256::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let digest = Digest::parse(&format!("sha256:{hex}")).unwrap();
        let data: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(body))]));
        driver.append("uploads/t", data).await.unwrap();
        driver
            .commit("uploads/t", &blob_path(&digest))
            .await
            .unwrap();
        // Pinned long ago and linked by nothing: collectable.
        registry
            .store
            .pin_blob(&digest, body.len() as u64, 0)
            .await
            .unwrap();
        digest
    }

    #[tokio::test]
    async fn an_upload_during_collection_revives_its_blob_and_keeps_the_file() {
        let (dir, store) = berth_store::testing::sqlite_store().await;
        let driver = Arc::new(UploadDuringCollection {
            inner: FsDriver::new(dir.path().join("storage"), false),
            store: OnceLock::new(),
            race: AtomicBool::new(true),
        });
        driver.store.set(store.clone()).unwrap();
        let registry = Registry::for_tests(store, driver.clone());

        let raced = stored_blob(&registry, &driver, b"raced").await;
        let report = registry.collect(CollectPolicy::default()).await.unwrap();
        assert_eq!((report.blobs_revived, report.blobs_deleted), (1, 0));
        assert_eq!(driver.size(&blob_path(&raced)).await.unwrap(), Some(5));
        assert_eq!(registry.store.blob_size(&raced).await.unwrap(), Some(5));
        assert_eq!(
            driver.size(&trash_path(raced.as_str())).await.unwrap(),
            None
        );

        driver.race.store(false, Ordering::SeqCst);
        let alone = stored_blob(&registry, &driver, b"alone").await;
        let report = registry.collect(CollectPolicy::default()).await.unwrap();
        assert_eq!(
            (
                report.blobs_revived,
                report.blobs_deleted,
                report.bytes_freed
            ),
            (0, 1, 5)
        );
        assert_eq!(driver.size(&blob_path(&alone)).await.unwrap(), None);
        assert_eq!(registry.store.blob_size(&alone).await.unwrap(), None);
        assert_eq!(
            driver.size(&blob_path(&raced)).await.unwrap(),
            Some(5),
            "the revived blob stays"
        );
    }

    #[tokio::test]
    async fn what_an_upload_no_record_names_leaves_in_storage_goes_once_older_than_the_ttl() {
        let (dir, store) = berth_store::testing::sqlite_store().await;
        let storage = dir.path().join("storage");
        let driver = Arc::new(FsDriver::new(&storage, false));
        let registry = Registry::for_tests(store.clone(), driver.clone());
        let write = |path: &'static str| {
            let data: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(
                b"part",
            ))]));
            driver.append(path, data)
        };
        // A live upload's data (its record is young), a leftover of a finished one, and a
        // leftover written just now.
        store
            .insert_upload("live", "alice/app", i64::MAX / 2)
            .await
            .unwrap();
        write("uploads/live").await.unwrap();
        write("uploads/finished").await.unwrap();
        write("uploads/recent").await.unwrap();
        let day_ago = std::time::SystemTime::now() - Duration::from_secs(86_400);
        for old in ["uploads/live", "uploads/finished"] {
            std::fs::File::open(storage.join(old))
                .unwrap()
                .set_modified(day_ago)
                .unwrap();
        }
        let policy = CollectPolicy {
            upload_ttl: Duration::from_secs(3600),
            ..CollectPolicy::default()
        };
        let would = registry
            .collect_upload_leftovers(policy, true)
            .await
            .unwrap();
        assert_eq!(would, 1, "a dry run counts it");
        assert_eq!(
            driver.size("uploads/finished").await.unwrap(),
            Some(4),
            "and keeps it"
        );
        let report = registry.collect(policy).await.unwrap();
        assert_eq!(report.upload_leftovers_removed, 1, "{report:?}");
        assert_eq!(driver.size("uploads/finished").await.unwrap(), None);
        assert_eq!(
            driver.size("uploads/live").await.unwrap(),
            Some(4),
            "its record names it"
        );
        assert_eq!(
            driver.size("uploads/recent").await.unwrap(),
            Some(4),
            "too young"
        );
    }
}
