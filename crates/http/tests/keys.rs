//! `/user/keys`: SSH public keys added, listed, read and deleted the GitHub way, each scope
//! checked, another user's key answering as a missing one.

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::{TestApp, assert_invalid};

// Made with `ssh-keygen -t ed25519 -C alice@laptop`; the fingerprint is what `ssh-keygen -l` printed.
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIlC72C1EZWS7RLecMMMeOz1FLe3+PUdE3oT1oZO7rfV alice@laptop";
const FINGERPRINT: &str = "SHA256:HGacgKYA9350WKZfL6WtxJpkO3ijLokCL/8sE/Yltqo";

#[tokio::test]
async fn a_key_is_added_listed_read_and_deleted_by_its_user() {
    let (app, [alice]) = TestApp::with_users([("alice", &["admin:public_key"])]).await;
    let r = app
        .post("/api/v3/user/keys", Some(&alice), json!({ "key": KEY }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(
        r.body["key"],
        KEY.rsplit_once(' ').unwrap().0,
        "stored without its comment"
    );
    assert_eq!(
        r.body["title"], "alice@laptop",
        "the comment is the default title"
    );
    assert_eq!(r.body["fingerprint"], FINGERPRINT);
    assert_eq!(r.body["read_only"], false);
    assert!(r.body["created_at"].as_str().unwrap().ends_with('Z'));

    let list = app.get("/api/v3/user/keys", Some(&alice)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["id"], id);
    let one = app
        .get(&format!("/api/v3/user/keys/{id}"), Some(&alice))
        .await;
    assert_eq!(
        (one.status, &one.body["title"]),
        (StatusCode::OK, &json!("alice@laptop"))
    );

    let r = app
        .delete(&format!("/api/v3/user/keys/{id}"), Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let gone = app
        .get(&format!("/api/v3/user/keys/{id}"), Some(&alice))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let again = app
        .delete(&format!("/api/v3/user/keys/{id}"), Some(&alice))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn each_verb_needs_its_scope() {
    let (app, [reader]) = TestApp::with_users([("alice", &["read:public_key"])]).await;
    let writer = app.token_for("alice", &["write:public_key"]).await;
    let none = app.token_for("alice", &["repo"]).await;
    let r = app
        .post("/api/v3/user/keys", Some(&reader), json!({ "key": KEY }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.message().contains("write:public_key"), "{}", r.body);
    let r = app
        .post(
            "/api/v3/user/keys",
            Some(&writer),
            json!({ "key": KEY, "title": "laptop" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["title"], "laptop");
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(
        app.get("/api/v3/user/keys", Some(&writer)).await.status,
        StatusCode::OK,
        "write implies read"
    );
    assert_eq!(
        app.get("/api/v3/user/keys", Some(&reader)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v3/user/keys", Some(&none)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v3/user/keys", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .delete(&format!("/api/v3/user/keys/{id}"), Some(&writer))
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "deleting needs admin:public_key"
    );
}

#[tokio::test]
async fn another_users_key_is_not_there_and_a_key_belongs_to_one_account() {
    let (app, [alice, bob]) = TestApp::with_users([
        ("alice", &["admin:public_key"]),
        ("bob", &["admin:public_key"]),
    ])
    .await;
    let r = app
        .post("/api/v3/user/keys", Some(&alice), json!({ "key": KEY }))
        .await;
    let id = r.body["id"].as_i64().unwrap();
    for r in [
        app.get(&format!("/api/v3/user/keys/{id}"), Some(&bob))
            .await,
        app.delete(&format!("/api/v3/user/keys/{id}"), Some(&bob))
            .await,
        app.get("/api/v3/user/keys/not-a-number", Some(&bob)).await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    assert_eq!(
        app.get("/api/v3/user/keys", Some(&bob)).await.body,
        json!([])
    );
    for who in [&alice, &bob] {
        let r = app
            .post("/api/v3/user/keys", Some(who), json!({ "key": KEY }))
            .await;
        assert_invalid(&r, "PublicKey", "key", "custom");
        assert!(r.mentions("key is already in use"), "{}", r.body);
    }
}

#[tokio::test]
async fn bad_keys_are_refused_naming_the_rule() {
    let (app, [alice]) = TestApp::with_users([("alice", &["write:public_key"])]).await;
    for (body, field, words) in [
        (json!({}), "key", "key is required"),
        (
            json!({ "key": "ssh-ed25519 AAAA-not-base64" }),
            "key",
            "not an OpenSSH public key line",
        ),
        (
            json!({ "key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----" }),
            "key",
            "never the private key",
        ),
        (
            json!({ "key": KEY, "title": "t".repeat(101) }),
            "title",
            "longer than 100",
        ),
    ] {
        let r = app.post("/api/v3/user/keys", Some(&alice), body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        let errors = r.body["errors"].to_string();
        assert!(
            errors.contains(field) && errors.contains(words),
            "{words}: {}",
            r.body
        );
    }
    assert_eq!(
        app.get("/api/v3/user/keys", Some(&alice)).await.body,
        json!([]),
        "nothing half-added"
    );
}

/// An Ed25519 public key line whose 32 key bytes are all `byte` (any 32 bytes are a key to
/// parse; none of these is used to sign).
fn ed25519_line(byte: u8) -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    for part in [&b"ssh-ed25519"[..], &[byte; 32][..]] {
        blob.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!(
        "ssh-ed25519 {}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

#[tokio::test]
async fn one_account_holds_at_most_a_hundred_keys() {
    let (app, [alice]) = TestApp::with_users([("alice", &["admin:public_key"])]).await;
    for byte in 0..100u8 {
        let r = app
            .post(
                "/api/v3/user/keys",
                Some(&alice),
                json!({ "key": ed25519_line(byte) }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "key {byte}: {}", r.body);
    }
    let r = app
        .post(
            "/api/v3/user/keys",
            Some(&alice),
            json!({ "key": ed25519_line(100) }),
        )
        .await;
    assert_invalid(&r, "PublicKey", "key", "custom");
    assert!(r.mentions("delete one first"), "{}", r.body);
    let page = app
        .get("/api/v3/user/keys?per_page=100", Some(&alice))
        .await;
    assert_eq!(page.body.as_array().unwrap().len(), 100);
}
