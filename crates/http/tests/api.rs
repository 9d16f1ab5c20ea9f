//! The REST API in-process: every endpoint of `/api/v3`, its happy path and its GitHub-shaped
//! errors.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use serde_json::json;
use support::{BASE, TestApp, assert_error, assert_invalid, first_error};

#[tokio::test]
async fn healthz_answers_without_credentials() {
    let app = TestApp::new().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn readyz_names_what_does_not_answer() {
    let app = TestApp::new().await;
    let r = app.get("/readyz", None).await;
    assert_eq!(
        (r.status, r.raw.as_slice()),
        (StatusCode::OK, &b"ready\n"[..])
    );
    app.berth.store().close().await;
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(String::from_utf8_lossy(&r.raw), "not answering: database\n");
}

#[tokio::test]
async fn authentication_forms_and_failures() {
    let app = TestApp::new().await;
    assert_error(
        &app.get("/api/v3/user", None).await,
        StatusCode::UNAUTHORIZED,
        "Requires authentication",
    );
    assert_error(
        &app.get("/api/v3/user", Some("berth_pat_wrong")).await,
        StatusCode::UNAUTHORIZED,
        "Bad credentials",
    );

    let me = app.get("/api/v3/user", Some(&app.admin)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        (
            me.body["login"].as_str(),
            me.body["type"].as_str(),
            me.body["site_admin"].as_bool()
        ),
        (Some("admin"), Some("User"), Some(true))
    );
    assert_eq!(me.body["url"], format!("{BASE}/api/v3/users/admin"));
    let scopes = me.headers["x-oauth-scopes"].to_str().unwrap();
    assert!(
        scopes.contains("site_admin") && scopes.contains("repo"),
        "{scopes}"
    );

    for header in [
        format!("token {}", app.admin),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", app.admin))
        ),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:", app.admin))
        ),
    ] {
        let req = Request::get("/api/v3/user")
            .header("authorization", header.clone())
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.send(req).await.status, StatusCode::OK, "{header}");
    }
    let req = Request::get("/api/v3/user")
        .header("authorization", "Digest x")
        .body(Body::empty())
        .unwrap();
    assert_error(
        &app.send(req).await,
        StatusCode::UNAUTHORIZED,
        "Bad credentials",
    );
    // A bad token is refused even where anonymous access would be allowed.
    assert_error(
        &app.get("/api/v3/users/admin", Some("nope")).await,
        StatusCode::UNAUTHORIZED,
        "Bad credentials",
    );
}

