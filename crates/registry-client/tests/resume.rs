//! The pull client against a registry whose connection drops mid-blob: the download resumes
//! with a `Range` request from where it stopped and the blob is verified whole; a blob whose
//! bytes do not match its digest never becomes visible in the cache; a blob already in the
//! (shared) cache is used only when this registry and login may read it.
//!
//! The registry here is a small in-process axum app because the point is a connection that
//! dies at a chosen byte, which no real registry does on request.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_domain::oci::{Algorithm, Digest};
use berth_registry_client::pull::{BlobCache, PullEvent, PullOptions};
use berth_registry_client::{ImageRef, Registry, RegistryError};
use sha2::Digest as _;

struct Fixture {
    manifest: Vec<u8>,
    config: (String, Vec<u8>),
    layer: (String, Vec<u8>),
    /// Bytes served before the first layer response breaks off.
    cut_at: usize,
    /// Serve these bytes for the layer instead of the real ones.
    corrupt: bool,
    /// Refuse the layer (a manifest naming a blob this registry will not serve).
    refuse_layer: bool,
    layer_requests: AtomicUsize,
    ranged_requests: AtomicUsize,
}

fn digest(bytes: &[u8]) -> String {
    Digest::from_hash(Algorithm::Sha256, &sha2::Sha256::digest(bytes)).to_string()
}

fn fixture(cut_at: usize, corrupt: bool) -> Fixture {
    let layer: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(&layer), "size": layer.len()}],
    });
    Fixture {
        manifest: manifest.to_string().into_bytes(),
        config: (digest(&config), config),
        layer: (digest(&layer), layer),
        cut_at,
        corrupt,
        refuse_layer: false,
        layer_requests: AtomicUsize::new(0),
        ranged_requests: AtomicUsize::new(0),
    }
}

async fn manifest(State(f): State<Arc<Fixture>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/vnd.oci.image.manifest.v1+json",
        )],
        f.manifest.clone(),
    )
        .into_response()
}

async fn blob(
    State(f): State<Arc<Fixture>>,
    Path(d): Path<String>,
    headers: HeaderMap,
) -> Response {
    if d == f.config.0 {
        return f.config.1.clone().into_response();
    }
    if d != f.layer.0 || f.refuse_layer {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut bytes = f.layer.1.clone();
    if f.corrupt {
        bytes[10] ^= 0xFF;
    }
    let first = f.layer_requests.fetch_add(1, Ordering::SeqCst) == 0;
    if let Some(range) = headers.get(header::RANGE) {
        f.ranged_requests.fetch_add(1, Ordering::SeqCst);
        let from: usize = range
            .to_str()
            .unwrap()
            .trim_start_matches("bytes=")
            .trim_end_matches('-')
            .parse()
            .unwrap();
        let total = bytes.len();
        return (
            StatusCode::PARTIAL_CONTENT,
            [(
                header::CONTENT_RANGE,
                format!("bytes {from}-{}/{total}", total - 1),
            )],
            bytes[from..].to_vec(),
        )
            .into_response();
    }
    if first && f.cut_at < bytes.len() {
        // Send the head, then fail the body: hyper drops the connection mid-response.
        let head = bytes[..f.cut_at].to_vec();
        let stream = futures_util::stream::iter(vec![
            Ok::<_, std::io::Error>(bytes::Bytes::from(head)),
            Err(std::io::Error::other("connection dropped on purpose")),
        ]);
        return (
            [(header::CONTENT_LENGTH, bytes.len().to_string())],
            Body::from_stream(stream),
        )
            .into_response();
    }
    bytes.into_response()
}

async fn serve(f: Arc<Fixture>) -> String {
    let app = Router::new()
        .route("/v2/", get(|| async { "{}" }))
        .route("/v2/app/manifests/v1", get(manifest))
        .route("/v2/app/blobs/{digest}", get(blob))
        .with_state(f);
    support::serve(app).await
}

async fn pull(f: Arc<Fixture>, cache: &BlobCache) -> (Result<(), RegistryError>, Vec<PullEvent>) {
    let host = serve(f).await;
    let image = ImageRef::parse(&format!("{host}/app:v1")).unwrap();
    let registry = Registry::open(&image.host, None).await.unwrap();
    let events = std::sync::Mutex::new(Vec::new());
    let record = |e: PullEvent| events.lock().unwrap().push(e);
    let result = registry
        .pull(&image, cache, &PullOptions::default(), &record)
        .await
        .map(drop);
    (result, events.into_inner().unwrap())
}

/// Asserts that the cache in `dir` has no download left in `incoming`.
#[track_caller]
fn assert_no_partial_downloads(dir: &std::path::Path, why: &str) {
    let incoming: Vec<_> = std::fs::read_dir(dir.join("incoming")).unwrap().collect();
    assert!(incoming.is_empty(), "{why}");
}

#[tokio::test]
async fn a_dropped_connection_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::open(dir.path()).unwrap();
    let f = Arc::new(fixture(1_000_000, false));
    let (result, events) = pull(f.clone(), &cache).await;
    result.unwrap();
    assert!(
        events.iter().any(|e| matches!(
            e,
            PullEvent::Resuming { offset, attempt: 1, .. } if *offset > 0 && *offset <= 1_000_000
        )),
        "{events:?}"
    );
    assert_eq!(
        f.ranged_requests.load(Ordering::SeqCst),
        1,
        "one ranged request"
    );
    let layer = Digest::parse(&f.layer.0).unwrap();
    assert_eq!(std::fs::read(cache.path(&layer)).unwrap(), f.layer.1);
    assert_no_partial_downloads(dir.path(), "nothing left half-written");
}

#[tokio::test]
async fn a_blob_that_does_not_match_its_digest_never_enters_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::open(dir.path()).unwrap();
    let f = Arc::new(fixture(usize::MAX, true));
    let (result, _) = pull(f.clone(), &cache).await;
    let err = result.unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
    let layer = Digest::parse(&f.layer.0).unwrap();
    assert!(!cache.contains(&layer));
    assert_no_partial_downloads(dir.path(), "the bad download was removed");
}

#[tokio::test]
async fn a_cached_blob_is_used_only_where_the_login_may_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::open(dir.path()).unwrap();
    let (result, _) = pull(Arc::new(fixture(usize::MAX, false)), &cache).await;
    result.unwrap();
    // Someone else's manifest names the same layer, on a registry that will not serve it.
    let mut other = fixture(usize::MAX, false);
    other.refuse_layer = true;
    let (result, events) = pull(Arc::new(other), &cache).await;
    let err = result.unwrap_err();
    assert!(matches!(err, RegistryError::Denied { .. }), "{err}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PullEvent::Cached { size, .. } if *size > 1_000_000)),
        "the cached layer was handed out: {events:?}"
    );
}
