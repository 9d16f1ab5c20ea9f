//! Blobs in an S3-compatible store: `berth serve --blob-store s3://bucket/prefix` against
//! SeaweedFS (`weed server -s3`, which `scripts/test` starts and names in
//! `BERTH_TEST_S3_ENDPOINT`), with skopeo as the client; and replicas sharing it and one
//! PostgreSQL database, each answering for the environments the other runs.

mod support;

use std::process::Command;

use support::s3::{Replicas, keys, make_bucket, serve_on_s3};
use support::{Cli, Server, multi_platform_layout, run_ok};

/// `request` sent with `token`, its answer.
async fn sent(request: reqwest::RequestBuilder, token: &str) -> reqwest::Response {
    request.bearer_auth(token).send().await.unwrap()
}

/// Begins a blob upload to `name` at `server`; the upload's path (its `Location` without the
/// server).
async fn begin_upload(http: &reqwest::Client, server: &str, name: &str, token: &str) -> String {
    let began = sent(
        http.post(format!("{server}/v2/{name}/blobs/uploads/")),
        token,
    )
    .await;
    assert_eq!(began.status().as_u16(), 202);
    let location = began.headers()["location"].to_str().unwrap();
    location.trim_start_matches(server).to_owned()
}

/// `bytes` sent to the upload at `upload` (a URL) as the chunk starting at `from`.
fn chunk(
    http: &reqwest::Client,
    upload: String,
    token: &str,
    from: usize,
    bytes: &[u8],
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + use<> {
    http.patch(upload)
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .header(
            "content-range",
            format!("{from}-{}", from + bytes.len() - 1),
        )
        .body(bytes.to_vec())
        .send()
}

/// A garbage collection at `server` asked for by `admin` with `options`; its report.
async fn collect(server: &str, admin: &str, options: serde_json::Value) -> serde_json::Value {
    let http = reqwest::Client::new();
    let url = format!("{server}/api/v3/admin/registry/collect");
    let r = sent(http.post(url).json(&options), admin).await;
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

/// `skopeo copy --all` from `from` to `to`, with `creds` and no TLS on the registry's `side`
/// (`dest` or `src`).
fn skopeo_copy(side: &str, creds: &str, from: String, to: String) {
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--all"])
            .arg(format!("--{side}-tls-verify=false"))
            .arg(format!("--{side}-creds"))
            .arg(creds)
            .arg(from)
            .arg(to),
        None,
    );
}

/// A server with its blobs in a bucket of its own on the S3 server of the tests, and alice with a
/// token that pushes; `None` when no S3 server is given.
struct OnS3 {
    endpoint: String,
    bucket: String,
    dir: tempfile::TempDir,
    data: std::path::PathBuf,
    server: Server,
    token: String,
}

impl OnS3 {
    fn start(name: &str, extra: &[&str]) -> Option<Self> {
        let endpoint = support::s3::s3_endpoint()?;
        let bucket = format!("berth-{name}-{}", std::process::id());
        make_bucket(&endpoint, &bucket);
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let server = serve_on_s3(&data, &endpoint, &bucket, extra);
        let token = Cli::admin(&server, &data, &dir.path().join("cli"))
            .user_with_token("alice", "write:packages");
        Some(Self {
            endpoint,
            bucket,
            dir,
            data,
            server,
            token,
        })
    }
    /// An image of `platforms` pushed as `alice/app:1` with skopeo and pulled back (skopeo
    /// checks every digest) into an OCI layout; the layout's directory.
    fn push_and_pull(&self, platforms: &[&str]) -> std::path::PathBuf {
        let host = self.server.url.trim_start_matches("http://");
        let layout = self.dir.path().join("layout");
        multi_platform_layout(&layout, platforms);
        let creds = format!("alice:{}", self.token);
        let image = format!("docker://{host}/alice/app:1");
        skopeo_copy(
            "dest",
            &creds,
            format!("oci:{}:multi", layout.display()),
            image.clone(),
        );
        let pulled = self.dir.path().join("pulled");
        skopeo_copy(
            "src",
            &creds,
            image,
            format!("oci:{}:back", pulled.display()),
        );
        pulled
    }
}

#[test]
fn images_pushed_and_pulled_with_skopeo_keep_their_blobs_in_the_bucket() {
    let Some(s3) = OnS3::start("serve", &[]) else {
        return;
    };
    let ready = support::get_text(&format!("{}/readyz", s3.server.url));
    assert_eq!(ready, "ready\n");

    let pulled = s3.push_and_pull(&["amd64", "arm64"]);
    assert!(
        keys(&s3.endpoint, &s3.bucket, "berth/uploads/").is_empty(),
        "finished uploads leave nothing behind"
    );
    let storage = s3.data.join("storage");
    assert!(
        !storage.exists() || std::fs::read_dir(storage).unwrap().next().is_none(),
        "no blob on the local disk"
    );
    // Every layer and config of the image as served (skopeo compressed the layers on the way
    // in) is in the bucket under the prefix; the manifests themselves are in the database.
    let stored = keys(&s3.endpoint, &s3.bucket, "berth/blobs/");
    let mut expected = 0;
    for blob in std::fs::read_dir(pulled.join("blobs/sha256")).unwrap() {
        let bytes = std::fs::read(blob.unwrap().path()).unwrap();
        let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let Some(layers) = manifest["layers"].as_array() else {
            continue;
        };
        for d in layers.iter().chain([&manifest["config"]]) {
            let hex = d["digest"].as_str().unwrap().trim_start_matches("sha256:");
            let key = format!("berth/blobs/sha256/{}/{hex}", &hex[..2]);
            assert!(stored.contains(&key), "{key} not in {stored:?}");
            expected += 1;
        }
    }
    assert!(expected >= 4, "two platforms, each a config and a layer");
    let index = std::fs::read_to_string(pulled.join("index.json")).unwrap();
    assert!(index.contains("back"), "{index}");
}

#[test]
fn a_chunked_upload_begun_on_one_replica_is_finished_on_another() {
    let Some(r) = Replicas::start("replicas", &[]) else {
        return;
    };
    let (a, b, token) = (&r.a.url, &r.b.url, &r.token);
    let blob: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let digest = digest_of(&blob);
    let (first, rest) = blob.split_at(3_000_000);
    support::runtime().block_on(async {
        let http = reqwest::Client::new();
        let path = begin_upload(&http, a, "alice/app", token).await;
        let r = chunk(&http, format!("{a}{path}"), token, 0, first).await;
        assert_eq!(r.unwrap().status().as_u16(), 202, "the first chunk, on A");
        // B knows where the upload stands, takes the next chunk and finishes it.
        let r = sent(http.get(format!("{b}{path}")), token).await;
        assert_eq!(r.status().as_u16(), 204);
        assert_eq!(r.headers()["range"], "0-2999999");
        let r = chunk(&http, format!("{b}{path}"), token, first.len(), rest).await;
        assert_eq!(r.unwrap().status().as_u16(), 202, "the second chunk, on B");
        let r = sent(http.put(format!("{b}{path}?digest={digest}")), token).await;
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
        // Either replica serves it, byte for byte.
        for server in [a, b] {
            let url = format!("{server}/v2/alice/app/blobs/{digest}");
            let got = sent(http.get(url), token).await;
            assert_eq!(got.status().as_u16(), 200);
            assert!(got.bytes().await.unwrap() == blob, "{server}");
        }
    });
    assert!(keys(&r.endpoint, &r.bucket, "berth/uploads/").is_empty());

    // A copy of A's data directory that kept its replica id is refused while A runs.
    let copy = r.dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["replica.id", "token.key", "registry.key", "master.key"] {
        std::fs::copy(r.data[0].join(file), copy.join(file)).unwrap();
    }
    let mut serve = support::serve_at(&copy, &["--database-url", &r.database]);
    let out = support::exits_within(&mut serve, std::time::Duration::from_secs(30));
    let stderr = support::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another server sharing the database runs as this replica")
            && stderr.contains("remove that file from this copy"),
        "{stderr}"
    );
}

