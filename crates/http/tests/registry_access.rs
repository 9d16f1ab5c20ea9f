//! Who may pull, push and delete in the registry, and the Docker token flow that carries it.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use serde_json::{Value, json};
use support::oci::{
    Try, acme_with_an_internal_base, basic, bearer, config_manifest, expect_access, publish, pull,
    push, put_manifest, send, upload_blob,
};
use support::{Reply, TestApp, status_and};

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

/// The actions the registry token in `r` grants on its first scope.
fn first_actions(r: &Reply) -> Value {
    access(r.body["token"].as_str().unwrap())[0]["actions"].clone()
}

/// Asks the token endpoint for `query` (scopes), with `authorization` when given.
async fn registry_token(app: &TestApp, authorization: Option<String>, query: &str) -> Reply {
    let mut b = Request::get(format!("/token?service=berth.test&{query}"));
    if let Some(a) = authorization {
        b = b.header("authorization", a);
    }
    send(app, b, Body::empty()).await
}

/// Posts an OAuth2 `form` to the token endpoint.
async fn token_form(app: &TestApp, form: impl Into<String>) -> Reply {
    send(app, Request::post("/token"), form.into()).await
}

/// A package's link: the repository it names and whether it inherits that repository's access.
fn link(package: &Reply) -> (Option<String>, Option<bool>) {
    let repository = package.body["repository"]["full_name"].as_str();
    (
        repository.map(str::to_owned),
        package.body["inherit_access"].as_bool(),
    )
}

/// The link of a package that `token` reads at `path` (its API address).
async fn link_seen(app: &TestApp, path: &str, token: &str) -> (Option<String>, Option<bool>) {
    let p = app.get(path, Some(token)).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    link(&p)
}

/// The names in a listing of packages.
fn names(listing: &Reply) -> Vec<&str> {
    let all = listing.body.as_array().unwrap().iter();
    all.map(|p| p["name"].as_str().unwrap()).collect()
}

/// The field a 422 answer names.
fn invalid_field(r: &Reply) -> (StatusCode, Option<&str>) {
    (r.status, r.body["errors"][0]["field"].as_str())
}

#[tokio::test]
async fn private_packages_look_exactly_like_missing_ones() {
    let (app, [alice, bob]) = TestApp::with_users([
        ("alice", &["write:packages", "delete:packages"]),
        ("bob", &["write:packages", "delete:packages"]),
    ])
    .await;
    publish(&app, &alice, "alice/secret", "v1").await;
    expect_access(&app, &[(Some(&alice), Try::Pull, "alice/secret", 200)]).await;

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
    expect_access(
        &app,
        &[
            // Nobody creates packages in another's namespace.
            (Some(&bob), Try::Push("v1"), "alice/new", 403),
            // Deleting what you cannot see is not found.
            (Some(&bob), Try::Delete("v1"), "alice/secret", 404),
            (Some(&bob), Try::Tags, "alice/secret", 404),
        ],
    )
    .await;
}

#[tokio::test]
async fn scopes_limit_what_a_token_does() {
    let (app, [writer]) = TestApp::with_users([("alice", &["write:packages"])]).await;
    push(&app, &writer, "alice/app", "v1").await;
    let reader = app.token_for("alice", &["read:packages"]).await;
    let nothing = app.token_for("alice", &["repo"]).await;
    expect_access(
        &app,
        &[
            (Some(&reader), Try::Pull, "alice/app", 200),
            // read:packages does not push.
            (Some(&reader), Try::Push("v2"), "alice/app", 403),
            // No packages scope, no private pull.
            (Some(&nothing), Try::Pull, "alice/app", 404),
            // Deleting needs delete:packages.
            (Some(&writer), Try::Delete("v1"), "alice/app", 403),
        ],
    )
    .await;
}

