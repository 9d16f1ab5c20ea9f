//! Codespaces secrets through the API with values sealed as a libsodium client seals them: the
//! three levels, their rules, selected repositories, what an environment gets, and nothing
//! readable at rest.

mod support;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use support::{TestApp, assert_invalid, first_error};

/// Seals `value` to the public key `base/public-key` names, as `crypto_box_seal` does.
async fn sealed(app: &TestApp, token: &str, base: &str, value: &[u8]) -> Value {
    let key = app.get(&format!("{base}/public-key"), Some(token)).await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.body);
    let sealed = support::seal(key.body["key"].as_str().unwrap(), value);
    json!({ "encrypted_value": sealed, "key_id": key.body["key_id"] })
}

async fn put(app: &TestApp, token: &str, path: &str, body: Value) -> support::Reply {
    app.put(path, Some(token), body).await
}

struct World {
    app: TestApp,
    alice: String,
    bob: String,
    app_id: i64,
    site_id: i64,
    web_id: i64,
}

async fn world() -> World {
    let (app, [alice, bob]) = TestApp::with_users([
        ("alice", &["repo", "codespace", "admin:org"]),
        ("bob", &["repo", "codespace"]),
    ])
    .await;
    app.org("acme", "alice").await;
    app.member(&alice, "acme", "bob").await;
    let mut ids = Vec::new();
    for (path, name, visibility) in [
        ("/api/v3/orgs/acme/repos", "app", "private"),
        ("/api/v3/orgs/acme/repos", "site", "public"),
        ("/api/v3/user/repos", "web", "private"),
    ] {
        let r = app
            .post(
                path,
                Some(&alice),
                json!({ "name": name, "visibility": visibility }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.body["id"].as_i64().unwrap());
    }
    World {
        app,
        alice,
        bob,
        app_id: ids[0],
        site_id: ids[1],
        web_id: ids[2],
    }
}

#[tokio::test]
async fn user_secrets_are_sealed_created_updated_listed_and_deleted() {
    let w = world().await;
    let (app, alice) = (&w.app, w.alice.as_str());
    let base = "/api/v3/user/codespaces/secrets";
    let mut body = sealed(app, alice, base, b"npm-value-1").await;
    body["selected_repository_ids"] = json!([w.web_id.to_string()]);
    let r = put(app, alice, &format!("{base}/npm_token"), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let body = sealed(app, alice, base, b"npm-value-2").await;
    assert_eq!(
        put(app, alice, &format!("{base}/NPM_TOKEN"), body)
            .await
            .status,
        StatusCode::NO_CONTENT,
        "names are case-insensitive: this updates"
    );

    let list = app.get(base, Some(alice)).await;
    assert_eq!(list.body["total_count"], 1);
    let s = &list.body["secrets"][0];
    assert_eq!(
        (s["name"].as_str(), s["visibility"].as_str()),
        (Some("NPM_TOKEN"), Some("selected"))
    );
    assert_eq!(
        s["selected_repositories_url"],
        "http://berth.test/api/v3/user/codespaces/secrets/NPM_TOKEN/repositories"
    );
    assert!(s.get("value").is_none() && s.get("encrypted_value").is_none());
    assert_eq!(
        app.get(&format!("{base}/npm_token"), Some(alice))
            .await
            .body,
        *s
    );
    let repos = app
        .get(&format!("{base}/NPM_TOKEN/repositories"), Some(alice))
        .await;
    assert_eq!(
        (
            repos.body["total_count"].as_i64(),
            repos.body["repositories"][0]["full_name"].as_str()
        ),
        (Some(1), Some("alice/web"))
    );

    // The rules, each a 422 naming what was wrong.
    let good = sealed(app, alice, base, b"x").await;
    let r = put(app, alice, &format!("{base}/1ABC"), good.clone()).await;
    assert_invalid(&r, "Secret", "name", "invalid");
    assert!(first_error(&r).contains("digit"));
    assert_invalid(
        &put(app, alice, &format!("{base}/GITHUB_X"), good.clone()).await,
        "Secret",
        "name",
        "invalid",
    );
    assert_invalid(
        &put(app, alice, &format!("{base}/BERTH_X"), good.clone()).await,
        "Secret",
        "name",
        "invalid",
    );
    let mut wrong_key = good.clone();
    wrong_key["key_id"] = json!("1234");
    assert_invalid(
        &put(app, alice, &format!("{base}/A"), wrong_key).await,
        "Secret",
        "key_id",
        "invalid",
    );
    let other = sealed(app, &w.bob, base, b"for bob's key").await;
    let r = put(
        app,
        alice,
        &format!("{base}/A"),
        json!({ "encrypted_value": other["encrypted_value"], "key_id": good["key_id"] }),
    )
    .await;
    assert_invalid(&r, "Secret", "encrypted_value", "invalid");
    assert!(first_error(&r).contains("does not open"));
    let big = sealed(app, alice, base, &vec![b'a'; 48 * 1024 + 1]).await;
    assert_invalid(
        &put(app, alice, &format!("{base}/BIG"), big).await,
        "Secret",
        "encrypted_value",
        "invalid",
    );
    let fits = sealed(app, alice, base, &vec![b'a'; 48 * 1024]).await;
    assert_eq!(
        put(app, alice, &format!("{base}/BIG"), fits).await.status,
        StatusCode::CREATED
    );
    let mut bad_repo = good.clone();
    bad_repo["selected_repository_ids"] = json!([999]);
    assert_invalid(
        &put(app, alice, &format!("{base}/B"), bad_repo).await,
        "Secret",
        "selected_repository_ids",
        "invalid",
    );

    // Scopes: a token without codespace or codespace:secrets cannot manage user secrets.
    let narrow = app.token_for("alice", &["repo"]).await;
    assert_eq!(
        app.get(base, Some(&narrow)).await.status,
        StatusCode::FORBIDDEN
    );
    let secrets_only = app.token_for("alice", &["codespace:secrets"]).await;
    assert_eq!(
        app.get(base, Some(&secrets_only)).await.status,
        StatusCode::OK
    );

    assert_eq!(
        app.delete(&format!("{base}/npm_token"), Some(alice))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("{base}/npm_token"), Some(alice))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(base, Some(alice)).await.body["total_count"], 1);

    let audit = app
        .get("/api/v3/admin/secrets/audit", Some(&app.admin))
        .await;
    let lines: Vec<(String, String)> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_owned(),
                l["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("deleted".to_owned(), "NPM_TOKEN".to_owned()),
            ("created".to_owned(), "BIG".to_owned()),
            ("updated".to_owned(), "NPM_TOKEN".to_owned()),
            ("created".to_owned(), "NPM_TOKEN".to_owned()),
        ]
    );
    assert_eq!(audit.body[0]["actor"], "alice");
    assert_eq!(
        app.get("/api/v3/admin/secrets/audit", Some(alice))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn at_most_a_hundred_secrets_per_scope() {
    let w = world().await;
    let base = "/api/v3/repos/alice/web/codespaces/secrets";
    let body = sealed(&w.app, &w.alice, base, b"v").await;
    for i in 0..100 {
        let r = put(&w.app, &w.alice, &format!("{base}/S{i}"), body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = put(&w.app, &w.alice, &format!("{base}/S100"), body.clone()).await;
    assert_invalid(&r, "Secret", "name", "invalid");
    assert!(first_error(&r).contains("100"));
    assert_eq!(
        put(&w.app, &w.alice, &format!("{base}/S7"), body)
            .await
            .status,
        StatusCode::NO_CONTENT,
        "updates still work"
    );
    let page = w
        .app
        .get(&format!("{base}?per_page=30&page=4"), Some(&w.alice))
        .await;
    assert_eq!(
        (
            page.body["total_count"].as_i64(),
            page.body["secrets"].as_array().unwrap().len()
        ),
        (Some(100), 10)
    );
}

#[tokio::test]
async fn repository_and_organization_secrets_follow_their_permissions() {
    let w = world().await;
    let (app, alice, bob) = (&w.app, w.alice.as_str(), w.bob.as_str());
    let repo_base = "/api/v3/repos/acme/app/codespaces/secrets";
    assert_eq!(
        app.get(repo_base, Some(bob)).await.status,
        StatusCode::NOT_FOUND,
        "bob cannot see the private repository"
    );
    let r = put(
        app,
        alice,
        &format!("{repo_base}/DB_URL"),
        sealed(app, alice, repo_base, b"postgres://repo").await,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let s = app
        .get(&format!("{repo_base}/DB_URL"), Some(alice))
        .await
        .body;
    assert!(s.get("visibility").is_none(), "{s}");
    app.collaborator(alice, "acme/app", "bob", "read").await;
    assert_eq!(
        app.get(repo_base, Some(bob)).await.status,
        StatusCode::FORBIDDEN,
        "reading is not enough"
    );
    app.collaborator(alice, "acme/app", "bob", "write").await;
    assert_eq!(
        app.get(repo_base, Some(bob)).await.body["total_count"],
        1,
        "writing is"
    );

    let org_base = "/api/v3/orgs/acme/codespaces/secrets";
    assert_eq!(
        app.get(org_base, Some(bob)).await.status,
        StatusCode::FORBIDDEN,
        "members do not manage org secrets"
    );
    let body = sealed(app, alice, org_base, b"org-db").await;
    assert_invalid(
        &put(app, alice, &format!("{org_base}/DB_URL"), body.clone()).await,
        "Secret",
        "visibility",
        "invalid",
    );
    let mut all = body.clone();
    all["visibility"] = json!("all");
    assert_eq!(
        put(app, alice, &format!("{org_base}/DB_URL"), all)
            .await
            .status,
        StatusCode::CREATED
    );
    let mut private = sealed(app, alice, org_base, b"org-only").await;
    private["visibility"] = json!("private");
    assert_eq!(
        put(app, alice, &format!("{org_base}/ORG_ONLY"), private)
            .await
            .status,
        StatusCode::CREATED
    );
    let r = app
        .get(&format!("{org_base}/ORG_ONLY/repositories"), Some(alice))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "only selected secrets have repositories"
    );
    let mut selected = sealed(app, alice, org_base, b"chosen").await;
    selected["visibility"] = json!("selected");
    selected["selected_repository_ids"] = json!([w.site_id]);
    assert_eq!(
        put(app, alice, &format!("{org_base}/CHOSEN"), selected)
            .await
            .status,
        StatusCode::CREATED
    );
    let mut elsewhere = sealed(app, alice, org_base, b"x").await;
    elsewhere["visibility"] = json!("selected");
    elsewhere["selected_repository_ids"] = json!([w.web_id]);
    assert_invalid(
        &put(app, alice, &format!("{org_base}/X"), elsewhere).await,
        "Secret",
        "selected_repository_ids",
        "invalid",
    );
    let sel = format!("{org_base}/CHOSEN/repositories");
    assert_eq!(
        app.put(&format!("{sel}/{}", w.app_id), Some(alice), json!({}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&sel, Some(alice)).await.body["total_count"], 2);
    assert_eq!(
        app.delete(&format!("{sel}/{}", w.site_id), Some(alice))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.put(
            &sel,
            Some(alice),
            json!({ "selected_repository_ids": [w.app_id, w.site_id] })
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&sel, Some(alice)).await.body["total_count"], 2);

    // What environments get: bob (write on app) sees repository beats organization.
    let mut user = sealed(app, bob, "/api/v3/user/codespaces/secrets", b"bob's own").await;
    user["selected_repository_ids"] = json!([w.app_id]);
    assert_eq!(
        put(app, bob, "/api/v3/user/codespaces/secrets/CHOSEN", user)
            .await
            .status,
        StatusCode::CREATED
    );
    let preview = app
        .get(
            "/api/v3/repos/acme/app/codespaces/environment-secrets",
            Some(bob),
        )
        .await;
    assert_eq!(
        preview.body,
        json!({ "total_count": 3, "secrets": [
            { "name": "CHOSEN", "source": "user" },
            { "name": "DB_URL", "source": "repository" },
            { "name": "ORG_ONLY", "source": "organization" },
        ]})
    );
    let site = app
        .get(
            "/api/v3/repos/acme/site/codespaces/environment-secrets",
            Some(bob),
        )
        .await;
    assert_eq!(
        site.body["total_count"], 0,
        "bob cannot write to site: no repository or organization secrets"
    );

    let store = app.berth.store();
    let bob_account = store
        .account_by_login(&berth_domain::Login::parse("bob").unwrap())
        .await
        .unwrap()
        .unwrap();
    let (repo, _) = store.repo_by_id(w.app_id, None).await.unwrap().unwrap();
    let values: Vec<(String, String)> = app
        .berth
        .secrets()
        .environment_secret_values(&bob_account, &repo)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name.to_string(), s.value.expose_secret().to_owned()))
        .collect();
    assert_eq!(
        values,
        [
            ("CHOSEN".to_owned(), "bob's own".to_owned()),
            ("DB_URL".to_owned(), "postgres://repo".to_owned()),
            ("ORG_ONLY".to_owned(), "org-only".to_owned()),
        ]
    );

    // Nothing readable at rest: no value, nor its base64, in any file the server wrote.
    let mut files = vec![];
    for entry in std::fs::read_dir(app.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.push(path);
        }
    }
    assert!(files.iter().any(|f| f.ends_with("berth.db")));
    for value in [
        "postgres://repo",
        "org-only",
        "org-db",
        "chosen",
        "bob's own",
    ] {
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            for needle in [value.to_owned(), B64.encode(value)] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{value} found in {}",
                    f.display()
                );
            }
        }
    }
}
