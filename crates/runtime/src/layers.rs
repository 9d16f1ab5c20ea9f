//! The shared, content-addressed store of unpacked layers, and [`prepare`]: pulling an image
//! and unpacking each of its layers as soon as its blob is in, while the others download.
//!
//! Layout (one store per machine, shared by every environment; one process uses it):
//! ```text
//! <root>/<algorithm>/<hex>/      a layer unpacked whole (key: the blob digest in the manifest);
//!                                never modified once renamed into place
//! <root>/<algorithm>/<hex>.size  its files' logical size; its time is when it was last used
//! <root>/incoming/<hex>.<pid>.<n>/  a layer being unpacked; renamed into place when complete,
//!                                removed on failure, and whatever a crash left is removed
//!                                by `LayerStore::open`; a layer being removed goes here too
//! ```
//!
//! **Architecture Invariant:** a directory under `<root>/<algorithm>/` is a complete layer:
//! layers are unpacked elsewhere, synced, and renamed into place in one step.

mod prepare;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use berth_domain::oci::Digest;

use crate::unpack::{self, Compression, UnpackError, UnpackLimits, UnpackStats};

pub use prepare::{PreparedImage, prepare};

/// The store of unpacked layers (see the module comment for its layout). Clones share the
/// store and its locks.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
    /// One lock per layer being unpacked, so concurrent requests unpack it once.
    locks: Arc<Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>>,
    /// What one layer may hold.
    limits: UnpackLimits,
    /// The most an image's layers may hold together (logical bytes of their files).
    image_bytes: u64,
}

/// The default for [`LayerStore::image_bytes`]: 64 GiB.
pub const DEFAULT_IMAGE_BYTES: u64 = 64 << 30;

static INCOMING: AtomicU64 = AtomicU64::new(0);

