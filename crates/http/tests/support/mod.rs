//! An in-process Berth for API tests: a fresh SQLite store in a temp dir, a clock the test moves,
//! and requests sent with `oneshot` (no sockets).
#![allow(
    dead_code,
    reason = "shared by several test binaries, each using a subset"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use berth_blob::FsDriver;
use berth_http::AppState;
use berth_service::secrets::{MasterKey, MasterKeys};
use berth_service::{Berth, BerthParts, Clock};
use berth_store::Store;
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tower::ServiceExt;

pub mod oci;

pub const BASE: &str = "http://berth.test";
/// The master key of every test server (a test that scans storage looks for it too).
pub const TEST_MASTER_KEY: [u8; 32] = [5; 32];

#[derive(Debug, Default)]
pub struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl TestClock {
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

pub struct TestApp {
    pub router: Router,
    /// The platform behind the router, for what only services can do (minting environment tokens).
    pub berth: Berth,
    pub clock: Arc<TestClock>,
    pub admin: String,
    dir: tempfile::TempDir,
}

async fn build(dir: &std::path::Path, clock: Arc<TestClock>) -> Berth {
    let store = Store::connect(&Store::sqlite_url(&dir.join("berth.db")))
        .await
        .unwrap();
    Berth::new(BerthParts {
        store,
        token_key: [9; 32],
        signing_key: [7; 32],
        blobs: Arc::new(FsDriver::new(dir.join("storage"), false)),
        clock,
        master_keys: MasterKeys::new(vec![MasterKey::from_bytes(TEST_MASTER_KEY)], None).unwrap(),
    })
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Reply {
    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// GitHub's `message` of an error answer ("" when there is none).
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }

    /// Whether the answer's JSON mentions `words` anywhere (an error's message or its
    /// `errors`).
    pub fn mentions(&self, words: &str) -> bool {
        self.body.to_string().contains(words)
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_bootstrap(None, None).await
    }

    /// A fresh server and its users, each `(login, scopes)` created in order with a token of
    /// those scopes: the server and the tokens.
    pub async fn with_users<const N: usize>(users: [(&str, &[&str]); N]) -> (Self, [String; N]) {
        let app = Self::new().await;
        let mut tokens = Vec::with_capacity(N);
        for (login, scopes) in users {
            tokens.push(app.user(login, scopes).await);
        }
        let tokens = tokens.try_into().expect("one token a user");
        (app, tokens)
    }

    /// A server whose site administrator's token was chosen by the operator.
    pub async fn new_with_bootstrap(token: &str) -> Self {
        Self::with_bootstrap(Some(token), None).await
    }

    /// A server whose environments run on `runtime` (a recording one: nothing is mounted or
    /// run, environments have no disks of their own and Berth is not served inside them).
    pub async fn with_runtime(runtime: Arc<dyn berth_runtime::Runtime>) -> Self {
        Self::with_environments(runtime, Arc::new(berth_service::environments::Git)).await
    }

    /// The same, with repositories' code from `sources` instead of git.
    pub async fn with_environments(
        runtime: Arc<dyn berth_runtime::Runtime>,
        sources: Arc<dyn berth_service::environments::Sources>,
    ) -> Self {
        Self::with_bootstrap(None, Some((runtime, sources))).await
    }

    async fn with_bootstrap(
        token: Option<&str>,
        environments: Option<(
            Arc<dyn berth_runtime::Runtime>,
            Arc<dyn berth_service::environments::Sources>,
        )>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000)));
        let mut berth = build(dir.path(), clock.clone()).await;
        if let Some((runtime, sources)) = environments {
            berth = berth.with_environments(berth_service::environments::EnvironmentConfig {
                root: dir.path().join("environments"),
                run_root: dir.path().join("run"),
                runtime,
                sources,
                server_url: BASE.to_owned(),
                token_ttl: 3600,
                machines: berth_domain::isolation::MachineType::defaults(),
                egress: berth_domain::isolation::EgressPolicy::default(),
                host_addresses: Vec::new(),
                id_pool: berth_domain::isolation::IdPool::default(),
                serve_inside: None,
                disks: false,
                replica: Default::default(),
                caches: Default::default(),
            });
        }
        let minted = berth
            .accounts()
            .bootstrap(
                token
                    .map(|t| secrecy::SecretString::from(t.to_owned()))
                    .as_ref(),
            )
            .await
            .unwrap()
            .expect("a fresh store bootstraps");
        assert!(
            berth.accounts().bootstrap(None).await.unwrap().is_none(),
            "bootstrap happens once"
        );
        let router = berth_http::app(AppState::new(berth.clone(), BASE));
        Self {
            router,
            berth,
            clock,
            admin: minted.token.expose_secret().to_owned(),
            dir,
        }
    }

    /// A token for an environment of `owner/repo` used by `login`, valid for `ttl` seconds.
    pub async fn environment_token(
        &self,
        login: &str,
        owner: &str,
        repo: &str,
        ttl: i64,
    ) -> String {
        use berth_domain::{Login, RepoName};
        let store = self.berth.store();
        let user = store
            .account_by_login(&Login::parse(login).unwrap())
            .await
            .unwrap()
            .unwrap();
        let (repo, _) = store
            .repo_by_name(
                &Login::parse(owner).unwrap(),
                &RepoName::parse(repo).unwrap(),
                None,
            )
            .await
            .unwrap()
            .unwrap();
        let (token, _) = self
            .berth
            .accounts()
            .mint_environment_token(&user, &repo, "test-env", ttl)
            .await
            .unwrap();
        secrecy::ExposeSecret::expose_secret(&token).to_owned()
    }

    /// The server's data directory (database files and storage).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Where the blob driver keeps its files.
    pub fn storage(&self) -> std::path::PathBuf {
        self.dir.path().join("storage")
    }

    /// Serves this Berth on a loopback port for real clients and returns `host:port`. The
    /// server lives as long as the test's runtime.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let app = berth_http::app(AppState::new(self.berth.clone(), &format!("http://{host}")));
        tokio::spawn(async move { axum::serve(listener, app).await });
        host
    }

    /// Another server on the same database and storage (a replica, or this one restarted).
    pub async fn replica(&self) -> Router {
        berth_http::app(AppState::new(
            build(self.dir.path(), self.clock.clone()).await,
            BASE,
        ))
    }

    /// Sends a request with an optional `Authorization: Bearer` token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.send(req.body(body).unwrap()).await
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        send_to(&self.router, req).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::DELETE, path, token, None).await
    }

    /// A setup step: sends `body` with `token` and asserts the answer is `expected`.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Value,
        expected: StatusCode,
    ) -> Reply {
        let r = self
            .call(method.clone(), path, Some(token), Some(body))
            .await;
        assert_eq!(r.status, expected, "{method} {path}: {}", r.body);
        r
    }

    /// Asserts the statuses of bodiless requests, in order: each row is the method, the path,
    /// who asks (a token, `None` for nobody) and the status they get.
    pub async fn expect_statuses(&self, rows: &[(Method, &str, Option<&str>, u16)]) {
        for (i, (method, path, token, expected)) in rows.iter().enumerate() {
            let r = self.call(method.clone(), path, *token, None).await;
            assert_eq!(
                r.status.as_u16(),
                *expected,
                "row {i}: {method} {path}: {}",
                r.body
            );
        }
    }

    /// Asserts GitHub's 422 naming `resource` for each body `token` POSTs to `path`: each row is
    /// the body, and the field and the code the answer names.
    pub async fn expect_invalid(
        &self,
        path: &str,
        token: &str,
        resource: &str,
        rows: &[(Value, &str, &str)],
    ) {
        self.expect_invalid_on(Method::POST, path, token, resource, rows)
            .await;
    }

    /// [`TestApp::expect_invalid`] with another method.
    pub async fn expect_invalid_on(
        &self,
        method: Method,
        path: &str,
        token: &str,
        resource: &str,
        rows: &[(Value, &str, &str)],
    ) {
        for (body, field, code) in rows {
            let r = self
                .call(method.clone(), path, Some(token), Some(body.clone()))
                .await;
            assert_invalid(&r, resource, field, code);
        }
    }

    /// A setup step that creates something (`201 Created`) with the site administrator's token.
    async fn admin_creates(&self, path: &str, body: Value) -> Reply {
        self.expect(Method::POST, path, &self.admin, body, StatusCode::CREATED)
            .await
    }

    /// Creates a user and returns a token for them with `scopes`.
    pub async fn user(&self, login: &str, scopes: &[&str]) -> String {
        self.admin_creates("/api/v3/admin/users", json!({ "login": login }))
            .await;
        self.token_for(login, scopes).await
    }

    pub async fn token_for(&self, login: &str, scopes: &[&str]) -> String {
        let path = format!("/api/v3/admin/users/{login}/authorizations");
        let r = self.admin_creates(&path, json!({ "scopes": scopes })).await;
        r.body["token"].as_str().unwrap().to_owned()
    }

    pub async fn org(&self, login: &str, admin: &str) {
        let body = json!({ "login": login, "admin": admin });
        self.admin_creates("/api/v3/admin/organizations", body)
            .await;
    }

    /// Makes `login` a member of `org`, as the owner whose token is `owner`.
    pub async fn member(&self, owner: &str, org: &str, login: &str) {
        let path = format!("/api/v3/orgs/{org}/memberships/{login}");
        self.expect(Method::PUT, &path, owner, json!({}), StatusCode::OK)
            .await;
    }

    /// Creates the caller's repository `name` with `visibility` (public, private, internal).
    pub async fn repo(&self, token: &str, name: &str, visibility: &str) -> Value {
        self.create_repo("/api/v3/user/repos", token, name, visibility)
            .await
    }

    /// Creates `org`'s repository `name` with `visibility`, as the member whose token is `token`.
    pub async fn org_repo(&self, token: &str, org: &str, name: &str, visibility: &str) {
        self.create_repo(
            &format!("/api/v3/orgs/{org}/repos"),
            token,
            name,
            visibility,
        )
        .await;
    }

    /// The repository as created (its JSON).
    async fn create_repo(&self, path: &str, token: &str, name: &str, visibility: &str) -> Value {
        let body = json!({ "name": name, "visibility": visibility });
        self.expect(Method::POST, path, token, body, StatusCode::CREATED)
            .await
            .body
    }

    /// Gives `login` `permission` on `full_name` (OWNER/REPO), as the administrator whose token
    /// is `token`.
    pub async fn collaborator(&self, token: &str, full_name: &str, login: &str, permission: &str) {
        let path = format!("/api/v3/repos/{full_name}/collaborators/{login}");
        let body = json!({ "permission": permission });
        self.expect(Method::PUT, &path, token, body, StatusCode::NO_CONTENT)
            .await;
    }

    /// A repository token of `full_name` (OWNER/REPO), made with `token`.
    pub async fn repo_token(&self, token: &str, full_name: &str) -> String {
        let path = format!("/api/v3/repos/{full_name}/tokens");
        let r = self
            .expect(Method::POST, &path, token, json!({}), StatusCode::CREATED)
            .await;
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// Gives repository `full_name` `grant` on the package at `package` (its API address), as
    /// `token`.
    pub async fn grant_repository(
        &self,
        token: &str,
        package: &str,
        full_name: &str,
        grant: Value,
    ) -> Reply {
        let path = format!("{package}/access/repositories/{full_name}");
        self.put(&path, Some(token), grant).await
    }

    /// Sets the visibility of the package at `package` (its API address), as `token`.
    pub async fn package_visibility(&self, token: &str, package: &str, visibility: &str) -> Reply {
        let body = json!({ "visibility": visibility });
        self.patch(package, Some(token), body).await
    }

    /// Puts an environment in `to` behind the service's back (through a second connection to its
    /// database), as a crash or a concurrent operation would leave it.
    pub async fn force_codespace_state(
        &self,
        name: &str,
        to: berth_domain::codespace::CodespaceState,
    ) {
        let store = Store::connect(&Store::sqlite_url(&self.dir.path().join("berth.db")))
            .await
            .unwrap();
        let all = berth_domain::codespace::CodespaceState::ALL;
        assert!(
            store
                .set_codespace_state(name, &all, to, None, 0)
                .await
                .unwrap()
        );
        store.close().await;
    }
}