#[test]
fn with_blob_redirect_pulls_are_sent_to_pre_signed_urls_of_the_store() {
    let Some(s3) = OnS3::start("redirect", &["--blob-redirect"]) else {
        return;
    };
    let (endpoint, bucket, token) = (&s3.endpoint, &s3.bucket, &s3.token);
    let pulled = s3.push_and_pull(&["amd64"]);
    // What it was sent: a time-limited signed URL of the bucket, after Berth's own access check.
    let config = std::fs::read_dir(pulled.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("\"rootfs\"")))
        .unwrap();
    let digest = format!("sha256:{}", config.file_name().unwrap().to_str().unwrap());
    support::runtime().block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let blob = format!("{}/v2/alice/app/blobs/{digest}", s3.server.url);
        let r = http.get(&blob).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 307);
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            to.starts_with(&format!("{endpoint}/{bucket}/berth/blobs/sha256/"))
                && to.contains("X-Amz-Expires=1200")
                && to.contains("X-Amz-Signature="),
            "{to}"
        );
        let got = http.get(&to).send().await.unwrap().bytes().await.unwrap();
        assert!(got == std::fs::read(&config).unwrap());
        // No redirect without access, for HEAD, or for a range (served here).
        let r = http.get(&blob).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let r = http.head(&blob).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let r = http
            .get(&blob)
            .bearer_auth(token)
            .header("range", "bytes=0-9")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 206);
        assert_eq!(r.bytes().await.unwrap().len(), 10);
    });
}

