//! The layer store (one unpack for concurrent requests, nothing visible after a failure or a
//! crash) and [`prepare`] end to end against a small in-process registry: layers of each
//! compression unpacked while pulling, found in the store the second time, and hostile or
//! unknown layers refused.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_domain::oci::{Algorithm, Digest};
use berth_registry_client::pull::{BlobCache, PullOptions};
use berth_registry_client::{ImageRef, Registry};

use super::*;
use crate::RuntimeError;
use crate::unpack::fixtures::{entry, file, file_bytes, tar};

fn digest(bytes: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, bytes)
}

fn incoming_is_empty(store: &LayerStore) -> bool {
    std::fs::read_dir(store.root().join("incoming"))
        .unwrap()
        .next()
        .is_none()
}

/// A layer blob written to a file, and its digest.
fn blob_file(dir: &Path, bytes: &[u8]) -> (Digest, PathBuf) {
    let digest = digest(bytes);
    let path = dir.join(digest.hex());
    std::fs::write(&path, bytes).unwrap();
    (digest, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_a_layer_unpack_it_once() {
    let scratch = tempfile::tempdir().unwrap();
    let store = LayerStore::open(scratch.path().join("layers")).unwrap();
    let (digest, blob) = blob_file(scratch.path(), &tar(&[file("etc/os-release", "berth")]));
    let other = store.clone();
    let (a, b) = tokio::join!(
        store.unpack(&digest, &blob, Compression::Plain),
        other.unpack(&digest, &blob, Compression::Plain),
    );
    let unpacked = [a.unwrap(), b.unwrap()];
    assert_eq!(
        unpacked.iter().filter(|u| u.is_some()).count(),
        1,
        "{unpacked:?}"
    );
    assert!(store.contains(&digest));
    let path = store.path(&digest);
    assert_eq!(
        path,
        scratch.path().join("layers/sha256").join(digest.hex())
    );
    assert_eq!(
        std::fs::read(path.join("etc/os-release")).unwrap(),
        b"berth"
    );
    assert!(incoming_is_empty(&store));
    assert!(store.locks.lock().unwrap().is_empty(), "no lock kept");
}

#[tokio::test]
async fn a_failed_unpack_leaves_nothing_in_the_store() {
    let scratch = tempfile::tempdir().unwrap();
    let store = LayerStore::open(scratch.path().join("layers")).unwrap();
    let hostile = tar(&[file("fine", "x"), file("../escape", "x")]);
    let (digest, blob) = blob_file(scratch.path(), &hostile);
    let err = store
        .unpack(&digest, &blob, Compression::Plain)
        .await
        .unwrap_err();
    assert!(matches!(err, UnpackError::Breakout { .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("layer {digest}: ")));
    assert!(!store.contains(&digest));
    assert!(incoming_is_empty(&store));
    let sha256 = scratch.path().join("layers/sha256");
    assert_eq!(std::fs::read_dir(sha256).unwrap().count(), 0);
}

#[test]
fn opening_the_store_removes_what_a_crash_left_half_unpacked() {
    let scratch = tempfile::tempdir().unwrap();
    let half = scratch.path().join("incoming/abc.1.0/usr/bin");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("half"), "x").unwrap();
    let store = LayerStore::open(scratch.path()).unwrap();
    assert!(incoming_is_empty(&store));
}

/// An image served by the in-process registry below, as `app:v1`.
struct Image {
    manifest: Vec<u8>,
    blobs: HashMap<String, Vec<u8>>,
}

fn image(layers: &[(&str, Vec<u8>)]) -> Image {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let descriptor = |media_type: &str, bytes: &[u8]| serde_json::json!({"mediaType": media_type, "digest": digest(bytes).to_string(), "size": bytes.len()});
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|(t, b)| descriptor(t, b)).collect::<Vec<_>>(),
    });
    let mut blobs: HashMap<String, Vec<u8>> = layers
        .iter()
        .map(|(_, b)| (digest(b).to_string(), b.clone()))
        .collect();
    blobs.insert(digest(&config).to_string(), config);
    Image {
        manifest: manifest.to_string().into_bytes(),
        blobs,
    }
}

