//! Registry helpers shared by the registry test binaries: digests, requests with a bearer or
//! basic token, and a minimal push and pull.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{Reply, TestApp};

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

/// Pushes a one-blob artifact to `name:tag` and returns the manifest digest.
pub async fn push(app: &TestApp, token: &str, name: &str, tag: &str) -> Reply {
    let data = format!("content of {name}");
    let d = sha256(data.as_bytes());
    let r = send(
        app,
        bearer(
            Method::POST,
            &format!("/v2/{name}/blobs/uploads/?digest={d}"),
            Some(token),
        ),
        data.clone(),
    )
    .await;
    if r.status != StatusCode::CREATED {
        return r;
    }
    let m = json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.example.config", "digest": d, "size": data.len() }, "layers": [] });
    send(
        app,
        bearer(
            Method::PUT,
            &format!("/v2/{name}/manifests/{tag}"),
            Some(token),
        )
        .header("content-type", "application/vnd.oci.image.manifest.v1+json"),
        m.to_string(),
    )
    .await
}

pub async fn pull(app: &TestApp, token: Option<&str>, name: &str) -> Reply {
    send(
        app,
        bearer(Method::GET, &format!("/v2/{name}/manifests/v1"), token),
        Body::empty(),
    )
    .await
}