/// A blob's `sha256:` digest.
fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

/// A registry client of the test's own, as careful as docker's: a blob the registry has is not
/// sent again, and a manifest refused because a blob went missing meanwhile (the collector took
/// it) is pushed again with its blobs.
struct Pusher {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Pusher {
    fn new(url: &str, token: &str) -> Self {
        let (url, token) = (url.to_owned(), token.to_owned());
        let http = reqwest::Client::new();
        Self { http, url, token }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        request.bearer_auth(&self.token).send().await.unwrap()
    }

    async fn ensure_blob(&self, name: &str, blob: &[u8]) {
        let digest = digest_of(blob);
        let at = format!("{}/v2/{name}/blobs/{digest}", self.url);
        if self.send(self.http.head(&at)).await.status() == 200 {
            return;
        }
        let url = format!("{}/v2/{name}/blobs/uploads/?digest={digest}", self.url);
        let r = self
            .send(
                self.http
                    .post(url)
                    .header("content-type", "application/octet-stream")
                    .body(blob.to_vec()),
            )
            .await;
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    }

    /// Pushes `name:tag` of `config` and `layers`; how many times the manifest was refused.
    async fn push(&self, name: &str, tag: &str, config: &[u8], layers: &[&[u8]]) -> u32 {
        let descriptor = |media: &str, b: &[u8]| serde_json::json!({ "mediaType": media, "digest": digest_of(b), "size": b.len() });
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": layers.iter().map(|l| descriptor("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
        })
        .to_string();
        let mut refused = 0;
        loop {
            for blob in layers.iter().copied().chain([config]) {
                self.ensure_blob(name, blob).await;
            }
            let r = self
                .send(
                    self.http
                        .put(format!("{}/v2/{name}/manifests/{tag}", self.url))
                        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                        .body(manifest.clone()),
                )
                .await;
            match r.status().as_u16() {
                201 => return refused,
                400 => {
                    let body = r.text().await.unwrap();
                    assert!(body.contains("MANIFEST_BLOB_UNKNOWN"), "{body}");
                    refused += 1;
                    assert!(refused < 20, "the manifest never went through");
                }
                other => panic!(
                    "manifest push answered {other}: {}",
                    r.text().await.unwrap()
                ),
            }
        }
    }

    /// Pulls `name:tag` and checks every blob against its digest; the blobs' digests.
    async fn pull_and_verify(&self, name: &str, tag: &str) -> Vec<String> {
        let r = self
            .send(
                self.http
                    .get(format!("{}/v2/{name}/manifests/{tag}", self.url))
                    .header("accept", "application/vnd.oci.image.manifest.v1+json"),
            )
            .await;
        assert_eq!(r.status().as_u16(), 200, "{name}:{tag}");
        let manifest: serde_json::Value = r.json().await.unwrap();
        let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
        for l in manifest["layers"].as_array().unwrap() {
            digests.push(l["digest"].as_str().unwrap().to_owned());
        }
        for d in &digests {
            let r = self
                .send(self.http.get(format!("{}/v2/{name}/blobs/{d}", self.url)))
                .await;
            assert_eq!(r.status().as_u16(), 200, "{name}:{tag} {d}");
            assert_eq!(&digest_of(&r.bytes().await.unwrap()), d, "{name}:{tag}");
        }
        digests
    }
}

