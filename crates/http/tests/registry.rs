//! The container registry in-process: every behaviour of the OCI Distribution v1.1 API that the
//! conformance suite exercises (and that distribution 2.8 misses), plus Berth's auth.

mod support;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha512};
use support::oci::{basic, bearer, sha256, upload_blob};
use support::{Reply, TestApp, first_error, send_to};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Where alice opens uploads in most tests.
const UPLOADS: &str = "/v2/alice/app/blobs/uploads/";

fn sha512(b: &[u8]) -> String {
    let hex: String = Sha512::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    format!("sha512:{hex}")
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

    /// Sends `body` to `path` with alice's token as Bearer (accepted directly on /v2/).
    async fn alice(&self, method: Method, path: &str, body: impl Into<Body>) -> Reply {
        self.send(bearer(method, path, Some(&self.alice)), body)
            .await
    }

    /// Alice's bodiless `method` on `path`.
    async fn alice_empty(&self, method: Method, path: &str) -> Reply {
        self.alice(method, path, Body::empty()).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.alice_empty(Method::GET, path).await
    }

    async fn head(&self, path: &str) -> Reply {
        self.alice_empty(Method::HEAD, path).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.alice_empty(Method::DELETE, path).await
    }

    /// Opens an empty upload at `path` (a POST without a digest).
    async fn open_upload(&self, path: &str) -> Reply {
        self.alice_empty(Method::POST, path).await
    }

    /// Opens an upload in alice/app and returns its location.
    async fn upload_location(&self) -> String {
        self.open_upload(UPLOADS)
            .await
            .header("location")
            .to_owned()
    }

    /// Alice pushes a blob to `name` in one POST and returns its digest.
    async fn blob(&self, name: &str, data: &[u8]) -> String {
        upload_blob(&self.app, &self.alice, name, data).await
    }

    /// An image manifest of alice/app over one config and one layer (pushed first).
    async fn image(&self, seed: &str) -> Vec<u8> {
        let config = self
            .blob("alice/app", format!("{{\"seed\":\"{seed}\"}}").as_bytes())
            .await;
        let layer = self
            .blob("alice/app", format!("layer {seed}").as_bytes())
            .await;
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 13 + seed.len() },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 6 + seed.len() }],
        }))
        .unwrap()
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
            bearer(
                Method::PUT,
                &format!("/v2/{name}/manifests/{reference}"),
                Some(token),
            )
            .header("content-type", content_type),
            body.to_vec(),
        )
        .await
    }

    /// Alice puts `body` at `alice/app:reference` as `content_type`.
    async fn put_app_manifest(&self, reference: &str, body: &[u8], content_type: &str) -> Reply {
        self.put_manifest(&self.alice, "alice/app", reference, body, content_type)
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
        .send(bearer(Method::GET, "/v2/", None), Body::empty())
        .await;
    assert_oci(&r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate"),
        r#"Bearer realm="http://berth.test/token",service="berth.test""#
    );
    assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
    assert_eq!(reg.get("/v2/").await.status, StatusCode::OK);
    let r = reg
        .send(
            bearer(Method::GET, "/v2/", None).header("authorization", basic("alice", &reg.alice)),
            Body::empty(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "Basic with a token works directly"
    );
    for wrong in ["berth_pat_nope", "not.a.jwt"] {
        let r = reg
            .send(bearer(Method::GET, "/v2/", Some(wrong)), Body::empty())
            .await;
        assert_oci(&r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn a_token_chosen_by_the_operator_works_on_the_registry() {
    // Regression: bearer tokens without Berth's prefix were taken for registry JWTs.
    let app = TestApp::new_with_bootstrap("chosen-by-the-operator").await;
    let operator = |method: Method, path: &str| {
        bearer(method, path, Some("chosen-by-the-operator"))
            .body(Body::empty())
            .unwrap()
    };
    let r = app.send(operator(Method::GET, "/v2/")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .send(operator(Method::POST, "/v2/admin/app/blobs/uploads/"))
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
            .alice(Method::POST, &format!("{UPLOADS}?digest={d}"), data.clone())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{alg}: {}", r.body);
        assert_eq!(
            (r.header("location"), r.header("docker-content-digest")),
            (format!("/v2/alice/app/blobs/{d}").as_str(), d.as_str())
        );
        let got = reg.get(r.header("location")).await;
        assert_eq!(
            (got.status, &got.raw, got.header("docker-content-digest")),
            (StatusCode::OK, &data, d.as_str())
        );

        let data = format!("{alg} post then put").into_bytes();
        let d = hash(&data);
        let r = reg.open_upload(UPLOADS).await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        assert_eq!(r.header("range"), "0-0");
        let loc = r.header("location").to_owned();
        assert!(loc.starts_with(UPLOADS), "{loc}");
        let r = reg
            .send(
                bearer(Method::PUT, &format!("{loc}?digest={d}"), Some(&reg.alice))
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
        let head = reg.head(&format!("/v2/alice/app/blobs/{d}")).await;
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
    let loc = reg.upload_location().await;
    let patch = |range: &str, bytes: &[u8]| {
        bearer(Method::PATCH, &loc, Some(&reg.alice))
            .header("content-range", range)
            .header("content-type", "application/octet-stream")
            .body(Body::from(bytes.to_vec()))
            .unwrap()
    };
    let last = || {
        bearer(Method::PUT, &format!("{loc}?digest={d}"), Some(&reg.alice))
            .header("content-range", "2048-3066")
            .body(Body::from(data[2048..].to_vec()))
            .unwrap()
    };

    let r = reg.app.send(patch("1024-2047", &data[1024..2048])).await;
    assert_eq!(
        r.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "a chunk past the end"
    );
    assert_eq!(r.header("range"), "0-0");
    let s = reg.get(&loc).await;
    assert_eq!(
        (s.status, s.header("range")),
        (StatusCode::NO_CONTENT, "0-0"),
        "status with nothing received"
    );
    assert_eq!(
        reg.app.send(patch("0-1023", &data[..1024])).await.status,
        StatusCode::ACCEPTED
    );

    assert_eq!(
        reg.app.send(last()).await.status,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "a final PUT chunk is range-checked too"
    );
    assert_eq!(reg.get(&loc).await.header("range"), "0-1023");
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
    assert_eq!(reg.get(&loc).await.header("range"), "0-2047");

    let r = reg.app.send(last()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let got = reg.get(&format!("/v2/alice/app/blobs/{d}")).await;
    assert_eq!(got.raw, data);
    let gone = reg.get(&loc).await;
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
        let loc = reg.upload_location().await;
        let stream = futures_util::stream::iter(
            data.chunks(5)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        );
        let r = reg
            .alice(Method::PATCH, &loc, Body::from_stream(stream))
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
            .alice_empty(Method::PUT, &format!("{loc}?digest={d}"))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let got = reg.get(&format!("/v2/alice/app/blobs/{d}")).await;
        assert_eq!((got.status, got.raw), (StatusCode::OK, data));
    }
}

#[tokio::test]
async fn an_upload_continues_on_another_replica() {
    let reg = Reg::new().await;
    let other = reg.app.replica().await;
    let loc = reg.upload_location().await;
    let chunk = |range: &str, bytes: &'static str| {
        bearer(Method::PATCH, &loc, Some(&reg.alice))
            .header("content-range", range)
            .body(Body::from(bytes))
            .unwrap()
    };
    assert_eq!(
        reg.app.send(chunk("0-4", "hello")).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send_to(&other, chunk("5-10", " world")).await.status,
        StatusCode::ACCEPTED,
        "the other replica knows the upload"
    );
    let d = sha256(b"hello world");
    let done = send_to(
        &other,
        bearer(Method::PUT, &format!("{loc}?digest={d}"), Some(&reg.alice))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    let got = reg.get(&format!("/v2/alice/app/blobs/{d}")).await;
    assert_eq!(got.raw, b"hello world");
}

#[tokio::test]
async fn bad_digests_cancelled_and_foreign_uploads() {
    let reg = Reg::new().await;
    let loc = reg.upload_location().await;
    let wrong = sha256(b"something else");
    let r = reg
        .alice(Method::PUT, &format!("{loc}?digest={wrong}"), "content")
        .await;
    assert_oci(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    assert!(first_error(&r).contains("not sha256:"), "{}", r.body);
    for bad in ["sha256:baddigeststring", "md5:abc", "nothing"] {
        let r = reg
            .alice(Method::POST, &format!("{UPLOADS}?digest={bad}"), "x")
            .await;
        assert_oci(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID");
        let r = reg.get(&format!("/v2/alice/app/blobs/{bad}")).await;
        assert_oci(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    }
    let loc = reg.upload_location().await;
    let r = reg.alice(Method::PUT, &loc, "x").await;
    assert_oci(&r, StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    let foreign = loc.replace("/alice/app/", "/alice/other/");
    let r = reg.get(&foreign).await;
    assert_oci(&r, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(reg.delete(&loc).await.status, StatusCode::NO_CONTENT);
    assert_oci(
        &reg.get(&loc).await,
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
    );
    let r = reg.get("/v2/Alice/App/tags/list").await;
    assert_oci(&r, StatusCode::BAD_REQUEST, "NAME_INVALID");
}

#[tokio::test]
async fn blobs_mount_across_repositories_and_missing_ones_open_an_upload() {
    let reg = Reg::new().await;
    let d = reg.blob("alice/source", b"shared layer").await;
    let r = reg
        .open_upload(&format!(
            "/v2/alice/target/blobs/uploads/?mount={d}&from=alice/source"
        ))
        .await;
    assert_eq!(
        (r.status, r.header("location")),
        (
            StatusCode::CREATED,
            format!("/v2/alice/target/blobs/{d}").as_str()
        )
    );
    let r = reg
        .open_upload(&format!("/v2/alice/auto/blobs/uploads/?mount={d}"))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "mount without from, from anything the caller can read"
    );
    let missing = sha256(b"never pushed");
    let r = reg
        .open_upload(&format!(
            "/v2/alice/target/blobs/uploads/?mount={missing}&from=alice/source"
        ))
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "an impossible mount opens an upload"
    );
    assert!(r.header("location").contains("/blobs/uploads/"));

    let bob = reg.app.user("bob", &["write:packages"]).await;
    for (query, why) in [
        (
            format!("mount={d}"),
            "bob cannot mount alice's private blob by guessing its digest",
        ),
        (
            format!("mount={d}&from=alice/source"),
            "nor by naming where it is",
        ),
    ] {
        let r = reg
            .send(
                bearer(
                    Method::POST,
                    &format!("/v2/bob/mine/blobs/uploads/?{query}"),
                    Some(&bob),
                ),
                Body::empty(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{why}");
    }
}

#[tokio::test]
async fn blob_ranges() {
    let reg = Reg::new().await;
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    let d = reg.blob("alice/app", &data).await;
    let get = |range: &str| {
        bearer(
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
        .get(&format!("/v2/alice/app/blobs/{}", sha256(b"nope")))
        .await;
    assert_oci(&r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn manifests_by_tag_and_digest_with_their_checks() {
    let reg = Reg::new().await;
    let body = reg.image("one").await;
    let d = sha256(&body);
    let r = reg.put_app_manifest("v1", &body, OCI_MANIFEST).await;
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
        let path = format!("/v2/alice/app/manifests/{reference}");
        let r = reg
            .send(
                bearer(Method::GET, &path, Some(&reg.alice))
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
        let h = reg.head(&path).await;
        assert_eq!(
            (h.status, h.header("content-length")),
            (StatusCode::OK, body.len().to_string().as_str())
        );
    }
    let mut spaced = body.clone();
    spaced.extend_from_slice(b"  ");
    let refused: [(&str, &[u8], &str, &str); 4] = [
        (&d, &spaced, OCI_MANIFEST, "DIGEST_INVALID"),
        (
            "sha256:baddigeststring",
            &body,
            OCI_MANIFEST,
            "DIGEST_INVALID",
        ),
        ("v2", b"{not json", OCI_MANIFEST, "MANIFEST_INVALID"),
        ("v2", &body, OCI_INDEX, "MANIFEST_INVALID"),
    ];
    for (reference, manifest, content_type, code) in refused {
        assert_oci(
            &reg.put_app_manifest(reference, manifest, content_type)
                .await,
            StatusCode::BAD_REQUEST,
            code,
        );
    }

    let missing = sha256(b"never pushed layer");
    let dangling = String::from_utf8(body.clone())
        .unwrap()
        .replace(&sha256(b"layer one"), &missing);
    let r = reg
        .put_app_manifest("dangling", dangling.as_bytes(), OCI_MANIFEST)
        .await;
    assert_oci(&r, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(r.body["errors"][0]["detail"]["digest"], missing);
    let foreign = dangling.replace(
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
    );
    assert_eq!(
        reg.put_app_manifest("foreign", foreign.as_bytes(), OCI_MANIFEST)
            .await
            .status,
        StatusCode::CREATED,
        "non-distributable layers need not be here"
    );

    // sha512 all the way: a manifest addressed by its sha512 digest.
    let d512 = sha512(&body);
    let r = reg.put_app_manifest(&d512, &body, OCI_MANIFEST).await;
    assert_eq!(
        (r.status, r.header("docker-content-digest")),
        (StatusCode::CREATED, d512.as_str())
    );
    let r = reg.get(&format!("/v2/alice/app/manifests/{d512}")).await;
    assert_eq!(
        (r.status, r.header("docker-content-digest")),
        (StatusCode::OK, d512.as_str())
    );

    // An index over a pushed manifest, and one over a missing manifest.
    let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{ "mediaType": OCI_MANIFEST, "digest": d, "size": body.len(), "platform": { "os": "linux", "architecture": "amd64" } }] });
    let r = reg
        .put_app_manifest("multi", &serde_json::to_vec(&index).unwrap(), OCI_INDEX)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let bad_index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{ "mediaType": OCI_MANIFEST, "digest": missing, "size": 1 }] });
    assert_oci(
        &reg.put_app_manifest("bad", &serde_json::to_vec(&bad_index).unwrap(), OCI_INDEX)
            .await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_BLOB_UNKNOWN",
    );

    // Docker schema 2, and a descriptor with embedded data that lies.
    let docker_type = "application/vnd.docker.distribution.manifest.v2+json";
    let docker = String::from_utf8(body.clone())
        .unwrap()
        .replace(OCI_MANIFEST, docker_type);
    assert_eq!(
        reg.put_app_manifest("docker", docker.as_bytes(), docker_type)
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
        &reg.put_app_manifest("lying", lying.as_bytes(), OCI_MANIFEST)
            .await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_INVALID",
    );

    assert_oci(
        &reg.get("/v2/alice/app/manifests/nothing").await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    );
}

#[tokio::test]
async fn subjects_and_the_referrers_api() {
    let reg = Reg::new().await;
    let image = reg.image("base").await;
    let subject = sha256(&image);
    let subject_desc = json!({ "mediaType": OCI_MANIFEST, "digest": subject, "size": image.len() });
    // The subject is not pushed yet: a referrer may arrive first.
    let empty = reg.blob("alice/app", b"{}").await;
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
        .put_app_manifest(&sha256(&sig), &sig, OCI_MANIFEST)
        .await;
    assert_eq!(
        (r.status, r.header("oci-subject")),
        (StatusCode::CREATED, subject.as_str()),
        "{}",
        r.body
    );
    let sbom = artifact("application/vnd.example.sbom", "listed");
    reg.put_app_manifest(&sha256(&sbom), &sbom, OCI_MANIFEST)
        .await;
    reg.put_app_manifest("base", &image, OCI_MANIFEST).await;

    let referrers = |query: &str| format!("/v2/alice/app/referrers/{query}");
    let r = reg.get(&referrers(&subject)).await;
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

    let sboms = format!("{subject}?artifactType=application/vnd.example.sbom");
    let r = reg.get(&referrers(&sboms)).await;
    assert_eq!(
        (
            r.body["manifests"].as_array().unwrap().len(),
            r.header("oci-filters-applied")
        ),
        (1, "artifactType")
    );
    let r = reg.get(&referrers(&sha256(b"unknown"))).await;
    assert_eq!(
        (r.status, r.body["manifests"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    assert_oci(
        &reg.get(&referrers("sha256:bad")).await,
        StatusCode::BAD_REQUEST,
        "DIGEST_INVALID",
    );
}

#[tokio::test]
async fn tags_list_in_order_with_n_last_and_link() {
    let reg = Reg::new().await;
    let body = reg.image("t").await;
    for tag in ["v3", "latest", "V1", "v10", "v2"] {
        assert_eq!(
            reg.put_app_manifest(tag, &body, OCI_MANIFEST).await.status,
            StatusCode::CREATED
        );
    }
    let all = reg.get("/v2/alice/app/tags/list").await;
    assert_eq!(
        all.body,
        json!({ "name": "alice/app", "tags": ["V1", "latest", "v10", "v2", "v3"] })
    );
    let page = reg.get("/v2/alice/app/tags/list?n=2").await;
    assert_eq!(
        (page.body["tags"].clone(), page.header("link")),
        (
            json!(["V1", "latest"]),
            r#"</v2/alice/app/tags/list?n=2&last=latest>; rel="next""#
        )
    );
    let next = reg.get("/v2/alice/app/tags/list?n=2&last=latest").await;
    assert_eq!(next.body["tags"], json!(["v10", "v2"]));
    let end = reg.get("/v2/alice/app/tags/list?n=2&last=v2").await;
    assert_eq!(
        (end.body["tags"].clone(), end.headers.get("link").is_none()),
        (json!(["v3"]), true)
    );
    let zero = reg.get("/v2/alice/app/tags/list?n=0").await;
    assert_eq!(zero.body["tags"], json!([]));
    assert_oci(
        &reg.get("/v2/alice/none/tags/list").await,
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
    );
}

#[tokio::test]
async fn deletes_take_effect_at_once() {
    let reg = Reg::new().await;
    let body = reg.image("d").await;
    let d = sha256(&body);
    reg.put_app_manifest("keep", &body, OCI_MANIFEST).await;
    reg.put_app_manifest("drop", &body, OCI_MANIFEST).await;
    let by_digest = format!("/v2/alice/app/manifests/{d}");
    let layer = format!("/v2/alice/app/blobs/{}", sha256(b"layer d"));
    assert_eq!(
        reg.delete("/v2/alice/app/manifests/drop").await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        reg.head("/v2/alice/app/manifests/drop").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reg.head(&by_digest).await.status,
        StatusCode::OK,
        "deleting a tag keeps the manifest"
    );
    assert_eq!(reg.delete(&by_digest).await.status, StatusCode::ACCEPTED);
    assert_eq!(reg.head(&by_digest).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reg.head("/v2/alice/app/manifests/keep").await.status,
        StatusCode::NOT_FOUND,
        "its tags went with it"
    );
    assert_oci(
        &reg.delete(&by_digest).await,
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
    );
    assert_eq!(reg.delete(&layer).await.status, StatusCode::ACCEPTED);
    assert_eq!(reg.head(&layer).await.status, StatusCode::NOT_FOUND);
    assert_oci(
        &reg.delete(&layer).await,
        StatusCode::NOT_FOUND,
        "BLOB_UNKNOWN",
    );
}
