//! [`prepare`]: an image pulled into the blob cache and its layers unpacked into the layer
//! store, pipelined as containerd does not: each layer is unpacked as soon as its blob is
//! verified in the cache, while the registry client is still downloading the others.
//!
//! The pull reports through [`Progress`](berth_registry_client::pull::Progress), which only
//! names digests; the manifest's layer list (and media types) comes with the pulled image at
//! the end. So a blob is unpacked early when its first bytes say it is a layer (gzip, zstd or
//! tar magic; an image config is JSON), and once the pull is done every layer's media type is
//! checked and any layer not unpacked yet is unpacked by it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_domain::oci::Digest;
use berth_registry_client::pull::{BlobCache, Progress, PullEvent, PullOptions, PulledImage};
use berth_registry_client::{ImageRef, Registry, RegistryError};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::io::AsyncReadExt as _;
use tokio::sync::{Semaphore, mpsc};

use super::LayerStore;
use crate::unpack::{Compression, UnpackError, UnpackStats};
use crate::{Narrator, RuntimeError};

/// An image ready to run: pulled, and every layer unpacked in the store.
#[derive(Debug, Clone)]
pub struct PreparedImage {
    pub pulled: PulledImage,
    /// The unpacked layers' directories, bottom first (reverse them for overlayfs' `lowerdir`).
    pub layer_dirs: Vec<PathBuf>,
}

type Outcome = Result<Option<UnpackStats>, UnpackError>;

/// Pulls `image` into `blobs` and unpacks its layers into `layers`, narrating as it goes:
/// the image and its size, each layer's download at most every tenth of it, and each layer
/// unpacked or found in the store. Layers already in the store are not unpacked again.
pub async fn prepare(
    registry: &Registry,
    image: &ImageRef,
    blobs: &BlobCache,
    layers: &LayerStore,
    options: &PullOptions,
    narrator: &dyn Narrator,
) -> Result<PreparedImage, RuntimeError> {
    let (events, received) = mpsc::unbounded_channel();
    let pull = Box::pin(pull(registry, image, blobs, options, Events(events)));
    // Unpacking is mostly decompression: one layer per core at a time.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut pipeline = Pipeline {
        layers: layers.clone(),
        blobs: blobs.clone(),
        limit: Arc::new(Semaphore::new(cores)),
        narration: Narration {
            narrator,
            image,
            downloads: HashMap::new(),
        },
    };
    let (pulled, mut outcomes) = tokio::join!(pull, pipeline.run(received));
    let pulled = pulled.map_err(|source| RuntimeError::Pull {
        image: image.to_string(),
        source,
    })?;

    let mut layer_dirs = Vec::with_capacity(pulled.layers.len());
    let mut seen = HashSet::new();
    let mut total: u64 = 0;
    for layer in &pulled.layers {
        let digest = &layer.digest;
        let compression = Compression::from_media_type(&layer.media_type).ok_or_else(|| {
            UnpackError::MediaType {
                layer: digest.to_string(),
                media_type: layer.media_type.clone(),
            }
        })?;
        if seen.insert(digest.clone()) {
            let outcome = match outcomes.remove(digest) {
                Some(outcome) => outcome,
                None => {
                    let outcome = layers
                        .unpack(digest, &blobs.path(digest), compression)
                        .await;
                    pipeline.narration.unpacked(digest, &outcome);
                    outcome
                }
            };
            total += match outcome? {
                Some(stats) => stats.bytes,
                None => layers.size(digest),
            };
            if total > layers.image_bytes() {
                return Err(UnpackError::TooLarge {
                    layer: digest.to_string(),
                    what: format!(
                        "with it, the image {image} unpacks to {:.1} GiB",
                        total as f64 / f64::from(1u32 << 30)
                    ),
                    limit: format!(
                        "{:.1} GiB an image",
                        layers.image_bytes() as f64 / f64::from(1u32 << 30)
                    ),
                    setting: "max_image_gb",
                }
                .into());
            }
        }
        layers.touch(digest);
        layer_dirs.push(layers.path(digest));
    }
    Ok(PreparedImage { pulled, layer_dirs })
}

/// Sends a pull's events to the pipeline; dropped when the pull ends, closing the channel.
struct Events(mpsc::UnboundedSender<PullEvent>);

impl Progress for Events {
    fn event(&self, event: PullEvent) {
        let _ = self.0.send(event);
    }
}

async fn pull(
    registry: &Registry,
    image: &ImageRef,
    blobs: &BlobCache,
    options: &PullOptions,
    events: Events,
) -> Result<PulledImage, RegistryError> {
    registry.pull(image, blobs, options, &events).await
}

struct Pipeline<'a> {
    layers: LayerStore,
    blobs: BlobCache,
    limit: Arc<Semaphore>,
    narration: Narration<'a>,
}