#[test]
fn garbage_collection_on_one_replica_never_loses_a_push_on_the_other() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(r) = Replicas::start("gc-load", &[]) else {
        return;
    };
    let (a, b, token) = (&r.a.url, &r.b.url, &r.token);
    let admin = support::admin_token(&r.data[0]);
    // Layers shared by the images: 12 of them, 2 an image.
    let pool: Vec<Vec<u8>> = (0..12u8)
        .map(|i| {
            (0..(4096 + usize::from(i) * 1024))
                .map(|j| (j as u8) ^ i)
                .collect()
        })
        .collect();
    let pusher = Pusher::new(a, token);
    let done = AtomicBool::new(false);
    let (refused, passes) = support::runtime().block_on(async {
        // The other replica collects as fast as it can with the shortest grace period (a
        // second): blobs whose manifest is not there yet are fair game almost at once.
        let collector = async {
            let mut passes = 0u32;
            while !done.load(Ordering::SeqCst) {
                collect(b, &admin, serde_json::json!({ "grace_seconds": 1 })).await;
                passes += 1;
            }
            passes
        };
        let pushes = async {
            let mut refused = 0;
            for i in 0..200usize {
                let name = format!("alice/app{}", i % 20);
                let config = format!("{{\"image\":{i}}}").into_bytes();
                let layers = [pool[i % 12].as_slice(), pool[(i * 5 + 1) % 12].as_slice()];
                refused += pusher.push(&name, &format!("v{i}"), &config, &layers).await;
                if i % 10 == 0 {
                    // A blob nobody will refer to: garbage from the start.
                    pusher
                        .ensure_blob(&name, format!("orphan {i}").as_bytes())
                        .await;
                }
                // An image pushed earlier, pulled while the collector runs.
                let j = i / 2;
                let earlier = format!("alice/app{}", j % 20);
                pusher.pull_and_verify(&earlier, &format!("v{j}")).await;
            }
            done.store(true, Ordering::SeqCst);
            refused
        };
        let (refused, passes) = tokio::join!(pushes, collector);
        (refused, passes)
    });
    assert!(
        passes > 1,
        "the collector ran during the pushes ({passes} passes)"
    );
    eprintln!("{passes} collections ran during the pushes; {refused} manifests were refused");

    // Every tag pulls and verifies, from either replica.
    let referenced = support::runtime().block_on(async {
        let mut referenced = std::collections::BTreeSet::new();
        for server in [a, b] {
            let pusher = Pusher::new(server, token);
            for i in 0..200 {
                let name = format!("alice/app{}", i % 20);
                referenced.extend(pusher.pull_and_verify(&name, &format!("v{i}")).await);
            }
        }
        // One more pass, once the last blobs are older than the grace period: what no manifest
        // refers to goes, what one does stays.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        collect(b, &admin, serde_json::json!({ "grace_seconds": 1 })).await;
        referenced
    });
    let stored: std::collections::BTreeSet<String> = keys(&r.endpoint, &r.bucket, "berth/blobs/")
        .iter()
        .map(|k| format!("sha256:{}", k.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        stored, referenced,
        "the bucket holds exactly the blobs the tags use ({refused} manifests were refused and pushed again)"
    );
    assert!(keys(&r.endpoint, &r.bucket, "berth/trash/").is_empty());
}

