//! Who may pull, push and delete in the registry, and the Docker token flow that carries it.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use serde_json::{Value, json};
use support::oci::{
    basic, bearer, config_manifest, publish, pull, push, put_manifest, send, upload_blob,
};
use support::{Reply, TestApp};

/// The `access` claim of a registry token.
fn access(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["access"].clone()
}

#[tokio::test]
async fn private_packages_look_exactly_like_missing_ones() {
    let app = TestApp::new().await;
    let alice = app
        .user("alice", &["write:packages", "delete:packages"])
        .await;
    let bob = app
        .user("bob", &["write:packages", "delete:packages"])
        .await;
    publish(&app, &alice, "alice/secret", "v1").await;
    assert_eq!(
        pull(&app, Some(&alice), "alice/secret").await.status,
        StatusCode::OK
    );

    let private = pull(&app, Some(&bob), "alice/secret").await;
    let missing = pull(&app, Some(&bob), "alice/nothing").await;
    assert_eq!(private.status, StatusCode::NOT_FOUND);
    assert_eq!(
        (private.status, &private.raw),
        (missing.status, &missing.raw),
        "the same answer, byte for byte"
    );
    let anon_private = pull(&app, None, "alice/secret").await;
    let anon_missing = pull(&app, None, "alice/nothing").await;
    assert_eq!(anon_private.status, StatusCode::UNAUTHORIZED);
    // The answers differ only in echoing the name that was asked for.
    let as_secret = |r: &Reply| {
        (
            r.status,
            String::from_utf8_lossy(&r.raw).replace("nothing", "secret"),
            r.header("www-authenticate").replace("nothing", "secret"),
        )
    };
    assert_eq!(as_secret(&anon_private), as_secret(&anon_missing));
    assert!(
        anon_private
            .header("www-authenticate")
            .ends_with(r#"scope="repository:alice/secret:pull""#)
    );

    let r = push(&app, &bob, "alice/secret", "v2").await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("DENIED"))
    );
    let r = push(&app, &bob, "alice/new", "v1").await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "nobody creates packages in another's namespace"
    );
    let r = send(
        &app,
        bearer(Method::DELETE, "/v2/alice/secret/manifests/v1", Some(&bob)),
        Body::empty(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "deleting what you cannot see is not found"
    );
    let tags = send(
        &app,
        bearer(Method::GET, "/v2/alice/secret/tags/list", Some(&bob)),
        Body::empty(),
    )
    .await;
    assert_eq!(tags.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn scopes_limit_what_a_token_does() {
    let app = TestApp::new().await;
    let writer = app.user("alice", &["write:packages"]).await;
    push(&app, &writer, "alice/app", "v1").await;
    let reader = app.token_for("alice", &["read:packages"]).await;
    let nothing = app.token_for("alice", &["repo"]).await;
    assert_eq!(
        pull(&app, Some(&reader), "alice/app").await.status,
        StatusCode::OK
    );
    assert_eq!(
        push(&app, &reader, "alice/app", "v2").await.status,
        StatusCode::FORBIDDEN,
        "read:packages does not push"
    );
    assert_eq!(
        pull(&app, Some(&nothing), "alice/app").await.status,
        StatusCode::NOT_FOUND,
        "no packages scope, no private pull"
    );
    let r = send(
        &app,
        bearer(Method::DELETE, "/v2/alice/app/manifests/v1", Some(&writer)),
        Body::empty(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "deleting needs delete:packages"
    );
}

#[tokio::test]
async fn organizations_members_create_and_owners_administer() {
    let app = TestApp::new().await;
    let olga = app
        .user("olga", &["write:packages", "delete:packages", "admin:org"])
        .await;
    let mia = app
        .user("mia", &["write:packages", "delete:packages"])
        .await;
    let max = app
        .user("max", &["write:packages", "delete:packages"])
        .await;
    app.org("acme", "olga").await;
    for member in ["mia", "max"] {
        app.put(
            &format!("/api/v3/orgs/acme/memberships/{member}"),
            Some(&olga),
            json!({}),
        )
        .await;
    }
    assert_eq!(
        push(&app, &mia, "acme/tool", "v1").await.status,
        StatusCode::CREATED,
        "members create packages in their org"
    );
    assert_eq!(
        pull(&app, Some(&mia), "acme/tool").await.status,
        StatusCode::OK,
        "the publisher is admin"
    );
    assert_eq!(
        pull(&app, Some(&olga), "acme/tool").await.status,
        StatusCode::OK,
        "org owners are admin"
    );
    assert_eq!(
        pull(&app, Some(&max), "acme/tool").await.status,
        StatusCode::NOT_FOUND,
        "other members do not see a private package"
    );
    assert_eq!(
        send(
            &app,
            bearer(Method::DELETE, "/v2/acme/tool/manifests/v1", Some(&olga)),
            Body::empty()
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn public_packages_are_pulled_anonymously_and_stay_public() {
    let app = TestApp::new().await;
    let alice = app.user("alice", &["write:packages"]).await;
    push(&app, &alice, "alice/tools/cli", "v1").await;
    assert_eq!(
        pull(&app, None, "alice/tools/cli").await.status,
        StatusCode::UNAUTHORIZED
    );
    let bob = app.user("bob", &["write:packages"]).await;
    let r = app
        .patch(
            "/api/v3/user/packages/container/tools%2Fcli",
            Some(&bob),
            json!({ "visibility": "public" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "bob has no such package");
    let r = app
        .patch(
            "/api/v3/user/packages/container/tools%2Fcli",
            Some(&alice),
            json!({ "visibility": "public" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["visibility"].as_str()),
        (StatusCode::OK, Some("public")),
        "{}",
        r.body
    );
    assert_eq!(
        pull(&app, None, "alice/tools/cli").await.status,
        StatusCode::OK,
        "anyone pulls a public package"
    );
    assert_eq!(
        pull(&app, Some(&bob), "alice/tools/cli").await.status,
        StatusCode::OK
    );
    assert_eq!(
        push(&app, &bob, "alice/tools/cli", "v2").await.status,
        StatusCode::FORBIDDEN,
        "public is not writable by all"
    );
    let r = app
        .patch(
            "/api/v3/user/packages/container/tools%2Fcli",
            Some(&alice),
            json!({ "visibility": "private" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("visibility")),
        "public is final"
    );
    let r = app
        .patch(
            "/api/v3/user/packages/container/tools%2Fcli",
            Some(&alice),
            json!({ "visibility": "internal" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_token_endpoint_grants_the_intersection() {
    let app = TestApp::new().await;
    let alice = app.user("alice", &["write:packages"]).await;
    app.user("bob", &["write:packages"]).await;
    push(&app, &alice, "alice/app", "v1").await;

    let get_token = |auth: Option<String>, query: &str| {
        let mut b = Request::get(format!("/token?service=berth.test&{query}"));
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b
    };
    let r = send(
        &app,
        get_token(
            Some(basic("alice", &alice)),
            "scope=repository:alice/app:pull,push&scope=repository:bob/other:pull,push",
        ),
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(r.body["access_token"], r.body["token"]);
    assert!(r.body["expires_in"].as_i64().unwrap() >= 60);
    assert_eq!(
        access(&token),
        json!([
            { "type": "repository", "name": "alice/app", "actions": ["pull", "push"] },
            { "type": "repository", "name": "bob/other", "actions": [] },
        ]),
        "asking too much is not an error"
    );

    // The token works on /v2/ for what it grants, and only that.
    assert_eq!(
        pull(&app, Some(&token), "alice/app").await.status,
        StatusCode::OK
    );
    publish(&app, &token, "alice/app", "v2").await;
    // A token without the action sends the client back for one (Docker's token flow), asking
    // for what the route needs.
    let r = push(&app, &token, "bob/other", "v1").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.header("www-authenticate")
            .contains("scope=\"repository:bob/other:pull,push\",error=\"insufficient_scope\""),
        "{}",
        r.header("www-authenticate")
    );

    // Before the first push the owner is granted pull too (docker checks blobs with HEAD after
    // uploading them; regression: its push failed with "unknown blob").
    let r = send(
        &app,
        get_token(
            Some(basic("alice", &alice)),
            "scope=repository:alice/not-yet:pull,push",
        ),
        Body::empty(),
    )
    .await;
    assert_eq!(
        access(r.body["token"].as_str().unwrap())[0]["actions"],
        json!(["pull", "push"])
    );

    // Anonymous tokens grant public pulls only.
    let r = send(
        &app,
        get_token(None, "scope=repository:alice/app:pull"),
        Body::empty(),
    )
    .await;
    assert_eq!(
        access(r.body["token"].as_str().unwrap())[0]["actions"],
        json!([])
    );
    let anon = r.body["token"].as_str().unwrap().to_owned();
    let r = pull(&app, Some(&anon), "alice/app").await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "an anonymous token is asked to authenticate"
    );

    let r = send(
        &app,
        get_token(
            Some(basic("alice", "berth_pat_wrong")),
            "scope=repository:alice/app:pull",
        ),
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // OAuth2: the password grant returns a refresh token, which later yields access tokens.
    let form = format!(
        "grant_type=password&username=alice&password={alice}&service=berth.test&client_id=test&access_type=offline&scope=repository%3Aalice%2Fapp%3Apull"
    );
    let r = send(
        &app,
        Request::post("/token").header("content-type", "application/x-www-form-urlencoded"),
        form,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh}&service=berth.test&client_id=test&scope=repository%3Aalice%2Fapp%3Apull%20repository%3Aalice%2Fapp%3Apush"
    );
    let r = send(&app, Request::post("/token"), form.clone()).await;
    assert_eq!(
        access(r.body["token"].as_str().unwrap())[0]["actions"],
        json!(["pull", "push"])
    );
    let r = send(
        &app,
        Request::post("/token"),
        "grant_type=password&username=alice&password=berth_pat_nope".to_owned(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(
        &app,
        Request::post("/token"),
        "grant_type=client_credentials".to_owned(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Tokens expire; refresh tokens die with the personal token behind them.
    app.clock.advance(3600);
    assert_eq!(
        pull(&app, Some(&token), "alice/app").await.status,
        StatusCode::UNAUTHORIZED,
        "an expired registry token"
    );
    let id = app.get("/api/v3/user/tokens", Some(&alice)).await.body[0]["id"]
        .as_i64()
        .unwrap();
    app.delete(&format!("/api/v3/user/tokens/{id}"), Some(&alice))
        .await;
    assert_eq!(
        send(&app, Request::post("/token"), form).await.status,
        StatusCode::UNAUTHORIZED,
        "revoking the personal token kills the refresh token"
    );
}

#[tokio::test]
async fn a_repository_token_publish_links_the_package_and_inherits_the_repository_access() {
    let app = TestApp::new().await;
    let alice = app.user("alice", &["repo", "write:packages"]).await;
    let bob = app.user("bob", &["repo", "write:packages"]).await;
    app.repo(&alice, "app", "private").await;
    app.repo(&alice, "other", "private").await;
    let rt = app.repo_token(&alice, "alice/app").await;
    let other_rt = app.repo_token(&alice, "alice/other").await;

    assert_eq!(
        push(&app, &rt, "alice/app-image", "v1").await.status,
        StatusCode::CREATED,
        "a repository token publishes in its owner's namespace"
    );
    assert_eq!(
        push(&app, &rt, "alice/app-image", "v2").await.status,
        StatusCode::CREATED,
        "and keeps writing through inheritance"
    );
    assert_eq!(
        pull(&app, Some(&alice), "alice/app-image").await.status,
        StatusCode::OK
    );
    assert_eq!(
        pull(&app, Some(&other_rt), "alice/app-image").await.status,
        StatusCode::NOT_FOUND,
        "another repository's token sees nothing"
    );
    assert_eq!(
        push(&app, &rt, "bob/elsewhere", "v1").await.status,
        StatusCode::FORBIDDEN,
        "nor does a repository token publish in another namespace"
    );

    // The package's access list is the repository's collaborators.
    assert_eq!(
        pull(&app, Some(&bob), "alice/app-image").await.status,
        StatusCode::NOT_FOUND
    );
    app.collaborator(&alice, "alice/app", "bob", "read").await;
    assert_eq!(
        pull(&app, Some(&bob), "alice/app-image").await.status,
        StatusCode::OK,
        "a reader of the repository pulls"
    );
    assert_eq!(
        push(&app, &bob, "alice/app-image", "bob").await.status,
        StatusCode::FORBIDDEN,
        "but does not push"
    );
    app.collaborator(&alice, "alice/app", "bob", "write").await;
    assert_eq!(
        push(&app, &bob, "alice/app-image", "bob").await.status,
        StatusCode::CREATED,
        "a writer of the repository pushes"
    );
    app.delete("/api/v3/repos/alice/app/collaborators/bob", Some(&alice))
        .await;
    assert_eq!(
        pull(&app, Some(&bob), "alice/app-image").await.status,
        StatusCode::NOT_FOUND,
        "removing the collaborator removes their pull"
    );

    // Through the Docker token flow too: the token names the repository it acts as.
    let r = send(
        &app,
        Request::get("/token?service=berth.test&scope=repository:alice/app-image:pull,push")
            .header("authorization", basic("x", &rt)),
        Body::empty(),
    )
    .await;
    let jwt = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(access(&jwt)[0]["actions"], json!(["pull", "push"]));
    publish(&app, &jwt, "alice/app-image", "v3").await;
}

/// Pushes an image whose config carries `org.opencontainers.image.source`.
async fn push_labelled(app: &TestApp, token: &str, name: &str, source: &str) -> Reply {
    let config = json!({ "architecture": "amd64", "os": "linux", "config": { "Labels": { "org.opencontainers.image.source": source } }, "rootfs": { "type": "layers", "diff_ids": [] } }).to_string();
    let d = upload_blob(app, token, name, config.as_bytes()).await;
    let m = config_manifest("application/vnd.oci.image.config.v1+json", &d, config.len());
    put_manifest(app, token, name, "v1", &m).await
}

#[tokio::test]
async fn the_source_label_links_a_package_and_inheritance_depends_on_who_published() {
    let app = TestApp::new().await;
    let alice = app.user("alice", &["repo", "write:packages"]).await;
    let bob = app.user("bob", &["repo", "read:packages"]).await;
    app.repo(&alice, "app", "private").await;
    app.collaborator(&alice, "alice/app", "bob", "read").await;

    // A personal token's publish with the label: linked, not inheriting.
    assert_eq!(
        push_labelled(
            &app,
            &alice,
            "alice/by-hand",
            "https://code.example/alice/app"
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let p = app
        .get("/api/v3/user/packages/container/by-hand", Some(&alice))
        .await;
    assert_eq!(
        (
            p.status,
            p.body["repository"]["full_name"].as_str(),
            p.body["inherit_access"].as_bool()
        ),
        (StatusCode::OK, Some("alice/app"), Some(false)),
        "{}",
        p.body
    );
    assert_eq!(
        pull(&app, Some(&bob), "alice/by-hand").await.status,
        StatusCode::NOT_FOUND,
        "no inheritance, so the collaborator sees nothing"
    );
    assert_eq!(
        app.get("/api/v3/users/alice/packages/container/by-hand", Some(&bob))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The repository's own token with the label: linked and inheriting.
    let rt = app.repo_token(&alice, "alice/app").await;
    assert_eq!(
        push_labelled(&app, &rt, "alice/from-ci", "alice/app")
            .await
            .status,
        StatusCode::CREATED
    );
    let p = app
        .get("/api/v3/users/alice/packages/container/from-ci", Some(&bob))
        .await;
    assert_eq!(
        (
            p.status,
            p.body["repository"]["full_name"].as_str(),
            p.body["inherit_access"].as_bool()
        ),
        (StatusCode::OK, Some("alice/app"), Some(true)),
        "{}",
        p.body
    );
    let v1 = send(
        &app,
        bearer(Method::GET, "/v2/alice/from-ci/manifests/v1", Some(&bob)),
        Body::empty(),
    )
    .await;
    assert_eq!(
        v1.status,
        StatusCode::OK,
        "the collaborator pulls through inheritance"
    );

    // Listings show what the caller may read.
    let mine = app
        .get("/api/v3/user/packages?package_type=container", Some(&alice))
        .await;
    let names: Vec<_> = mine
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["by-hand", "from-ci"]);
    let bobs_view = app
        .get(
            "/api/v3/users/alice/packages?package_type=container",
            Some(&bob),
        )
        .await;
    let names: Vec<_> = bobs_view
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["from-ci"], "bob sees only what he may read");
    let r = app.get("/api/v3/user/packages", Some(&alice)).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("package_type"))
    );

    // A label naming another owner's repository links nothing.
    assert_eq!(
        push_labelled(
            &app,
            &alice,
            "alice/foreign",
            "https://code.example/bob/app"
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let p = app
        .get("/api/v3/user/packages/container/foreign", Some(&alice))
        .await;
    assert_eq!(p.body["repository"], Value::Null);
}

#[tokio::test]
async fn explicit_grants_to_users_and_repositories_and_switching_inheritance() {
    let app = TestApp::new().await;
    let alice = app
        .user("alice", &["repo", "write:packages", "delete:packages"])
        .await;
    let bob = app.user("bob", &["repo", "write:packages"]).await;
    app.repo(&alice, "ci", "private").await;
    app.repo(&alice, "app", "private").await;
    let ci = app.repo_token(&alice, "alice/ci").await;
    publish(&app, &alice, "alice/img", "v1").await;
    let base = "/api/v3/users/alice/packages/container/img";

    // Users.
    assert_eq!(
        app.put(
            &format!("{base}/access/users/bob"),
            Some(&bob),
            json!({ "role": "admin" })
        )
        .await
        .status,
        StatusCode::NOT_FOUND,
        "bob cannot see it, so cannot grant himself"
    );
    assert_eq!(
        app.put(
            &format!("{base}/access/users/bob"),
            Some(&alice),
            json!({ "role": "read" })
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        pull(&app, Some(&bob), "alice/img").await.status,
        StatusCode::OK,
        "a reader pulls"
    );
    assert_eq!(
        push(&app, &bob, "alice/img", "bob").await.status,
        StatusCode::FORBIDDEN,
        "but does not push"
    );
    assert_eq!(
        app.put(
            &format!("{base}/access/users/bob"),
            Some(&bob),
            json!({ "role": "admin" })
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "nor administer"
    );
    app.put(
        &format!("{base}/access/users/bob"),
        Some(&alice),
        json!({ "role": "write" }),
    )
    .await;
    assert_eq!(
        push(&app, &bob, "alice/img", "bob").await.status,
        StatusCode::CREATED,
        "a writer pushes"
    );
    let r = app
        .put(
            &format!("{base}/access/users/bob"),
            Some(&alice),
            json!({ "role": "owner" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );

    // Repositories: token access and environments access, kept apart.
    assert_eq!(
        pull(&app, Some(&ci), "alice/img").await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .put(
            &format!("{base}/access/repositories/alice/ci"),
            Some(&alice),
            json!({ "environments": true, "token_role": "read" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({ "full_name": "alice/ci", "environments": true, "token_role": "read" }),
        "the grant as it now is"
    );
    assert_eq!(
        pull(&app, Some(&ci), "alice/img").await.status,
        StatusCode::OK,
        "the repository's token reads"
    );
    assert_eq!(
        push(&app, &ci, "alice/img", "ci").await.status,
        StatusCode::FORBIDDEN
    );
    let list = app.get(&format!("{base}/access"), Some(&alice)).await;
    assert_eq!(
        list.body,
        json!({ "users": [{ "login": "bob", "role": "write" }], "teams": [], "repositories": [{ "full_name": "alice/ci", "environments": true, "token_role": "read" }] })
    );
    assert_eq!(
        app.delete(
            &format!("{base}/access/repositories/alice/ci"),
            Some(&alice)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        pull(&app, Some(&ci), "alice/img").await.status,
        StatusCode::NOT_FOUND
    );

    // Linking and inheriting replaces the user grants with the repository's access list.
    let r = app
        .patch(
            base,
            Some(&alice),
            json!({ "repository": "alice/app", "inherit_access": true }),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.body["repository"]["full_name"].as_str(),
            r.body["inherit_access"].as_bool()
        ),
        (StatusCode::OK, Some("alice/app"), Some(true)),
        "{}",
        r.body
    );
    assert_eq!(
        pull(&app, Some(&bob), "alice/img").await.status,
        StatusCode::NOT_FOUND,
        "bob's grant went with the switch"
    );
    let r = app
        .put(
            &format!("{base}/access/users/bob"),
            Some(&alice),
            json!({ "role": "read" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("inherit_access")),
        "no user grants while inheriting"
    );
    app.collaborator(&alice, "alice/app", "bob", "read").await;
    assert_eq!(
        pull(&app, Some(&bob), "alice/img").await.status,
        StatusCode::OK,
        "bob reads as a collaborator of the repository"
    );
    let r = app
        .patch(base, Some(&alice), json!({ "repository": "bob/app" }))
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a package links only to its owner's repositories"
    );
    let r = app
        .patch(base, Some(&alice), json!({ "repository": null }))
        .await;
    assert_eq!(
        (
            r.body["repository"].clone(),
            r.body["inherit_access"].as_bool()
        ),
        (Value::Null, Some(false)),
        "unlinking ends inheritance"
    );
    assert_eq!(
        pull(&app, Some(&bob), "alice/img").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn environments_pull_what_their_repository_may_and_never_push() {
    let app = TestApp::new().await;
    let olga = app
        .user(
            "olga",
            &["repo", "write:packages", "delete:packages", "admin:org"],
        )
        .await;
    app.org("acme", "olga").await;
    app.org_repo(&olga, "acme", "work", "private").await;
    app.org_repo(&olga, "acme", "oss", "public").await;
    publish(&app, &olga, "acme/base", "v1").await;
    let r = app
        .patch(
            "/api/v3/orgs/acme/packages/container/base",
            Some(&olga),
            json!({ "visibility": "internal" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["visibility"].as_str()),
        (StatusCode::OK, Some("internal")),
        "{}",
        r.body
    );

    let in_private = app.environment_token("olga", "acme", "work", 3600).await;
    let in_public = app.environment_token("olga", "acme", "oss", 3600).await;
    assert!(in_private.starts_with("berth_et_"));
    assert_eq!(
        pull(&app, Some(&in_private), "acme/base").await.status,
        StatusCode::OK,
        "an environment of the org's private repository pulls an internal image"
    );
    assert_eq!(
        pull(&app, Some(&in_public), "acme/base").await.status,
        StatusCode::NOT_FOUND,
        "one of a public repository does not"
    );
    let r = app
        .put(
            "/api/v3/orgs/acme/packages/container/base/access/repositories/acme/oss",
            Some(&olga),
            json!({ "environments": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        pull(&app, Some(&in_public), "acme/base").await.status,
        StatusCode::OK,
        "until that repository is granted"
    );

    assert_eq!(
        push(&app, &in_private, "acme/base", "v2").await.status,
        StatusCode::FORBIDDEN,
        "environments never push"
    );
    assert_eq!(
        push(&app, &in_private, "acme/new", "v1").await.status,
        StatusCode::FORBIDDEN,
        "nor create"
    );
    assert_eq!(
        app.get("/api/v3/user", Some(&in_private)).await.status,
        StatusCode::FORBIDDEN,
        "an environment token is not its user on the API"
    );
    assert_eq!(
        app.get("/api/v3/repos/acme/work", Some(&in_private))
            .await
            .status,
        StatusCode::OK,
        "it reads its own repository"
    );

    let r = send(
        &app,
        Request::get("/token?service=berth.test&scope=repository:acme/base:pull,push,delete")
            .header("authorization", basic("x", &in_private)),
        Body::empty(),
    )
    .await;
    assert_eq!(
        access(r.body["token"].as_str().unwrap())[0]["actions"],
        json!(["pull"]),
        "the token flow grants it pull only"
    );

    let short = app.environment_token("olga", "acme", "work", 60).await;
    app.clock.advance(61);
    assert_eq!(
        pull(&app, Some(&short), "acme/base").await.status,
        StatusCode::UNAUTHORIZED,
        "environment tokens expire"
    );
}

#[tokio::test]
async fn versions_are_listed_deleted_and_restored_with_their_tags() {
    let app = TestApp::new().await;
    let alice = app
        .user("alice", &["repo", "write:packages", "delete:packages"])
        .await;
    let reader = app.token_for("alice", &["read:packages"]).await;
    publish(&app, &alice, "alice/img", "v1").await;
    send(
        &app,
        bearer(Method::PUT, "/v2/alice/img/manifests/latest", Some(&alice))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json"),
        pull(&app, Some(&alice), "alice/img").await.raw,
    )
    .await;
    let base = "/api/v3/users/alice/packages/container/img";

    let list = app.get(&format!("{base}/versions"), Some(&reader)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let v = list.body[0].clone();
    assert_eq!(
        (
            v["metadata"]["package_type"].as_str(),
            v["metadata"]["container"]["tags"].clone()
        ),
        (Some("container"), json!(["latest", "v1"]))
    );
    let id = v["id"].as_i64().unwrap();
    let digest = v["name"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&format!("{base}/versions/{id}"), Some(&reader))
            .await
            .body["name"],
        digest
    );

    assert_eq!(
        app.delete(&format!("{base}/versions/{id}"), Some(&reader))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "deleting needs admin and delete:packages"
    );
    assert_eq!(
        app.delete(&format!("{base}/versions/{id}"), Some(&alice))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        pull(&app, Some(&alice), "alice/img").await.status,
        StatusCode::NOT_FOUND,
        "its tags are gone"
    );
    let by_digest = send(
        &app,
        bearer(
            Method::GET,
            &format!("/v2/alice/img/manifests/{digest}"),
            Some(&alice),
        ),
        Body::empty(),
    )
    .await;
    assert_eq!(
        by_digest.status,
        StatusCode::NOT_FOUND,
        "and its manifest is not served"
    );
    assert_eq!(
        app.get(&format!("{base}/versions"), Some(&reader))
            .await
            .body,
        json!([])
    );
    let deleted = app
        .get(&format!("{base}/versions?state=deleted"), Some(&alice))
        .await;
    assert_eq!(
        deleted.body[0]["metadata"]["container"]["tags"],
        json!(["latest", "v1"])
    );
    assert!(deleted.body[0]["deleted_at"].is_string());
    assert_eq!(
        app.get(&format!("{base}/versions/{id}"), Some(&alice))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        app.call(
            Method::POST,
            &format!("{base}/versions/{id}/restore"),
            Some(&alice),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        pull(&app, Some(&alice), "alice/img").await.status,
        StatusCode::OK,
        "restored with its tags"
    );
    assert_eq!(
        app.call(
            Method::POST,
            &format!("{base}/versions/{id}/restore"),
            Some(&alice),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND,
        "nothing left to restore"
    );
    assert_eq!(
        app.get(&format!("{base}/versions/999"), Some(&alice))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(
            "/api/v3/users/alice/packages/container/none/versions",
            Some(&alice)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_organization_can_turn_automatic_inheritance_off_and_packages_can_be_deleted() {
    let app = TestApp::new().await;
    let olga = app
        .user(
            "olga",
            &["repo", "write:packages", "delete:packages", "admin:org"],
        )
        .await;
    let mia = app.user("mia", &["repo", "read:packages"]).await;
    app.org("acme", "olga").await;
    app.member(&olga, "acme", "mia").await;
    app.org_repo(&olga, "acme", "app", "private").await;
    app.collaborator(&olga, "acme/app", "mia", "read").await;
    let rt = app.repo_token(&olga, "acme/app").await;

    assert_eq!(
        app.get("/api/v3/orgs/acme/settings/packages", Some(&mia))
            .await
            .body,
        json!({ "auto_inherit_access": true })
    );
    let r = app
        .patch(
            "/api/v3/orgs/acme/settings/packages",
            Some(&mia),
            json!({ "auto_inherit_access": false }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "members do not change org settings"
    );
    let r = app
        .patch(
            "/api/v3/orgs/acme/settings/packages",
            Some(&olga),
            json!({ "auto_inherit_access": false }),
        )
        .await;
    assert_eq!(r.body, json!({ "auto_inherit_access": false }));

    publish(&app, &rt, "acme/app-image", "v1").await;
    let p = app
        .get(
            "/api/v3/orgs/acme/packages/container/app-image",
            Some(&olga),
        )
        .await;
    assert_eq!(
        (
            p.body["repository"]["full_name"].as_str(),
            p.body["inherit_access"].as_bool()
        ),
        (Some("acme/app"), Some(false)),
        "linked, not inheriting"
    );
    assert_eq!(
        pull(&app, Some(&mia), "acme/app-image").await.status,
        StatusCode::NOT_FOUND,
        "so the collaborator gets nothing"
    );
    let access = app
        .get(
            "/api/v3/orgs/acme/packages/container/app-image/access",
            Some(&olga),
        )
        .await;
    assert_eq!(
        access.body["repositories"],
        json!([{ "full_name": "acme/app", "environments": false, "token_role": "admin" }]),
        "the publishing repository keeps admin for its token"
    );
    assert_eq!(
        push(&app, &rt, "acme/app-image", "v2").await.status,
        StatusCode::CREATED,
        "and goes on publishing"
    );

    // Deleting a whole package.
    assert_eq!(
        app.delete("/api/v3/orgs/acme/packages/container/app-image", Some(&mia))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "mia cannot see it"
    );
    let reader = app.token_for("olga", &["read:packages"]).await;
    assert_eq!(
        app.delete(
            "/api/v3/orgs/acme/packages/container/app-image",
            Some(&reader)
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "deleting needs delete:packages"
    );
    assert_eq!(
        app.delete(
            "/api/v3/orgs/acme/packages/container/app-image",
            Some(&olga)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        pull(&app, Some(&olga), "acme/app-image").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(
            "/api/v3/orgs/acme/packages/container/app-image",
            Some(&olga)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let again = push(&app, &olga, "acme/app-image", "v1").await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "the name can be published again: {}",
        again.body
    );
}