#[tokio::test]
async fn admin_creates_users_and_orgs_and_others_cannot() {
    let (app, [octo]) = TestApp::with_users([("Octo", &["repo"])]).await;
    let u = app.get("/api/v3/users/octo", None).await;
    assert_eq!(
        (u.status, u.body["login"].as_str()),
        (StatusCode::OK, Some("Octo")),
        "kept as given, found case-insensitively"
    );

    let users = "/api/v3/admin/users";
    app.expect_invalid(
        users,
        &app.admin,
        "User",
        &[
            (json!({ "login": "OCTO" }), "login", "already_exists"),
            (json!({ "login": "-bad" }), "login", "invalid"),
            (json!({ "login": "a_b" }), "login", "invalid"),
            (json!({}), "login", "missing_field"),
        ],
    )
    .await;
    assert_error(
        &app.post("/api/v3/admin/users", Some(&octo), json!({ "login": "x" }))
            .await,
        StatusCode::FORBIDDEN,
        "must be a site administrator acting with the site_admin scope",
    );
    assert_error(
        &app.post("/api/v3/admin/users", None, json!({ "login": "x" }))
            .await,
        StatusCode::UNAUTHORIZED,
        "Requires authentication",
    );

    let r = app
        .post(
            "/api/v3/admin/organizations",
            Some(&app.admin),
            json!({ "login": "acme", "admin": "octo" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (StatusCode::CREATED, Some("Organization"))
    );
    app.expect_invalid_on(
        Method::POST,
        "/api/v3/admin/organizations",
        &app.admin,
        "Organization",
        &[
            (
                json!({ "login": "octo", "admin": "octo" }),
                "login",
                "already_exists",
            ),
            (
                json!({ "login": "other", "admin": "ghost" }),
                "admin",
                "invalid",
            ),
        ],
    )
    .await;

    let org = app.get("/api/v3/orgs/ACME", None).await;
    assert_eq!(
        (org.status, org.body["login"].as_str()),
        (StatusCode::OK, Some("acme"))
    );
    assert_error(
        &app.get("/api/v3/orgs/octo", None).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_error(
        &app.get("/api/v3/users/ghost", None).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_error(
        &app.get("/api/v3/users/not_a_login", None).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
}

#[tokio::test]
async fn bodies_that_are_not_json_or_the_wrong_shape() {
    let app = TestApp::new().await;
    let req = Request::post("/api/v3/admin/users")
        .header("authorization", format!("Bearer {}", app.admin))
        .body(Body::from("{not json"))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.message().starts_with("Problems parsing JSON"),
        "{}",
        r.body
    );
    let r = app
        .post(
            "/api/v3/admin/users",
            Some(&app.admin),
            json!({ "login": 42 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(first_error(&r).contains("invalid type"), "{}", r.body);
}

#[tokio::test]
async fn memberships_are_managed_by_org_owners() {
    let (app, [owner, member, outsider]) = TestApp::with_users([
        ("olga", &["repo", "admin:org"]),
        ("mia", &["repo"]),
        ("otto", &["repo"]),
    ])
    .await;
    app.org("acme", "olga").await;

    let r = app
        .put(
            "/api/v3/orgs/acme/memberships/mia",
            Some(&owner),
            json!({ "role": "member" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            r.body["role"].as_str(),
            r.body["state"].as_str(),
            r.body["user"]["login"].as_str()
        ),
        (Some("member"), Some("active"), Some("mia"))
    );
    let r = app
        .get("/api/v3/orgs/acme/memberships/mia", Some(&member))
        .await;
    assert_eq!(r.body["role"], "member");
    let r = app
        .get("/api/v3/orgs/acme/memberships/olga", Some(&owner))
        .await;
    assert_eq!(
        r.body["role"], "admin",
        "owners are `admin` in GitHub's words"
    );

    assert_invalid(
        &app.put(
            "/api/v3/orgs/acme/memberships/otto",
            Some(&owner),
            json!({ "role": "boss" }),
        )
        .await,
        "Membership",
        "role",
        "invalid",
    );
    assert_error(
        &app.put(
            "/api/v3/orgs/acme/memberships/otto",
            Some(&member),
            json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "you must be an owner of acme to do this",
    );
    assert_error(
        &app.put(
            "/api/v3/orgs/acme/memberships/mia",
            Some(&outsider),
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_error(
        &app.get("/api/v3/orgs/acme/memberships/mia", Some(&outsider))
            .await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    let no_admin_org = app.token_for("olga", &["repo"]).await;
    assert_eq!(
        app.put(
            "/api/v3/orgs/acme/memberships/otto",
            Some(&no_admin_org),
            json!({})
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "admin:org scope needed"
    );

    let members = app.get("/api/v3/orgs/acme/members", Some(&member)).await;
    let logins: Vec<_> = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins, ["mia", "olga"]);
    assert_eq!(
        app.get("/api/v3/orgs/acme/members", Some(&outsider))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Promotion to owner, then removal.
    let r = app
        .put(
            "/api/v3/orgs/acme/memberships/mia",
            Some(&owner),
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(r.body["role"], "admin");
    assert_eq!(
        app.delete("/api/v3/orgs/acme/memberships/mia", Some(&owner))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &app.delete("/api/v3/orgs/acme/memberships/mia", Some(&owner))
            .await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
}

#[tokio::test]
async fn repositories_are_created_and_hidden_from_those_who_cannot_see_them() {
    let (app, [olga, mia, otto]) = TestApp::with_users([
        ("olga", &["repo", "admin:org"]),
        ("mia", &["repo"]),
        ("otto", &["repo"]),
    ])
    .await;
    app.org("acme", "olga").await;
    app.member(&olga, "acme", "mia").await;

    let (org_repos, my_repos) = ("/api/v3/orgs/acme/repos", "/api/v3/user/repos");
    let r = app.post(org_repos, Some(&mia), json!({ "name": "tools", "visibility": "internal", "clone_url": "https://git.example/tools.git" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (
            r.body["full_name"].as_str(),
            r.body["visibility"].as_str(),
            r.body["private"].as_bool()
        ),
        (Some("acme/tools"), Some("internal"), Some(true))
    );
    assert_eq!(r.body["clone_url"], "https://git.example/tools.git");
    assert_eq!(
        r.body["permissions"]["admin"], true,
        "a member who creates an org repository administers it, as on GitHub"
    );
    let secret = json!({ "name": "secret", "visibility": "private" });
    let r = app.post(org_repos, Some(&olga), secret).await;
    assert_eq!(r.body["permissions"]["admin"], true, "org owners are admin");
    let public = json!({ "name": "pub", "private": false });
    let r = app.post(my_repos, Some(&otto), public).await;
    assert_eq!(
        (r.status, r.body["visibility"].as_str()),
        (StatusCode::CREATED, Some("public"))
    );

    let taken = (json!({ "name": "TOOLS" }), "name", "already_exists");
    app.expect_invalid(org_repos, &olga, "Repository", &[taken])
        .await;
    let internal = json!({ "name": "x", "visibility": "internal" });
    let secretive = json!({ "name": "x", "visibility": "secretive" });
    let spaced = json!({ "name": "x", "clone_url": "has space" });
    app.expect_invalid(
        my_repos,
        &otto,
        "Repository",
        &[
            (internal, "visibility", "invalid"),
            (secretive, "visibility", "invalid"),
            (json!({ "name": "a/b" }), "name", "invalid"),
            (json!({}), "name", "missing_field"),
            (spaced, "clone_url", "invalid"),
        ],
    )
    .await;
    assert_eq!(
        app.post(org_repos, Some(&otto), json!({ "name": "x" }))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "outsiders cannot create org repos"
    );

    // Visibility: 404, never 403, for what the caller cannot see.
    assert_eq!(
        app.get("/api/v3/repos/acme/tools", Some(&mia)).await.status,
        StatusCode::OK
    );
    assert_error(
        &app.get("/api/v3/repos/acme/tools", Some(&otto)).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_error(
        &app.get("/api/v3/repos/acme/tools", None).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_error(
        &app.get("/api/v3/repos/acme/secret", Some(&mia)).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_error(
        &app.get("/api/v3/repos/acme/nothing", Some(&olga)).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_eq!(
        app.get("/api/v3/repos/otto/pub", None).await.body["permissions"]["pull"],
        true
    );

    let names = |r: &support::Reply| {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["full_name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&app.get("/api/v3/orgs/acme/repos", Some(&olga)).await),
        ["acme/secret", "acme/tools"]
    );
    assert_eq!(
        names(&app.get("/api/v3/orgs/acme/repos", Some(&mia)).await),
        ["acme/tools"]
    );
    assert!(names(&app.get("/api/v3/orgs/acme/repos", None).await).is_empty());
    assert_eq!(
        names(&app.get("/api/v3/user/repos", Some(&mia)).await),
        ["acme/tools"]
    );
    assert_eq!(
        names(&app.get("/api/v3/users/otto/repos", None).await),
        ["otto/pub"]
    );
    assert_error(
        &app.get("/api/v3/user/repos", None).await,
        StatusCode::UNAUTHORIZED,
        "Requires authentication",
    );
}

#[tokio::test]
async fn a_token_without_the_repo_scope_sees_public_repositories_only() {
    let (app, [full]) = TestApp::with_users([("olga", &["repo"])]).await;
    app.repo(&full, "priv", "private").await;
    app.repo(&full, "pub", "public").await;
    let packages_only = app.token_for("olga", &["read:packages"]).await;
    assert_error(
        &app.get("/api/v3/repos/olga/priv", Some(&packages_only))
            .await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    let r = app
        .get("/api/v3/repos/olga/pub", Some(&packages_only))
        .await;
    assert_eq!(
        (
            r.body["permissions"]["pull"].as_bool(),
            r.body["permissions"]["push"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let r = app
        .post(
            "/api/v3/user/repos",
            Some(&packages_only),
            json!({ "name": "x" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.message().contains("repo scope"), "{}", r.body);
}

#[tokio::test]
async fn collaborators_get_their_role_and_lose_it() {
    let (app, [olga, cole]) = TestApp::with_users([("olga", &["repo"]), ("cole", &["repo"])]).await;
    app.org("acme", "olga").await;
    app.repo(&olga, "app", "private").await;

    assert_error(
        &app.get("/api/v3/repos/olga/app", Some(&cole)).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_eq!(
        app.put(
            "/api/v3/repos/olga/app/collaborators/cole",
            Some(&olga),
            json!({ "permission": "read" })
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let r = app.get("/api/v3/repos/olga/app", Some(&cole)).await;
    assert_eq!(
        (
            r.body["permissions"]["pull"].as_bool(),
            r.body["permissions"]["push"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert_eq!(
        app.put(
            "/api/v3/repos/olga/app/collaborators/cole",
            Some(&cole),
            json!({ "permission": "admin" })
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "readers cannot promote themselves"
    );
    assert_eq!(
        app.get("/api/v3/repos/olga/app/collaborators", Some(&cole))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "listing needs write"
    );

    assert_eq!(
        app.put(
            "/api/v3/repos/olga/app/collaborators/cole",
            Some(&olga),
            json!({ "permission": "push" })
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let list = app
        .get("/api/v3/repos/olga/app/collaborators", Some(&cole))
        .await;
    assert_eq!(
        (
            list.body[0]["login"].as_str(),
            list.body[0]["role_name"].as_str()
        ),
        (Some("cole"), Some("write"))
    );

    assert_invalid(
        &app.put(
            "/api/v3/repos/olga/app/collaborators/cole",
            Some(&olga),
            json!({ "permission": "owner" }),
        )
        .await,
        "Collaborator",
        "permission",
        "invalid",
    );
    assert_invalid(
        &app.put(
            "/api/v3/repos/olga/app/collaborators/acme",
            Some(&olga),
            json!({}),
        )
        .await,
        "Collaborator",
        "login",
        "invalid",
    );
    assert_error(
        &app.put(
            "/api/v3/repos/olga/app/collaborators/ghost",
            Some(&olga),
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );

    assert_eq!(
        app.delete("/api/v3/repos/olga/app/collaborators/cole", Some(&olga))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &app.get("/api/v3/repos/olga/app", Some(&cole)).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_error(
        &app.delete("/api/v3/repos/olga/app/collaborators/cole", Some(&olga))
            .await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
}

#[tokio::test]
async fn pagination_follows_github() {
    let (app, [olga]) = TestApp::with_users([("olga", &["repo"])]).await;
    for i in 0..5 {
        app.repo(&olga, &format!("r{i}"), "public").await;
    }
    let r = app
        .get("/api/v3/user/repos?per_page=2&page=2", Some(&olga))
        .await;
    let names: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["r2", "r3"]);
    let link = r.headers["link"].to_str().unwrap();
    let want = [
        format!("<{BASE}/api/v3/user/repos?per_page=2&page=3>; rel=\"next\""),
        format!("<{BASE}/api/v3/user/repos?per_page=2&page=3>; rel=\"last\""),
        format!("<{BASE}/api/v3/user/repos?per_page=2&page=1>; rel=\"first\""),
        format!("<{BASE}/api/v3/user/repos?per_page=2&page=1>; rel=\"prev\""),
    ];
    assert_eq!(link, want.join(", "));
    let last = app
        .get("/api/v3/user/repos?per_page=2&page=3", Some(&olga))
        .await;
    assert_eq!(last.body.as_array().unwrap().len(), 1);
    assert!(!last.headers["link"].to_str().unwrap().contains("next"));
    let all = app.get("/api/v3/user/repos", Some(&olga)).await;
    assert_eq!(all.body.as_array().unwrap().len(), 5);
    assert!(all.headers.get("link").is_none(), "one page needs no Link");
    let capped = app
        .get("/api/v3/user/repos?per_page=1000&page=x", Some(&olga))
        .await;
    assert_eq!(
        capped.body.as_array().unwrap().len(),
        5,
        "per_page is capped at 100, bad numbers fall back"
    );
}

#[tokio::test]
async fn personal_tokens_are_shown_once_listed_revoked_and_expire() {
    let (app, [olga]) = TestApp::with_users([("olga", &["repo", "write:packages"])]).await;
    let r = app.post("/api/v3/user/tokens", Some(&olga), json!({ "scopes": ["write:packages"], "note": "ci", "expires_at": "2030-01-01T00:00:00Z" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("berth_pat_"));
    assert_eq!(r.body["token_last_eight"], token[token.len() - 8..]);
    assert_eq!(
        (r.body["expires_at"].as_str(), r.body["scopes"][0].as_str()),
        (Some("2030-01-01T00:00:00Z"), Some("write:packages"))
    );
    let id = r.body["id"].as_i64().unwrap();

    let me = app.get("/api/v3/user", Some(&token)).await;
    assert_eq!(me.headers["x-oauth-scopes"], "write:packages");
    let list = app.get("/api/v3/user/tokens", Some(&olga)).await;
    assert_eq!(
        list.body.as_array().unwrap().len(),
        2,
        "the admin-minted token and this one"
    );
    assert!(
        list.body
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["token"] == ""),
        "values are never listed"
    );

    app.expect_invalid_on(
        Method::POST,
        "/api/v3/user/tokens",
        &olga,
        "Token",
        &[
            (json!({ "scopes": ["gist"] }), "scopes", "invalid"),
            (json!({ "expires_at": "tomorrow" }), "expires_at", "invalid"),
            (
                json!({ "expires_at": "2001-01-01T00:00:00Z" }),
                "expires_at",
                "invalid",
            ),
        ],
    )
    .await;
    let r = app
        .post(
            "/api/v3/user/tokens",
            Some(&token),
            json!({ "scopes": ["repo"] }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a token cannot mint scopes it lacks"
    );
    let bare = app
        .post("/api/v3/user/tokens", Some(&olga), json!({ "scopes": [] }))
        .await;
    assert_eq!(
        (bare.status, bare.body["scopes"].clone()),
        (StatusCode::CREATED, json!([])),
        "no scopes is a valid, read-public-only token"
    );

    // Expiry: the clock passes the expiry and the token stops working.
    let short = app
        .post(
            "/api/v3/user/tokens",
            Some(&olga),
            json!({ "expires_at": "2027-02-01T00:00:00Z" }),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/api/v3/user", Some(&short)).await.status,
        StatusCode::OK
    );
    app.clock.advance(10 * 365 * 86_400);
    assert_error(
        &app.get("/api/v3/user", Some(&short)).await,
        StatusCode::UNAUTHORIZED,
        "Bad credentials",
    );

    assert_eq!(
        app.delete(&format!("/api/v3/user/tokens/{id}"), Some(&olga))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &app.get("/api/v3/user", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "Bad credentials",
    );
    let otto = app.user("otto", &["repo"]).await;
    let olga_tokens = app.get("/api/v3/user/tokens", Some(&olga)).await;
    let olga_id = olga_tokens.body[0]["id"].as_i64().unwrap();
    assert_error(
        &app.delete(&format!("/api/v3/user/tokens/{olga_id}"), Some(&otto))
            .await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_error(
        &app.delete("/api/v3/user/tokens/abc", Some(&otto)).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
}

#[tokio::test]
async fn impersonation_tokens_are_for_site_admins_and_users_only() {
    let (app, [olga]) = TestApp::with_users([("olga", &["repo"])]).await;
    app.org("acme", "olga").await;
    let r = app
        .post(
            "/api/v3/admin/users/olga/authorizations",
            Some(&app.admin),
            json!({ "scopes": ["repo", "codespace"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["scopes"], json!(["repo", "codespace"]));
    assert_eq!(
        app.get("/api/v3/user", Some(r.body["token"].as_str().unwrap()))
            .await
            .body["login"],
        "olga"
    );
    assert_eq!(
        app.post(
            "/api/v3/admin/users/olga/authorizations",
            Some(&olga),
            json!({})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_invalid(
        &app.post(
            "/api/v3/admin/users/olga/authorizations",
            Some(&app.admin),
            json!({ "scopes": ["site_admin"] }),
        )
        .await,
        "Token",
        "scopes",
        "invalid",
    );
    assert_invalid(
        &app.post(
            "/api/v3/admin/users/acme/authorizations",
            Some(&app.admin),
            json!({}),
        )
        .await,
        "Token",
        "login",
        "invalid",
    );
    assert_error(
        &app.post(
            "/api/v3/admin/users/ghost/authorizations",
            Some(&app.admin),
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
}

#[tokio::test]
async fn repository_tokens_act_as_their_repository() {
    let (app, [olga, cole]) = TestApp::with_users([("olga", &["repo"]), ("cole", &["repo"])]).await;
    for (name, vis) in [("app", "private"), ("other", "private"), ("pub", "public")] {
        app.repo(&olga, name, vis).await;
    }
    app.collaborator(&olga, "olga/app", "cole", "write").await;
    assert_eq!(
        app.post("/api/v3/repos/olga/app/tokens", Some(&cole), json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "needs admin on the repo"
    );

    let r = app
        .post(
            "/api/v3/repos/olga/app/tokens",
            Some(&olga),
            json!({ "note": "ci" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["repository"], "olga/app");
    let rt = r.body["token"].as_str().unwrap().to_owned();
    assert!(rt.starts_with("berth_rt_"));

    let r = app.get("/api/v3/repos/olga/app", Some(&rt)).await;
    assert_eq!(
        (
            r.status,
            r.body["permissions"]["push"].as_bool(),
            r.body["permissions"]["admin"].as_bool()
        ),
        (StatusCode::OK, Some(true), Some(false))
    );
    assert_error(
        &app.get("/api/v3/repos/olga/other", Some(&rt)).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    assert_eq!(
        app.get("/api/v3/repos/olga/pub", Some(&rt)).await.status,
        StatusCode::OK
    );
    assert!(
        app.get("/api/v3/user", Some(&rt)).await.status == StatusCode::FORBIDDEN,
        "a repository is not a user"
    );
    assert_eq!(
        app.post("/api/v3/user/repos", Some(&rt), json!({ "name": "x" }))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_are_github_404s() {
    let app = TestApp::new().await;
    assert_error(
        &app.get("/api/v3/nothing/here", Some(&app.admin)).await,
        StatusCode::NOT_FOUND,
        "Not Found",
    );
    let r = app
        .call(Method::PATCH, "/api/v3/user", Some(&app.admin), None)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn teams_take_githubs_shapes_and_a_rename_makes_a_new_slug() {
    let (app, [olga, mia]) =
        TestApp::with_users([("olga", &["repo", "admin:org"]), ("mia", &["repo"])]).await;
    app.org("acme", "olga").await;
    app.member(&olga, "acme", "mia").await;
    let r = app
        .post(
            "/api/v3/orgs/acme/teams",
            Some(&olga),
            json!({"name": "Web Team", "description": "the site", "maintainers": ["mia"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (
            &r.body["slug"],
            &r.body["privacy"],
            &r.body["organization"]["login"]
        ),
        (&json!("web-team"), &json!("closed"), &json!("acme"))
    );
    let r = app
        .get(
            "/api/v3/orgs/acme/teams/web-team/memberships/mia",
            Some(&mia),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["role"], &r.body["state"]),
        (StatusCode::OK, &json!("maintainer"), &json!("active")),
        "{}",
        r.body
    );
    let r = app
        .post(
            "/api/v3/orgs/acme/teams",
            Some(&olga),
            json!({"name": "web team"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the slug is taken: {}",
        r.body
    );
    let r = app
        .patch(
            "/api/v3/orgs/acme/teams/web-team",
            Some(&olga),
            json!({"name": "Site Team", "description": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["slug"], &r.body["description"]),
        (&json!("site-team"), &serde_json::Value::Null)
    );
    let r = app
        .get("/api/v3/orgs/acme/teams/web-team", Some(&olga))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.get("/api/v3/orgs/acme/teams", Some(&mia)).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{}", r.body);
    let r = app.get("/api/v3/orgs/acme/teams", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn site_administrators_set_passwords_which_check_and_are_never_shown_again() {
    let (app, [alice]) = TestApp::with_users([("alice", &["repo"])]).await;
    let path = "/api/v3/admin/users/alice/password";
    // Made up and answered once.
    let r = app.put(path, Some(&app.admin), json!({})).await;
    assert_eq!(r.status, 200);
    let made = r.body["password"].as_str().unwrap().to_owned();
    assert_eq!(made.len(), 24);
    let accounts = app.berth.accounts();
    let alice_login = berth_domain::Login::parse("alice").unwrap();
    let check = |password: &str| {
        accounts.check_password(
            &alice_login,
            secrecy::SecretString::from(password.to_owned()),
        )
    };
    assert_eq!(check(&made).await.unwrap().login.as_str(), "alice");
    // Chosen: the old one no longer checks; a wrong one, a missing user and an organization are
    // refused alike.
    let r = app
        .put(
            path,
            Some(&app.admin),
            json!({ "password": "a long enough password" }),
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(check("a long enough password").await.is_ok());
    assert!(matches!(
        check(&made).await,
        Err(berth_service::ServiceError::BadCredentials)
    ));
    app.org("acme", "alice").await;
    for login in ["nobody", "acme", "admin"] {
        let l = berth_domain::Login::parse(login).unwrap();
        assert!(matches!(
            accounts
                .check_password(&l, secrecy::SecretString::from("a long enough password"))
                .await,
            Err(berth_service::ServiceError::BadCredentials)
        ));
    }
    app.expect_invalid_on(
        Method::PUT,
        path,
        &app.admin,
        "User",
        &[(json!({ "password": "too short" }), "password", "invalid")],
    )
    .await;
    // Only site administrators; and never for an organization.
    assert_eq!(app.put(path, Some(&alice), json!({})).await.status, 403);
    app.expect_invalid_on(
        Method::PUT,
        "/api/v3/admin/users/acme/password",
        &app.admin,
        "User",
        &[(json!({}), "login", "invalid")],
    )
    .await;
    // The hash is argon2id; nothing of the password is in the store.
    let stored = app
        .berth
        .store()
        .password_hash(
            app.berth
                .store()
                .account_by_login(&alice_login)
                .await
                .unwrap()
                .unwrap()
                .id,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(stored.starts_with("$argon2id$v=19$"), "{stored}");
    assert!(!stored.contains("a long enough password"));
}
