//! This machine's image caches (the runtime's pulled blobs and unpacked layers), kept within
//! their sizes: collected after each start, with the registry's garbage (`berth admin gc`) and
//! every `--gc-interval` on every replica, each for its own machine; least recently used first
//! and never a layer one of this replica's environments uses.

use berth_runtime::caches::CacheReport;

use super::Environments;
use crate::authz::Access;
use crate::{Principal, Result, ServiceError};

impl Environments {
    /// Collects this machine's caches for a site administrator (`None`: this server runs no
    /// environments); a dry run says what would go.
    pub async fn collect_caches(
        &self,
        p: &Principal,
        dry_run: bool,
    ) -> Result<Option<CacheReport>> {
        self.authz.check(p, Access::SiteAdmin).await?;
        self.collect_caches_now(dry_run).await
    }

    /// Collects this machine's caches in the background (after a start has added to them).
    pub(super) fn collect_caches_soon(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.collect_caches_now(false).await {
                tracing::warn!(error = %e, "collecting the image caches failed");
            }
        });
    }

    /// Collects this machine's caches (the server's own schedule).
    pub async fn collect_caches_now(&self, dry_run: bool) -> Result<Option<CacheReport>> {
        let Some(envs) = &self.state else {
            return Ok(None);
        };
        let records = self
            .store
            .codespaces_of_replica(&envs.config.replica.id)
            .await?;
        let mut kept = Vec::with_capacity(records.len());
        for record in records {
            let view = self.view(record).await?;
            kept.push(self.bare_spec(envs, &view.record, &view.repo));
        }
        let report = envs
            .config
            .runtime
            .collect_caches(&kept, envs.config.caches, dry_run)
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if !dry_run && (report.layers_removed > 0 || report.blobs_removed > 0) {
            tracing::info!(
                layers = report.layers_removed,
                layer_bytes = report.layer_bytes_freed,
                blobs = report.blobs_removed,
                blob_bytes = report.blob_bytes_freed,
                "image caches collected"
            );
        }
        Ok(Some(report))
    }
}
