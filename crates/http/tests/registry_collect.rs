//! Garbage collection through the admin endpoint: deleted versions are purged after their
//! retention, blobs nothing refers to are removed from storage, abandoned uploads expire, and
//! whatever something still uses stays.

mod support;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::oci::{bearer, pull, push, send, sha256, upload_blob};
use support::{Reply, TestApp};

const DAY: i64 = 24 * 3600;

/// One collection pass with the server's default policy, after a dry run that must have said
/// exactly what it then removed (and removed nothing itself).
async fn collect(app: &TestApp) -> Value {
    let pass = |dry_run: bool| {
        app.post(
            "/api/v3/admin/registry/collect",
            Some(&app.admin),
            json!({ "dry_run": dry_run }),
        )
    };
    let r = pass(true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut predicted = r.body;
    assert_eq!(predicted["dry_run"], true);
    predicted.as_object_mut().unwrap().remove("dry_run");
    assert_eq!(
        pass(true).await.body["blobs_deleted"],
        predicted["blobs_deleted"],
        "a dry run changes nothing"
    );
    let r = pass(false).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(predicted, r.body, "the dry run said what the pass removed");
    r.body
}

fn report(versions: u64, links: u64, blobs: u64, bytes: u64, uploads: u64) -> Value {
    json!({ "versions_purged": versions, "links_removed": links, "blobs_deleted": blobs,
            "bytes_freed": bytes, "blobs_revived": 0, "uploads_expired": uploads })
}

fn blob_file(app: &TestApp, digest: &str) -> std::path::PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    app.storage()
        .join(format!("blobs/sha256/{}/{hex}", &hex[..2]))
}

async fn get_blob(app: &TestApp, token: &str, name: &str, digest: &str) -> Reply {
    send(
        app,
        bearer(
            Method::GET,
            &format!("/v2/{name}/blobs/{digest}"),
            Some(token),
        ),
        Body::empty(),
    )
    .await
}

