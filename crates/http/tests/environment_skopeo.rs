//! The environment rows of the package access model, with skopeo as the client: an environment
//! token of a public repository is refused an internal image until that repository is granted.
//! (Environments mint these tokens when they start; here the test mints them.)

mod support;

use std::process::{Command, Output};

use axum::http::StatusCode;
use serde_json::json;
use support::TestApp;
use support::oci::acme_with_an_internal_base;

async fn skopeo_inspect(host: &str, login: &str, token: &str, image: &str) -> Output {
    let (creds, image) = (
        format!("{login}:{token}"),
        format!("docker://{host}/{image}"),
    );
    tokio::task::spawn_blocking(move || {
        Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                "--tls-verify=false",
                "--creds",
                &creds,
                &image,
            ])
            .output()
            .expect("skopeo runs (scripts/test installs it; BERTH_SKIP_CLIENTS=1 skips this)")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pulls_with_an_environment_token_only_what_its_repository_may() {
    if std::env::var_os("BERTH_SKIP_CLIENTS").is_some() {
        return;
    }
    let app = TestApp::new().await;
    let olga = acme_with_an_internal_base(&app, &["repo", "write:packages", "admin:org"]).await;
    let base = "/api/v3/orgs/acme/packages/container/base";
    let host = app.serve().await;
    let in_private = app.environment_token("olga", "acme", "work", 3600).await;
    let in_public = app.environment_token("olga", "acme", "oss", 3600).await;

    let out = skopeo_inspect(&host, "olga", &in_private, "acme/base:v1").await;
    assert!(
        out.status.success(),
        "an environment of the org's private repository pulls the internal image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = skopeo_inspect(&host, "olga", &in_public, "acme/base:v1").await;
    let missing = skopeo_inspect(&host, "olga", &in_public, "acme/none:v1").await;
    assert!(
        !refused.status.success(),
        "one of a public repository is refused"
    );
    assert_eq!(
        without_timestamp(&refused.stderr).replace("base", "X"),
        without_timestamp(&missing.stderr).replace("none", "X"),
        "exactly as if the image did not exist"
    );

    let environments = json!({ "environments": true });
    let r = app
        .grant_repository(&olga, base, "acme/oss", environments)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let out = skopeo_inspect(&host, "olga", &in_public, "acme/base:v1").await;
    assert!(
        out.status.success(),
        "until the repository is granted: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Skopeo's stderr with its `time="…"` field removed, so two runs a second
/// apart compare equal.
fn without_timestamp(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .split(' ')
        .filter(|field| !field.starts_with("time="))
        .collect::<Vec<_>>()
        .join(" ")
}
