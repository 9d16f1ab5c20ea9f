//! The container registry in-process: every behaviour of the OCI Distribution v1.1 API that the
//! conformance suite exercises (and that distribution 2.8 misses), plus Berth's auth.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256, Sha512};
use support::{Reply, TestApp, send_to};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(b)))
}

fn sha512(b: &[u8]) -> String {
    format!("sha512:{}", hex(&Sha512::digest(b)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A request to the registry with a Berth token as Bearer (accepted directly on /v2/).
fn req(method: Method, path: &str, token: Option<&str>) -> axum::http::request::Builder {
    let b = Request::builder().method(method).uri(path);
    match token {
        Some(t) => b.header("authorization", format!("Bearer {t}")),
        None => b,
    }
}

struct Reg {
    app: TestApp,
    alice: String,
}

impl Reg {
    async fn new() -> Self {
        let app = TestApp::new().await;
        let alice = app
            .user("alice", &["repo", "write:packages", "delete:packages"])
            .await;
        Self { app, alice }
    }

    async fn send(&self, b: axum::http::request::Builder, body: impl Into<Body>) -> Reply {
        self.app.send(b.body(body.into()).unwrap()).await
    }

    /// Pushes a blob in one POST and returns its digest.
    async fn blob(&self, token: &str, name: &str, data: &[u8]) -> String {
        let d = sha256(data);
        let r = self
            .send(
                req(
                    Method::POST,
                    &format!("/v2/{name}/blobs/uploads/?digest={d}"),
                    Some(token),
                ),
                data.to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        d
    }

    /// An image manifest over one config and one layer (pushed first), optionally with extra fields.
    async fn image(&self, token: &str, name: &str, seed: &str, extra: Value) -> Vec<u8> {
        let config = self
            .blob(token, name, format!("{{\"seed\":\"{seed}\"}}").as_bytes())
            .await;
        let layer = self
            .blob(token, name, format!("layer {seed}").as_bytes())
            .await;
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 13 + seed.len() },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 6 + seed.len() }],
        });
        if let Value::Object(extra) = extra {
            m.as_object_mut().unwrap().extend(extra);
        }
        serde_json::to_vec(&m).unwrap()
    }

    async fn put_manifest(
        &self,
        token: &str,
        name: &str,
        reference: &str,
        body: &[u8],
        content_type: &str,
    ) -> Reply {
        self.send(
            req(
                Method::PUT,
                &format!("/v2/{name}/manifests/{reference}"),
                Some(token),
            )
            .header("content-type", content_type),
            body.to_vec(),
        )
        .await
    }
}

fn oci_code(r: &Reply) -> &str {
    r.body["errors"][0]["code"].as_str().unwrap_or("")
}

#[track_caller]
fn assert_oci(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!((r.status, oci_code(r)), (status, code), "{}", r.body);
}