impl Pipeline<'_> {
    /// Narrates the pull's events and unpacks each blob that looks like a layer as soon as it
    /// is in the cache, until the pull has ended and every unpack started has finished.
    /// Returns what became of each blob unpacked.
    async fn run(
        &mut self,
        mut events: mpsc::UnboundedReceiver<PullEvent>,
    ) -> HashMap<Digest, Outcome> {
        let mut running = FuturesUnordered::new();
        let mut outcomes = HashMap::new();
        let mut pulling = true;
        loop {
            tokio::select! {
                event = events.recv(), if pulling => match event {
                    Some(event) => {
                        if let Some(ready) = self.narration.event(&event) {
                            running.push(unpack_early(
                                self.layers.clone(),
                                self.blobs.clone(),
                                self.limit.clone(),
                                ready,
                            ));
                        }
                    }
                    None => pulling = false,
                },
                Some((digest, outcome)) = running.next(), if !running.is_empty() => {
                    if let Some(outcome) = outcome {
                        self.narration.unpacked(&digest, &outcome);
                        outcomes.insert(digest, outcome);
                    }
                }
                else => break,
            }
        }
        outcomes
    }
}

/// Unpacks the blob `digest` if it looks like a layer; `None` if it does not (an image
/// config, or a layer whose kind is left for its media type to say).
async fn unpack_early(
    layers: LayerStore,
    blobs: BlobCache,
    limit: Arc<Semaphore>,
    digest: Digest,
) -> (Digest, Option<Outcome>) {
    if layers.contains(&digest) {
        return (digest, Some(Ok(None)));
    }
    let blob = blobs.path(&digest);
    let Some(compression) = sniff(&blob).await else {
        return (digest, None);
    };
    // The semaphore is never closed.
    let _permit = limit.acquire().await;
    let outcome = layers.unpack(&digest, &blob, compression).await;
    (digest, Some(outcome))
}

async fn sniff(blob: &Path) -> Option<Compression> {
    let file = tokio::fs::File::open(blob).await.ok()?;
    let mut head = Vec::with_capacity(512);
    file.take(512).read_to_end(&mut head).await.ok()?;
    Compression::sniff(&head)
}

/// The human side of a pull: few lines, no credentials (only the reference and digests).
struct Narration<'a> {
    narrator: &'a dyn Narrator,
    image: &'a ImageRef,
    /// Tenths of each download narrated so far.
    downloads: HashMap<Digest, u64>,
}

impl Narration<'_> {
    /// Narrates `event`; returns the digest of a blob that is now in the cache.
    fn event(&mut self, event: &PullEvent) -> Option<Digest> {
        match event {
            PullEvent::Manifest { layers, bytes, .. } => {
                self.narrator.line(format!(
                    "pulling {} ({layers} layer{}, {})",
                    self.image,
                    if *layers == 1 { "" } else { "s" },
                    human(*bytes)
                ));
                None
            }
            PullEvent::Progress { digest, done, size } => {
                let tenths = self.downloads.entry(digest.clone()).or_insert(0);
                if done < size {
                    let now = (u128::from(*done) * 10 / u128::from(*size)) as u64;
                    if now > *tenths {
                        *tenths = now;
                        self.narrator.line(format!(
                            "{} downloading {:.1}/{:.1} MB",
                            short(digest),
                            *done as f64 / 1e6,
                            *size as f64 / 1e6
                        ));
                    }
                }
                None
            }
            PullEvent::Resuming {
                digest,
                offset,
                attempt,
            } => {
                self.narrator.line(format!(
                    "{} connection lost, resuming at {} (attempt {attempt})",
                    short(digest),
                    human(*offset)
                ));
                None
            }
            PullEvent::Done { digest, size } => {
                if self
                    .downloads
                    .remove(digest)
                    .is_some_and(|tenths| tenths > 0)
                {
                    self.narrator
                        .line(format!("{} downloaded ({})", short(digest), human(*size)));
                }
                Some(digest.clone())
            }
            PullEvent::Cached { digest, .. } => Some(digest.clone()),
        }
    }

    fn unpacked(&self, digest: &Digest, outcome: &Outcome) {
        match outcome {
            Ok(Some(stats)) => self.narrator.line(format!(
                "{} unpacked ({} files, {})",
                short(digest),
                stats.files,
                human(stats.bytes)
            )),
            Ok(None) => self.narrator.line(format!("{} cached", short(digest))),
            // The error is returned at the end, with the layer's name in it.
            Err(_) => {}
        }
    }
}

/// `sha256:` and the first 12 hex digits, as Docker shows layers.
fn short(digest: &Digest) -> String {
    let hex = digest.hex();
    format!(
        "{}:{}",
        digest.algorithm().as_str(),
        &hex[..hex.len().min(12)]
    )
}

/// A size in decimal units, as registries and Docker show them.
fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1e3 {
        format!("{bytes} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}
