//! Blobs in an S3-compatible store: `berth serve --blob-store s3://bucket/prefix` against
//! SeaweedFS (`weed server -s3`, which `scripts/test` starts and names in
//! `BERTH_TEST_S3_ENDPOINT`), with skopeo as the client.

mod support;

use std::process::Command;

use support::{Cli, Server, multi_platform_layout, run_ok, serve_at};

/// Makes `bucket` on the S3 server at `endpoint` (SeaweedFS takes an unsigned `PUT /bucket`).
fn make_bucket(endpoint: &str, bucket: &str) {
    let r = support::runtime().block_on(async {
        reqwest::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap()
    });
    assert!(r.status().is_success(), "{}", r.status());
}

/// The keys under `prefix` in `bucket` (an S3 listing, unsigned).
fn keys(endpoint: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let body = support::runtime().block_on(async {
        reqwest::get(format!("{endpoint}/{bucket}?list-type=2&prefix={prefix}"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    body.split("<Key>")
        .skip(1)
        .map(|k| k.split("</Key>").next().unwrap().to_owned())
        .collect()
}

#[test]
fn images_pushed_and_pulled_with_skopeo_keep_their_blobs_in_the_bucket() {
    let Ok(endpoint) = std::env::var("BERTH_TEST_S3_ENDPOINT") else {
        return;
    };
    let bucket = format!("berth-serve-{}", std::process::id());
    make_bucket(&endpoint, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut serve = serve_at(&data, &["--blob-store", &format!("s3://{bucket}/berth")]);
    serve
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    let server = Server::start(serve);
    let cli = Cli::admin(&server, &data, &dir.path().join("cli"));
    let token = cli.user_with_token("alice", "write:packages");
    let host = server.url.trim_start_matches("http://");
    let ready = support::runtime().block_on(async {
        reqwest::get(format!("{}/readyz", server.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(ready, "ready\n");

    let layout = dir.path().join("layout");
    multi_platform_layout(&layout, &["amd64", "arm64"]);
    let creds = format!("alice:{token}");
    run_ok(
        Command::new("skopeo")
            .args([
                "copy",
                "--all",
                "--dest-tls-verify=false",
                "--dest-creds",
                &creds,
            ])
            .arg(format!("oci:{}:multi", layout.display()))
            .arg(format!("docker://{host}/alice/app:1")),
        None,
    );
    assert!(
        keys(&endpoint, &bucket, "berth/uploads/").is_empty(),
        "finished uploads leave nothing behind"
    );
    assert!(
        !data.join("storage").exists()
            || std::fs::read_dir(data.join("storage"))
                .unwrap()
                .next()
                .is_none(),
        "no blob on the local disk"
    );

    // Pulled back (skopeo checks every digest), each platform.
    let pulled = dir.path().join("pulled");
    run_ok(
        Command::new("skopeo")
            .args([
                "copy",
                "--all",
                "--src-tls-verify=false",
                "--src-creds",
                &creds,
            ])
            .arg(format!("docker://{host}/alice/app:1"))
            .arg(format!("oci:{}:back", pulled.display())),
        None,
    );
    // Every layer and config of the image as served (skopeo compressed the layers on the way
    // in) is in the bucket under the prefix; the manifests themselves are in the database.
    let stored = keys(&endpoint, &bucket, "berth/blobs/");
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
