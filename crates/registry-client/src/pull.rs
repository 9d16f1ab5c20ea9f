//! Pulling an image into a content-addressed blob cache: the manifest (an index narrowed to one
//! platform), the config, and the layers fetched concurrently, each verified against its digest
//! before it becomes visible, resumed with a `Range` request after a dropped connection, and
//! reported as it goes.
//!
//! Layout of the cache (one per machine, shared by every environment):
//! ```text
//! <root>/blobs/<algorithm>/<hex>   verified content, never modified once renamed into place
//! <root>/incoming/<hex>.<n>        downloads in progress; removed or renamed, never read
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_domain::oci::{Algorithm, Digest, DigestHasher};
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

/// An image configuration's `config` (its `Env`, `User`, …).
pub use oci_spec::image::Config as ImageConfig;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE};
use tokio::io::AsyncWriteExt as _;

use crate::client::{Registry, pull_scope};
use crate::egress::{CONFIG_LIMIT, MANIFEST_LIMIT, SMALL_BODY_LIMIT, read_limited};
use crate::error::RegistryError;
use crate::reference::ImageRef;

/// Every manifest type Berth can pull, in the order it prefers them.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// The platform to choose from an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
}

impl Default for Platform {
    fn default() -> Self {
        Self {
            os: "linux".into(),
            architecture: "amd64".into(),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

/// How a pull behaves.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub platform: Platform,
    /// Layers fetched at once.
    pub concurrency: usize,
    /// Times one blob download resumes after a dropped connection before giving up.
    pub retries: u32,
}

impl Default for PullOptions {
    fn default() -> Self {
        Self {
            platform: Platform::default(),
            concurrency: 4,
            retries: 5,
        }
    }
}

/// What a pull reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The manifest to pull was found.
    Manifest {
        digest: Digest,
        layers: usize,
        bytes: u64,
    },
    /// A blob is already in the cache.
    Cached { digest: Digest, size: u64 },
    /// Bytes of a blob have arrived (reported every few MiB and at the end).
    Progress {
        digest: Digest,
        done: u64,
        size: u64,
    },
    /// A connection dropped; the download goes on from `offset`.
    Resuming {
        digest: Digest,
        offset: u64,
        attempt: u32,
    },
    /// A blob is verified and in the cache.
    Done { digest: Digest, size: u64 },
}

/// Somewhere to send [`PullEvent`]s.
pub trait Progress: Send + Sync {
    fn event(&self, event: PullEvent);
}

impl<F: Fn(PullEvent) + Send + Sync> Progress for F {
    fn event(&self, event: PullEvent) {
        self(event)
    }
}

const PROGRESS_EVERY: u64 = 4 << 20;

/// The content-addressed blob cache (see the module comment for its layout).
#[derive(Debug, Clone)]
pub struct BlobCache {
    root: PathBuf,
    /// Blobs whose content its user keeps elsewhere (a layer already unpacked): a pull checks
    /// that it may read them, and does not download them.
    kept_elsewhere: Option<KeptElsewhere>,
}

/// Whether a blob's content is kept elsewhere (see [`BlobCache::kept_elsewhere`]).
#[derive(Clone)]
struct KeptElsewhere(std::sync::Arc<dyn Fn(&Digest) -> bool + Send + Sync>);

impl std::fmt::Debug for KeptElsewhere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeptElsewhere")
    }
}

static INCOMING: AtomicU64 = AtomicU64::new(0);

impl BlobCache {
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        for dir in ["blobs/sha256", "blobs/sha512", "incoming"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(Self {
            root,
            kept_elsewhere: None,
        })
    }

    /// The same cache, told which blobs are kept elsewhere (`kept`: a layer store's `contains`):
    /// pulls check that they may read those and do not download them, so the cache may drop a
    /// blob once its layer is unpacked.
    pub fn kept_elsewhere(
        mut self,
        kept: impl Fn(&Digest) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.kept_elsewhere = Some(KeptElsewhere(std::sync::Arc::new(kept)));
        self
    }