#[tokio::test]
async fn organizations_members_create_and_owners_administer() {
    let (app, [olga, mia, max]) = TestApp::with_users([
        ("olga", &["write:packages", "delete:packages", "admin:org"]),
        ("mia", &["write:packages", "delete:packages"]),
        ("max", &["write:packages", "delete:packages"]),
    ])
    .await;
    app.org("acme", "olga").await;
    for member in ["mia", "max"] {
        app.member(&olga, "acme", member).await;
    }
    expect_access(
        &app,
        &[
            // Members create packages in their org.
            (Some(&mia), Try::Push("v1"), "acme/tool", 201),
            // The publisher is admin.
            (Some(&mia), Try::Pull, "acme/tool", 200),
            // Org owners are admin.
            (Some(&olga), Try::Pull, "acme/tool", 200),
            // Other members do not see a private package.
            (Some(&max), Try::Pull, "acme/tool", 404),
            (Some(&olga), Try::Delete("v1"), "acme/tool", 202),
        ],
    )
    .await;
}

#[tokio::test]
async fn public_packages_are_pulled_anonymously_and_stay_public() {
    let (app, [alice]) = TestApp::with_users([("alice", &["write:packages"])]).await;
    push(&app, &alice, "alice/tools/cli", "v1").await;
    let cli = "alice/tools/cli";
    expect_access(&app, &[(None, Try::Pull, cli, 401)]).await;
    let bob = app.user("bob", &["write:packages"]).await;
    let package = "/api/v3/user/packages/container/tools%2Fcli";
    let r = app.package_visibility(&bob, package, "public").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "bob has no such package");
    let r = app.package_visibility(&alice, package, "public").await;
    let public = (StatusCode::OK, Some("public"));
    assert_eq!(status_and(&r, "visibility"), public, "{}", r.body);
    expect_access(
        &app,
        &[
            // Anyone pulls a public package.
            (None, Try::Pull, cli, 200),
            (Some(&bob), Try::Pull, cli, 200),
            // Public is not writable by all.
            (Some(&bob), Try::Push("v2"), cli, 403),
        ],
    )
    .await;
    let r = app.package_visibility(&alice, package, "private").await;
    assert_eq!(
        invalid_field(&r),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("visibility")),
        "public is final"
    );
    let r = app.package_visibility(&alice, package, "internal").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_token_endpoint_grants_the_intersection() {
    let (app, [alice]) = TestApp::with_users([("alice", &["write:packages"])]).await;
    app.user("bob", &["write:packages"]).await;
    push(&app, &alice, "alice/app", "v1").await;

    let r = registry_token(
        &app,
        Some(basic("alice", &alice)),
        "scope=repository:alice/app:pull,push&scope=repository:bob/other:pull,push",
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
    expect_access(&app, &[(Some(&token), Try::Pull, "alice/app", 200)]).await;
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
    let by_alice = Some(basic("alice", &alice));
    let r = registry_token(&app, by_alice, "scope=repository:alice/not-yet:pull,push").await;
    assert_eq!(first_actions(&r), json!(["pull", "push"]));

    // Anonymous tokens grant public pulls only.
    let r = registry_token(&app, None, "scope=repository:alice/app:pull").await;
    assert_eq!(first_actions(&r), json!([]));
    let anon = r.body["token"].as_str().unwrap().to_owned();
    let r = pull(&app, Some(&anon), "alice/app").await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "an anonymous token is asked to authenticate"
    );

    let wrong = Some(basic("alice", "berth_pat_wrong"));
    let r = registry_token(&app, wrong, "scope=repository:alice/app:pull").await;
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
    let r = token_form(&app, form.clone()).await;
    assert_eq!(first_actions(&r), json!(["pull", "push"]));
    let r = token_form(
        &app,
        "grant_type=password&username=alice&password=berth_pat_nope",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = token_form(&app, "grant_type=client_credentials").await;
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
        token_form(&app, form).await.status,
        StatusCode::UNAUTHORIZED,
        "revoking the personal token kills the refresh token"
    );
}