#[tokio::test]
async fn the_base_endpoint_challenges_anonymous_callers() {
    let reg = Reg::new().await;
    let r = reg
        .send(req(Method::GET, "/v2/", None), Body::empty())
        .await;
    assert_oci(&r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate"),
        r#"Bearer realm="http://berth.test/token",service="berth.test""#
    );
    assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
    let r = reg
        .send(req(Method::GET, "/v2/", Some(&reg.alice)), Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{}", reg.alice));
    let r = reg
        .send(
            Request::get("/v2/").header("authorization", format!("Basic {basic}")),
            Body::empty(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "Basic with a token works directly"
    );
    let r = reg
        .send(
            req(Method::GET, "/v2/", Some("berth_pat_nope")),
            Body::empty(),
        )
        .await;
    assert_oci(&r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let r = reg
        .send(req(Method::GET, "/v2/", Some("not.a.jwt")), Body::empty())
        .await;
    assert_oci(&r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_token_chosen_by_the_operator_works_on_the_registry() {
    // Regression: bearer tokens without Berth's prefix were taken for registry JWTs.
    let app = TestApp::new_with_bootstrap("chosen-by-the-operator").await;
    let r = app
        .send(
            req(Method::GET, "/v2/", Some("chosen-by-the-operator"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .send(
            req(
                Method::POST,
                "/v2/admin/app/blobs/uploads/",
                Some("chosen-by-the-operator"),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

#[tokio::test]
async fn monolithic_and_post_put_uploads_in_both_algorithms() {
    let reg = Reg::new().await;
    for (alg, hash) in [
        ("sha256", sha256 as fn(&[u8]) -> String),
        ("sha512", sha512),
    ] {
        let data = format!("{alg} monolithic").into_bytes();
        let d = hash(&data);
        let r = reg
            .send(
                req(
                    Method::POST,
                    &format!("/v2/alice/app/blobs/uploads/?digest={d}"),
                    Some(&reg.alice),
                ),
                data.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{alg}: {}", r.body);
        assert_eq!(
            (r.header("location"), r.header("docker-content-digest")),
            (format!("/v2/alice/app/blobs/{d}").as_str(), d.as_str())
        );
        let got = reg
            .send(
                req(Method::GET, r.header("location"), Some(&reg.alice)),
                Body::empty(),
            )
            .await;
        assert_eq!(
            (got.status, &got.raw, got.header("docker-content-digest")),
            (StatusCode::OK, &data, d.as_str())
        );

        let data = format!("{alg} post then put").into_bytes();
        let d = hash(&data);
        let r = reg
            .send(
                req(
                    Method::POST,
                    "/v2/alice/app/blobs/uploads/",
                    Some(&reg.alice),
                ),
                Body::empty(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        assert_eq!(r.header("range"), "0-0");
        let loc = r.header("location").to_owned();
        assert!(loc.starts_with("/v2/alice/app/blobs/uploads/"), "{loc}");
        let r = reg
            .send(
                req(Method::PUT, &format!("{loc}?digest={d}"), Some(&reg.alice))
                    .header("content-type", "application/octet-stream"),
                data.clone(),
            )
            .await;
        assert_eq!(
            (r.status, r.header("docker-content-digest")),
            (StatusCode::CREATED, d.as_str()),
            "{}",
            r.body
        );
        let head = reg
            .send(
                req(
                    Method::HEAD,
                    &format!("/v2/alice/app/blobs/{d}"),
                    Some(&reg.alice),
                ),
                Body::empty(),
            )
            .await;
        assert_eq!(
            (head.status, head.header("content-length")),
            (StatusCode::OK, data.len().to_string().as_str())
        );
        assert!(head.raw.is_empty());
    }
}

#[tokio::test]
async fn chunks_out_of_order_are_refused_without_harming_the_upload() {
    let reg = Reg::new().await;
    let data: Vec<u8> = (0..3067u32).map(|i| (i % 251) as u8).collect();
    let d = sha256(&data);
    let r = reg
        .send(
            req(
                Method::POST,
                "/v2/alice/app/blobs/uploads/",
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    let loc = r.header("location").to_owned();
    let patch = |range: &str, bytes: &[u8]| {
        req(Method::PATCH, &loc, Some(&reg.alice))
            .header("content-range", range)
            .header("content-type", "application/octet-stream")
            .body(Body::from(bytes.to_vec()))
            .unwrap()
    };
    let status = || {
        req(Method::GET, &loc, Some(&reg.alice))
            .body(Body::empty())
            .unwrap()
    };

    let r = reg.app.send(patch("1024-2047", &data[1024..2048])).await;
    assert_eq!(
        r.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "a chunk past the end"
    );
    assert_eq!(r.header("range"), "0-0");
    let s = reg.app.send(status()).await;
    assert_eq!(
        (s.status, s.header("range")),
        (StatusCode::NO_CONTENT, "0-0"),
        "status with nothing received"
    );
    assert_eq!(
        reg.app.send(patch("0-1023", &data[..1024])).await.status,
        StatusCode::ACCEPTED
    );

    let put_early = req(Method::PUT, &format!("{loc}?digest={d}"), Some(&reg.alice))
        .header("content-range", "2048-3066")
        .body(Body::from(data[2048..].to_vec()))
        .unwrap();
    assert_eq!(
        reg.app.send(put_early).await.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "a final PUT chunk is range-checked too"
    );
    assert_eq!(reg.app.send(status()).await.header("range"), "0-1023");
    assert_eq!(
        reg.app
            .send(patch("1024-2047", &data[1024..2048]))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        reg.app.send(patch("0-1023", &data[..1024])).await.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "a chunk already received"
    );
    assert_eq!(reg.app.send(status()).await.header("range"), "0-2047");

    let last = req(Method::PUT, &format!("{loc}?digest={d}"), Some(&reg.alice))
        .header("content-range", "2048-3066")
        .body(Body::from(data[2048..].to_vec()))
        .unwrap();
    let r = reg.app.send(last).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let got = reg
        .send(
            req(
                Method::GET,
                &format!("/v2/alice/app/blobs/{d}"),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(got.raw, data);
    let gone = reg.app.send(status()).await;
    assert_oci(&gone, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn streamed_uploads_empty_blobs_and_sha512_by_rehashing() {
    let reg = Reg::new().await;
    for (data, hash) in [
        (
            b"streamed without ranges".to_vec(),
            sha256 as fn(&[u8]) -> String,
        ),
        (Vec::new(), sha256),
        (b"streamed sha512".to_vec(), sha512),
    ] {
        let r = reg
            .send(
                req(
                    Method::POST,
                    "/v2/alice/app/blobs/uploads/",
                    Some(&reg.alice),
                ),
                Body::empty(),
            )
            .await;
        let loc = r.header("location").to_owned();
        let stream = futures_util::stream::iter(
            data.chunks(5)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        );
        let r = reg
            .send(
                req(Method::PATCH, &loc, Some(&reg.alice)),
                Body::from_stream(stream),
            )
            .await;
        assert_eq!(
            (r.status, r.header("range")),
            (
                StatusCode::ACCEPTED,
                format!("0-{}", data.len().saturating_sub(1)).as_str()
            )
        );
        let d = hash(&data);
        let r = reg
            .send(
                req(Method::PUT, &format!("{loc}?digest={d}"), Some(&reg.alice)),
                Body::empty(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let got = reg
            .send(
                req(
                    Method::GET,
                    &format!("/v2/alice/app/blobs/{d}"),
                    Some(&reg.alice),
                ),
                Body::empty(),
            )
            .await;
        assert_eq!((got.status, got.raw), (StatusCode::OK, data));
    }
}

#[tokio::test]
async fn an_upload_continues_on_another_replica() {
    let reg = Reg::new().await;
    let other = reg.app.replica().await;
    let r = reg
        .send(
            req(
                Method::POST,
                "/v2/alice/app/blobs/uploads/",
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    let loc = r.header("location").to_owned();
    let first = req(Method::PATCH, &loc, Some(&reg.alice))
        .header("content-range", "0-4")
        .body(Body::from("hello"))
        .unwrap();
    assert_eq!(reg.app.send(first).await.status, StatusCode::ACCEPTED);
    let second = req(Method::PATCH, &loc, Some(&reg.alice))
        .header("content-range", "5-10")
        .body(Body::from(" world"))
        .unwrap();
    assert_eq!(
        send_to(&other, second).await.status,
        StatusCode::ACCEPTED,
        "the other replica knows the upload"
    );
    let d = sha256(b"hello world");
    let done = send_to(
        &other,
        req(Method::PUT, &format!("{loc}?digest={d}"), Some(&reg.alice))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    let got = reg
        .send(
            req(
                Method::GET,
                &format!("/v2/alice/app/blobs/{d}"),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(got.raw, b"hello world");
}

#[tokio::test]
async fn bad_digests_cancelled_and_foreign_uploads() {
    let reg = Reg::new().await;
    let r = reg
        .send(
            req(
                Method::POST,
                "/v2/alice/app/blobs/uploads/",
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    let loc = r.header("location").to_owned();
    let wrong = sha256(b"something else");
    let r = reg
        .send(
            req(
                Method::PUT,
                &format!("{loc}?digest={wrong}"),
                Some(&reg.alice),
            ),
            "content",
        )
        .await;
    assert_oci(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not sha256:"),
        "{}",
        r.body
    );
    for bad in ["sha256:baddigeststring", "md5:abc", "nothing"] {
        let r = reg
            .send(
                req(
                    Method::POST,
                    &format!("/v2/alice/app/blobs/uploads/?digest={bad}"),
                    Some(&reg.alice),
                ),
                "x",
            )
            .await;
        assert_oci(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID");
        let r = reg
            .send(
                req(
                    Method::GET,
                    &format!("/v2/alice/app/blobs/{bad}"),
                    Some(&reg.alice),
                ),
                Body::empty(),
            )
            .await;
        assert_oci(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    }
    let r = reg
        .send(
            req(
                Method::POST,
                "/v2/alice/app/blobs/uploads/",
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    let loc = r.header("location").to_owned();
    let r = reg
        .send(req(Method::PUT, &loc, Some(&reg.alice)), "x")
        .await;
    assert_oci(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    let foreign = loc.replace("/alice/app/", "/alice/other/");
    let r = reg
        .send(req(Method::GET, &foreign, Some(&reg.alice)), Body::empty())
        .await;
    assert_oci(&r, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(
        reg.send(req(Method::DELETE, &loc, Some(&reg.alice)), Body::empty())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_oci(
        &reg.send(req(Method::GET, &loc, Some(&reg.alice)), Body::empty())
            .await,
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
    );
    let r = reg
        .send(
            req(Method::GET, "/v2/Alice/App/tags/list", Some(&reg.alice)),
            Body::empty(),
        )
        .await;
    assert_oci(&r, StatusCode::BAD_REQUEST, "NAME_INVALID");
}

#[tokio::test]
async fn blobs_mount_across_repositories_and_missing_ones_open_an_upload() {
    let reg = Reg::new().await;
    let d = reg.blob(&reg.alice, "alice/source", b"shared layer").await;
    let r = reg
        .send(
            req(
                Method::POST,
                &format!("/v2/alice/target/blobs/uploads/?mount={d}&from=alice/source"),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(
        (r.status, r.header("location")),
        (
            StatusCode::CREATED,
            format!("/v2/alice/target/blobs/{d}").as_str()
        )
    );
    let r = reg
        .send(
            req(
                Method::POST,
                &format!("/v2/alice/auto/blobs/uploads/?mount={d}"),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "mount without from, from anything the caller can read"
    );
    let missing = sha256(b"never pushed");
    let r = reg
        .send(
            req(
                Method::POST,
                &format!("/v2/alice/target/blobs/uploads/?mount={missing}&from=alice/source"),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "an impossible mount opens an upload"
    );
    assert!(r.header("location").contains("/blobs/uploads/"));

    let bob = reg.app.user("bob", &["write:packages"]).await;
    let r = reg
        .send(
            req(
                Method::POST,
                &format!("/v2/bob/mine/blobs/uploads/?mount={d}"),
                Some(&bob),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "bob cannot mount alice's private blob by guessing its digest"
    );
    let r = reg
        .send(
            req(
                Method::POST,
                &format!("/v2/bob/mine/blobs/uploads/?mount={d}&from=alice/source"),
                Some(&bob),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "nor by naming where it is");
}

#[tokio::test]
async fn blob_ranges() {
    let reg = Reg::new().await;
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    let d = reg.blob(&reg.alice, "alice/app", &data).await;
    let get = |range: &str| {
        req(
            Method::GET,
            &format!("/v2/alice/app/blobs/{d}"),
            Some(&reg.alice),
        )
        .header("range", range)
        .body(Body::empty())
        .unwrap()
    };
    let r = reg.app.send(get("bytes=10-19")).await;
    assert_eq!(
        (r.status, r.header("content-range"), r.raw.as_slice()),
        (
            StatusCode::PARTIAL_CONTENT,
            "bytes 10-19/1000",
            &data[10..20]
        )
    );
    let r = reg.app.send(get("bytes=900-5000")).await;
    assert_eq!(
        (
            r.status,
            r.header("content-range"),
            r.header("content-length")
        ),
        (StatusCode::PARTIAL_CONTENT, "bytes 900-999/1000", "100")
    );
    let r = reg.app.send(get("bytes=-5")).await;
    assert_eq!(r.raw.as_slice(), &data[995..]);
    for bad in ["bytes=500-0", "bytes=1000-", "bytes=2000-5000"] {
        let r = reg.app.send(get(bad)).await;
        assert_eq!(
            (r.status, r.header("content-range")),
            (StatusCode::RANGE_NOT_SATISFIABLE, "bytes */1000"),
            "{bad}"
        );
    }
    let r = reg.app.send(get("items=1-2")).await;
    assert_eq!(
        (r.status, r.raw.len()),
        (StatusCode::OK, 1000),
        "another unit is ignored"
    );
    let r = reg
        .send(
            req(
                Method::GET,
                &format!("/v2/alice/app/blobs/{}", sha256(b"nope")),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_oci(&r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn manifests_by_tag_and_digest_with_their_checks() {
    let reg = Reg::new().await;
    let body = reg.image(&reg.alice, "alice/app", "one", json!({})).await;
    let d = sha256(&body);
    let r = reg
        .put_manifest(&reg.alice, "alice/app", "v1", &body, OCI_MANIFEST)
        .await;
    assert_eq!(
        (
            r.status,
            r.header("docker-content-digest"),
            r.header("location")
        ),
        (
            StatusCode::CREATED,
            d.as_str(),
            format!("/v2/alice/app/manifests/{d}").as_str()
        ),
        "{}",
        r.body
    );
    for reference in ["v1", d.as_str()] {
        let r = reg
            .send(
                req(
                    Method::GET,
                    &format!("/v2/alice/app/manifests/{reference}"),
                    Some(&reg.alice),
                )
                .header("accept", OCI_MANIFEST)
                .header("accept", OCI_INDEX),
                Body::empty(),
            )
            .await;
        assert_eq!(
            (
                r.status,
                r.header("content-type"),
                r.header("docker-content-digest")
            ),
            (StatusCode::OK, OCI_MANIFEST, d.as_str())
        );
        assert_eq!(r.raw, body, "served byte for byte");
        let h = reg
            .send(
                req(
                    Method::HEAD,
                    &format!("/v2/alice/app/manifests/{reference}"),
                    Some(&reg.alice),
                ),
                Body::empty(),
            )
            .await;
        assert_eq!(
            (h.status, h.header("content-length")),
            (StatusCode::OK, body.len().to_string().as_str())
        );
    }
    let mut spaced = body.clone();
    spaced.extend_from_slice(b"  ");
    assert_oci(
        &reg.put_manifest(&reg.alice, "alice/app", &d, &spaced, OCI_MANIFEST)
            .await,
        StatusCode::BAD_REQUEST,
        "DIGEST_INVALID",
    );
    assert_oci(
        &reg.put_manifest(
            &reg.alice,
            "alice/app",
            "sha256:baddigeststring",
            &body,
            OCI_MANIFEST,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "DIGEST_INVALID",
    );
    assert_oci(
        &reg.put_manifest(&reg.alice, "alice/app", "v2", b"{not json", OCI_MANIFEST)
            .await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_INVALID",
    );
    assert_oci(
        &reg.put_manifest(&reg.alice, "alice/app", "v2", &body, OCI_INDEX)
            .await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_INVALID",
    );

    let missing = sha256(b"never pushed layer");
    let dangling = String::from_utf8(body.clone())
        .unwrap()
        .replace(&sha256(b"layer one"), &missing);
    let r = reg
        .put_manifest(
            &reg.alice,
            "alice/app",
            "dangling",
            dangling.as_bytes(),
            OCI_MANIFEST,
        )
        .await;
    assert_oci(&r, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(r.body["errors"][0]["detail"]["digest"], missing);
    let foreign = dangling.replace(
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
    );
    assert_eq!(
        reg.put_manifest(
            &reg.alice,
            "alice/app",
            "foreign",
            foreign.as_bytes(),
            OCI_MANIFEST
        )
        .await
        .status,
        StatusCode::CREATED,
        "non-distributable layers need not be here"
    );

    // sha512 all the way: a manifest addressed by its sha512 digest.
    let d512 = sha512(&body);
    let r = reg
        .put_manifest(&reg.alice, "alice/app", &d512, &body, OCI_MANIFEST)
        .await;
    assert_eq!(
        (r.status, r.header("docker-content-digest")),
        (StatusCode::CREATED, d512.as_str())
    );
    let r = reg
        .send(
            req(
                Method::GET,
                &format!("/v2/alice/app/manifests/{d512}"),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(
        (r.status, r.header("docker-content-digest")),
        (StatusCode::OK, d512.as_str())
    );

    // An index over a pushed manifest, and one over a missing manifest.
    let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{ "mediaType": OCI_MANIFEST, "digest": d, "size": body.len(), "platform": { "os": "linux", "architecture": "amd64" } }] });
    let r = reg
        .put_manifest(
            &reg.alice,
            "alice/app",
            "multi",
            &serde_json::to_vec(&index).unwrap(),
            OCI_INDEX,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let bad_index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{ "mediaType": OCI_MANIFEST, "digest": missing, "size": 1 }] });
    assert_oci(
        &reg.put_manifest(
            &reg.alice,
            "alice/app",
            "bad",
            &serde_json::to_vec(&bad_index).unwrap(),
            OCI_INDEX,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_BLOB_UNKNOWN",
    );

    // Docker schema 2, and a descriptor with embedded data that lies.
    let docker = String::from_utf8(body.clone()).unwrap().replace(
        OCI_MANIFEST,
        "application/vnd.docker.distribution.manifest.v2+json",
    );
    assert_eq!(
        reg.put_manifest(
            &reg.alice,
            "alice/app",
            "docker",
            docker.as_bytes(),
            "application/vnd.docker.distribution.manifest.v2+json"
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let lying = String::from_utf8(body.clone()).unwrap().replacen(
        "\"size\":16",
        "\"size\":16,\"data\":\"aGVsbG8=\"",
        1,
    );
    assert_oci(
        &reg.put_manifest(
            &reg.alice,
            "alice/app",
            "lying",
            lying.as_bytes(),
            OCI_MANIFEST,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_INVALID",
    );

    assert_oci(
        &reg.send(
            req(
                Method::GET,
                "/v2/alice/app/manifests/nothing",
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    );
}

#[tokio::test]
async fn subjects_and_the_referrers_api() {
    let reg = Reg::new().await;
    let image = reg.image(&reg.alice, "alice/app", "base", json!({})).await;
    let subject = sha256(&image);
    let subject_desc = json!({ "mediaType": OCI_MANIFEST, "digest": subject, "size": image.len() });
    // The subject is not pushed yet: a referrer may arrive first.
    let empty = reg.blob(&reg.alice, "alice/app", b"{}").await;
    let artifact = |kind: &str, note: &str| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
            "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2, "data": "e30=" },
            "layers": [], "subject": subject_desc, "annotations": { "note": note },
        }))
        .unwrap()
    };
    let sig = artifact("application/vnd.example.signature", "signed");
    let r = reg
        .put_manifest(&reg.alice, "alice/app", &sha256(&sig), &sig, OCI_MANIFEST)
        .await;
    assert_eq!(
        (r.status, r.header("oci-subject")),
        (StatusCode::CREATED, subject.as_str()),
        "{}",
        r.body
    );
    let sbom = artifact("application/vnd.example.sbom", "listed");
    reg.put_manifest(&reg.alice, "alice/app", &sha256(&sbom), &sbom, OCI_MANIFEST)
        .await;
    reg.put_manifest(&reg.alice, "alice/app", "base", &image, OCI_MANIFEST)
        .await;

    let r = reg
        .send(
            req(
                Method::GET,
                &format!("/v2/alice/app/referrers/{subject}"),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (StatusCode::OK, OCI_INDEX)
    );
    assert_eq!(r.body["manifests"].as_array().unwrap().len(), 2);
    let signatures: Vec<&Value> = r.body["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["digest"] == sha256(&sig))
        .collect();
    let first = signatures[0];
    assert_eq!(
        (
            first["digest"].as_str(),
            first["artifactType"].as_str(),
            first["annotations"]["note"].as_str()
        ),
        (
            Some(sha256(&sig).as_str()),
            Some("application/vnd.example.signature"),
            Some("signed")
        )
    );
    assert_eq!(first["size"], sig.len());
    assert!(r.headers.get("oci-filters-applied").is_none());

    let r = reg
        .send(
            req(
                Method::GET,
                &format!(
                    "/v2/alice/app/referrers/{subject}?artifactType=application/vnd.example.sbom"
                ),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(
        (
            r.body["manifests"].as_array().unwrap().len(),
            r.header("oci-filters-applied")
        ),
        (1, "artifactType")
    );
    let r = reg
        .send(
            req(
                Method::GET,
                &format!("/v2/alice/app/referrers/{}", sha256(b"unknown")),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(
        (r.status, r.body["manifests"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    assert_oci(
        &reg.send(
            req(
                Method::GET,
                "/v2/alice/app/referrers/sha256:bad",
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "DIGEST_INVALID",
    );
}

#[tokio::test]
async fn tags_list_in_order_with_n_last_and_link() {
    let reg = Reg::new().await;
    let body = reg.image(&reg.alice, "alice/app", "t", json!({})).await;
    for tag in ["v3", "latest", "V1", "v10", "v2"] {
        assert_eq!(
            reg.put_manifest(&reg.alice, "alice/app", tag, &body, OCI_MANIFEST)
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let all = reg
        .send(
            req(Method::GET, "/v2/alice/app/tags/list", Some(&reg.alice)),
            Body::empty(),
        )
        .await;
    assert_eq!(
        all.body,
        json!({ "name": "alice/app", "tags": ["V1", "latest", "v10", "v2", "v3"] })
    );
    let page = reg
        .send(
            req(Method::GET, "/v2/alice/app/tags/list?n=2", Some(&reg.alice)),
            Body::empty(),
        )
        .await;
    assert_eq!(
        (page.body["tags"].clone(), page.header("link")),
        (
            json!(["V1", "latest"]),
            r#"</v2/alice/app/tags/list?n=2&last=latest>; rel="next""#
        )
    );
    let next = reg
        .send(
            req(
                Method::GET,
                "/v2/alice/app/tags/list?n=2&last=latest",
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(next.body["tags"], json!(["v10", "v2"]));
    let end = reg
        .send(
            req(
                Method::GET,
                "/v2/alice/app/tags/list?n=2&last=v2",
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await;
    assert_eq!(
        (end.body["tags"].clone(), end.headers.get("link").is_none()),
        (json!(["v3"]), true)
    );
    let zero = reg
        .send(
            req(Method::GET, "/v2/alice/app/tags/list?n=0", Some(&reg.alice)),
            Body::empty(),
        )
        .await;
    assert_eq!(zero.body["tags"], json!([]));
    assert_oci(
        &reg.send(
            req(Method::GET, "/v2/alice/none/tags/list", Some(&reg.alice)),
            Body::empty(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
    );
}

#[tokio::test]
async fn deletes_take_effect_at_once() {
    let reg = Reg::new().await;
    let body = reg.image(&reg.alice, "alice/app", "d", json!({})).await;
    let d = sha256(&body);
    reg.put_manifest(&reg.alice, "alice/app", "keep", &body, OCI_MANIFEST)
        .await;
    reg.put_manifest(&reg.alice, "alice/app", "drop", &body, OCI_MANIFEST)
        .await;
    let head = |path: String| reg.send(req(Method::HEAD, &path, Some(&reg.alice)), Body::empty());
    assert_eq!(
        reg.send(
            req(
                Method::DELETE,
                "/v2/alice/app/manifests/drop",
                Some(&reg.alice)
            ),
            Body::empty()
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        head("/v2/alice/app/manifests/drop".into()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        head(format!("/v2/alice/app/manifests/{d}")).await.status,
        StatusCode::OK,
        "deleting a tag keeps the manifest"
    );
    assert_eq!(
        reg.send(
            req(
                Method::DELETE,
                &format!("/v2/alice/app/manifests/{d}"),
                Some(&reg.alice)
            ),
            Body::empty()
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        head(format!("/v2/alice/app/manifests/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        head("/v2/alice/app/manifests/keep".into()).await.status,
        StatusCode::NOT_FOUND,
        "its tags went with it"
    );
    assert_oci(
        &reg.send(
            req(
                Method::DELETE,
                &format!("/v2/alice/app/manifests/{d}"),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    );
    let layer = sha256(b"layer d");
    assert_eq!(
        reg.send(
            req(
                Method::DELETE,
                &format!("/v2/alice/app/blobs/{layer}"),
                Some(&reg.alice)
            ),
            Body::empty()
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        head(format!("/v2/alice/app/blobs/{layer}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_oci(
        &reg.send(
            req(
                Method::DELETE,
                &format!("/v2/alice/app/blobs/{layer}"),
                Some(&reg.alice),
            ),
            Body::empty(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "BLOB_UNKNOWN",
    );
}
