//! `npm publish`: the document checked (domain `parse_publication`: one version, one
//! attachment, its length and digests as the client computed them), the tarball's own
//! `package.json` checked against it, the tarball stored as a blob, and the version recorded
//! with its dist-tags at once. A version number is never published twice.

use berth_domain::npm::{NpmPackageName, NpmVersion, Publication, PublishError, parse_publication};
use berth_domain::oci::{Algorithm, Digest};
use berth_domain::package::PackageAction;
use berth_store::{Account, NewNpmVersion, Package, PackageKind, StoreError};
use sha2::Digest as _;

use super::store_error;
use crate::registry::{Registry, blob_path};
use crate::{Principal, Result, ServiceError};

fn invalid(message: String) -> ServiceError {
    ServiceError::invalid("Package", "versions", "invalid", message)
}

impl Registry {
    /// A `PUT` of the package document, read once: a publish when it carries a tarball (the
    /// version published is returned), else the document npm's `deprecate` and `unpublish
    /// VERSION` send back ([`Registry::npm_update`]).
    pub async fn npm_put(
        &self,
        p: &Principal,
        name: &NpmPackageName,
        body: &[u8],
    ) -> Result<Option<NpmVersion>> {
        match parse_publication(name, body) {
            Ok(publication) => self.npm_publish(p, name, publication).await.map(Some),
            Err(PublishError::NoAttachments) => self.npm_update(p, name, body).await.map(|()| None),
            Err(e) => {
                // Who may not publish here learns nothing from the document's checks.
                self.npm_package(p, name, PackageAction::Write).await?;
                Err(invalid(e.to_string()))
            }
        }
    }

    /// Publishes the one version a checked publish document carries; returns it.
    async fn npm_publish(
        &self,
        p: &Principal,
        name: &NpmPackageName,
        publication: Publication,
    ) -> Result<NpmVersion> {
        let (owner, package) = self.npm_package(p, name, PackageAction::Write).await?;
        let (mut publication, packed) = tokio::task::spawn_blocking(move || {
            let packed = super::tarball::name_and_version(&publication.tarball);
            (publication, packed)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("reading the tarball: {e}")))?;
        let (packed_name, packed_version) = packed.map_err(|e| invalid(e.to_string()))?;
        if packed_name != name.to_string() || packed_version != publication.version.as_str() {
            return Err(invalid(format!(
                "the tarball's package.json is {packed_name}@{packed_version}, but the document publishes {name}@{}",
                publication.version
            )));
        }
        let package = match package {
            Some(existing) => existing,
            None => self.first_publish(p, &owner, name, &publication).await?,
        };
        let size = publication.tarball.len() as u64;
        let digest = self
            .store_tarball(package.id, std::mem::take(&mut publication.tarball))
            .await?;
        let manifest = serde_json::to_string(&without_dist(&publication))
            .map_err(|e| ServiceError::Internal(format!("manifest: {e}")))?;
        let mut tags: Vec<&str> = publication.tags.iter().map(|t| t.as_str()).collect();
        if tags.is_empty() && !self.has_latest(package.id).await? {
            tags.push("latest");
        }
        let new = NewNpmVersion {
            version: publication.version.as_str(),
            manifest: &manifest,
            tarball: &digest,
            size,
            integrity: &publication.integrity,
            shasum: &publication.shasum,
            tags: &tags,
        };
        match self
            .store
            .publish_npm_version(package.id, &new, self.now())
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(ServiceError::Conflict(format!(
                    "{name}@{} was published before, and a version is never published twice (not even after it is unpublished): bump the version in package.json",
                    publication.version
                )));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(package = %name, version = %publication.version, size, "published npm version");
        Ok(publication.version)
    }

    async fn has_latest(&self, package_id: i64) -> Result<bool> {
        let tags = self.store.npm_dist_tags(package_id).await?;
        Ok(tags.iter().any(|(t, _)| t == "latest"))
    }

    /// Creates the package at its first publish, linked to the repository its `repository` field
    /// names (of the same owner), or else to the owner's repository of the package's name.
    async fn first_publish(
        &self,
        p: &Principal,
        owner: &Account,
        name: &NpmPackageName,
        publication: &Publication,
    ) -> Result<Package> {
        let caller_repo = match p {
            Principal::Repository { repo, .. } => Some(repo.id),
            _ => None,
        };
        let package = self
            .create_package(
                owner,
                PackageKind::Npm,
                name.name(),
                p.user_id(),
                caller_repo,
            )
            .await
            .map_err(store_error)?;
        tracing::info!(package = %name, "created npm package");
        if package.source_repo_id.is_some() {
            return Ok(package);
        }
        let named = berth_domain::npm::repository_of(&publication.manifest)
            .filter(|(o, _)| o.key() == owner.login.key())
            .map(|(_, repo)| repo)
            .or_else(|| berth_domain::RepoName::parse(name.name()).ok());
        if let Some(repo) = named {
            self.link_source(caller_repo, owner, &package, &repo)
                .await
                .map_err(store_error)?;
        }
        Ok(self
            .store
            .package_by_id(package.id)
            .await?
            .unwrap_or(package))
    }

    /// Stores a tarball as a blob of the package, as an upload is: pinned, written aside, then
    /// committed to its content address, so no partial tarball is ever visible.
    async fn store_tarball(&self, package_id: i64, tarball: Vec<u8>) -> Result<Digest> {
        let digest = Digest::from_hash(Algorithm::Sha256, &sha2::Sha256::digest(&tarball));
        let size = tarball.len() as u64;
        let now = self.now();
        self.store.pin_blob(&digest, size, now).await?;
        let aside = format!("uploads/npm-{}", uuid::Uuid::new_v4());
        // Handed over, not copied: the decoded tarball is the only copy held.
        let bytes = bytes::Bytes::from(tarball);
        let body: berth_blob::ByteStream =
            Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
        let written = self.blobs.append(&aside, body).await;
        if let Err(e) = written {
            let _ = self.blobs.delete(&aside).await;
            return Err(e.into());
        }
        self.blobs.commit(&aside, &blob_path(&digest)).await?;
        self.store.add_blob(package_id, &digest, size, now).await?;
        Ok(digest)
    }
}

/// The version's manifest as stored: what the client sent, less the `dist` the registry writes
/// itself when it serves the version.
fn without_dist(publication: &Publication) -> serde_json::Map<String, serde_json::Value> {
    let mut manifest = publication.manifest.clone();
    manifest.remove("dist");
    manifest
}
