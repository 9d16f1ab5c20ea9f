//! The web UI's sign-in, as a browser drives it: forms, cookies and redirects (the pages in a real
//! browser come with the rest of the web UI).

mod support;

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::json;
use support::{Reply, TestApp};

const PASSWORD: &str = "a password for the web";

/// A browser: the cookies it was given, sent back on every request.
#[derive(Default)]
struct Browser {
    cookies: Vec<(String, String)>,
    /// The form token of the last page shown with a form.
    csrf: Option<String>,
}

impl Browser {
    fn keep(&mut self, reply: &Reply) {
        for set in reply.headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, app: &TestApp, path: &str) -> Reply {
        let req = Request::get(path)
            .header("cookie", self.cookie_header())
            .body(Body::empty())
            .unwrap();
        let reply = app.send(req).await;
        self.keep(&reply);
        if String::from_utf8_lossy(&reply.raw).contains("name=\"csrf\" value=\"") {
            self.csrf = Some(Self::form_token(&reply));
        }
        reply
    }

    async fn post(&mut self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> Reply {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let reply = app.send(req).await;
        self.keep(&reply);
        reply
    }

    /// Posts a form as the page would: with the form token of the last page shown.
    async fn submit(&mut self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> Reply {
        let token = self.csrf.clone().expect("a page with a form shown first");
        let mut fields = vec![("csrf", token.as_str())];
        fields.extend_from_slice(form);
        self.post(app, path, &fields).await
    }

    /// The form token of the page `reply` shows.
    fn form_token(reply: &Reply) -> String {
        let page = String::from_utf8_lossy(&reply.raw);
        let at = page.find("name=\"csrf\" value=\"").expect("a form token") + 19;
        page[at..at + 32].to_owned()
    }

    async fn sign_in(&mut self, app: &TestApp, login: &str, password: &str, next: &str) -> Reply {
        let form = self.get(app, &format!("/login?next={next}")).await;
        let token = Self::form_token(&form);
        self.post(
            app,
            "/login",
            &[
                ("csrf", &token),
                ("login", login),
                ("password", password),
                ("next", next),
            ],
        )
        .await
    }
}

fn page(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.raw).into_owned()
}

async fn app_with_alice() -> TestApp {
    let (app, _) = TestApp::with_users([("alice", &["repo"])]).await;
    let r = app
        .put(
            "/api/v3/admin/users/alice/password",
            Some(&app.admin),
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 204);
    app
}

#[tokio::test]
async fn signing_in_and_out_with_a_session_kept_on_the_server() {
    let app = app_with_alice().await;
    let mut browser = Browser::default();

    // Signed out: sent to sign in, coming back where it was going.
    let r = browser.get(&app, "/").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/login?next=%2F");
    let form = browser.get(&app, "/login?next=/").await;
    assert_eq!(form.status, 200);
    let set = form.header("set-cookie");
    assert!(
        set.starts_with("berth_form=") && set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(page(&form).contains("<label for=\"password\">Password</label>"));

    // A wrong password: the same page, saying so, without the password.
    let r = browser
        .sign_in(&app, "alice", "not the password", "/")
        .await;
    assert_eq!(r.status, 401);
    assert!(page(&r).contains("Incorrect username or password."));
    assert!(!page(&r).contains("not the password"));
    let r = browser.sign_in(&app, "nobody", PASSWORD, "/").await;
    assert_eq!(r.status, 401, "a missing user is refused alike");

    // The right one: a session cookie, private to the server, and the page it asked for.
    let r = browser.sign_in(&app, "alice", PASSWORD, "/").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/");
    let set = r.header("set-cookie");
    assert!(
        set.starts_with("berth_session=berth_ses_")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Lax")
            && !set.contains("Secure"),
        "{set} (no Secure over plain HTTP)"
    );
    let home = browser.get(&app, "/").await;
    assert_eq!(home.status, 200);
    assert!(page(&home).contains("Signed in as <strong>alice</strong>"));
    assert!(page(&home).contains("You have no environments yet"));
    assert_eq!(home.header("cache-control"), "no-store");

    // Signing out needs the session's form token; then the cookie is worth nothing, even if kept.
    let token = Browser::form_token(&home);
    let kept = browser.cookies.clone();
    let r = browser
        .post(
            &app,
            "/logout",
            &[("csrf", "not-the-token-of-this-session!!!")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = browser.post(&app, "/logout", &[("csrf", &token)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), "/login");
    browser.cookies = kept;
    assert_eq!(
        browser.get(&app, "/").await.status,
        303,
        "revoked on the server"
    );
}

#[tokio::test]
async fn forms_without_their_token_are_refused_and_redirects_stay_on_the_site() {
    let app = app_with_alice().await;
    // A form posted from elsewhere: no form cookie, or another token.
    let mut stranger = Browser::default();
    let r = stranger
        .post(
            &app,
            "/login",
            &[
                ("csrf", "x".repeat(32).as_str()),
                ("login", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(page(&r).contains("This form expired"));
    assert!(
        r.headers
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("berth_session"))
    );

    // `next` is a path of this site, or the start page.
    for (next, lands) in [
        ("/settings", "/settings"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let mut browser = Browser::default();
        let form = browser.get(&app, "/login").await;
        let token = Browser::form_token(&form);
        let r = browser
            .post(
                &app,
                "/login",
                &[
                    ("csrf", &token),
                    ("login", "alice"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(r.header("location"), lands, "{next}");
    }

    // The stylesheet is embedded and cached for good under its hash.
    let home = Browser::default().get(&app, "/login").await;
    let page = page(&home);
    let at = page.find("href=\"/assets/").unwrap() + 6;
    let css = &page[at..at + page[at..].find('"').unwrap()];
    let r = app.get(css, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(app.get("/assets/other.css", None).await.status, 404);
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_account() {
    let app = app_with_alice().await;
    let mut browser = Browser::default();
    for _ in 0..berth_service::accounts::sessions::FAILURES_ALLOWED {
        let r = browser.sign_in(&app, "alice", "wrong password!", "/").await;
        assert_eq!(r.status, 401);
    }
    // Even the right password waits now, from any browser.
    let r = Browser::default()
        .sign_in(&app, "alice", PASSWORD, "/")
        .await;
    assert_eq!(r.status, 429);
    assert!(
        page(&r).contains(
            "Too many failed sign-ins: too many failed attempts; try again in 15 minutes."
        ),
        "{}",
        page(&r)
    );
    // Others are not held back, and the wait ends.
    assert_eq!(
        Browser::default()
            .sign_in(&app, "admin", "wrong password!", "/")
            .await
            .status,
        401
    );
    app.clock.advance(15 * 60);
    let r = Browser::default()
        .sign_in(&app, "alice", PASSWORD, "/")
        .await;
    assert_eq!(r.status, 303);
}

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIlC72C1EZWS7RLecMMMeOz1FLe3+PUdE3oT1oZO7rfV alice@laptop";

#[tokio::test]
async fn the_account_page_makes_and_revokes_tokens_keys_passwords_and_sessions() {
    let app = app_with_alice().await;
    let mut browser = Browser::default();
    assert_eq!(
        browser
            .sign_in(&app, "alice", PASSWORD, "/settings")
            .await
            .status,
        303
    );
    let settings = browser.get(&app, "/settings").await;
    assert_eq!(settings.status, 200);
    assert!(page(&settings).contains("Personal access tokens"));
    assert!(
        !page(&settings).contains("value=\"site_admin\""),
        "not offered to non-admins"
    );

    // A token with the scopes ticked, shown once; it works on the API with those scopes only.
    let r = browser
        .submit(
            &app,
            "/settings/tokens",
            &[
                ("note", "laptop"),
                ("scope", "repo"),
                ("scope", "read:packages"),
                ("expires", "30"),
            ],
        )
        .await;
    assert_eq!(r.status, 201);
    let shown = page(&r);
    let at = shown.find("berth_pat_").expect("the new token is shown");
    let token = shown[at..at + shown[at..].find('<').unwrap()].to_owned();
    let me = app.get("/api/v3/user", Some(&token)).await;
    assert_eq!(me.body["login"], "alice");
    assert_eq!(me.header("x-oauth-scopes"), "repo, read:packages");
    let again = browser.get(&app, "/settings").await;
    assert!(!page(&again).contains(&token), "shown only once");
    assert!(page(&again).contains("laptop"));
    // Revoked from the page: the API refuses it.
    let id = app.get("/api/v3/user/tokens", Some(&token)).await.body[0]["id"]
        .as_i64()
        .unwrap();
    let r = browser
        .submit(&app, &format!("/settings/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(r.header("location"), "/settings?done=revoked");
    assert_eq!(app.get("/api/v3/user", Some(&token)).await.status, 401);
    // A token form without its form token does nothing.
    let r = browser
        .post(
            &app,
            "/settings/tokens",
            &[("note", "x"), ("scope", "repo"), ("expires", "30")],
        )
        .await;
    assert_eq!(r.status, 403);

    // SSH keys: added (a bad one refused with the reason), listed, deleted.
    let r = browser
        .submit(
            &app,
            "/settings/keys",
            &[("title", ""), ("key", "ssh-ed25519 nonsense")],
        )
        .await;
    assert_eq!(r.status, 422);
    let r = browser
        .submit(&app, "/settings/keys", &[("title", ""), ("key", KEY)])
        .await;
    assert_eq!(r.header("location"), "/settings?done=key");
    let listed = page(&browser.get(&app, "/settings?done=key").await);
    assert!(listed.contains("The key is added.") && listed.contains("alice@laptop"));
    let key_id = {
        let at = listed.find("/settings/keys/").unwrap() + "/settings/keys/".len();
        listed[at..at + listed[at..].find('/').unwrap()].to_owned()
    };
    let r = browser
        .submit(&app, &format!("/settings/keys/{key_id}/delete"), &[])
        .await;
    assert_eq!(r.header("location"), "/settings?done=key-deleted");
    assert!(page(&browser.get(&app, "/settings").await).contains("You have no SSH keys."));

    // The password: the current one is needed, the rules hold, and the new one signs in.
    let change = |current, new| [("current_password", current), ("password", new)];
    let r = browser
        .submit(
            &app,
            "/settings/password",
            &change("wrong", "a brand new password"),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(page(&r).contains("the current password is not right"));
    let r = browser
        .submit(&app, "/settings/password", &change(PASSWORD, "short"))
        .await;
    assert_eq!(r.status, 422);
    assert!(page(&r).contains("a password has 12 to 1024 characters"));
    let r = browser
        .submit(
            &app,
            "/settings/password",
            &change(PASSWORD, "a brand new password"),
        )
        .await;
    assert_eq!(r.header("location"), "/settings?done=password");

    // Another browser signs in with it; this one signs that one out.
    let mut other = Browser::default();
    assert_eq!(
        other.sign_in(&app, "alice", PASSWORD, "/").await.status,
        401
    );
    assert_eq!(
        other
            .sign_in(&app, "alice", "a brand new password", "/")
            .await
            .status,
        303
    );
    let listed = page(&browser.get(&app, "/settings").await);
    assert!(listed.contains("this browser"));
    let at = listed.find("/settings/sessions/").unwrap() + "/settings/sessions/".len();
    let other_id = listed[at..at + listed[at..].find('/').unwrap()].to_owned();
    let r = browser
        .submit(&app, &format!("/settings/sessions/{other_id}/revoke"), &[])
        .await;
    assert_eq!(r.header("location"), "/settings?done=signed-out");
    assert_eq!(other.get(&app, "/").await.status, 303, "signed out");
    assert_eq!(browser.get(&app, "/").await.status, 200, "this one stays");
}

#[tokio::test]
async fn environments_are_created_followed_stopped_and_deleted_from_their_pages() {
    use berth_runtime::testing::RecordingRuntime;
    let runtime = RecordingRuntime::new();
    let app = TestApp::with_runtime(std::sync::Arc::new(runtime.clone())).await;
    let alice = app.user("alice", &["repo", "codespace"]).await;
    app.user("bob", &["repo", "codespace"]).await;
    app.repo(&alice, "web", "public").await;
    for login in ["alice", "bob"] {
        let path = format!("/api/v3/admin/users/{login}/password");
        let body = json!({ "password": PASSWORD });
        assert_eq!(app.put(&path, Some(&app.admin), body).await.status, 204);
    }
    let mut browser = Browser::default();
    assert_eq!(
        browser.sign_in(&app, "alice", PASSWORD, "/").await.status,
        303
    );
    browser.get(&app, "/").await;

    // A repository that is not OWNER/NAME, or not hers to read, is refused on the page.
    for (asked, said) in [
        ("web", "\"web\" is not OWNER/NAME"),
        (
            "bob/nothing",
            "you have no repository bob/nothing that you can read",
        ),
    ] {
        let r = browser
            .submit(&app, "/environments", &[("repository", asked)])
            .await;
        assert_eq!(r.status, 422, "{asked}");
        assert!(
            page(&r).contains(&said.replace('"', "&#34;")) || page(&r).contains(said),
            "{}",
            page(&r)
        );
    }

    // Created: its page, whose log is followed until it is available.
    let r = browser
        .submit(
            &app,
            "/environments",
            &[
                ("repository", "alice/web"),
                ("branch", ""),
                ("machine", ""),
                ("image", "berth.test/alice/img:1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", page(&r));
    let at = r.header("location").to_owned();
    let name = at.strip_prefix("/environments/").unwrap().to_owned();
    let followed = browser.get(&app, &format!("{at}/log?follow=true")).await;
    assert_eq!(followed.status, 200);
    assert!(
        page(&followed).contains("codespace is Available"),
        "{}",
        page(&followed)
    );
    let shown = page(&browser.get(&app, &at).await);
    assert!(
        shown.contains("Available") && shown.contains("alice/web"),
        "{shown}"
    );
    assert!(
        shown.contains("codespace is Available"),
        "the log is on the page"
    );
    assert!(
        !shown.contains("data-follow"),
        "a settled environment is not followed"
    );
    assert!(
        page(&browser.get(&app, "/").await).contains(&format!("href=\"/environments/{name}\""))
    );

    // Stopped and started again from its page; then deleted.
    let r = browser.submit(&app, &format!("{at}/stop"), &[]).await;
    assert_eq!(r.header("location"), at);
    let shown = page(&browser.get(&app, &at).await);
    assert!(shown.contains(&format!("action=\"{at}/start\"")), "{shown}");
    let r = browser.submit(&app, &format!("{at}/start"), &[]).await;
    assert_eq!(r.header("location"), at);
    let r = browser
        .post(&app, &format!("{at}/stop"), &[("csrf", "x")])
        .await;
    assert_eq!(r.status, 403, "no form token, nothing done");

    // Bob sees nothing of it.
    let mut other = Browser::default();
    assert_eq!(other.sign_in(&app, "bob", PASSWORD, "/").await.status, 303);
    assert_eq!(other.get(&app, &at).await.status, 404);
    other.get(&app, "/").await;
    let r = other.submit(&app, &format!("{at}/delete"), &[]).await;
    assert_eq!(r.status, 404);

    // Deleted once it settled.
    let mut gone = false;
    for _ in 0..100 {
        let r = browser.submit(&app, &format!("{at}/delete"), &[]).await;
        if r.status == 303 {
            assert_eq!(r.header("location"), "/");
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "the environment was deleted");
    assert_eq!(browser.get(&app, &at).await.status, 404);
}

/// What the page's script does: the value sealed to the key the page carries.
fn seal_for_page(page: &str, value: &[u8]) -> (String, String) {
    let attribute = |name: &str| {
        let at = page.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        page[at..at + page[at..].find('"').unwrap()].to_owned()
    };
    let key_id = {
        let at = page.find("name=\"key_id\" value=\"").unwrap() + 21;
        page[at..at + page[at..].find('"').unwrap()].to_owned()
    };
    (support::seal(&attribute("data-key"), value), key_id)
}

#[tokio::test]
async fn secrets_are_sealed_by_the_page_and_listed_at_each_level() {
    let (app, [alice_token, _bob]) =
        TestApp::with_users([("alice", &["repo", "codespace"]), ("bob", &["repo"])]).await;
    for login in ["alice", "bob"] {
        let path = format!("/api/v3/admin/users/{login}/password");
        let body = json!({ "password": PASSWORD });
        assert_eq!(app.put(&path, Some(&app.admin), body).await.status, 204);
    }
    let repo = app.repo(&alice_token, "web", "public").await;
    let repo_id = repo["id"].as_i64().unwrap().to_string();
    let mut browser = Browser::default();
    assert_eq!(
        browser.sign_in(&app, "alice", PASSWORD, "/").await.status,
        303
    );

    // Your secrets: the page carries the public key; the sealed value and the repositories picked
    // are all the server receives.
    let shown = browser.get(&app, "/settings/secrets").await;
    assert_eq!(shown.status, 200);
    let page_text = page(&shown);
    assert!(page_text.contains("alice/web"), "the repository picker");
    let (sealed, key_id) = seal_for_page(&page_text, b"the secret value");
    let r = browser
        .submit(
            &app,
            "/settings/secrets",
            &[
                ("name", "web_secret"),
                ("encrypted_value", &sealed),
                ("key_id", &key_id),
                ("repository", &repo_id),
            ],
        )
        .await;
    assert_eq!(
        r.header("location"),
        "/settings/secrets?done=saved",
        "{}",
        page(&r)
    );
    let listed = page(&browser.get(&app, "/settings/secrets?done=saved").await);
    assert!(listed.contains("WEB_SECRET") && listed.contains("The secret is saved."));
    assert!(!listed.contains("the secret value"));
    // Without a sealed value (no script), nothing is saved.
    let r = browser
        .submit(
            &app,
            "/settings/secrets",
            &[
                ("name", "OTHER"),
                ("encrypted_value", ""),
                ("key_id", &key_id),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(page(&r).contains("the value was not sealed"));

    // The repository's page: its own secrets, and what its environments would get.
    let repo_page = browser.get(&app, "/repositories/alice/web/secrets").await;
    assert_eq!(repo_page.status, 200);
    let text = page(&repo_page);
    assert!(
        text.contains("What this repository&#39;s environments get")
            || text.contains("What this repository's environments get")
    );
    assert!(
        text.contains("<code>WEB_SECRET</code></td><td>user"),
        "{text}"
    );
    let (sealed, key_id) = seal_for_page(&text, b"repo value");
    let r = browser
        .submit(
            &app,
            "/repositories/alice/web/secrets",
            &[
                ("name", "REPO_ONE"),
                ("encrypted_value", &sealed),
                ("key_id", &key_id),
            ],
        )
        .await;
    assert_eq!(
        r.header("location"),
        "/repositories/alice/web/secrets?done=saved"
    );
    let r = browser
        .submit(&app, "/repositories/alice/web/secrets/REPO_ONE/delete", &[])
        .await;
    assert_eq!(
        r.header("location"),
        "/repositories/alice/web/secrets?done=deleted"
    );
    let r = browser
        .post(
            &app,
            "/settings/secrets/WEB_SECRET/delete",
            &[("csrf", "not the token")],
        )
        .await;
    assert_eq!(r.status, 403, "no form token, nothing deleted");

    // Bob administers neither alice's repository nor an organization of hers.
    let mut bob = Browser::default();
    assert_eq!(bob.sign_in(&app, "bob", PASSWORD, "/").await.status, 303);
    assert_eq!(
        bob.get(&app, "/repositories/alice/web/secrets")
            .await
            .status,
        404
    );
    app.org("acme", "alice").await;
    assert_eq!(bob.get(&app, "/orgs/acme/secrets").await.status, 404);
    let org_page = browser.get(&app, "/orgs/acme/secrets").await;
    assert_eq!(org_page.status, 200);
    assert!(page(&org_page).contains("value=\"selected\""));
}

#[tokio::test]
async fn package_pages_show_versions_and_let_admins_change_settings_and_access() {
    use support::oci::{config_manifest, put_manifest, upload_blob};
    let (app, [alice_token, _]) = TestApp::with_users([
        ("alice", &["repo", "write:packages", "delete:packages"]),
        ("bob", &["repo"]),
    ])
    .await;
    for login in ["alice", "bob"] {
        let path = format!("/api/v3/admin/users/{login}/password");
        let body = json!({ "password": PASSWORD });
        assert_eq!(app.put(&path, Some(&app.admin), body).await.status, 204);
    }
    app.repo(&alice_token, "web", "private").await;
    let config =
        r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let d = upload_blob(&app, &alice_token, "alice/app", config.as_bytes()).await;
    let m = config_manifest("application/vnd.oci.image.config.v1+json", &d, config.len());
    assert_eq!(
        put_manifest(&app, &alice_token, "alice/app", "v1", &m)
            .await
            .status,
        201
    );

    let mut alice = Browser::default();
    assert_eq!(
        alice.sign_in(&app, "alice", PASSWORD, "/").await.status,
        303
    );
    let listed = page(&alice.get(&app, "/packages/alice").await);
    assert!(
        listed.contains("href=\"/packages/alice/container/app\""),
        "{listed}"
    );
    let shown = alice.get(&app, "/packages/alice/container/app").await;
    let text = page(&shown);
    assert!(text.contains("docker pull") && text.contains("v1") && text.contains("Settings"));
    let base = "/packages/alice/container/app";

    // Bob sees nothing of it, until he is granted read; he never sees its settings.
    let mut bob = Browser::default();
    assert_eq!(bob.sign_in(&app, "bob", PASSWORD, "/").await.status, 303);
    assert_eq!(bob.get(&app, base).await.status, 404);
    let grant = |kind, who| [("kind", kind), ("who", who), ("role", "read")];
    let r = alice
        .submit(&app, &format!("{base}/grant"), &grant("user", "bob"))
        .await;
    assert_eq!(r.header("location"), format!("{base}?done=granted"));
    let seen = page(&bob.get(&app, base).await);
    assert!(
        seen.contains("alice/app") && !seen.contains("Settings"),
        "{seen}"
    );
    // "Manage Codespaces access": a repository's environments.
    let r = alice
        .submit(
            &app,
            &format!("{base}/grant"),
            &grant("repository", "alice/web"),
        )
        .await;
    assert_eq!(r.header("location"), format!("{base}?done=granted"));
    let text = page(&alice.get(&app, base).await);
    assert!(text.contains("repository alice/web") && text.contains("its environments pull"));
    let r = alice
        .submit(
            &app,
            &format!("{base}/revoke"),
            &grant("repository", "alice/web"),
        )
        .await;
    assert_eq!(r.header("location"), format!("{base}?done=revoked"));

    // Public only with its confirmation.
    let r = alice
        .submit(
            &app,
            &format!("{base}/visibility"),
            &[("visibility", "public")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(page(&r).contains("making a package public is final"));
    let r = alice
        .submit(
            &app,
            &format!("{base}/visibility"),
            &[("visibility", "public"), ("confirm", "public-is-final")],
        )
        .await;
    assert_eq!(r.header("location"), format!("{base}?done=visibility"));
    assert!(page(&alice.get(&app, base).await).contains("<dd>public</dd>"));

    // Linked to a repository of hers; another owner's is refused.
    let r = alice
        .submit(
            &app,
            &format!("{base}/source"),
            &[("repository", "bob/web")],
        )
        .await;
    assert_eq!(r.status, 422);
    let r = alice
        .submit(
            &app,
            &format!("{base}/source"),
            &[("repository", "alice/web")],
        )
        .await;
    assert_eq!(r.header("location"), format!("{base}?done=source"));
    assert!(page(&alice.get(&app, base).await).contains("<dd>alice/web</dd>"));

    // Deleted once its name is typed.
    let r = alice
        .submit(&app, &format!("{base}/delete"), &[("confirm", "other")])
        .await;
    assert_eq!(r.status, 422);
    let r = alice
        .submit(&app, &format!("{base}/delete"), &[("confirm", "app")])
        .await;
    assert_eq!(r.header("location"), "/packages/alice");
    assert_eq!(alice.get(&app, base).await.status, 404);
}

/// A form's fields as `Browser::post` takes them.
#[tokio::test]
async fn organizations_and_the_site_administration_page_are_for_their_people() {
    let app = app_with_alice().await;
    let admin_password = json!({ "password": "the administrator's password" });
    let path = "/api/v3/admin/users/admin/password";
    assert_eq!(
        app.put(path, Some(&app.admin), admin_password).await.status,
        204
    );
    app.user("bob", &["repo"]).await;
    app.org("acme", "alice").await;

    // The administration page: users, created and given a password shown once.
    let mut alice = Browser::default();
    assert_eq!(
        alice.sign_in(&app, "alice", PASSWORD, "/").await.status,
        303
    );
    assert_eq!(alice.get(&app, "/admin").await.status, 404);
    assert!(!page(&alice.get(&app, "/").await).contains("href=\"/admin\""));
    let mut admin = Browser::default();
    let r = admin
        .sign_in(&app, "admin", "the administrator's password", "/admin")
        .await;
    assert_eq!(r.header("location"), "/admin");
    let shown = admin.get(&app, "/admin").await;
    assert!(page(&shown).contains("<td>alice</td>") && page(&shown).contains("href=\"/admin\""));
    let r = admin
        .submit(&app, "/admin/users", &[("login", "carol")])
        .await;
    assert_eq!(r.header("location"), "/admin?done=created");
    let r = admin
        .submit(&app, "/admin/users/password", &[("login", "carol")])
        .await;
    assert_eq!(r.status, 200);
    let text = page(&r);
    let marker = "<code class=\"secret\">";
    let at = text.find(marker).unwrap() + marker.len();
    let made = text[at..at + 24].to_owned();
    let mut carol = Browser::default();
    assert_eq!(carol.sign_in(&app, "carol", &made, "/").await.status, 303);

    // An organization's page: its members see it, its owners change it, others find nothing.
    let shown = alice.get(&app, "/orgs/acme").await;
    assert_eq!(shown.status, 200);
    let r = alice
        .submit(
            &app,
            "/orgs/acme/members",
            &[("login", "carol"), ("role", "member")],
        )
        .await;
    assert_eq!(r.header("location"), "/orgs/acme?done=member");
    let seen = page(&carol.get(&app, "/orgs/acme").await);
    assert!(seen.contains("<td>carol</td><td>member</td>"), "{seen}");
    assert!(!seen.contains("Save member"), "members do not change it");
    carol.get(&app, "/").await;
    let r = carol
        .submit(
            &app,
            "/orgs/acme/members",
            &[("login", "bob"), ("role", "owner")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = alice
        .submit(
            &app,
            "/orgs/acme/members",
            &[("login", "nobody"), ("role", "member")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(page(&r).contains("there is no user nobody"));
    let r = alice
        .submit(&app, "/orgs/acme/members/remove", &[("login", "carol")])
        .await;
    assert_eq!(r.header("location"), "/orgs/acme?done=removed");
    assert_eq!(carol.get(&app, "/orgs/acme").await.status, 404);

    // Organizations are created by site administrators, with their first owner; members find
    // theirs on their account page (and programs at GET /user/orgs).
    let csrf = Browser::form_token(&admin.get(&app, "/admin").await);
    let r = admin
        .submit(
            &app,
            "/admin/organizations",
            &[("login", "globex"), ("owner", "nobody")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        page(&r).contains("no user with the login nobody"),
        "{}",
        page(&r)
    );
    let r = admin
        .submit(
            &app,
            "/admin/organizations",
            &[("login", "globex"), ("owner", "carol")],
        )
        .await;
    assert_eq!(r.header("location"), "/admin?done=org");
    assert!(page(&admin.get(&app, "/admin").await).contains("<a href=\"/orgs/globex\">globex</a>"));
    let settings = page(&carol.get(&app, "/settings").await);
    assert!(
        settings.contains("<a href=\"/orgs/globex\">globex</a> (owner)"),
        "{settings}"
    );
    let carol_token = app.token_for("carol", &["repo"]).await;
    let r = app.get("/api/v3/user/orgs", Some(&carol_token)).await;
    assert_eq!(r.status, 200);
    let logins: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["login"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logins, ["globex"]);
    assert_eq!(
        alice
            .post(
                &app,
                "/admin/organizations",
                &[("csrf", csrf.as_str()), ("login", "x"), ("owner", "alice")]
            )
            .await
            .status,
        403,
        "another session's form token"
    );

    // Teams: its owners create and delete them, and staff them with the organization's members.
    let shown = carol.get(&app, "/orgs/globex").await;
    assert!(page(&shown).contains("globex has no teams."));
    assert!(
        shown.header("server-timing").starts_with("app;dur="),
        "pages say how long the server took"
    );
    let r = carol
        .submit(&app, "/orgs/globex/teams", &[("name", "Platform Team")])
        .await;
    assert_eq!(r.header("location"), "/orgs/globex?done=team");
    let add = |login, role| [("login", login), ("role", role)];
    let r = carol
        .submit(
            &app,
            "/orgs/globex/teams/platform-team/members",
            &add("bob", "member"),
        )
        .await;
    assert_eq!(r.status, 422, "bob is not a member of globex yet");
    assert!(
        page(&r).contains("bob is not a member of globex"),
        "{}",
        page(&r)
    );
    let r = carol
        .submit(&app, "/orgs/globex/members", &add("bob", "member"))
        .await;
    assert_eq!(r.header("location"), "/orgs/globex?done=member");
    let r = carol
        .submit(
            &app,
            "/orgs/globex/teams/platform-team/members",
            &add("bob", "maintainer"),
        )
        .await;
    assert_eq!(r.header("location"), "/orgs/globex?done=team-member");
    let mut bob = Browser::default();
    let bob_password = json!({ "password": "bob's password for the web" });
    assert_eq!(
        app.put(
            "/api/v3/admin/users/bob/password",
            Some(&app.admin),
            bob_password
        )
        .await
        .status,
        204
    );
    assert_eq!(
        bob.sign_in(&app, "bob", "bob's password for the web", "/")
            .await
            .status,
        303
    );
    let seen = page(&bob.get(&app, "/orgs/globex").await);
    assert!(
        seen.contains("Platform Team") && seen.contains("<td>bob</td><td>maintainer</td>"),
        "{seen}"
    );
    assert!(
        seen.contains("Save team member"),
        "a maintainer staffs the team"
    );
    assert!(!seen.contains("Delete team"), "only owners delete it");
    let r = carol
        .submit(
            &app,
            "/orgs/globex/teams/platform-team/members-remove",
            &add("bob", ""),
        )
        .await;
    assert_eq!(r.header("location"), "/orgs/globex?done=team-removed");
    let r = carol
        .submit(&app, "/orgs/globex/teams/platform-team/delete", &[])
        .await;
    assert_eq!(r.header("location"), "/orgs/globex?done=team-deleted");
    assert!(page(&carol.get(&app, "/orgs/globex").await).contains("globex has no teams."));
}

#[tokio::test]
async fn an_owners_packages_come_a_page_at_a_time_newest_first() {
    use support::oci::{config_manifest, put_manifest, upload_blob};
    let app = app_with_alice().await;
    let token = app.token_for("alice", &["write:packages"]).await;
    let config =
        r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    for i in 0..51 {
        let name = format!("alice/image-{i:02}");
        let d = upload_blob(&app, &token, &name, config.as_bytes()).await;
        let m = config_manifest("application/vnd.oci.image.config.v1+json", &d, config.len());
        assert_eq!(put_manifest(&app, &token, &name, "1", &m).await.status, 201);
        app.clock.advance(1);
    }
    let mut alice = Browser::default();
    alice.sign_in(&app, "alice", PASSWORD, "/").await;
    let first = page(&alice.get(&app, "/packages/alice").await);
    assert_eq!(
        first.matches("href=\"/packages/alice/container/").count(),
        50
    );
    assert!(first.contains("51 packages; page 1 of 2"), "{first}");
    assert!(first.contains(">alice/image-50<"), "the newest first");
    assert!(first.contains("href=\"/packages/alice?page=2\">Older"));
    let second = page(&alice.get(&app, "/packages/alice?page=2").await);
    assert_eq!(
        second.matches("href=\"/packages/alice/container/").count(),
        1
    );
    assert!(second.contains(">alice/image-00<") && second.contains("Newer"));
    let beyond = page(&alice.get(&app, "/packages/alice?page=9").await);
    assert!(
        beyond.contains("page 2 of 2"),
        "a page past the end shows the last"
    );
}