/// Sends a request to any router and reads the whole answer.
pub async fn send_to(router: &Router, req: Request<Body>) -> Reply {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply {
        status,
        headers,
        body,
        raw: bytes.to_vec(),
    }
}

/// Asserts a GitHub-shaped error: status and message.
#[track_caller]
pub fn assert_error(r: &Reply, status: StatusCode, message: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["message"], message, "{}", r.body);
    assert!(r.body["documentation_url"].is_string(), "{}", r.body);
}

/// The status of an answer and one text field of its body.
pub fn status_and<'r>(r: &'r Reply, field: &str) -> (StatusCode, Option<&'r str>) {
    (r.status, r.body[field].as_str())
}

/// The message of an answer's first error (a 422's or the registry's), "" when there is none.
pub fn first_error(r: &Reply) -> &str {
    r.body["errors"][0]["message"].as_str().unwrap_or("")
}

/// Asserts a GitHub-shaped 422 for one field and code.
#[track_caller]
pub fn assert_invalid(r: &Reply, resource: &str, field: &str, code: &str) {
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
    let e = &r.body["errors"][0];
    assert_eq!(
        (
            e["resource"].as_str(),
            e["field"].as_str(),
            e["code"].as_str()
        ),
        (Some(resource), Some(field), Some(code)),
        "{}",
        r.body
    );
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
}

/// `value` sealed to the public key `public` (base64), as `crypto_box_seal` does (GitHub's
/// clients and the web page's script): the sealed box in base64.
pub fn seal(public: &str, value: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let public: [u8; 32] = b64.decode(public).unwrap().try_into().unwrap();
    let sealed = crypto_box::PublicKey::from(public)
        .seal(&mut crypto_box::aead::OsRng, value)
        .unwrap();
    b64.encode(sealed)
}