#[tokio::test]
async fn a_repository_token_publish_links_the_package_and_inherits_the_repository_access() {
    let (app, [alice, bob]) = TestApp::with_users([
        ("alice", &["repo", "write:packages"]),
        ("bob", &["repo", "write:packages"]),
    ])
    .await;
    app.repo(&alice, "app", "private").await;
    app.repo(&alice, "other", "private").await;
    let rt = app.repo_token(&alice, "alice/app").await;
    let other_rt = app.repo_token(&alice, "alice/other").await;

    let image = "alice/app-image";
    expect_access(
        &app,
        &[
            // A repository token publishes in its owner's namespace,
            (Some(&rt), Try::Push("v1"), image, 201),
            // and keeps writing through inheritance.
            (Some(&rt), Try::Push("v2"), image, 201),
            (Some(&alice), Try::Pull, image, 200),
            // Another repository's token sees nothing,
            (Some(&other_rt), Try::Pull, image, 404),
            // nor does a repository token publish in another namespace.
            (Some(&rt), Try::Push("v1"), "bob/elsewhere", 403),
            // The package's access list is the repository's collaborators.
            (Some(&bob), Try::Pull, image, 404),
        ],
    )
    .await;
    app.collaborator(&alice, "alice/app", "bob", "read").await;
    expect_access(
        &app,
        &[
            // A reader of the repository pulls,
            (Some(&bob), Try::Pull, image, 200),
            // but does not push.
            (Some(&bob), Try::Push("bob"), image, 403),
        ],
    )
    .await;
    app.collaborator(&alice, "alice/app", "bob", "write").await;
    // A writer of the repository pushes.
    expect_access(&app, &[(Some(&bob), Try::Push("bob"), image, 201)]).await;
    app.delete("/api/v3/repos/alice/app/collaborators/bob", Some(&alice))
        .await;
    // Removing the collaborator removes their pull.
    expect_access(&app, &[(Some(&bob), Try::Pull, image, 404)]).await;

    // Through the Docker token flow too: the token names the repository it acts as.
    let r = registry_token(
        &app,
        Some(basic("x", &rt)),
        "scope=repository:alice/app-image:pull,push",
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
    let (app, [alice, bob]) = TestApp::with_users([
        ("alice", &["repo", "write:packages"]),
        ("bob", &["repo", "read:packages"]),
    ])
    .await;
    app.repo(&alice, "app", "private").await;
    app.collaborator(&alice, "alice/app", "bob", "read").await;
    let labelled = async |token: &str, name: &str, source: &str| {
        let r = push_labelled(&app, token, name, source).await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}: {}", r.body);
    };

    // A personal token's publish with the label: linked, not inheriting.
    labelled(&alice, "alice/by-hand", "https://code.example/alice/app").await;
    let mine = "/api/v3/user/packages/container/by-hand";
    let linked = (Some("alice/app".into()), Some(false));
    assert_eq!(link_seen(&app, mine, &alice).await, linked);
    // No inheritance, so the collaborator sees nothing.
    expect_access(&app, &[(Some(&bob), Try::Pull, "alice/by-hand", 404)]).await;
    let by_hand = "/api/v3/users/alice/packages/container/by-hand";
    app.expect_statuses(&[(Method::GET, by_hand, Some(&bob), 404)])
        .await;

    // The repository's own token with the label: linked and inheriting.
    let rt = app.repo_token(&alice, "alice/app").await;
    labelled(&rt, "alice/from-ci", "alice/app").await;
    let alices = "/api/v3/users/alice/packages/container/from-ci";
    let inheriting = (Some("alice/app".into()), Some(true));
    assert_eq!(link_seen(&app, alices, &bob).await, inheriting);
    // The collaborator pulls through inheritance.
    expect_access(&app, &[(Some(&bob), Try::Pull, "alice/from-ci", 200)]).await;

    // Listings show what the caller may read.
    let mine = app
        .get("/api/v3/user/packages?package_type=container", Some(&alice))
        .await;
    assert_eq!(names(&mine), ["by-hand", "from-ci"]);
    let bobs_view = app
        .get(
            "/api/v3/users/alice/packages?package_type=container",
            Some(&bob),
        )
        .await;
    assert_eq!(
        names(&bobs_view),
        ["from-ci"],
        "bob sees only what he may read"
    );
    assert_eq!(
        bobs_view.body[0]["repository"]["full_name"], "alice/app",
        "a listing names each package's repository, as its own page does"
    );
    let r = app.get("/api/v3/user/packages", Some(&alice)).await;
    assert_eq!(
        invalid_field(&r),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("package_type"))
    );

    // A label naming another owner's repository links nothing.
    labelled(&alice, "alice/foreign", "https://code.example/bob/app").await;
    let p = app
        .get("/api/v3/user/packages/container/foreign", Some(&alice))
        .await;
    assert_eq!(p.body["repository"], Value::Null);
}