async fn delete_only_version(app: &TestApp, token: &str, package: &str) -> i64 {
    let base = format!("/api/v3/users/alice/packages/container/{package}/versions");
    let id = app.get(&base, Some(token)).await.body[0]["id"]
        .as_i64()
        .unwrap();
    let r = app.delete(&format!("{base}/{id}"), Some(token)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    id
}

#[tokio::test]
async fn deleted_versions_are_purged_after_their_retention_and_unused_blobs_removed() {
    let (app, [alice]) =
        TestApp::with_users([("alice", &["write:packages", "delete:packages"])]).await;
    push(&app, &alice, "alice/img", "v1").await;
    push(&app, &alice, "alice/solo", "v1").await;
    let shared = sha256(b"content of alice/img");
    let solo = sha256(b"content of alice/solo");
    // alice/keep holds the same image as alice/img, blob mounted, so that blob stays in use.
    let r = send(
        &app,
        bearer(
            Method::POST,
            &format!("/v2/alice/keep/blobs/uploads/?mount={shared}&from=alice/img"),
            Some(&alice),
        ),
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let manifest = pull(&app, Some(&alice), "alice/img").await.raw;
    let r = send(
        &app,
        bearer(Method::PUT, "/v2/alice/keep/manifests/v1", Some(&alice))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json"),
        manifest,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let img_version = delete_only_version(&app, &alice, "img").await;
    delete_only_version(&app, &alice, "solo").await;
    assert_eq!(
        collect(&app).await,
        report(0, 0, 0, 0, 0),
        "deleted versions stay restorable for 30 days"
    );
    assert!(blob_file(&app, &solo).exists());

    app.clock.advance(31 * DAY);
    let solo_size = "content of alice/solo".len() as u64;
    assert_eq!(collect(&app).await, report(2, 2, 1, solo_size, 0));
    assert!(!blob_file(&app, &solo).exists(), "the unused blob is gone");
    assert_eq!(
        get_blob(&app, &alice, "alice/solo", &solo).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(blob_file(&app, &shared).exists(), "the shared blob stays");
    assert_eq!(
        get_blob(&app, &alice, "alice/keep", &shared).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get_blob(&app, &alice, "alice/img", &shared).await.status,
        StatusCode::NOT_FOUND,
        "but the package whose version was purged no longer serves it"
    );
    let r = app
        .post(
            &format!("/api/v3/users/alice/packages/container/img/versions/{img_version}/restore"),
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a purged version is gone");
    assert_eq!(
        collect(&app).await,
        report(0, 0, 0, 0, 0),
        "a second pass finds nothing"
    );
}

#[tokio::test]
async fn blobs_pushed_without_a_manifest_are_kept_for_the_grace_period() {
    let (app, [alice]) = TestApp::with_users([("alice", &["write:packages"])]).await;
    let d = upload_blob(&app, &alice, "alice/img", b"a layer on its way").await;
    assert_eq!(
        collect(&app).await,
        report(0, 0, 0, 0, 0),
        "its manifest may still come"
    );
    app.clock.advance(2 * 3600);
    assert_eq!(collect(&app).await, report(0, 1, 1, 18, 0));
    assert!(!blob_file(&app, &d).exists());

    // Pushed again, it is back.
    upload_blob(&app, &alice, "alice/img", b"a layer on its way").await;
    assert!(blob_file(&app, &d).exists());
    assert_eq!(
        get_blob(&app, &alice, "alice/img", &d).await.status,
        StatusCode::OK
    );
}

/// Starts an upload, sends one chunk, and returns its location.
async fn start_upload(app: &TestApp, token: &str) -> String {
    let r = send(
        app,
        bearer(Method::POST, "/v2/alice/img/blobs/uploads/", Some(token)),
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let location = r.header("location").to_owned();
    let r = send(
        app,
        bearer(Method::PATCH, &location, Some(token))
            .header("content-type", "application/octet-stream"),
        "some bytes",
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    location
}

#[tokio::test]
async fn abandoned_uploads_expire_and_active_ones_stay() {
    let (app, [alice]) = TestApp::with_users([("alice", &["write:packages"])]).await;
    let abandoned = start_upload(&app, &alice).await;
    app.clock.advance(25 * 3600);
    let active = start_upload(&app, &alice).await;
    let id = abandoned.rsplit('/').next().unwrap();
    assert!(app.storage().join("uploads").join(id).exists());

    assert_eq!(collect(&app).await, report(0, 0, 0, 0, 1));
    assert!(!app.storage().join("uploads").join(id).exists());
    for (location, status) in [
        (&abandoned, StatusCode::NOT_FOUND),
        (&active, StatusCode::NO_CONTENT),
    ] {
        let r = send(
            &app,
            bearer(Method::GET, location, Some(&alice)),
            Body::empty(),
        )
        .await;
        assert_eq!(r.status, status, "{location}");
    }
}

#[tokio::test]
async fn only_site_administrators_collect() {
    let (app, [alice]) = TestApp::with_users([("alice", &["write:packages"])]).await;
    let r = app
        .post("/api/v3/admin/registry/collect", Some(&alice), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post("/api/v3/admin/registry/collect", None, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// With `untagged_after_seconds`, an image whose tag moved on is deleted once pushed that long
/// ago (restorable, then purged as any deleted version, its blob with it); without it, kept, as
/// GitHub Packages keeps untagged versions.
#[tokio::test]
async fn untagged_images_go_only_when_asked_and_stay_restorable() {
    let (app, [alice]) =
        TestApp::with_users([("alice", &["write:packages", "delete:packages"])]).await;
    let first = upload_blob(&app, &alice, "alice/app", b"first build").await;
    let m1 = support::oci::config_manifest("application/vnd.example.config", &first, 11);
    let r = support::oci::put_manifest(&app, &alice, "alice/app", "latest", &m1).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let old = sha256(m1.to_string().as_bytes());
    let second = upload_blob(&app, &alice, "alice/app", b"second build").await;
    let m2 = support::oci::config_manifest("application/vnd.example.config", &second, 12);
    let r = support::oci::put_manifest(&app, &alice, "alice/app", "latest", &m2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    app.clock.advance(2 * DAY);

    let pass = |body: Value| app.post("/api/v3/admin/registry/collect", Some(&app.admin), body);
    let kept = pass(json!({})).await;
    assert_eq!(kept.body.get("untagged_deleted"), None, "{}", kept.body);
    let asked = json!({ "untagged_after_seconds": DAY });
    let would = pass(json!({ "untagged_after_seconds": DAY, "dry_run": true })).await;
    assert_eq!(would.body["untagged_deleted"], 1, "{}", would.body);
    let done = pass(asked.clone()).await;
    assert_eq!(done.body["untagged_deleted"], 1, "{}", done.body);
    let by_digest = |digest: &str| {
        send(
            &app,
            bearer(
                Method::GET,
                &format!("/v2/alice/app/manifests/{digest}"),
                Some(&alice),
            ),
            Body::empty(),
        )
    };
    assert_eq!(by_digest(&old).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        by_digest("latest").await.status,
        StatusCode::OK,
        "the tagged one stays"
    );
    let deleted = app
        .get(
            "/api/v3/users/alice/packages/container/app/versions?state=deleted",
            Some(&alice),
        )
        .await;
    assert_eq!(deleted.body[0]["name"], old, "restorable: {}", deleted.body);

    // Its retention over, purged, and the blob only it used goes with it.
    app.clock.advance(31 * DAY);
    let purged = pass(asked).await;
    assert_eq!(purged.body["versions_purged"], 1, "{}", purged.body);
    assert!(!blob_file(&app, &first).exists());
    assert!(blob_file(&app, &second).exists());
}
