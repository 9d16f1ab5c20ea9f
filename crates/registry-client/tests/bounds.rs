//! Every read of a remote registry's answer is bounded (issue 14): a manifest larger than
//! 4 MiB, or a token answer larger than 64 KiB, is an error naming the limit, not a server
//! holding whatever a hostile registry sends. The registry is a small in-process server.

mod support;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use berth_domain::logins::RegistryHost;
use berth_registry_client::pull::{BlobCache, PullOptions};
use berth_registry_client::{Credentials, ImageRef, Registry};
use support::{challenging, serve};

#[tokio::test]
async fn a_huge_manifest_is_refused() {
    let app = Router::new().route("/v2/", get(|| async { "{}" })).route(
        "/v2/team/app/manifests/v1",
        get(|| async {
            (
                [(
                    header::CONTENT_TYPE,
                    "application/vnd.oci.image.manifest.v1+json",
                )],
                vec![b' '; 5 << 20],
            )
        }),
    );
    let host = serve(app).await;
    let image = ImageRef::parse(&format!("{host}/team/app:v1")).unwrap();
    let registry = Registry::open(&image.host, None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::open(dir.path()).unwrap();
    let err = registry
        .pull(&image, &cache, &PullOptions::default(), &|_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("larger than 4194304 bytes"),
        "{err}"
    );
}

#[tokio::test]
async fn a_huge_token_answer_is_refused() {
    let app = Router::new().route(
        "/token",
        get(|| async { axum::Json(serde_json::json!({ "token": "x".repeat(100 << 10) })) }),
    );
    let realm = serve(app).await;
    let host = challenging(format!("http://{realm}/token")).await;
    let (host, _) = RegistryHost::parse(&format!("http://{host}")).unwrap();
    // The realm and the registry share the host (127.0.0.1), so credentials may go there.
    let creds = Credentials {
        username: "u".into(),
        password: "p".to_owned().into(),
    };
    let registry = Registry::open(&host, Some(creds)).await.unwrap();
    let err = registry.login().await.unwrap_err();
    assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
}