/// Gives `login` `role` on the package at `package` (its API address), as `token`.
async fn grant_user(app: &TestApp, token: &str, package: &str, login: &str, role: &str) -> Reply {
    let path = format!("{package}/access/users/{login}");
    app.put(&path, Some(token), json!({ "role": role })).await
}

#[tokio::test]
async fn explicit_grants_to_users_and_repositories_and_switching_inheritance() {
    let (app, [alice, bob]) = TestApp::with_users([
        ("alice", &["repo", "write:packages", "delete:packages"]),
        ("bob", &["repo", "write:packages"]),
    ])
    .await;
    app.repo(&alice, "ci", "private").await;
    app.repo(&alice, "app", "private").await;
    let ci = app.repo_token(&alice, "alice/ci").await;
    publish(&app, &alice, "alice/img", "v1").await;
    let base = "/api/v3/users/alice/packages/container/img";

    // Users.
    assert_eq!(
        grant_user(&app, &bob, base, "bob", "admin").await.status,
        StatusCode::NOT_FOUND,
        "bob cannot see it, so cannot grant himself"
    );
    assert_eq!(
        grant_user(&app, &alice, base, "bob", "read").await.status,
        StatusCode::NO_CONTENT
    );
    expect_access(
        &app,
        &[
            // A reader pulls,
            (Some(&bob), Try::Pull, "alice/img", 200),
            // but does not push.
            (Some(&bob), Try::Push("bob"), "alice/img", 403),
        ],
    )
    .await;
    assert_eq!(
        grant_user(&app, &bob, base, "bob", "admin").await.status,
        StatusCode::FORBIDDEN,
        "nor administer"
    );
    grant_user(&app, &alice, base, "bob", "write").await;
    // A writer pushes.
    expect_access(&app, &[(Some(&bob), Try::Push("bob"), "alice/img", 201)]).await;
    let r = grant_user(&app, &alice, base, "bob", "owner").await;
    assert_eq!(
        invalid_field(&r),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );

    // Repositories: token access and environments access, kept apart.
    expect_access(&app, &[(Some(&ci), Try::Pull, "alice/img", 404)]).await;
    let both = json!({ "environments": true, "token_role": "read" });
    let r = app.grant_repository(&alice, base, "alice/ci", both).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({ "full_name": "alice/ci", "environments": true, "token_role": "read" }),
        "the grant as it now is"
    );
    expect_access(
        &app,
        &[
            // The repository's token reads.
            (Some(&ci), Try::Pull, "alice/img", 200),
            (Some(&ci), Try::Push("ci"), "alice/img", 403),
        ],
    )
    .await;
    let list = app.get(&format!("{base}/access"), Some(&alice)).await;
    assert_eq!(
        list.body,
        json!({ "users": [{ "login": "bob", "role": "write" }], "teams": [], "repositories": [{ "full_name": "alice/ci", "environments": true, "token_role": "read" }] })
    );
    let ci_grant = format!("{base}/access/repositories/alice/ci");
    app.expect_statuses(&[(Method::DELETE, &ci_grant, Some(&alice), 204)])
        .await;
    expect_access(&app, &[(Some(&ci), Try::Pull, "alice/img", 404)]).await;

    // Linking and inheriting replaces the user grants with the repository's access list.
    let r = app
        .patch(
            base,
            Some(&alice),
            json!({ "repository": "alice/app", "inherit_access": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(link(&r), (Some("alice/app".into()), Some(true)));
    // Bob's grant went with the switch.
    expect_access(&app, &[(Some(&bob), Try::Pull, "alice/img", 404)]).await;
    let r = grant_user(&app, &alice, base, "bob", "read").await;
    assert_eq!(
        invalid_field(&r),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("inherit_access")),
        "no user grants while inheriting"
    );
    app.collaborator(&alice, "alice/app", "bob", "read").await;
    // Bob reads as a collaborator of the repository.
    expect_access(&app, &[(Some(&bob), Try::Pull, "alice/img", 200)]).await;
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
    expect_access(&app, &[(Some(&bob), Try::Pull, "alice/img", 404)]).await;
}

#[tokio::test]
async fn environments_pull_what_their_repository_may_and_never_push() {
    let app = TestApp::new().await;
    let scopes = ["repo", "write:packages", "delete:packages", "admin:org"];
    let olga = acme_with_an_internal_base(&app, &scopes).await;
    let base = "/api/v3/orgs/acme/packages/container/base";

    let in_private = app.environment_token("olga", "acme", "work", 3600).await;
    let in_public = app.environment_token("olga", "acme", "oss", 3600).await;
    assert!(in_private.starts_with("berth_et_"));
    expect_access(
        &app,
        &[
            // An environment of the org's private repository pulls an internal image;
            (Some(&in_private), Try::Pull, "acme/base", 200),
            // one of a public repository does not
            (Some(&in_public), Try::Pull, "acme/base", 404),
        ],
    )
    .await;
    let environments = json!({ "environments": true });
    let r = app
        .grant_repository(&olga, base, "acme/oss", environments)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    expect_access(
        &app,
        &[
            // until that repository is granted.
            (Some(&in_public), Try::Pull, "acme/base", 200),
            // Environments never push,
            (Some(&in_private), Try::Push("v2"), "acme/base", 403),
            // nor create.
            (Some(&in_private), Try::Push("v1"), "acme/new", 403),
        ],
    )
    .await;
    app.expect_statuses(&[
        // An environment token is not its user on the API;
        (Method::GET, "/api/v3/user", Some(&in_private), 403),
        // it reads its own repository.
        (
            Method::GET,
            "/api/v3/repos/acme/work",
            Some(&in_private),
            200,
        ),
    ])
    .await;

    let r = registry_token(
        &app,
        Some(basic("x", &in_private)),
        "scope=repository:acme/base:pull,push,delete",
    )
    .await;
    assert_eq!(
        first_actions(&r),
        json!(["pull"]),
        "the token flow grants it pull only"
    );

    let short = app.environment_token("olga", "acme", "work", 60).await;
    app.clock.advance(61);
    // Environment tokens expire.
    expect_access(&app, &[(Some(&short), Try::Pull, "acme/base", 401)]).await;
}

#[tokio::test]
async fn versions_are_listed_deleted_and_restored_with_their_tags() {
    let (app, [alice]) =
        TestApp::with_users([("alice", &["repo", "write:packages", "delete:packages"])]).await;
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
    let version = format!("{base}/versions/{id}");
    assert_eq!(app.get(&version, Some(&reader)).await.body["name"], digest);

    app.expect_statuses(&[
        // Deleting needs admin and delete:packages.
        (Method::DELETE, &version, Some(&reader), 403),
        (Method::DELETE, &version, Some(&alice), 204),
    ])
    .await;
    let by_digest = format!("alice/img/manifests/{digest}");
    expect_access(
        &app,
        &[
            // Its tags are gone,
            (Some(&alice), Try::Pull, "alice/img", 404),
        ],
    )
    .await;
    app.expect_statuses(&[
        // and its manifest is not served.
        (Method::GET, &format!("/v2/{by_digest}"), Some(&alice), 404),
    ])
    .await;
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
    let restore = format!("{version}/restore");
    app.expect_statuses(&[
        (Method::GET, &version, Some(&alice), 404),
        (Method::POST, &restore, Some(&alice), 204),
    ])
    .await;
    // Restored with its tags.
    expect_access(&app, &[(Some(&alice), Try::Pull, "alice/img", 200)]).await;
    let none = "/api/v3/users/alice/packages/container/none/versions";
    app.expect_statuses(&[
        // Nothing left to restore.
        (Method::POST, &restore, Some(&alice), 404),
        (
            Method::GET,
            &format!("{base}/versions/999"),
            Some(&alice),
            404,
        ),
        (Method::GET, none, Some(&alice), 404),
    ])
    .await;
}

#[tokio::test]
async fn an_organization_can_turn_automatic_inheritance_off_and_packages_can_be_deleted() {
    let (app, [olga, mia]) = TestApp::with_users([
        (
            "olga",
            &["repo", "write:packages", "delete:packages", "admin:org"],
        ),
        ("mia", &["repo", "read:packages"]),
    ])
    .await;
    app.org("acme", "olga").await;
    app.member(&olga, "acme", "mia").await;
    app.org_repo(&olga, "acme", "app", "private").await;
    app.collaborator(&olga, "acme/app", "mia", "read").await;
    let rt = app.repo_token(&olga, "acme/app").await;

    let settings = "/api/v3/orgs/acme/settings/packages";
    assert_eq!(
        app.get(settings, Some(&mia)).await.body,
        json!({ "auto_inherit_access": true })
    );
    let off = json!({ "auto_inherit_access": false });
    let r = app.patch(settings, Some(&mia), off.clone()).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "members do not change org settings"
    );
    let r = app.patch(settings, Some(&olga), off.clone()).await;
    assert_eq!(r.body, off);

    publish(&app, &rt, "acme/app-image", "v1").await;
    let package = "/api/v3/orgs/acme/packages/container/app-image";
    let p = app.get(package, Some(&olga)).await;
    assert_eq!(
        link(&p),
        (Some("acme/app".into()), Some(false)),
        "linked, not inheriting"
    );
    // So the collaborator gets nothing.
    expect_access(&app, &[(Some(&mia), Try::Pull, "acme/app-image", 404)]).await;
    let access = app.get(&format!("{package}/access"), Some(&olga)).await;
    assert_eq!(
        access.body["repositories"],
        json!([{ "full_name": "acme/app", "environments": false, "token_role": "admin" }]),
        "the publishing repository keeps admin for its token"
    );
    // And goes on publishing.
    expect_access(&app, &[(Some(&rt), Try::Push("v2"), "acme/app-image", 201)]).await;

    // Deleting a whole package.
    let reader = app.token_for("olga", &["read:packages"]).await;
    app.expect_statuses(&[
        // Mia cannot see it.
        (Method::DELETE, package, Some(&mia), 404),
        // Deleting needs delete:packages.
        (Method::DELETE, package, Some(&reader), 403),
        (Method::DELETE, package, Some(&olga), 204),
    ])
    .await;
    expect_access(&app, &[(Some(&olga), Try::Pull, "acme/app-image", 404)]).await;
    app.expect_statuses(&[(Method::GET, package, Some(&olga), 404)])
        .await;
    let again = push(&app, &olga, "acme/app-image", "v1").await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "the name can be published again: {}",
        again.body
    );
}
