//! Regressions found by following the README as a new user (issue 12), one test per finding,
//! in-process against the API: repositories edited and deleted, an organization member's new
//! repository, grants to one repository that combine, uniform paging, and links that answer.

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::oci::{publish, pull};
use support::{TestApp, assert_invalid};

#[tokio::test]
async fn an_org_member_who_creates_a_repository_administers_it() {
    let app = TestApp::new().await;
    let _olga = app.user("olga", &["repo", "admin:org"]).await;
    let mia = app.user("mia", &["repo"]).await;
    app.org("acme", "olga").await;
    let r = app
        .put(
            "/api/v3/orgs/acme/memberships/mia",
            Some(&app.admin),
            json!({ "role": "member" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Once answered 404 after creating it: members had no role on private repositories.
    let r = app
        .post(
            "/api/v3/orgs/acme/repos",
            Some(&mia),
            json!({ "name": "x", "visibility": "private" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["permissions"]["admin"], true, "{}", r.body);
    let r = app.get("/api/v3/repos/acme/x", Some(&mia)).await;
    assert_eq!(r.body["role_name"], "admin", "{}", r.body);
    let r = app
        .get("/api/v3/repos/acme/x/collaborators", Some(&mia))
        .await;
    assert_eq!(r.body[0]["login"], "mia", "{}", r.body);
}

#[tokio::test]
async fn a_repository_is_edited_with_patch_and_deleted() {
    let app = TestApp::new().await;
    let alice = app.user("alice", &["repo", "codespace"]).await;
    let bob = app.user("bob", &["repo"]).await;
    let r = app
        .post(
            "/api/v3/user/repos",
            Some(&alice),
            json!({ "name": "tools", "visibility": "private", "clone_url": "https://git.example/nowhere.git" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["default_branch"], json!(null));

    let patch = async |token: &str, body: serde_json::Value| {
        app.patch("/api/v3/repos/alice/tools", Some(token), body)
            .await
    };
    let r = patch(
        &alice,
        json!({ "clone_url": "https://git.example/tools.git", "default_branch": "dev", "description": "d" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            r.body["clone_url"].as_str(),
            r.body["default_branch"].as_str(),
            r.body["description"].as_str(),
            r.body["visibility"].as_str()
        ),
        (
            Some("https://git.example/tools.git"),
            Some("dev"),
            Some("d"),
            Some("private")
        ),
        "only what was given changes"
    );
    let r = patch(&alice, json!({ "clone_url": null, "name": "tools2" })).await;
    assert_eq!(
        (
            r.status,
            r.body["clone_url"].clone(),
            r.body["full_name"].clone()
        ),
        (StatusCode::OK, json!(null), json!("alice/tools2")),
        "null clears; a new name moves it"
    );
    let patch2 = async |body: serde_json::Value| {
        app.patch("/api/v3/repos/alice/tools2", Some(&alice), body)
            .await
    };
    assert_invalid(
        &patch2(json!({ "visibility": "internal" })).await,
        "Repository",
        "visibility",
        "invalid",
    );
    assert_invalid(
        &patch2(json!({ "default_branch": "-x" })).await,
        "Repository",
        "default_branch",
        "invalid",
    );
    assert_invalid(
        &patch2(json!({ "clone_url": "has space" })).await,
        "Repository",
        "clone_url",
        "invalid",
    );
    app.post(
        "/api/v3/user/repos",
        Some(&alice),
        json!({ "name": "taken" }),
    )
    .await;
    assert_invalid(
        &patch2(json!({ "name": "taken" })).await,
        "Repository",
        "name",
        "already_exists",
    );
    // Someone who cannot see it is told it does not exist.
    let r = app
        .patch(
            "/api/v3/repos/alice/tools2",
            Some(&bob),
            json!({ "description": "mine" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A repository secret goes with it; a new repository of the same name starts clean.
    let key = app
        .get(
            "/api/v3/repos/alice/tools2/codespaces/secrets/public-key",
            Some(&alice),
        )
        .await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.body);
    let r = app.delete("/api/v3/repos/alice/tools2", Some(&bob)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.delete("/api/v3/repos/alice/tools2", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        app.get("/api/v3/repos/alice/tools2", Some(&alice))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post(
            "/api/v3/user/repos",
            Some(&alice),
            json!({ "name": "tools2", "visibility": "private" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let again = app
        .get(
            "/api/v3/repos/alice/tools2/codespaces/secrets/public-key",
            Some(&alice),
        )
        .await;
    assert_ne!(again.body["key"], key.body["key"], "a fresh key pair");
}

#[tokio::test]
async fn grants_to_one_repository_combine() {
    let app = TestApp::new().await;
    let alice = app
        .user("alice", &["repo", "write:packages", "delete:packages"])
        .await;
    app.repo(&alice, "ci", "private").await;
    publish(&app, &alice, "alice/img", "v1").await;
    let grant = "/api/v3/users/alice/packages/container/img/access/repositories/alice/ci";
    let r = app
        .put(grant, Some(&alice), json!({ "environments": true }))
        .await;
    assert_eq!(
        r.body,
        json!({ "full_name": "alice/ci", "environments": true, "token_role": null })
    );
    // Once, a token role given later wiped the environments access.
    let r = app
        .put(grant, Some(&alice), json!({ "token_role": "read" }))
        .await;
    assert_eq!(
        r.body,
        json!({ "full_name": "alice/ci", "environments": true, "token_role": "read" })
    );
    let r = app
        .put(grant, Some(&alice), json!({ "token_role": null }))
        .await;
    assert_eq!(
        r.body,
        json!({ "full_name": "alice/ci", "environments": true, "token_role": null }),
        "null removes only the token role"
    );
    assert_invalid(
        &app.put(grant, Some(&alice), json!({})).await,
        "Grant",
        "environments",
        "missing_field",
    );
    let env = app.environment_token("alice", "alice", "ci", 600).await;
    assert_eq!(
        pull(&app, Some(&env), "alice/img").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_list_pages_the_same_way() {
    let app = TestApp::new().await;
    let alice = app.user("alice", &["repo", "codespace"]).await;
    for note in ["a", "b", "c"] {
        let r = app
            .post(
                "/api/v3/user/tokens",
                Some(&alice),
                json!({ "scopes": ["repo"], "note": note }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    // Once sent without a Link header, whatever per_page said.
    let r = app
        .get("/api/v3/user/tokens?per_page=2", Some(&alice))
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(2), "{}", r.body);
    assert!(r.header("link").contains("rel=\"next\""), "{:?}", r.headers);
    let r = app
        .get("/api/v3/user/tokens?per_page=2&page=2", Some(&alice))
        .await;
    assert_eq!(
        r.body.as_array().map(Vec::len),
        Some(2),
        "four tokens in all"
    );

    // The audit once ignored per_page and page.
    for name in ["ONE", "TWO", "THREE"] {
        let r = app
            .get("/api/v3/user/codespaces/secrets/public-key", Some(&alice))
            .await;
        let (key_id, key) = (r.body["key_id"].clone(), r.body["key"].clone());
        let key: [u8; 32] = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            key.as_str().unwrap(),
        )
        .unwrap()
        .try_into()
        .unwrap();
        let sealed = crypto_box::PublicKey::from(key)
            .seal(&mut crypto_box::aead::OsRng, b"v")
            .unwrap();
        let r = app
            .put(
                &format!("/api/v3/user/codespaces/secrets/{name}"),
                Some(&alice),
                json!({ "encrypted_value": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sealed), "key_id": key_id }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = app
        .get("/api/v3/admin/secrets/audit?per_page=2", Some(&app.admin))
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(2), "{}", r.body);
    assert_eq!(r.body[0]["name"], "THREE", "newest first");
    assert!(r.header("link").contains("page=2"), "{:?}", r.headers);
    let r = app
        .get(
            "/api/v3/admin/secrets/audit?per_page=2&page=2",
            Some(&app.admin),
        )
        .await;
    assert_eq!(r.body[0]["name"], "ONE", "{}", r.body);
}

#[tokio::test]
async fn a_package_url_answers() {
    let app = TestApp::new().await;
    let alice = app.user("alice", &["write:packages"]).await;
    publish(&app, &alice, "alice/team/img", "v1").await;
    let r = app
        .get(
            "/api/v3/users/alice/packages/container/team%2Fimg",
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let url = r.body["url"].as_str().unwrap().to_owned();
    let path = url.split_once("/api/v3").map(|(_, p)| p).unwrap();
    let again = app.get(&format!("/api/v3{path}"), Some(&alice)).await;
    assert_eq!(
        (again.status, again.body["name"].as_str()),
        (StatusCode::OK, Some("team/img")),
        "{url} answers"
    );
}

#[tokio::test]
async fn a_missing_scope_names_a_command_that_can_succeed() {
    let app = TestApp::new().await;
    let alice = app.user("alice", &["repo"]).await;
    let r = app.get("/api/v3/user/codespaces", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("berth token create --user alice --scopes codespace"),
        "{message}"
    );
}
