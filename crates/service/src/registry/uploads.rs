//! Blob uploads: sessions (POST), chunks (PATCH), status (GET), completion (PUT), cancellation
//! (DELETE), monolithic pushes and cross-repository mounts.
//!
//! Data streams into `uploads/<id>` while a SHA-256 of it is computed on the way; the running
//! hash is kept in memory between chunks. When it is missing (another replica received the
//! earlier chunks, the process restarted) or the client asks for another algorithm, the upload is
//! hashed again from storage. The blob becomes visible only when its digest has been checked and
//! the object has been committed (renamed) into place.

use std::sync::{Arc, Mutex};

use berth_blob::{BlobError, ByteStream};
use berth_domain::oci::{Algorithm, Digest, DigestHasher, RepositoryName};
use berth_domain::package::PackageAction;
use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};

use super::Registry;
use super::{RegistryCaller, RegistryError, RegistryResult, Target, blob_path};

/// A hash of the first `size` bytes of an upload.
pub(crate) struct RunningHash {
    size: u64,
    sha256: Sha256,
}

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub id: String,
    pub size: u64,
}

/// What a POST to `/blobs/uploads/` resulted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// A session to send data to (202).
    Session(UploadStatus),
    /// The blob is in the repository already: mounted or pushed in one request (201).
    Blob(Digest),
}

/// Where uploads in progress keep their data (the layout in `registry/mod.rs`).
pub(super) const UPLOADS: &str = "uploads";

pub(super) fn upload_path(id: &str) -> String {
    format!("{UPLOADS}/{id}")
}

fn empty_stream() -> ByteStream {
    Box::pin(futures_util::stream::empty())
}

/// Hashes a file in storage with `algorithm`.
async fn digest_of(
    blobs: &dyn berth_blob::BlobDriver,
    path: &str,
    algorithm: Algorithm,
) -> RegistryResult<Digest> {
    let mut h = DigestHasher::new(algorithm);
    let mut data = blobs.read(path, 0, None).await?;
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(|source| BlobError::Io {
            path: path.into(),
            source,
        })?;
        h.update(&chunk);
    }
    Ok(h.finish())
}