async fn manifest(State(image): State<Arc<Image>>) -> Response {
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    ([(header::CONTENT_TYPE, media_type)], image.manifest.clone()).into_response()
}

async fn blob(State(image): State<Arc<Image>>, UrlPath(digest): UrlPath<String>) -> Response {
    match image.blobs.get(&digest) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves `image` on loopback and returns its reference.
async fn serve(image: Image) -> ImageRef {
    let app = Router::new()
        .route("/v2/", get(|| async { "{}" }))
        .route("/v2/app/manifests/{reference}", get(manifest))
        .route("/v2/app/blobs/{digest}", get(blob))
        .with_state(Arc::new(image));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    ImageRef::parse(&format!("{addr}/app:v1")).unwrap()
}

/// Caches in a scratch directory, and `prepare` with a narrator that records its lines.
struct Machine {
    _scratch: tempfile::TempDir,
    blobs: BlobCache,
    layers: LayerStore,
}

impl Machine {
    /// As the runc runtime has them: a blob whose layer is unpacked is not downloaded again.
    fn new() -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let layers = LayerStore::open(scratch.path().join("layers")).unwrap();
        let unpacked = layers.clone();
        Self {
            blobs: BlobCache::open(scratch.path().join("pull-cache"))
                .unwrap()
                .kept_elsewhere(move |d| unpacked.contains(d)),
            layers,
            _scratch: scratch,
        }
    }

    async fn prepare(
        &self,
        image: &ImageRef,
    ) -> (Result<PreparedImage, RuntimeError>, Vec<String>) {
        let registry = Registry::open(&image.host, None).await.unwrap();
        let lines = Mutex::new(Vec::new());
        let narrate = |line: String| lines.lock().unwrap().push(line);
        let result = prepare(
            &registry,
            image,
            &self.blobs,
            &self.layers,
            &PullOptions::default(),
            &narrate,
        )
        .await;
        (result, lines.into_inner().unwrap())
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(bytes).unwrap();
    gzip.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_unpacks_each_layer_once_and_narrates() {
    // 12 MB that do not compress, so the download is narrated as it goes.
    let mut state = 1u32;
    let big: Vec<u8> = (0..12_000_000)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    let layers = [
        (
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            gzip(&tar(&[
                file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
                file("a", "a"),
            ])),
        ),
        (
            "application/vnd.oci.image.layer.v1.tar+zstd",
            zstd::encode_all(&tar(&[entry(tar::EntryType::Regular, ".wh.a")])[..], 3).unwrap(),
        ),
        (
            "application/vnd.oci.image.layer.v1.tar",
            tar(&[file_bytes("big", big.clone())]),
        ),
    ];
    let digests: Vec<Digest> = layers.iter().map(|(_, b)| digest(b)).collect();
    let image = serve(image(&layers)).await;
    let machine = Machine::new();

    let (prepared, lines) = machine.prepare(&image).await;
    let prepared = prepared.unwrap();
    let dirs: Vec<PathBuf> = digests.iter().map(|d| machine.layers.path(d)).collect();
    assert_eq!(prepared.layer_dirs, dirs);
    assert_eq!(prepared.pulled.layers.len(), 3);
    assert_eq!(
        crate::unpack::read_in_root(&dirs[0], "/etc/passwd").unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    let whiteout = std::fs::symlink_metadata(dirs[1].join("a")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &whiteout.file_type()
    ));
    assert_eq!(std::fs::read(dirs[2].join("big")).unwrap(), big);

    assert!(
        lines[0].starts_with(&format!("pulling {image} (3 layers, 12.0")),
        "{lines:#?}"
    );
    let short = |d: &Digest| format!("sha256:{}", &d.hex()[..12]);
    for (d, files) in digests
        .iter()
        .zip(["2 files, 27 B", "0 files, 0 B", "1 files, 12.0 MB"])
    {
        let unpacked = format!("{} unpacked ({files})", short(d));
        assert!(lines.contains(&unpacked), "{unpacked}: {lines:#?}");
    }
    let downloading: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with(&format!("{} downloading ", short(&digests[2]))))
        .collect();
    assert!(
        (1..10).contains(&downloading.len()),
        "at most one line a tenth: {lines:#?}"
    );
    assert!(
        lines.contains(&format!("{} downloaded (12.0 MB)", short(&digests[2]))),
        "{lines:#?}"
    );

    let (again, lines) = machine.prepare(&image).await;
    assert_eq!(again.unwrap().layer_dirs, dirs);
    assert!(!lines.iter().any(|l| l.contains("unpacked")), "{lines:#?}");
    for d in &digests {
        assert!(
            lines.contains(&format!("{} cached", short(d))),
            "{lines:#?}"
        );
    }

    // The pull cache emptied (its size reached), the layers still unpacked: nothing is
    // downloaded again.
    for d in &digests {
        machine.blobs.remove(d).unwrap();
    }
    let (third, lines) = machine.prepare(&image).await;
    assert_eq!(third.unwrap().layer_dirs, dirs);
    assert!(!lines.iter().any(|l| l.contains("download")), "{lines:#?}");
    assert!(digests.iter().all(|d| !machine.blobs.contains(d)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_refuses_a_hostile_layer_and_keeps_it_out_of_the_store() {
    let hostile = tar(&[file("../../escape", "x")]);
    let layers = [
        (
            "application/vnd.oci.image.layer.v1.tar",
            tar(&[file("ok", "ok")]),
        ),
        (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            gzip(&hostile),
        ),
    ];
    let bad = digest(&layers[1].1);
    let image = serve(image(&layers)).await;
    let machine = Machine::new();
    let (result, _) = machine.prepare(&image).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, RuntimeError::Unpack(UnpackError::Breakout { .. })),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("layer {bad}: the entry \"../../escape\" points outside the layer (breakout)")
    );
    assert!(!machine.layers.contains(&bad));
    assert!(incoming_is_empty(&machine.layers));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_names_a_media_type_it_cannot_unpack() {
    let layers = [("application/vnd.example.not-a-layer", b"hello".to_vec())];
    let image = serve(image(&layers)).await;
    let machine = Machine::new();
    let (result, _) = machine.prepare(&image).await;
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .contains("the media type \"application/vnd.example.not-a-layer\" is not a layer"),
        "{err}"
    );
}

/// Issue 14: the layers of one image together may unpack to no more than the store allows,
/// counted also for layers found unpacked already (their size is recorded beside them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_over_the_total_limit_fails_naming_it() {
    let layers = [
        (
            "application/vnd.oci.image.layer.v1.tar",
            tar(&[file_bytes("a", vec![1; 40 << 10])]),
        ),
        (
            "application/vnd.oci.image.layer.v1.tar",
            tar(&[file_bytes("b", vec![2; 40 << 10])]),
        ),
    ];
    let image_ref = serve(image(&layers)).await;
    let mut machine = Machine::new();
    machine.layers = machine
        .layers
        .clone()
        .with_limits(crate::unpack::UnpackLimits::default(), 64 << 10);
    let (result, _) = machine.prepare(&image_ref).await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("max_image_gb") && err.contains(&image_ref.to_string()),
        "{err}"
    );
    // Once unpacked, the layers are found in the store: their recorded sizes still count.
    assert_eq!(machine.layers.size(&digest(&layers[0].1)), 40 << 10);
    let (again, _) = machine.prepare(&image_ref).await;
    assert!(again.unwrap_err().to_string().contains("max_image_gb"));
}

/// Runtimes are `async_trait`s, whose futures must be `Send`.
#[allow(dead_code)]
fn prepare_is_send(
    registry: &Registry,
    image: &ImageRef,
    blobs: &BlobCache,
    layers: &LayerStore,
    options: &PullOptions,
    narrator: &dyn crate::Narrator,
) -> impl Send {
    prepare(registry, image, blobs, layers, options, narrator)
}
