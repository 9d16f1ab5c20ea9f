//! Berth on an S3-compatible store: SeaweedFS (`weed server -s3`, which `scripts/test` starts and
//! names in `BERTH_TEST_S3_ENDPOINT`), one server or several replicas sharing a bucket and a
//! PostgreSQL database.

use std::path::{Path, PathBuf};

use super::{Cli, Server, postgres_database, runtime, serve_at};

/// The S3 server of the tests (`BERTH_TEST_S3_ENDPOINT`); `None` only when `BERTH_SKIP_S3=1`.
pub fn s3_endpoint() -> Option<String> {
    berth_store::testing::given("BERTH_TEST_S3_ENDPOINT", "BERTH_SKIP_S3")
}

/// Makes `bucket` on the S3 server at `endpoint` (SeaweedFS takes an unsigned `PUT /bucket`).
pub fn make_bucket(endpoint: &str, bucket: &str) {
    let r = runtime().block_on(async {
        reqwest::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap()
    });
    assert!(r.status().is_success(), "{}", r.status());
}

/// The keys under `prefix` in `bucket` (an S3 listing, unsigned).
pub fn keys(endpoint: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let body = super::get_text(&format!("{endpoint}/{bucket}?list-type=2&prefix={prefix}"));
    body.split("<Key>")
        .skip(1)
        .map(|k| k.split("</Key>").next().unwrap().to_owned())
        .collect()
}

/// `berth serve` keeping its data in `data` and its blobs in `bucket` of the S3 server at
/// `endpoint`, with `extra` flags.
pub fn serve_on_s3(data: &Path, endpoint: &str, bucket: &str, extra: &[&str]) -> Server {
    let store = format!("s3://{bucket}/berth");
    let mut args = vec!["--blob-store", store.as_str()];
    args.extend_from_slice(extra);
    let mut serve = serve_at(data, &args);
    serve
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    Server::start(serve)
}

/// Two `berth serve` replicas sharing one PostgreSQL database, one bucket and their keys (given
/// to each as files; the SSH host key too when the gateway runs), and alice with a token that pushes and deletes packages.
pub struct Replicas {
    pub endpoint: String,
    pub bucket: String,
    pub a: Server,
    pub b: Server,
    pub data: [PathBuf; 2],
    /// The PostgreSQL database both use.
    pub database: String,
    pub token: String,
    pub dir: tempfile::TempDir,
}

impl Replicas {
    /// `None` when the tests have no S3 server or PostgreSQL. `extra` flags go to both.
    pub fn start(name: &str, extra: &[&str]) -> Option<Self> {
        let (endpoint, database) = (s3_endpoint()?, postgres_database()?);
        let bucket = format!("berth-{name}-{}", std::process::id());
        make_bucket(&endpoint, &bucket);
        let dir = tempfile::tempdir().unwrap();
        let data = [dir.path().join("a"), dir.path().join("b")];
        let mut args = vec!["--database-url", database.as_str()];
        args.extend_from_slice(extra);
        let a = serve_on_s3(&data[0], &endpoint, &bucket, &args);
        std::fs::create_dir_all(&data[1]).unwrap();
        for key in ["token.key", "registry.key", "master.key"] {
            std::fs::copy(data[0].join(key), data[1].join(key)).unwrap();
        }
        // With the SSH gateway on: one host key, whichever replica a client reaches.
        let host_key = data[0].join("ssh_host_ed25519_key");
        if host_key.exists() {
            std::fs::copy(&host_key, data[1].join("ssh_host_ed25519_key")).unwrap();
        }
        let b = serve_on_s3(&data[1], &endpoint, &bucket, &args);
        let token = Cli::admin(&a, &data[0], &dir.path().join("cli"))
            .user_with_token("alice", "write:packages,delete:packages");
        Some(Self {
            endpoint,
            bucket,
            a,
            b,
            data,
            database,
            token,
            dir,
        })
    }

    /// Where each replica listens (`host:port`).
    pub fn addresses(&self) -> [String; 2] {
        [&self.a, &self.b].map(|s| s.url.trim_start_matches("http://").to_owned())
    }
}
