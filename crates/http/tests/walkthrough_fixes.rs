//! Regressions found by following the README as a new user (issue 12), one test per finding,
//! in-process against the API: repositories edited and deleted, an organization member's new
//! repository, grants to one repository that combine, uniform paging, and links that answer.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::oci::{Try, expect_access, publish};
use support::{TestApp, assert_invalid};

#[tokio::test]
async fn an_org_member_who_creates_a_repository_administers_it() {
    let (app, [_olga, mia]) =
        TestApp::with_users([("olga", &["repo", "admin:org"]), ("mia", &["repo"])]).await;
    app.org("acme", "olga").await;
    let member = json!({ "role": "member" });
    let membership = "/api/v3/orgs/acme/memberships/mia";
    app.expect(Method::PUT, membership, &app.admin, member, StatusCode::OK)
        .await;

    // Once answered 404 after creating it: members had no role on private repositories.
    let private = json!({ "name": "x", "visibility": "private" });
    let repos = "/api/v3/orgs/acme/repos";
    let r = app
        .expect(Method::POST, repos, &mia, private, StatusCode::CREATED)
        .await;
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
    let (app, [alice, bob]) =
        TestApp::with_users([("alice", &["repo", "codespace"]), ("bob", &["repo"])]).await;
    let repos = "/api/v3/user/repos";
    let tools = json!({ "name": "tools", "visibility": "private", "clone_url": "https://git.example/nowhere.git" });
    let r = app
        .expect(Method::POST, repos, &alice, tools, StatusCode::CREATED)
        .await;
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
    let tools2 = "/api/v3/repos/alice/tools2";
    let patch2 =
        async |token: &str, body: serde_json::Value| app.patch(tools2, Some(token), body).await;
    assert_invalid(
        &patch2(&alice, json!({ "visibility": "internal" })).await,
        "Repository",
        "visibility",
        "invalid",
    );
    assert_invalid(
        &patch2(&alice, json!({ "default_branch": "-x" })).await,
        "Repository",
        "default_branch",
        "invalid",
    );
    assert_invalid(
        &patch2(&alice, json!({ "clone_url": "has space" })).await,
        "Repository",
        "clone_url",
        "invalid",
    );
    app.post(repos, Some(&alice), json!({ "name": "taken" }))
        .await;
    assert_invalid(
        &patch2(&alice, json!({ "name": "taken" })).await,
        "Repository",
        "name",
        "already_exists",
    );
    // Someone who cannot see it is told it does not exist.
    let r = patch2(&bob, json!({ "description": "mine" })).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A repository secret goes with it; a new repository of the same name starts clean.
    let public_key = "/api/v3/repos/alice/tools2/codespaces/secrets/public-key";
    let key = app.get(public_key, Some(&alice)).await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.body);
    app.expect_statuses(&[
        (Method::DELETE, tools2, Some(&bob), 404),
        (Method::DELETE, tools2, Some(&alice), 204),
        (Method::GET, tools2, Some(&alice), 404),
    ])
    .await;
    let tools2_again = json!({ "name": "tools2", "visibility": "private" });
    app.expect(
        Method::POST,
        repos,
        &alice,
        tools2_again,
        StatusCode::CREATED,
    )
    .await;
    let again = app.get(public_key, Some(&alice)).await;
    assert_ne!(again.body["key"], key.body["key"], "a fresh key pair");
}

#[tokio::test]
async fn grants_to_one_repository_combine() {
    let (app, [alice]) =
        TestApp::with_users([("alice", &["repo", "write:packages", "delete:packages"])]).await;
    app.repo(&alice, "ci", "private").await;
    publish(&app, &alice, "alice/img", "v1").await;
    let package = "/api/v3/users/alice/packages/container/img";
    let grant = async |body| {
        app.grant_repository(&alice, package, "alice/ci", body)
            .await
    };
    let r = grant(json!({ "environments": true })).await;
    assert_eq!(
        r.body,
        json!({ "full_name": "alice/ci", "environments": true, "token_role": null })
    );
    // Once, a token role given later wiped the environments access.
    let r = grant(json!({ "token_role": "read" })).await;
    assert_eq!(
        r.body,
        json!({ "full_name": "alice/ci", "environments": true, "token_role": "read" })
    );
    let r = grant(json!({ "token_role": null })).await;
    assert_eq!(
        r.body,
        json!({ "full_name": "alice/ci", "environments": true, "token_role": null }),
        "null removes only the token role"
    );
    assert_invalid(
        &grant(json!({})).await,
        "Grant",
        "environments",
        "missing_field",
    );
    let env = app.environment_token("alice", "alice", "ci", 600).await;
    expect_access(&app, &[(Some(&env), Try::Pull, "alice/img", 200)]).await;
}

#[tokio::test]
async fn every_list_pages_the_same_way() {
    let (app, [alice]) = TestApp::with_users([("alice", &["repo", "codespace"])]).await;
    for note in ["a", "b", "c"] {
        let token = json!({ "scopes": ["repo"], "note": note });
        let tokens = "/api/v3/user/tokens";
        app.expect(Method::POST, tokens, &alice, token, StatusCode::CREATED)
            .await;
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
    let (app, [alice]) = TestApp::with_users([("alice", &["write:packages"])]).await;
    publish(&app, &alice, "alice/team/img", "v1").await;
    let package = "/api/v3/users/alice/packages/container/team%2Fimg";
    let r = app.get(package, Some(&alice)).await;
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
    let (app, [alice]) = TestApp::with_users([("alice", &["repo"])]).await;
    let r = app.get("/api/v3/user/codespaces", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let message = r.message();
    assert!(
        message.contains("berth token create --user alice --scopes codespace"),
        "{message}"
    );
}