#[test]
fn garbage_collection_aborts_the_multipart_uploads_a_killed_write_left() {
    let Some(OnS3 {
        endpoint,
        bucket,
        dir: _dir,
        data,
        server,
        ..
    }) = OnS3::start("multipart", &[])
    else {
        return;
    };
    let http = reqwest::Client::new();
    let unfinished = |prefix: &'static str| {
        let url = format!("{endpoint}/{bucket}?uploads&prefix={prefix}");
        support::get_text(&url).matches("<Upload>").count()
    };
    support::runtime().block_on(async {
        // What a server killed in the middle of a write leaves: multipart uploads begun and
        // never completed (SeaweedFS takes unsigned requests), one of Berth's and one of
        // something else in the bucket.
        for key in ["berth/uploads/u1/_parts/00000000000000000000", "other/file"] {
            let r = http
                .post(format!("{endpoint}/{bucket}/{key}?uploads"))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }
    });
    assert_eq!((unfinished("berth/"), unfinished("other/")), (1, 1));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let admin = support::admin_token(&data);
    let collect = |dry_run: bool| {
        let options = serde_json::json!({ "upload_ttl_seconds": 0, "dry_run": dry_run });
        support::runtime().block_on(collect(&server.url, &admin, options))
    };
    let would = collect(true);
    assert_eq!(would["multipart_aborted"], 1, "{would}");
    assert_eq!(unfinished("berth/"), 1, "a dry run aborts nothing");
    let report = collect(false);
    assert_eq!(report["multipart_aborted"], 1, "{report}");
    assert_eq!(
        (unfinished("berth/"), unfinished("other/")),
        (0, 1),
        "only Berth's own prefix is touched"
    );
}

#[test]
fn two_replicas_taking_the_same_chunk_at_once_never_make_a_blob_of_mixed_bytes() {
    let Some(r) = Replicas::start("same-chunk", &[]) else {
        return;
    };
    let (a, b, token) = (&r.a.url, &r.b.url, &r.token);
    // Two bodies for the same range of one upload, sent at once to the two replicas; the digest
    // named at the end is the first body's.
    let ours: Vec<u8> = (0..6_000_000u32).map(|i| (i % 253) as u8).collect();
    let theirs: Vec<u8> = (0..6_000_000u32).map(|i| (i % 241) as u8).collect();
    let digest = digest_of(&ours);
    support::runtime().block_on(async {
        let http = reqwest::Client::new();
        let path = begin_upload(&http, a, "alice/race", token).await;
        let (x, y) = tokio::join!(
            chunk(&http, format!("{a}{path}"), token, 0, &ours),
            chunk(&http, format!("{b}{path}"), token, 0, &theirs)
        );
        let statuses = [x.unwrap().status().as_u16(), y.unwrap().status().as_u16()];
        let finished = sent(http.put(format!("{a}{path}?digest={digest}")), token).await;
        let status = finished.status().as_u16();
        // Whatever happened, a blob named by the digest holds exactly those bytes, or there is
        // none.
        let got = sent(http.get(format!("{b}/v2/alice/race/blobs/{digest}")), token).await;
        match got.status().as_u16() {
            200 => assert!(
                got.bytes().await.unwrap() == ours,
                "a blob of other bytes under the digest (chunks {statuses:?}, finish {status})"
            ),
            404 => assert_ne!(status, 201, "finished, yet no blob"),
            other => panic!("GET answered {other}"),
        }

        // Whatever the race left under uploads/ (the upload refused, or the losing part landed
        // after the upload finished) goes with a collection once older than the upload TTL.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let admin = support::admin_token(&r.data[0]);
        collect(b, &admin, serde_json::json!({ "upload_ttl_seconds": 0 })).await;
    });
    let left = keys(&r.endpoint, &r.bucket, "berth/uploads/");
    assert!(left.is_empty(), "{left:?}");
}

