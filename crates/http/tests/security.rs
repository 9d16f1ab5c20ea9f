//! Hostile users (issue 14), in-process against the API: one test per finding, named after it.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use support::TestApp;
use support::oci::{Try, basic, bearer, expect_access, publish, send};

#[tokio::test]
async fn the_token_endpoint_refuses_an_unbounded_body() {
    let app = TestApp::new().await;
    // Anonymous, as anyone on the network could send it.
    let huge = format!(
        "grant_type=password&username=x&password={}",
        "a".repeat(1 << 20)
    );
    let form =
        || Request::post("/token").header("content-type", "application/x-www-form-urlencoded");
    let r = send(&app, form(), huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    // A form of an ordinary size still gets an ordinary answer.
    let r = send(&app, form(), "grant_type=password&username=x&password=nope").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
}

#[tokio::test]
async fn json_bodies_over_the_limit_are_refused_before_they_are_read() {
    let (app, [alice]) = TestApp::with_users([("alice", &["repo"])]).await;
    let r = app
        .post(
            "/api/v3/user/repos",
            Some(&alice),
            json!({ "name": "big", "description": "d".repeat(512 << 10) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(r.message().contains("too large"), "{}", r.body);
    assert!(r.body["documentation_url"].is_string(), "GitHub's shape");
}

#[tokio::test]
async fn credentials_in_a_clone_url_are_never_rendered() {
    let (app, [alice]) = TestApp::with_users([("alice", &["repo"])]).await;
    let url = "https://alice:ghp-upstream-s3cret@git.example/tools.git";
    let r = app
        .post(
            "/api/v3/user/repos",
            Some(&alice),
            json!({ "name": "tools", "clone_url": url }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["clone_url"], "https://git.example/tools.git");
    for path in [
        "/api/v3/repos/alice/tools",
        "/api/v3/user/repos",
        "/api/v3/users/alice/repos",
    ] {
        let r = app.get(path, Some(&alice)).await;
        let raw = String::from_utf8_lossy(&r.raw);
        assert!(
            !raw.contains("s3cret") && !raw.contains("alice:"),
            "{path}: {raw}"
        );
    }
    let r = app
        .patch(
            "/api/v3/repos/alice/tools",
            Some(&alice),
            json!({ "description": "kept" }),
        )
        .await;
    assert!(!String::from_utf8_lossy(&r.raw).contains("s3cret"));
}

#[tokio::test]
async fn granting_a_package_to_a_repository_the_caller_cannot_see_answers_as_for_a_missing_one() {
    let (app, [alice, bob]) =
        TestApp::with_users([("alice", &["repo", "write:packages"]), ("bob", &["repo"])]).await;
    app.repo(&bob, "private-work", "private").await;
    publish(&app, &alice, "alice/img", "v1").await;
    let package = "/api/v3/users/alice/packages/container/img";
    let grant = async |full_name: &str| {
        let environments = json!({ "environments": true });
        app.grant_repository(&alice, package, full_name, environments)
            .await
    };
    let hidden = grant("bob/private-work").await;
    let missing = grant("bob/nothing-here").await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.body);
    assert_eq!(
        (hidden.status, &hidden.raw),
        (missing.status, &missing.raw),
        "the same answer, byte for byte"
    );
    let list = app.get(&format!("{package}/access"), Some(&alice)).await;
    assert_eq!(list.body["repositories"], json!([]), "nothing was granted");
}

#[tokio::test]
async fn a_package_inheriting_from_a_public_repository_is_read_by_everyone() {
    let (app, [alice, bob]) = TestApp::with_users([("alice", &["repo"]), ("bob", &["repo"])]).await;
    app.repo(&alice, "oss", "public").await;
    let rt = app.repo_token(&alice, "alice/oss").await;
    // A repository token's first publish links the package to its repository and inherits.
    publish(&app, &rt, "alice/oss-image", "v1").await;
    let package = "/api/v3/users/alice/packages/container/oss-image";
    let shown = app.get(package, Some(&alice)).await;
    assert_eq!(
        (
            shown.body["visibility"].as_str(),
            shown.body["inherit_access"].as_bool()
        ),
        (Some("private"), Some(true)),
        "{}",
        shown.body
    );
    // Once neither an anonymous pull nor an unrelated user's could read it.
    expect_access(
        &app,
        &[
            (None, Try::Pull, "alice/oss-image", 200),
            // A user with no packages scope who can read the repository.
            (Some(&bob), Try::Pull, "alice/oss-image", 200),
        ],
    )
    .await;
    // Not while the repository is private.
    let private = json!({ "visibility": "private" });
    app.patch("/api/v3/repos/alice/oss", Some(&alice), private)
        .await;
    expect_access(
        &app,
        &[
            (None, Try::Pull, "alice/oss-image", 401),
            (Some(&bob), Try::Pull, "alice/oss-image", 404),
        ],
    )
    .await;
}

/// A registry token for `scope`, as a Docker client gets one with a personal token.
async fn registry_token(app: &TestApp, user: &str, token: &str, scope: &str) -> String {
    let r = send(
        app,
        Request::get(format!("/token?service=berth.test&scope={scope}"))
            .header("authorization", basic(user, token)),
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn after_an_out_of_order_chunk_the_upload_status_asks_for_the_scope_it_needs() {
    let (app, [alice]) = TestApp::with_users([("alice", &["write:packages"])]).await;
    let push_token = registry_token(&app, "alice", &alice, "repository:alice/app:pull,push").await;
    let pull_token = registry_token(&app, "alice", &alice, "repository:alice/app:pull").await;
    let empty = async |method: Method, path: &str, token: &str| {
        send(&app, bearer(method, path, Some(token)), Body::empty()).await
    };
    let r = empty(Method::POST, "/v2/alice/app/blobs/uploads/", &push_token).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let location = r.header("location").to_owned();
    let r = send(
        &app,
        bearer(Method::PATCH, &location, Some(&push_token))
            .header("content-range", "5-9")
            .header("content-type", "application/octet-stream"),
        Body::from("later"),
    )
    .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    // With the pull token it was given for the manifest, the client asks where the upload is:
    // once 403 (the route wants push); now the challenge names push, and a token with it answers.
    let r = empty(Method::GET, &location, &pull_token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let challenge = r.header("www-authenticate");
    assert!(
        challenge.contains("scope=\"repository:alice/app:pull,push\""),
        "{challenge}"
    );
    let r = empty(Method::GET, &location, &push_token).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(r.header("range"), "0-0");
}

#[tokio::test]
async fn a_token_made_with_a_token_never_outlives_it_and_is_revoked_with_it() {
    let app = TestApp::new().await;
    app.user("alice", &["repo"]).await;
    let r = app
        .post(
            "/api/v3/admin/users/alice/authorizations",
            Some(&app.admin),
            json!({ "scopes": ["repo", "write:packages"], "expires_at": "2030-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (parent, parent_id) = (
        r.body["token"].as_str().unwrap().to_owned(),
        r.body["id"].as_i64().unwrap(),
    );
    // Asked to live longer than its parent (or for ever): it lives as long as the parent.
    for asked in [json!(null), json!("2031-06-01T00:00:00Z")] {
        let r = app
            .post(
                "/api/v3/user/tokens",
                Some(&parent),
                json!({ "scopes": ["repo"], "expires_at": asked }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["expires_at"], "2030-01-01T00:00:00Z", "{}", r.body);
    }
    let made_with = async |token: &str| {
        let r = app
            .post(
                "/api/v3/user/tokens",
                Some(token),
                json!({ "scopes": ["repo"] }),
            )
            .await;
        r.body["token"].as_str().unwrap().to_owned()
    };
    let child = made_with(&parent).await;
    let grandchild = made_with(&child).await;
    // Out-scoping it is refused, as before.
    let r = app
        .post(
            "/api/v3/user/tokens",
            Some(&child),
            json!({ "scopes": ["write:packages"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        app.get("/api/v3/user", Some(&grandchild)).await.status,
        StatusCode::OK
    );
    let r = app
        .delete(&format!("/api/v3/user/tokens/{parent_id}"), Some(&child))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    for token in [&parent, &child, &grandchild] {
        assert_eq!(
            app.get("/api/v3/user", Some(token)).await.status,
            StatusCode::UNAUTHORIZED,
            "revoked with the token it was made with"
        );
    }
}

#[tokio::test]
async fn an_environment_token_stops_working_when_its_user_loses_the_repository() {
    let (app, [bob]) = TestApp::with_users([("bob", &["repo", "write:packages"])]).await;
    app.user("alice", &["repo"]).await;
    app.repo(&bob, "secret-app", "private").await;
    app.collaborator(&bob, "bob/secret-app", "alice", "read")
        .await;
    publish(&app, &bob, "bob/base", "v1").await;
    let package = "/api/v3/users/bob/packages/container/base";
    let environments = json!({ "environments": true });
    app.grant_repository(&bob, package, "bob/secret-app", environments)
        .await;
    let env = app
        .environment_token("alice", "bob", "secret-app", 7 * 24 * 3600)
        .await;
    expect_access(&app, &[(Some(&env), Try::Pull, "bob/base", 200)]).await;
    app.delete(
        "/api/v3/repos/bob/secret-app/collaborators/alice",
        Some(&bob),
    )
    .await;
    // Once it kept pulling for the rest of its 7 days.
    expect_access(&app, &[(Some(&env), Try::Pull, "bob/base", 401)]).await;
}

#[tokio::test]
async fn graphql_answers_only_signed_in_callers_and_only_for_repositories_they_can_see() {
    let (app, [alice, bob]) = TestApp::with_users([("alice", &["repo"]), ("bob", &["repo"])]).await;
    app.repo(&bob, "plans", "private").await;
    app.repo(&alice, "tools", "public").await;
    let q = json!({"query": "query { a: repository(owner: \"alice\", name: \"tools\") { databaseId nameWithOwner } b: repository(owner: \"bob\", name: \"plans\") { databaseId } }"});
    let r = app.post("/api/graphql", None, q.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = app.post("/api/graphql", Some(&alice), q).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["data"]["a"]["databaseId"].is_i64(), "{}", r.body);
    assert_eq!(r.body["data"]["a"]["nameWithOwner"], "alice/tools");
    // Bob's private repository reads exactly as one that does not exist.
    assert!(r.body["data"]["b"].is_null(), "{}", r.body);
    assert_eq!(r.body["errors"][0]["type"], "NOT_FOUND");
    assert_eq!(r.body["errors"][0]["path"], json!(["b"]));
    assert_eq!(
        r.body["errors"][0]["message"],
        "Could not resolve to a Repository with the name 'bob/plans'."
    );
}