impl Registry {
    fn upload_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.upload_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(id.to_owned()).or_default().clone()
    }

    pub(super) fn forget_upload(&self, id: &str) {
        self.hashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.upload_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// The upload `id` of repository `name`, if the caller may push there.
    async fn authorized_upload(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        id: &str,
    ) -> RegistryResult<(Target, berth_store::Upload)> {
        let target = self
            .authorize_package(caller, name, PackageAction::Write)
            .await?;
        let upload = self
            .store
            .upload(id)
            .await?
            .filter(|u| u.repository == name.as_str())
            .ok_or(RegistryError::BlobUploadUnknown)?;
        Ok((target, upload))
    }

    /// Authorizes, then serialises work on one upload. The upload is found before a lock is
    /// made for it, so requests for unknown ids create nothing, and it is read again under the
    /// lock, since a concurrent request may have finished or cancelled it meanwhile.
    async fn locked_upload(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        id: &str,
    ) -> RegistryResult<(
        tokio::sync::OwnedMutexGuard<()>,
        Target,
        berth_store::Upload,
    )> {
        let (target, _) = self.authorized_upload(caller, name, id).await?;
        let guard = self.upload_lock(id).lock_owned().await;
        match self
            .store
            .upload(id)
            .await?
            .filter(|u| u.repository == name.as_str())
        {
            Some(upload) => Ok((guard, target, upload)),
            None => {
                drop(guard);
                self.forget_upload(id);
                Err(RegistryError::BlobUploadUnknown)
            }
        }
    }

    /// POST `/v2/<name>/blobs/uploads/`: mounts `mount` (from `from`, or from any repository the
    /// caller may read), pushes `monolithic` in one go, or opens a session.
    pub async fn start_upload(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        mount: Option<(Digest, Option<RepositoryName>)>,
        monolithic: Option<(Digest, ByteStream)>,
    ) -> RegistryResult<UploadOutcome> {
        let target = self
            .authorize_package(caller, name, PackageAction::Write)
            .await?;
        if let Some((digest, from)) = mount
            && self
                .try_mount(caller, &target, &digest, from.as_ref())
                .await?
        {
            return Ok(UploadOutcome::Blob(digest));
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.blobs.append(&upload_path(&id), empty_stream()).await?;
        self.store
            .insert_upload(&id, name.as_str(), self.now())
            .await?;
        self.hashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id.clone(),
                RunningHash {
                    size: 0,
                    sha256: Sha256::new(),
                },
            );
        match monolithic {
            Some((digest, body)) => Ok(UploadOutcome::Blob(
                self.finish_upload(caller, name, &id, Some(digest.as_str()), None, Some(body))
                    .await?,
            )),
            None => Ok(UploadOutcome::Session(UploadStatus { id, size: 0 })),
        }
    }

    /// Links `digest` into the target if the caller may read it where it is. `false`: the caller
    /// should upload it instead (the spec's answer to a mount that cannot be done).
    async fn try_mount(
        &self,
        caller: &RegistryCaller,
        target: &Target,
        digest: &Digest,
        from: Option<&RepositoryName>,
    ) -> RegistryResult<bool> {
        let source = match from {
            Some(from) => match self
                .authorize_package(caller, from, PackageAction::Read)
                .await
            {
                Ok(Target {
                    package: Some(p), ..
                }) => vec![p.id],
                _ => Vec::new(),
            },
            None => self.store.packages_with_blob(digest).await?,
        };
        for package_id in source {
            let Some(size) = self.store.package_blob_size(package_id, digest).await? else {
                continue;
            };
            if from.is_none() && !self.may_read_package_id(caller, package_id).await? {
                continue;
            }
            let package = self.package_for_push(caller, target).await?;
            self.store
                .add_blob(package.id, digest, size, self.now())
                .await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn may_read_package_id(
        &self,
        caller: &RegistryCaller,
        package_id: i64,
    ) -> RegistryResult<bool> {
        let Some(package) = self.store.package_by_id(package_id).await? else {
            return Ok(false);
        };
        let Some(owner) = self.store.account_by_id(package.owner_id).await? else {
            return Ok(false);
        };
        let Ok(name) = RepositoryName::parse(&format!("{}/{}", owner.login.key(), package.name))
        else {
            return Ok(false);
        };
        Ok(self
            .authorize_package(caller, &name, PackageAction::Read)
            .await
            .is_ok())
    }

    /// GET `/v2/<name>/blobs/uploads/<id>`.
    pub async fn upload_status(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        id: &str,
    ) -> RegistryResult<UploadStatus> {
        let (_, upload) = self.authorized_upload(caller, name, id).await?;
        Ok(UploadStatus {
            id: upload.id,
            size: upload.size as u64,
        })
    }

    /// PATCH `/v2/<name>/blobs/uploads/<id>`: appends a chunk. `start` is the first byte of a
    /// `Content-Range`, which must be where the upload ends.
    pub async fn append_upload(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        id: &str,
        start: Option<u64>,
        body: ByteStream,
    ) -> RegistryResult<UploadStatus> {
        let (_guard, _, upload) = self.locked_upload(caller, name, id).await?;
        self.append_locked(&upload, start, body).await
    }

    async fn append_locked(
        &self,
        upload: &berth_store::Upload,
        start: Option<u64>,
        body: ByteStream,
    ) -> RegistryResult<UploadStatus> {
        let path = upload_path(&upload.id);
        let size = upload.size as u64;
        if start.is_some_and(|s| s != size) {
            return Err(RegistryError::ChunkOutOfOrder { size });
        }
        // The stored data must end where the metadata says; an interrupted earlier write may
        // have left more, in which case the running hash no longer applies.
        let stored = self
            .blobs
            .size(&path)
            .await?
            .ok_or(RegistryError::BlobUploadUnknown)?;
        let running = self
            .hashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&upload.id)
            .filter(|h| h.size == size && stored == size);
        let hash = Arc::new(Mutex::new(running));
        let tap = hash.clone();
        let body: ByteStream = Box::pin(body.inspect(move |chunk| {
            if let (Ok(bytes), Some(h)) = (
                chunk,
                tap.lock().unwrap_or_else(|e| e.into_inner()).as_mut(),
            ) {
                h.sha256.update(bytes);
                h.size += bytes.len() as u64;
            }
        }));
        let appended = self.blobs.append(&path, body).await;
        // Whatever arrived is kept and recorded, so the client can resume from the real offset.
        let new_size = match &appended {
            Ok(n) => *n,
            Err(_) => self.blobs.size(&path).await?.unwrap_or(stored),
        };
        let advanced = self
            .store
            .advance_upload(&upload.id, upload.size, new_size as i64, self.now())
            .await?;
        if !advanced {
            // Another server took a chunk of this upload meanwhile (the lock is per process):
            // the database's size stands, and this server's running hash no longer applies.
            let now = self.store.upload(&upload.id).await?;
            let size = now.map_or(new_size, |u| u.size as u64);
            return Err(RegistryError::ChunkOutOfOrder { size });
        }
        let running = Arc::try_unwrap(hash)
            .ok()
            .and_then(|m| m.into_inner().ok())
            .flatten()
            .filter(|h| h.size == new_size && appended.is_ok());
        if let Some(h) = running {
            self.hashes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(upload.id.clone(), h);
        }
        appended?;
        Ok(UploadStatus {
            id: upload.id.clone(),
            size: new_size,
        })
    }

    /// PUT `/v2/<name>/blobs/uploads/<id>?digest=…`: appends the last chunk (if any; `start` as
    /// for PATCH), checks the digest, and commits the blob. `digest` is the query parameter as
    /// given (checked once the upload is known to exist).
    pub async fn finish_upload(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        id: &str,
        digest: Option<&str>,
        start: Option<u64>,
        body: Option<ByteStream>,
    ) -> RegistryResult<Digest> {
        let (_guard, target, mut upload) = self.locked_upload(caller, name, id).await?;
        let digest = digest
            .ok_or_else(|| {
                RegistryError::DigestInvalid(
                    "the digest query parameter is required to finish an upload".into(),
                )
            })
            .and_then(|d| {
                Digest::parse(d).map_err(|e| RegistryError::DigestInvalid(e.to_string()))
            })?;
        if let Some(body) = body {
            let status = self.append_locked(&upload, start, body).await?;
            upload.size = status.size as i64;
        }
        let path = upload_path(id);
        let running = self
            .hashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        let actual = match running {
            Some(h) if h.size == upload.size as u64 && digest.algorithm() == Algorithm::Sha256 => {
                Digest::from_hash(Algorithm::Sha256, &h.sha256.finalize())
            }
            _ => digest_of(self.blobs.as_ref(), &path, digest.algorithm()).await?,
        };
        if actual != digest {
            self.cancel_locked(id).await?;
            return Err(RegistryError::DigestInvalid(format!(
                "the uploaded content has digest {actual}, not {digest}"
            )));
        }
        // Pinned first, so that a collection running now cannot take the file it commits.
        self.store
            .pin_blob(&digest, upload.size as u64, self.now())
            .await?;
        self.blobs.commit(&path, &blob_path(&digest)).await?;
        let package = self.package_for_push(caller, &target).await?;
        self.store
            .add_blob(package.id, &digest, upload.size as u64, self.now())
            .await?;
        self.store.delete_upload(id).await?;
        self.forget_upload(id);
        Ok(digest)
    }

    /// DELETE `/v2/<name>/blobs/uploads/<id>`.
    pub async fn cancel_upload(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        id: &str,
    ) -> RegistryResult<()> {
        let _guard = self.locked_upload(caller, name, id).await?.0;
        self.cancel_locked(id).await
    }

    async fn cancel_locked(&self, id: &str) -> RegistryResult<()> {
        self.store.delete_upload(id).await?;
        self.blobs.delete(&upload_path(id)).await?;
        self.forget_upload(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use berth_domain::oci::RepositoryName;

    use crate::Principal;
    use crate::registry::{Registry, RegistryCaller, RegistryError};

    #[tokio::test]
    async fn requests_for_unknown_uploads_leave_nothing_behind() {
        // Regression: a lock was made for any upload id before anything was checked, so random
        // ids grew a map in memory without bound.
        let (dir, store) = berth_store::testing::sqlite_store().await;
        let blobs = Arc::new(berth_blob::FsDriver::new(dir.path().join("storage"), false));
        let registry = Registry::for_tests(store, blobs);
        let anyone = RegistryCaller::Principal(Principal::Anonymous);
        let name = RepositoryName::parse("nobody/app").unwrap();
        for i in 0..50 {
            let id = format!("random-{i}");
            let body: berth_blob::ByteStream = Box::pin(futures_util::stream::empty());
            assert!(matches!(
                registry
                    .append_upload(&anyone, &name, &id, None, body)
                    .await,
                Err(RegistryError::Unauthorized { .. })
            ));
            assert!(registry.cancel_upload(&anyone, &name, &id).await.is_err());
        }
        assert_eq!(registry.upload_locks.lock().unwrap().len(), 0);
    }
}