    /// Whether a pull need not download the blob: it is here, or kept elsewhere.
    fn has(&self, digest: &Digest) -> bool {
        self.contains(digest) || self.kept_elsewhere.as_ref().is_some_and(|k| (k.0)(digest))
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    fn incoming(&self, digest: &Digest) -> PathBuf {
        let n = INCOMING.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("incoming")
            .join(format!("{}.{}.{n}", digest.hex(), std::process::id()))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Marks the blob used now: a cache over its size drops the least recently used first.
    pub fn touch(&self, digest: &Digest) {
        let _ = touch(&self.path(digest));
    }

    /// Every blob in the cache: its digest, its size and when it was last used.
    pub fn blobs(&self) -> std::io::Result<Vec<(Digest, u64, std::time::SystemTime)>> {
        let mut found = Vec::new();
        for algorithm in ["sha256", "sha512"] {
            for entry in std::fs::read_dir(self.root.join("blobs").join(algorithm))? {
                let entry = entry?;
                let meta = entry.metadata()?;
                let name = entry.file_name();
                let digest = name
                    .to_str()
                    .and_then(|hex| Digest::parse(&format!("{algorithm}:{hex}")).ok());
                if let (Some(digest), true) = (digest, meta.is_file()) {
                    found.push((digest, meta.len(), meta.modified()?));
                }
            }
        }
        Ok(found)
    }

    /// Removes a blob from the cache (a pull that wants it again downloads it again).
    pub fn remove(&self, digest: &Digest) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(digest)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Sets a file's modification time to now: when a cache entry was last used.
pub fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.set_modified(std::time::SystemTime::now())
}

/// An image pulled into the cache: every blob named here is in it, or kept elsewhere (see
/// [`BlobCache::kept_elsewhere`]).
#[derive(Debug, Clone)]
pub struct PulledImage {
    pub reference: ImageRef,
    /// The digest of the platform manifest (not of an index that led to it).
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    pub config_digest: Digest,
    pub config: ImageConfiguration,
    /// The layers, bottom first, with their sizes and media types.
    pub layers: Vec<Layer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// A manifest as fetched: its bytes, its media type and its digest.
struct Fetched {
    bytes: bytes::Bytes,
    media_type: String,
    digest: Digest,
}

impl Registry {
    /// Fetches a manifest (or index) by tag or digest; a digest is verified.
    async fn fetch_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Fetched, RegistryError> {
        let response = self
            .get_small(
                &format!("/v2/{repository}/manifests/{reference}"),
                &pull_scope(repository),
                Some(MANIFEST_ACCEPT),
            )
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = read_limited(response, SMALL_BODY_LIMIT)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            return Err(match status {
                StatusCode::NOT_FOUND if body.contains("MANIFEST_UNKNOWN") => {
                    RegistryError::ManifestUnknown {
                        host: self.host().to_string(),
                        repository: repository.to_owned(),
                        reference: reference.to_owned(),
                    }
                }
                StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    self.denied(repository)
                }
                s => self.protocol(format!("the manifest {repository}:{reference}: HTTP {s}")),
            });
        }
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let bytes =
            bytes::Bytes::from(read_limited(response, MANIFEST_LIMIT).await.map_err(|e| {
                self.protocol(format!("the manifest {repository}:{reference}: {e}"))
            })?);
        let digest = match Digest::parse(reference) {
            Ok(wanted) => {
                if Digest::of(wanted.algorithm(), &bytes) != wanted {
                    return Err(RegistryError::DigestMismatch {
                        host: self.host().to_string(),
                        repository: repository.to_owned(),
                        digest: wanted.to_string(),
                    });
                }
                wanted
            }
            Err(_) => Digest::of(Algorithm::Sha256, &bytes),
        };
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// The registry refused `repository` (or says it does not exist, as registries do to
    /// those who may not see it).
    pub(crate) fn denied(&self, repository: &str) -> RegistryError {
        RegistryError::Denied {
            host: self.host().to_string(),
            repository: repository.to_owned(),
        }
    }

    fn protocol(&self, detail: String) -> RegistryError {
        RegistryError::Protocol {
            host: self.host().to_string(),
            detail,
        }
    }

    /// Pulls `image` into `cache`: manifest, config and every layer.
    pub async fn pull(
        &self,
        image: &ImageRef,
        cache: &BlobCache,
        options: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<PulledImage, RegistryError> {
        let repository = image.repository.as_str();
        let mut fetched = self
            .fetch_manifest(repository, image.manifest_reference())
            .await?;
        if is_index(&fetched) {
            let index: ImageIndex = serde_json::from_slice(&fetched.bytes)
                .map_err(|e| self.protocol(format!("the image index does not parse: {e}")))?;
            let chosen = choose_platform(&index, &options.platform).ok_or_else(|| {
                RegistryError::NoPlatform {
                    reference: image.to_string(),
                    platform: options.platform.to_string(),
                    offered: offered_platforms(&index),
                }
            })?;
            fetched = self.fetch_manifest(repository, &chosen).await?;
        }
        let manifest: ImageManifest = serde_json::from_slice(&fetched.bytes).map_err(|e| {
            self.protocol(format!(
                "the manifest ({}) is not an image manifest Berth can pull: {e}",
                fetched.media_type
            ))
        })?;
        let descriptor = |d: &oci_spec::image::Descriptor| -> Result<Layer, RegistryError> {
            Ok(Layer {
                digest: Digest::parse(d.digest().as_ref())
                    .map_err(|e| self.protocol(format!("the manifest names a bad digest: {e}")))?,
                size: d.size(),
                media_type: d.media_type().to_string(),
            })
        };
        let config = descriptor(manifest.config())?;
        if config.size > CONFIG_LIMIT {
            return Err(self.protocol(format!(
                "the image configuration is {} bytes, more than the {CONFIG_LIMIT} Berth reads",
                config.size
            )));
        }
        let layers = manifest
            .layers()
            .iter()
            .map(descriptor)
            .collect::<Result<Vec<_>, _>>()?;
        progress.event(PullEvent::Manifest {
            digest: fetched.digest.clone(),
            layers: layers.len(),
            bytes: layers.iter().map(|l| l.size).sum(),
        });
        self.fetch_blob(repository, &config, cache, options, progress)
            .await?;
        let config_bytes = tokio::fs::read(cache.path(&config.digest)).await?;
        let image_config: ImageConfiguration = serde_json::from_slice(&config_bytes)
            .map_err(|e| self.protocol(format!("the image config does not parse: {e}")))?;
        // The futures are made before they are streamed: a closure inside the stream would
        // make this future impossible for rustc to prove `Send` (rust-lang/rust#110338).
        let mut fetches = Vec::with_capacity(layers.len());
        for layer in &layers {
            fetches.push(self.fetch_blob(repository, layer, cache, options, progress));
        }
        stream::iter(fetches)
            .buffer_unordered(options.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(PulledImage {
            reference: image.clone(),
            manifest_digest: fetched.digest,
            manifest,
            config_digest: config.digest,
            config: image_config,
            layers,
        })
    }

    /// Downloads one blob into the cache unless it is there: hashed as it arrives, resumed from
    /// where it stopped when the connection drops, renamed into place only once verified.
    pub async fn fetch_blob(
        &self,
        repository: &str,
        blob: &Layer,
        cache: &BlobCache,
        options: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<(), RegistryError> {
        let digest = &blob.digest;
        if cache.has(digest) {
            cache.touch(digest);
            // The cache is shared by everyone this machine pulls for: a blob in it is only
            // used once this login shows it may read it here.
            let response = self
                .head(
                    &format!("/v2/{repository}/blobs/{digest}"),
                    &pull_scope(repository),
                )
                .await?;
            match response.status() {
                s if s.is_success() => {}
                StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(self.denied(repository));
                }
                s => return Err(self.protocol(format!("checking {digest}: HTTP {s}"))),
            }
            progress.event(PullEvent::Cached {
                digest: digest.clone(),
                size: blob.size,
            });
            return Ok(());
        }
        let incoming = cache.incoming(digest);
        if let Some(dir) = incoming.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let result = self
            .download(repository, blob, &incoming, options, progress)
            .await;
        match result {
            Ok(()) => {
                let path = cache.path(digest);
                // The cache may have been emptied by hand meanwhile.
                if let Some(dir) = path.parent() {
                    tokio::fs::create_dir_all(dir).await?;
                }
                tokio::fs::rename(&incoming, path).await?;
                progress.event(PullEvent::Done {
                    digest: digest.clone(),
                    size: blob.size,
                });
                Ok(())
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&incoming).await;
                Err(e)
            }
        }
    }

    async fn download(
        &self,
        repository: &str,
        blob: &Layer,
        path: &Path,
        options: &PullOptions,
        progress: &dyn Progress,
    ) -> Result<(), RegistryError> {
        let digest = &blob.digest;
        let mut file = tokio::fs::File::create(path).await?;
        let mut hasher = DigestHasher::new(digest.algorithm());
        let mut written = 0u64;
        let mut reported = 0u64;
        let mut attempt = 0u32;
        let path_url = format!("/v2/{repository}/blobs/{digest}");
        let scope = pull_scope(repository);
        'attempts: loop {
            let resume = (written > 0).then_some(written);
            let response = self.get(&path_url, &scope, None, resume).await?;
            match response.status() {
                StatusCode::OK if written > 0 => {
                    // The registry ignored the range: start over (create truncates).
                    file = tokio::fs::File::create(path).await?;
                    hasher = DigestHasher::new(digest.algorithm());
                    written = 0;
                }
                StatusCode::OK => {}
                StatusCode::PARTIAL_CONTENT => {
                    let starts_at = response
                        .headers()
                        .get(CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("bytes "))
                        .and_then(|v| v.split('-').next())
                        .and_then(|v| v.parse::<u64>().ok());
                    if starts_at != Some(written) {
                        return Err(self.protocol(format!(
                            "resuming {digest} at byte {written}, the registry sent another range"
                        )));
                    }
                }
                StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(self.denied(repository));
                }
                s => {
                    return Err(self.protocol(format!("downloading {digest}: HTTP {s}")));
                }
            }
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        attempt += 1;
                        if attempt > options.retries {
                            return Err(self.protocol(format!(
                                "downloading {digest}: the connection dropped {attempt} times, \
                                 last: {e}"
                            )));
                        }
                        file.flush().await?;
                        progress.event(PullEvent::Resuming {
                            digest: digest.clone(),
                            offset: written,
                            attempt,
                        });
                        continue 'attempts;
                    }
                };
                if written + chunk.len() as u64 > blob.size {
                    return Err(RegistryError::DigestMismatch {
                        host: self.host().to_string(),
                        repository: repository.to_owned(),
                        digest: digest.to_string(),
                    });
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await?;
                written += chunk.len() as u64;
                if written - reported >= PROGRESS_EVERY {
                    reported = written;
                    progress.event(PullEvent::Progress {
                        digest: digest.clone(),
                        done: written,
                        size: blob.size,
                    });
                }
            }
            break;
        }
        if written != blob.size || hasher.finish() != *digest {
            return Err(RegistryError::DigestMismatch {
                host: self.host().to_string(),
                repository: repository.to_owned(),
                digest: digest.to_string(),
            });
        }
        file.sync_all().await?;
        progress.event(PullEvent::Progress {
            digest: digest.clone(),
            done: written,
            size: blob.size,
        });
        Ok(())
    }
}

fn is_index(fetched: &Fetched) -> bool {
    match fetched.media_type.as_str() {
        "application/vnd.oci.image.index.v1+json"
        | "application/vnd.docker.distribution.manifest.list.v2+json" => true,
        "application/vnd.oci.image.manifest.v1+json"
        | "application/vnd.docker.distribution.manifest.v2+json" => false,
        // No or a generic content type: an index is the one with `manifests`.
        _ => serde_json::from_slice::<serde_json::Value>(&fetched.bytes)
            .is_ok_and(|v| v.get("manifests").is_some()),
    }
}

/// The digest of the manifest for `platform` in `index`.
fn choose_platform(index: &ImageIndex, platform: &Platform) -> Option<String> {
    index
        .manifests()
        .iter()
        .find(|m| {
            m.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == platform.os
                    && p.architecture().to_string() == platform.architecture
            })
        })
        .map(|m| m.digest().to_string())
}

fn offered_platforms(index: &ImageIndex) -> String {
    let offered: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|m| m.platform().as_ref())
        .map(|p| format!("{}/{}", p.os(), p.architecture()))
        .collect();
    if offered.is_empty() {
        "nothing with a platform".into()
    } else {
        offered.join(", ")
    }
}