impl LayerStore {
    /// Opens (creating) the store at `root`, removing half-unpacked layers a crash left.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        let incoming = root.join("incoming");
        match std::fs::remove_dir_all(&incoming) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        for dir in ["sha256", "sha512", "incoming"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(Self {
            root,
            locks: Arc::default(),
            limits: UnpackLimits::default(),
            image_bytes: DEFAULT_IMAGE_BYTES,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the layer with blob digest `digest` is (or would be) unpacked.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// The same store, with these limits.
    pub fn with_limits(mut self, limits: UnpackLimits, image_bytes: u64) -> Self {
        self.limits = limits;
        self.image_bytes = image_bytes;
        self
    }

    pub fn image_bytes(&self) -> u64 {
        self.image_bytes
    }

    fn size_file(&self, digest: &Digest) -> PathBuf {
        self.path(digest).with_extension("size")
    }

    /// The logical size of an unpacked layer's files, as recorded when it was unpacked (0 when
    /// it was unpacked before sizes were recorded).
    pub fn size(&self, digest: &Digest) -> u64 {
        std::fs::read_to_string(self.size_file(digest))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Marks the layer used now (its size file's time): a store over its size drops the least
    /// recently used first.
    pub fn touch(&self, digest: &Digest) {
        let size = self.size_file(digest);
        if berth_registry_client::pull::touch(&size).is_err() {
            // Unpacked before sizes were recorded: its size is not known, its use is.
            let _ = std::fs::write(&size, b"0");
        }
    }

    /// Every layer in the store, as the cache sees it: its size, when it was last used, and
    /// whether its directory is one of `in_use`.
    pub fn cached(
        &self,
        in_use: &std::collections::HashSet<PathBuf>,
    ) -> io::Result<Vec<crate::caches::Cached<Digest>>> {
        let mut found = Vec::new();
        for algorithm in ["sha256", "sha512"] {
            for entry in std::fs::read_dir(self.root.join(algorithm))? {
                let entry = entry?;
                let name = entry.file_name();
                let digest = name
                    .to_str()
                    .and_then(|hex| Digest::parse(&format!("{algorithm}:{hex}")).ok());
                let Some(digest) = digest.filter(|_| entry.path().is_dir()) else {
                    continue; // a size file
                };
                let used = std::fs::metadata(self.size_file(&digest))
                    .or_else(|_| entry.metadata())?
                    .modified()?;
                found.push(crate::caches::Cached {
                    bytes: self.size(&digest),
                    last_used: used
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
                    in_use: in_use.contains(&entry.path()),
                    key: digest,
                });
            }
        }
        Ok(found)
    }

    /// Removes a layer: it leaves the store in one rename (a later pull unpacks it again), then
    /// its files are deleted.
    pub fn remove(&self, digest: &Digest) -> io::Result<()> {
        let n = INCOMING.fetch_add(1, Ordering::Relaxed);
        let gone = self.root.join("incoming").join(format!(
            "{}.removed.{}.{n}",
            digest.hex(),
            std::process::id()
        ));
        match std::fs::rename(self.path(digest), &gone) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            renamed => renamed?,
        }
        let _ = std::fs::remove_file(self.size_file(digest));
        std::fs::remove_dir_all(&gone)
    }

    /// Whether the layer is unpacked in the store (and so complete).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_dir()
    }

    /// Unpacks the layer blob at `blob` (compressed with `compression`) into the store unless
    /// it is there already: `None` then, the unpack's figures otherwise. Concurrent calls for
    /// one digest unpack it once; the work runs on the blocking pool.
    pub async fn unpack(
        &self,
        digest: &Digest,
        blob: &Path,
        compression: Compression,
    ) -> Result<Option<UnpackStats>, UnpackError> {
        let lock = self
            .locks
            .lock()
            .expect("the lock map is never poisoned")
            .entry(digest.clone())
            .or_default()
            .clone();
        let result = {
            let _guard = lock.lock().await;
            if self.contains(digest) {
                Ok(None)
            } else {
                let task = {
                    let (store, digest, blob) = (self.clone(), digest.clone(), blob.to_owned());
                    tokio::task::spawn_blocking(move || {
                        store.unpack_now(&digest, &blob, compression)
                    })
                };
                match task.await {
                    Ok(unpacked) => unpacked.map(Some),
                    Err(e) => Err(UnpackError::Io {
                        layer: digest.to_string(),
                        what: "unpacking".into(),
                        source: io::Error::other(e.to_string()),
                    }),
                }
            }
        };
        let mut locks = self.locks.lock().expect("the lock map is never poisoned");
        // Forget the lock unless another call holds it too (it is cloned under this mutex).
        if Arc::strong_count(&lock) == 2 {
            locks.remove(digest);
        }
        result
    }

    fn unpack_now(
        &self,
        digest: &Digest,
        blob: &Path,
        compression: Compression,
    ) -> Result<UnpackStats, UnpackError> {
        let layer = digest.to_string();
        let io_error = |what: String| {
            let layer = layer.clone();
            move |source| UnpackError::Io {
                layer,
                what,
                source,
            }
        };
        let n = INCOMING.fetch_add(1, Ordering::Relaxed);
        let incoming =
            self.root
                .join("incoming")
                .join(format!("{}.{}.{n}", digest.hex(), std::process::id()));
        // Parents first: the store may have been emptied by hand meanwhile.
        for dir in [incoming.parent(), self.path(digest).parent()]
            .into_iter()
            .flatten()
        {
            std::fs::create_dir_all(dir)
                .map_err(io_error(format!("creating {}", dir.display())))?;
        }
        std::fs::create_dir(&incoming)
            .map_err(io_error(format!("creating {}", incoming.display())))?;
        let unpacked = std::fs::File::open(blob)
            .map_err(io_error(format!("opening the blob {}", blob.display())))
            .and_then(|file| {
                unpack::unpack_compressed_within(file, compression, &incoming, &layer, self.limits)
            })
            .and_then(|stats| {
                // One sync for the whole layer (not one per file) before it becomes visible,
                // so that a machine crash cannot leave a visible layer with empty files.
                let dir = std::fs::File::open(&incoming)
                    .map_err(io_error(format!("opening {}", incoming.display())))?;
                rustix::fs::syncfs(&dir)
                    .map_err(|e| io_error("syncing the layer".into())(e.into()))?;
                Ok(stats)
            })
            .and_then(|stats| {
                // Its size beside it, for the image limit of later pulls that find it here.
                let _ = std::fs::write(self.size_file(digest), stats.bytes.to_string());
                match std::fs::rename(&incoming, self.path(digest)) {
                    Ok(()) => Ok(stats),
                    // Put there meanwhile by someone else: theirs is as good as ours.
                    Err(_) if self.contains(digest) => {
                        let _ = std::fs::remove_dir_all(&incoming);
                        Ok(stats)
                    }
                    Err(e) => Err(io_error("moving the layer into the store".into())(e)),
                }
            });
        if unpacked.is_err() {
            let _ = std::fs::remove_dir_all(&incoming);
        }
        unpacked
    }
}
