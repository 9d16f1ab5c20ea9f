//! Registry helpers shared by the registry test binaries: digests, requests with a bearer or
//! basic token, and a minimal push and pull.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{Reply, TestApp, status_and};

pub fn sha256(b: &[u8]) -> String {
    format!(
        "sha256:{}",
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

pub fn bearer(method: Method, path: &str, token: Option<&str>) -> axum::http::request::Builder {
    let b = Request::builder().method(method).uri(path);
    match token {
        Some(t) => b.header("authorization", format!("Bearer {t}")),
        None => b,
    }
}

pub fn basic(user: &str, token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    )
}

pub async fn send(app: &TestApp, b: axum::http::request::Builder, body: impl Into<Body>) -> Reply {
    app.send(b.body(body.into()).unwrap()).await
}

/// Uploads `data` as a blob of `name` in one POST; its digest and the answer.
pub async fn post_blob(app: &TestApp, token: &str, name: &str, data: &[u8]) -> (String, Reply) {
    let d = sha256(data);
    let r = send(
        app,
        bearer(
            Method::POST,
            &format!("/v2/{name}/blobs/uploads/?digest={d}"),
            Some(token),
        ),
        data.to_vec(),
    )
    .await;
    (d, r)
}

/// Uploads `data` as a blob of `name` and returns its digest (the upload must succeed).
pub async fn upload_blob(app: &TestApp, token: &str, name: &str, data: &[u8]) -> String {
    let (d, r) = post_blob(app, token, name, data).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    d
}

/// An OCI image manifest over a config blob of `config_type` (no layers).
pub fn config_manifest(config_type: &str, digest: &str, size: usize) -> Value {
    json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": config_type, "digest": digest, "size": size }, "layers": [] })
}

/// Puts `manifest` (an OCI image manifest) at `name:reference`.
pub async fn put_manifest(
    app: &TestApp,
    token: &str,
    name: &str,
    reference: &str,
    manifest: &Value,
) -> Reply {
    send(
        app,
        bearer(
            Method::PUT,
            &format!("/v2/{name}/manifests/{reference}"),
            Some(token),
        )
        .header("content-type", "application/vnd.oci.image.manifest.v1+json"),
        manifest.to_string(),
    )
    .await
}

/// Pushes a one-blob artifact to `name:tag`: the answer to the manifest, or to the blob when
/// that was refused.
pub async fn push(app: &TestApp, token: &str, name: &str, tag: &str) -> Reply {
    let data = format!("content of {name}");
    let (d, r) = post_blob(app, token, name, data.as_bytes()).await;
    if r.status != StatusCode::CREATED {
        return r;
    }
    let m = config_manifest("application/vnd.example.config", &d, data.len());
    put_manifest(app, token, name, tag, &m).await
}

/// Pushes as `push` does, when the test only needs the artifact there.
pub async fn publish(app: &TestApp, token: &str, name: &str, tag: &str) {
    let r = push(app, token, name, tag).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

pub async fn pull(app: &TestApp, token: Option<&str>, name: &str) -> Reply {
    send(
        app,
        bearer(Method::GET, &format!("/v2/{name}/manifests/v1"), token),
        Body::empty(),
    )
    .await
}

/// What a row of an access table tries on a package.
#[derive(Clone, Copy, Debug)]
pub enum Try {
    /// Pulls its manifest `v1`.
    Pull,
    /// Pushes a one-blob artifact with this tag.
    Push(&'static str),
    /// Deletes the manifest with this reference.
    Delete(&'static str),
    /// Lists its tags.
    Tags,
}

/// A row of an access table: who (a token, `None` for nobody), what they try, on which package,
/// and the status they get.
pub type Row<'a> = (Option<&'a str>, Try, &'a str, u16);

/// Asserts the rows of an access table in order (what a row pushes stays pushed).
pub async fn expect_access(app: &TestApp, rows: &[Row<'_>]) {
    for (i, &(who, what, name, expected)) in rows.iter().enumerate() {
        let r = match what {
            Try::Pull => pull(app, who, name).await,
            Try::Push(tag) => push(app, who.expect("a push needs a token"), name, tag).await,
            Try::Delete(reference) => {
                let path = format!("/v2/{name}/manifests/{reference}");
                send(app, bearer(Method::DELETE, &path, who), Body::empty()).await
            }
            Try::Tags => {
                let path = format!("/v2/{name}/tags/list");
                send(app, bearer(Method::GET, &path, who), Body::empty()).await
            }
        };
        assert_eq!(
            r.status.as_u16(),
            expected,
            "row {i}: {what:?} {name}: {}",
            r.body
        );
    }
}

/// Olga's organization acme, where environments pull from: a private repository `work`, a
/// public one `oss`, and the internal package `acme/base:v1`. Olga's token (with `scopes`).
pub async fn acme_with_an_internal_base(app: &TestApp, scopes: &[&str]) -> String {
    let olga = app.user("olga", scopes).await;
    app.org("acme", "olga").await;
    app.org_repo(&olga, "acme", "work", "private").await;
    app.org_repo(&olga, "acme", "oss", "public").await;
    publish(app, &olga, "acme/base", "v1").await;
    let base = "/api/v3/orgs/acme/packages/container/base";
    let r = app.package_visibility(&olga, base, "internal").await;
    let internal = (StatusCode::OK, Some("internal"));
    assert_eq!(status_and(&r, "visibility"), internal, "{}", r.body);
    olga
}