/// SPEC §6: an environment runs on the machine of the replica that created it, and the other
/// replica answers for it, forwarding exec, the log, the terminal, SSH over the API, port
/// tunnels and its verbs there.
#[test]
fn an_environment_created_through_one_replica_is_reached_through_the_other() {
    use support::environments::{created, exec_ok, http_get, serve_page, start_forward};
    use support::images::{busybox_layer, file_layer, host_programs_layer, image_layout};
    let flags = [
        "--egress-allow",
        "127.0.0.0/8",
        "--ssh-listen",
        "127.0.0.1:0",
    ];
    let Some(r) = Replicas::start("envs", &flags) else {
        return;
    };
    let _tidy = TidyEnvironments(r.data.clone(), r.dir.path().to_owned());
    let admin = Cli::admin(&r.a, &r.data[0], &r.dir.path().join("admin"));
    let token = admin.token_for("alice", "repo,codespace,write:packages,admin:public_key");
    let through = |server: &Server, side: &str| {
        Cli::new(&r.dir.path().join(side))
            .with_env("BERTH_SERVER", &server.url)
            .with_env("BERTH_TOKEN", &token)
    };
    let (via_a, via_b) = (through(&r.a, "via-a"), through(&r.b, "via-b"));
    let image = format!("{}/alice/other:1", r.addresses()[0]);
    // busybox, a marker, and ssh-add (for the client's agent).
    let layout = r.dir.path().join("layout");
    let layers = [
        busybox_layer(r.dir.path()),
        file_layer(r.dir.path(), "other", "/etc/berth-image", b"other\n"),
        host_programs_layer(r.dir.path(), "ssh-add", &["ssh-add"]),
    ];
    image_layout(&layout, "other", &layers, &["PATH=/bin:/usr/bin"]);
    support::images::push(&layout, "other", &image, &format!("alice:{token}"));
    via_a.ok(&["repo", "create", "alice/web"]);
    via_a.ok(&["package", "grant", "alice/other", "--repo", "alice/web"]);
    let name = created(&via_a, &["-R", "alice/web", "--image", &image]);
    let on_a = r.data[0].join("environments").join(&name);
    assert!(on_a.is_dir(), "its files are on the replica that made it");
    assert!(!r.data[1].join("environments").join(&name).exists());

    // Someone who may not reach it gets through B what a missing one gives, and nothing of it
    // is forwarded for them.
    let bob = Cli::new(&r.dir.path().join("bob"))
        .with_env("BERTH_SERVER", &r.b.url)
        .with_env("BERTH_TOKEN", &admin.user_with_token("bob", "codespace"));
    for verb in [&["show"][..], &["logs"], &["stop"]] {
        let out = bob.run(&[&["codespace"], verb, &[name.as_str()]].concat(), None);
        assert!(!out.status.success());
        let said = support::text(&out.stderr);
        assert!(
            said.contains("Not Found") || said.contains("not found"),
            "{verb:?}: {said}"
        );
        assert!(!said.contains("another server"), "{said}");
    }

    // Exec and the log, through B.
    assert_eq!(
        exec_ok(&via_b, &name, "cat /etc/berth-image; echo $((6 * 7))"),
        "other\n42\n"
    );
    let log = via_b.ok(&["codespace", "logs", &name]);
    assert!(log.contains("alice/other"), "{log}");
    assert_eq!(log, via_a.ok(&["codespace", "logs", &name]));

    // The terminal (a WebSocket), through B.
    support::ssh::terminal_session(&via_b.command(&["codespace", "exec", "-it", &name]));

    // The web UI, through B: signed in there, alice sees the environment's page, and its
    // terminal's WebSocket (opened from B's pages) reaches a shell on A.
    let set = admin.run(
        &["user", "password", "alice", "--stdin"],
        Some(&format!("{}\n", support::web::PASSWORD)),
    );
    assert!(set.status.success());
    support::runtime().block_on(async {
        use futures_util::SinkExt as _;
        use tokio_tungstenite::tungstenite::Message;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let base = r.b.url.as_str();
        let session = support::web::sign_in(&http, base, "alice").await;
        let page = http
            .get(format!("{base}/environments/{name}"))
            .header("cookie", format!("berth_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Available"));
        let mut socket = support::web::terminal(&http, base, &name, &session, base)
            .await
            .expect("the terminal opens through B");
        let start = serde_json::json!({ "cols": 80, "rows": 24 });
        socket.send(Message::text(start.to_string())).await.unwrap();
        let keys = b"cat /etc/berth-image; echo web-$((6*7))\r".to_vec();
        socket.send(Message::binary(keys)).await.unwrap();
        let mut seen = String::new();
        support::web::read_until(&mut socket, &mut seen, "web-42").await;
        assert!(seen.contains("other"), "{seen}");
    });

    // SSH over the API, through B: the Host block B prints, its ProxyCommand going through B.
    let (key, fingerprint) = support::keygen(r.dir.path(), "alice-key");
    via_b.ok(&["key", "add", key.with_extension("pub").to_str().unwrap()]);
    let block = via_b.ok(&["codespace", "ssh", "--config", &name]);
    let config = r.dir.path().join("ssh_config");
    std::fs::write(&config, &block).unwrap();
    let host = format!("berth-{name}");
    let mut ssh =
        support::ssh::through_config(&config, &key, &via_b, &host, "cat /etc/berth-image");
    let out = ssh.output().unwrap();
    assert_eq!(
        support::text(&out.stdout),
        "other\n",
        "{}",
        support::text(&out.stderr)
    );
    // The gateways' own ports: B's relays the connection to A's, signed in there as a replica
    // acting for alice: a command with its exit status and standard error, and a shell.
    let native = |port: u16, args: &[&str]| {
        support::ssh::ssh(r.dir.path(), port, &key, &name, args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    assert_eq!(
        support::text(&native(r.a.ssh_port(), &["cat /etc/berth-image"]).stdout),
        "other\n"
    );
    let relayed = native(
        r.b.ssh_port(),
        &["cat /etc/berth-image; echo err >&2; exit 3"],
    );
    assert_eq!(
        relayed.status.code(),
        Some(3),
        "{}",
        support::text(&relayed.stderr)
    );
    assert_eq!(support::text(&relayed.stdout), "other\n");
    // (after what ssh itself says of the host key)
    let stderr = support::text(&relayed.stderr);
    assert_eq!(stderr.lines().last(), Some("err"), "{stderr}");
    let shell = support::ssh::through_w(
        &mut support::ssh::ssh(r.dir.path(), r.b.ssh_port(), &key, &name, &["-T"]),
        b"echo from-a-shell-on-a; exit 4\n",
    );
    assert_eq!(
        shell.status.code(),
        Some(4),
        "{}",
        support::text(&shell.stderr)
    );
    assert!(support::text(&shell.stdout).contains("from-a-shell-on-a"));
    // The client's agent (`ssh -A`) answers inside, through B's gateway.
    support::ssh::forwarded_agent_answers(r.dir.path(), r.b.ssh_port(), &key, &fingerprint, &name);
    // A terminal through B's gateway, as a person types (its size and changes, Ctrl-C).
    support::ssh::terminal_session(&support::ssh::ssh(
        r.dir.path(),
        r.b.ssh_port(),
        &key,
        &name,
        &["-tt"],
    ));

    // A port forward, through B: the API's tunnel, and `ssh -W` at B's gateway.
    serve_page(&via_a, &name, 3000, "served-on-a");
    let (mut forward, local, _stderr) = start_forward(&via_b, &name, 3000);
    let page = http_get(local);
    forward.kill().unwrap();
    forward.wait().unwrap();
    assert!(page.ends_with("served-on-a\n"), "{page}");
    let through_b = support::ssh::through_w(
        &mut support::ssh::ssh(
            r.dir.path(),
            r.b.ssh_port(),
            &key,
            &name,
            &["-W", "localhost:3000"],
        ),
        b"GET / HTTP/1.0\r\n\r\n",
    );
    assert!(
        support::text(&through_b.stdout).ends_with("served-on-a\n"),
        "{}{}",
        support::text(&through_b.stdout),
        support::text(&through_b.stderr)
    );

    // Its verbs, through B: they act on A, where it runs.
    via_b.ok(&["codespace", "stop", &name]);
    assert_eq!(support::environments::state(&via_a, &name), "Shutdown");
    via_b.ok(&["codespace", "start", &name]);
    assert_eq!(
        exec_ok(&via_b, &name, "cat /etc/berth-image"),
        "other\n",
        "started again on A"
    );

    // B restarted settles only its own environments: A's is still Available, reached through
    // the new B.
    let (stopped, _) = r.b.terminate();
    assert!(stopped.success());
    let database = ["--database-url", r.database.as_str()];
    let b = serve_on_s3(
        &r.data[1],
        &r.endpoint,
        &r.bucket,
        &[&database[..], &flags].concat(),
    );
    let via_b = through(&b, "via-b-again");
    assert_eq!(support::environments::state(&via_b, &name), "Available");
    assert_eq!(exec_ok(&via_b, &name, "echo again"), "again\n");

    // A gone: B says which server runs it and that it does not answer.
    let mut a = r.a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let out = support::environments::exec(&via_b, &name, "true");
    assert!(!out.status.success());
    let said = support::text(&out.stderr);
    assert!(
        said.contains("runs on another server") && said.contains("not answering"),
        "{said}"
    );
}

/// Stops what the environments of the replicas' data directories left running when the test
/// ends, however it ends.
struct TidyEnvironments([std::path::PathBuf; 2], std::path::PathBuf);

impl Drop for TidyEnvironments {
    fn drop(&mut self) {
        for data in &self.0 {
            support::servers::tidy_environments(data, &self.1);
        }
    }
}

/// The config file's `[s3]` table reaches the store (endpoint, region, keys) when the AWS
/// variables say nothing.
#[test]
fn the_config_files_s3_table_reaches_the_store() {
    let Some(endpoint) = support::s3::s3_endpoint() else {
        return;
    };
    let bucket = format!("berth-file-{}", std::process::id());
    make_bucket(&endpoint, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.toml");
    std::fs::write(
        &config,
        format!(
            "blob_store = \"s3://{bucket}/from-file\"\n\n[s3]\nendpoint = \"{endpoint}\"\n\
             region = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut serve = support::serve_at(&data, &["--config", config.to_str().unwrap()]);
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
    ] {
        serve.env_remove(var);
    }
    let server = Server::start(serve);
    let token = support::admin_token(&data);
    let blob = b"a blob kept where the config file says".to_vec();
    let digest = digest_of(&blob);
    support::runtime().block_on(async {
        let http = reqwest::Client::new();
        let path = begin_upload(&http, &server.url, "admin/app", &token).await;
        let put = http
            .put(format!("{}{path}?digest={digest}", server.url))
            .header("content-type", "application/octet-stream")
            .body(blob);
        assert_eq!(sent(put, &token).await.status().as_u16(), 201);
    });
    let stored = keys(&endpoint, &bucket, "from-file/blobs/");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(
        stored[0].ends_with(digest.trim_start_matches("sha256:")),
        "{stored:?}"
    );
}
