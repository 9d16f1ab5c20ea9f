//! The npm registry with the clients people use — npm, pnpm and yarn (classic) — against a real
//! `berth serve`: publish, install with a lockfile, `npm ci`, dist-tags, deprecate, unpublish,
//! the legacy login, and the access model (private, internal, granted; the wrong users get E404).
//! `scripts/test` installs pnpm and yarn from the npm registry (`BERTH_TEST_NODE_BIN`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{Cli, Server, serve_at, text};

/// pnpm and yarn from the npm registry; without them these tests fail, unless
/// `BERTH_SKIP_CLIENTS=1` says to skip them knowingly.
fn node_bin() -> Option<PathBuf> {
    berth_store::testing::given("BERTH_TEST_NODE_BIN", "BERTH_SKIP_CLIENTS").map(PathBuf::from)
}

/// A server with `alice` (in the organization `acme`, as its admin), `carol` (a member of
/// `acme`) and `bob` (in nothing), each with a token that reads, writes and deletes packages.
struct Registry {
    _server: Server,
    url: String,
    admin: Cli,
    alice: String,
    bob: String,
    carol: String,
    dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let server = Server::start(serve_at(&data, &[]));
        let admin = Cli::admin(&server, &data, &dir.path().join("cli"));
        let scopes = "repo,read:packages,write:packages,delete:packages";
        let alice = admin.user_with_token("alice", scopes);
        let bob = admin.user_with_token("bob", scopes);
        let carol = admin.user_with_token("carol", scopes);
        admin.ok(&["org", "create", "acme", "--admin", "alice"]);
        admin.ok(&["org", "member", "add", "acme", "carol"]);
        Self {
            url: server.url.clone(),
            _server: server,
            admin,
            alice,
            bob,
            carol,
            dir,
        }
    }

    fn registry(&self) -> String {
        format!("{}/npm/", self.url)
    }

    /// A fresh directory acting with `token` (none: anonymous), its `.npmrc` pointing every
    /// package at Berth, with its own cold cache; `package` is its `package.json`.
    fn project(&self, name: &str, token: Option<&str>, package: &serde_json::Value) -> PathBuf {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let host = self.url.trim_start_matches("http://");
        let mut npmrc = format!("registry={}\n", self.registry());
        if let Some(token) = token {
            npmrc.push_str(&format!("//{host}/npm/:_authToken={token}\n"));
        }
        std::fs::write(dir.join(".npmrc"), npmrc).unwrap();
        std::fs::write(dir.join("package.json"), package.to_string()).unwrap();
        dir
    }

    /// `npm publish` of [`Self::package`] as `token`.
    fn publish(&self, token: &str, name: &str, version: &str, says: &str) {
        npm_ok(&self.package(token, name, version, says), &["publish"]);
    }

    /// A package directory for `name@version` whose `index.js` says `says`.
    fn package(&self, token: &str, name: &str, version: &str, says: &str) -> PathBuf {
        self.package_with(token, name, version, says, serde_json::json!({}))
    }

    /// The same, with `more` fields in its `package.json`.
    fn package_with(
        &self,
        token: &str,
        name: &str,
        version: &str,
        says: &str,
        more: serde_json::Value,
    ) -> PathBuf {
        let dir_name = format!("pkg-{}-{version}", name.replace(['@', '/'], "_"));
        let mut manifest = serde_json::json!({ "name": name, "version": version, "main": "index.js", "license": "MIT" });
        for (k, v) in more.as_object().unwrap() {
            manifest[k] = v.clone();
        }
        let dir = self.project(&dir_name, Some(token), &manifest);
        std::fs::write(
            dir.join("index.js"),
            format!("module.exports = () => {says:?};\n"),
        )
        .unwrap();
        dir
    }
}

/// The npm cache of the client in `dir`: its own, outside what it packs.
fn cache(dir: &Path) -> PathBuf {
    let name = dir.file_name().unwrap().to_str().unwrap();
    dir.with_file_name(format!("cache-{name}"))
}

/// A client in `dir`, isolated from this machine's own configuration and cache.
fn client(program: &Path, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir)
        .env("HOME", dir)
        .env("npm_config_userconfig", dir.join("no-user-npmrc"))
        .env("npm_config_cache", cache(dir))
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false");
    c
}

fn npm(dir: &Path, args: &[&str]) -> Output {
    client(Path::new("npm"), dir).args(args).output().unwrap()
}

#[track_caller]
fn npm_ok(dir: &Path, args: &[&str]) -> String {
    support::succeeded(&npm(dir, args), &format!("npm {args:?}"))
}

#[track_caller]
fn npm_fails(dir: &Path, args: &[&str], words: &str) -> String {
    let out = npm(dir, args);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "npm {args:?} succeeded:\n{said}");
    assert!(
        said.contains(words),
        "npm {args:?} did not say {words:?}:\n{said}"
    );
    said
}

/// What `require(name)()` answers in `dir`.
fn run_package(dir: &Path, name: &str) -> String {
    let out = Command::new("node")
        .current_dir(dir)
        .args(["-e", &format!("process.stdout.write(require({name:?})())")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// One HTTP request, answered as (status, headers, body).
fn http(
    method: reqwest::Method,
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
    json: Option<&serde_json::Value>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    support::runtime().block_on(async {
        let mut req = reqwest::Client::new()
            .request(method, url)
            .bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = json {
            req = req.json(body);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.bytes().await.unwrap().to_vec())
    })
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

fn app(deps: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "name": "app", "version": "1.0.0", "license": "MIT", "dependencies": deps })
}

#[test]
fn npm_publishes_installs_tags_deprecates_and_unpublishes() {
    let r = Registry::start();
    r.publish(&r.alice, "@alice/lib", "1.0.0", "one");

    // Install into a fresh project: the lockfile records the version and its integrity.
    let app_dir = r.project("app", Some(&r.alice), &app(serde_json::json!({})));
    let said = npm_ok(&app_dir, &["install", "@alice/lib"]);
    assert!(said.contains("found 0 vulnerabilities"), "{said}");
    assert_eq!(run_package(&app_dir, "@alice/lib"), "one");
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app_dir.join("package-lock.json")).unwrap()).unwrap();
    let locked = &lock["packages"]["node_modules/@alice/lib"];
    assert_eq!(locked["version"], "1.0.0");
    assert!(
        locked["integrity"].as_str().unwrap().starts_with("sha512-"),
        "{locked}"
    );

    npm_ok(&app_dir, &["ping"]);
    assert_eq!(npm_ok(&app_dir, &["whoami"]).trim(), "alice");

    // `npm ci` from the lockfile with a cold cache.
    std::fs::remove_dir_all(app_dir.join("node_modules")).unwrap();
    std::fs::remove_dir_all(cache(&app_dir)).unwrap();
    let said = npm_ok(&app_dir, &["ci"]);
    assert!(said.contains("added 1 package"), "{said}");
    assert_eq!(run_package(&app_dir, "@alice/lib"), "one");

    // A version is immutable: publishing 1.0.0 again is refused.
    npm_fails(
        &r.package(&r.alice, "@alice/lib", "1.0.0", "other bytes"),
        &["publish"],
        "previously published",
    );

    // dist-tags: a prerelease under `next`, then tags added, listed and removed.
    let next = r.package(&r.alice, "@alice/lib", "2.0.0-beta.1", "two");
    npm_ok(&next, &["publish", "--tag", "next"]);
    let tags = npm_ok(&app_dir, &["dist-tag", "ls", "@alice/lib"]);
    assert_eq!(tags, "latest: 1.0.0\nnext: 2.0.0-beta.1\n");
    npm_ok(&app_dir, &["dist-tag", "add", "@alice/lib@1.0.0", "stable"]);
    npm_ok(&app_dir, &["dist-tag", "rm", "@alice/lib", "next"]);
    let tags = npm_ok(&app_dir, &["dist-tag", "ls", "@alice/lib"]);
    assert_eq!(tags, "latest: 1.0.0\nstable: 1.0.0\n");
    npm_fails(
        &app_dir,
        &["dist-tag", "add", "@alice/lib@9.9.9", "stable"],
        "is not published",
    );

    // Deprecate and un-deprecate: installs warn, then do not.
    npm_ok(&app_dir, &["deprecate", "@alice/lib@1.0.0", "use 2.x"]);
    let shown = npm_ok(&app_dir, &["view", "@alice/lib@1.0.0", "deprecated"]);
    assert_eq!(shown.trim(), "use 2.x");
    let fresh = r.project("fresh", Some(&r.alice), &app(serde_json::json!({})));
    let warned = npm(&fresh, &["install", "@alice/lib@1.0.0"]);
    assert!(text(&warned.stderr).contains("deprecated"), "{warned:?}");
    npm_ok(&app_dir, &["deprecate", "@alice/lib@1.0.0", ""]);
    let shown = npm_ok(&app_dir, &["view", "@alice/lib@1.0.0", "deprecated"]);
    assert_eq!(shown.trim(), "");

    // Unpublish one version: gone from the packument, its number never reused.
    npm_ok(&app_dir, &["unpublish", "@alice/lib@2.0.0-beta.1"]);
    let versions = npm_ok(&app_dir, &["view", "@alice/lib", "versions"]);
    assert!(
        versions.contains("1.0.0") && !versions.contains("beta"),
        "{versions}"
    );
    npm_fails(
        &next,
        &["publish", "--tag", "next"],
        "was published before, and a version is never published twice",
    );

    // Unpublish the package: it is gone.
    npm_ok(&app_dir, &["unpublish", "@alice/lib", "--force"]);
    npm_fails(&app_dir, &["view", "@alice/lib"], "E404");
}

#[test]
fn packuments_carry_etags_and_the_abbreviated_form() {
    let r = Registry::start();
    r.publish(&r.alice, "@alice/lib", "1.0.0", "one");
    let url = format!("{}@alice%2flib", r.registry());
    let get = |accept: &str, etag: Option<&str>| {
        let mut headers = vec![("accept", accept)];
        if let Some(tag) = etag {
            headers.push(("if-none-match", tag));
        }
        http(reqwest::Method::GET, &url, &r.alice, &headers, None)
    };
    let corgi = "application/vnd.npm.install-v1+json";
    let (status, headers, body) = get("application/json", None);
    assert_eq!(status, 200);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let doc = json(&body);
    assert_eq!(doc["versions"]["1.0.0"]["license"], "MIT");
    assert!(doc["time"]["1.0.0"].is_string() && doc["_rev"].is_string());

    let (_, headers, body) = get(corgi, None);
    assert_eq!(headers["content-type"], corgi);
    let short_etag = headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(short_etag, etag);
    let short = json(&body);
    assert!(short.get("time").is_none() && short.get("readme").is_none());
    assert_eq!(
        short["versions"]["1.0.0"]["dist"]["tarball"],
        format!("{}@alice/lib/-/lib-1.0.0.tgz", r.registry())
    );

    assert_eq!(get(corgi, Some(&short_etag)).0, 304);
    assert_eq!(get("application/json", Some(&etag)).0, 304);
    // A new version changes the document, and its tag.
    r.publish(&r.alice, "@alice/lib", "1.0.1", "one");
    assert_eq!(get(corgi, Some(&short_etag)).0, 200);
}

#[test]
fn bad_publishes_are_refused_naming_what_is_wrong() {
    let r = Registry::start();
    // A scope that is not the publisher's, an unscoped name, a scope that is no account.
    let said = npm_fails(
        &r.package(&r.bob, "@alice/lib", "1.0.0", "x"),
        &["publish"],
        "403",
    );
    assert!(
        said.contains("packages in the @alice scope are published by alice"),
        "{said}"
    );
    npm_fails(
        &r.package(&r.alice, "lib", "1.0.0", "x"),
        &["publish"],
        "scoped to their owner: name it @OWNER/NAME",
    );
    npm_fails(
        &r.package(&r.alice, "@nobody/lib", "1.0.0", "x"),
        &["publish"],
        "no user or organization is named nobody",
    );

    // A document whose integrity, shasum or tarball do not match is refused, and nothing of it
    // is published.
    let dir = r.package(&r.alice, "@alice/lib", "1.0.0", "x");
    npm_ok(&dir, &["pack"]);
    let tgz = std::fs::read(dir.join("alice-lib-1.0.0.tgz")).unwrap();
    let url = format!("{}@alice%2flib", r.registry());
    let put = |doc: serde_json::Value| {
        let (status, _, body) = http(reqwest::Method::PUT, &url, &r.alice, &[], Some(&doc));
        (status, body)
    };
    let document = |version: &str, data: &[u8], integrity: Option<&str>| {
        use base64::Engine as _;
        let mut dist = serde_json::json!({});
        if let Some(i) = integrity {
            dist["integrity"] = serde_json::json!(i);
        }
        serde_json::json!({
            "name": "@alice/lib",
            "dist-tags": { "latest": version },
            "versions": { version: { "name": "@alice/lib", "version": version, "dist": dist } },
            "_attachments": { format!("@alice/lib-{version}.tgz"): {
                "data": base64::engine::general_purpose::STANDARD.encode(data), "length": data.len()
            }}
        })
    };
    for (doc, words) in [
        (
            document("1.0.0", &tgz, Some("sha512-AAAA")),
            "sha512 integrity is sha512-",
        ),
        (
            document("1.0.0", b"not a tarball", None),
            "not a gzipped tar",
        ),
        (
            document("1.0.1", &tgz, None),
            "the tarball's package.json is @alice/lib@1.0.0, but the document publishes @alice/lib@1.0.1",
        ),
    ] {
        let (status, body) = put(doc);
        assert_eq!(status, 400);
        let body = json(&body);
        assert!(
            body["error"].as_str().unwrap().contains(words),
            "{body} should say {words:?}"
        );
    }
    npm_fails(&dir, &["view", "@alice/lib"], "E404");
    // The untouched tarball publishes.
    assert_eq!(put(document("1.0.0", &tgz, None)).0, 201);
    npm_ok(&dir, &["view", "@alice/lib"]);
}

#[test]
fn access_is_the_packages_model_and_unreadable_is_missing() {
    let r = Registry::start();
    let as_ = |who: &str, token: Option<&str>| {
        r.project(&format!("app-{who}"), token, &app(serde_json::json!({})))
    };
    let (bob, carol, anonymous) = (
        as_("bob", Some(&r.bob)),
        as_("carol", Some(&r.carol)),
        as_("anonymous", None),
    );

    // Private by default: only alice reads it; bob and anonymous get exactly E404.
    r.publish(&r.alice, "@alice/lib", "1.0.0", "lib");
    npm_fails(&bob, &["install", "@alice/lib"], "E404");
    npm_fails(&anonymous, &["install", "@alice/lib"], "E404");
    npm_fails(&bob, &["view", "@alice/nothing"], "E404");

    // A grant to bob (through the CLI, `--type npm`) lets him install, not publish.
    r.admin.ok(&[
        "package",
        "grant",
        "@alice/lib",
        "--type",
        "npm",
        "--user",
        "bob",
    ]);
    npm_ok(&bob, &["install", "@alice/lib"]);
    assert_eq!(run_package(&bob, "@alice/lib"), "lib");
    npm_fails(
        &r.package(&r.bob, "@alice/lib", "1.0.1", "x"),
        &["publish"],
        "you need the write role on it",
    );
    npm_fails(
        &bob,
        &["dist-tag", "add", "@alice/lib@1.0.0", "mine"],
        "403",
    );

    // Public: everyone, anonymous included.
    r.admin.ok(&[
        "package",
        "visibility",
        "alice/lib",
        "--type",
        "npm",
        "public",
    ]);
    npm_ok(&anonymous, &["install", "@alice/lib"]);

    // An internal package of an organization: its members read it, others get E404.
    r.publish(&r.alice, "@acme/tools", "0.1.0", "tools");
    r.admin.ok(&[
        "package",
        "visibility",
        "@acme/tools",
        "--type",
        "npm",
        "internal",
    ]);
    npm_ok(&carol, &["install", "@acme/tools"]);
    npm_fails(&bob, &["install", "@acme/tools"], "E404");
    npm_fails(&anonymous, &["view", "@acme/tools"], "E404");

    // The packages API and CLI list npm packages apart from containers, with their versions.
    let listed = r
        .admin
        .ok(&["--json", "package", "list", "acme", "--type", "npm"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["name"], "tools");
    assert_eq!(listed[0]["package_type"], "npm");
    assert_eq!(listed[0]["visibility"], "internal");
    let containers = r.admin.ok(&["--json", "package", "list", "acme"]);
    assert_eq!(containers.trim(), "[]");
    let versions_url = format!("{}/api/v3/orgs/acme/packages/npm/tools/versions", r.url);
    let (_, _, body) = http(reqwest::Method::GET, &versions_url, &r.alice, &[], None);
    let versions = json(&body);
    assert_eq!(versions[0]["name"], "0.1.0");
    assert_eq!(versions[0]["metadata"]["npm"]["tags"][0], "latest");
    // Deleting a version through the API unpublishes it.
    let id = versions[0]["id"].as_i64().unwrap();
    let (status, _, _) = http(
        reqwest::Method::DELETE,
        &format!("{versions_url}/{id}"),
        &r.alice,
        &[],
        None,
    );
    assert_eq!(status, 204);
    npm_fails(&carol, &["install", "@acme/tools@0.1.0"], "ETARGET");
}

#[test]
fn the_first_publish_links_the_package_to_a_repository_of_its_owner() {
    let r = Registry::start();
    let alice = Cli::signed_in(&r.dir.path().join("alice-cli"), &r.url, &r.alice);
    for repo in ["alice/web", "alice/tool"] {
        alice.ok(&["repo", "create", repo]);
    }
    let show = |package: &str| -> serde_json::Value {
        let shown = r
            .admin
            .ok(&["--json", "package", "show", package, "--type", "npm"]);
        serde_json::from_str(&shown).unwrap()
    };
    let linked = |package: &str| {
        let v = show(package);
        (
            v["repository"]["full_name"].as_str().map(str::to_owned),
            v["inherit_access"].as_bool().unwrap(),
        )
    };

    // The `repository` field names a repository of the owner: linked, not inheriting (a personal
    // token published it).
    let web = serde_json::json!({ "repository": { "type": "git", "url": "git+https://example.invalid/alice/web.git" } });
    npm_ok(
        &r.package_with(&r.alice, "@alice/widget", "1.0.0", "w", web),
        &["publish"],
    );
    assert_eq!(linked("@alice/widget"), (Some("alice/web".into()), false));
    // No field: the owner's repository of the package's name.
    r.publish(&r.alice, "@alice/tool", "1.0.0", "t");
    assert_eq!(linked("@alice/tool"), (Some("alice/tool".into()), false));
    // A repository of another owner links nothing.
    let elsewhere = serde_json::json!({ "repository": "github:bob/web" });
    npm_ok(
        &r.package_with(&r.alice, "@alice/loose", "1.0.0", "l", elsewhere),
        &["publish"],
    );
    assert_eq!(linked("@alice/loose"), (None, false));
    // A repository token's first publish links to its repository and inherits its access.
    let ci = alice.ok(&["token", "create", "--repo", "alice/web"]);
    r.publish(ci.trim(), "@alice/built", "1.0.0", "b");
    assert_eq!(linked("@alice/built"), (Some("alice/web".into()), true));

    // Writers publish; only admins unpublish.
    alice.ok(&[
        "package",
        "grant",
        "@alice/widget",
        "--type",
        "npm",
        "--user",
        "bob",
        "--role",
        "write",
    ]);
    r.publish(&r.bob, "@alice/widget", "1.0.1", "w2");
    let bob = r.project("bob-unpublish", Some(&r.bob), &app(serde_json::json!({})));
    npm_fails(
        &bob,
        &["unpublish", "@alice/widget@1.0.1"],
        "you need the admin role on it",
    );
    npm_ok(&bob, &["view", "@alice/widget@1.0.1", "version"]);
}

#[test]
fn pnpm_and_yarn_install_what_npm_published() {
    let Some(bin) = node_bin() else { return };
    let r = Registry::start();
    r.publish(&r.alice, "@alice/lib", "1.2.3", "from berth");
    let deps = app(serde_json::json!({ "@alice/lib": "^1.2.0" }));
    // Each client in a fresh project, with its own store or cache.
    let install = |tool: &str, args: &[&str], store: &str| {
        let dir = r.project(tool, Some(&r.alice), &deps);
        let out = client(&bin.join(tool), &dir)
            .args(args)
            .arg(dir.with_file_name(format!("{tool}-{store}")))
            .env("YARN_DISABLE_SELF_UPDATE_CHECK", "true")
            .output()
            .unwrap();
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{tool}: {said}");
        assert_eq!(run_package(&dir, "@alice/lib"), "from berth");
        dir
    };
    let pnpm = install("pnpm", &["install", "--store-dir"], "store");
    let lock = std::fs::read_to_string(pnpm.join("pnpm-lock.yaml")).unwrap();
    assert!(lock.contains("'@alice/lib@1.2.3'"), "{lock}");
    let yarn = install(
        "yarn",
        &["install", "--non-interactive", "--cache-folder"],
        "cache",
    );
    let lock = std::fs::read_to_string(yarn.join("yarn.lock")).unwrap();
    assert!(lock.contains("integrity sha512-"), "{lock}");
}

#[test]
fn npm_login_takes_a_token_as_the_password() {
    let Some(python) = support::servers::python() else {
        return;
    };
    let r = Registry::start();
    let dir = r.project("login", None, &app(serde_json::json!({})));
    let login = |user: &str, password: &str| {
        client(&python, &dir)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/npm_login.py"))
            .args([user, password, &r.registry()])
            .env("npm_config_userconfig", dir.join("user-npmrc"))
            .output()
            .unwrap()
    };
    let refused = login("alice", "not-a-token");
    assert!(!refused.status.success(), "{refused:?}");
    assert!(text(&refused.stdout).contains("E401"), "{refused:?}");
    let refused = login("bob", &r.alice);
    assert!(
        !refused.status.success(),
        "bob logged in with alice's token"
    );

    let out = login("alice", &r.alice);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("Logged in to scope @alice"),
        "{}",
        text(&out.stdout)
    );
    let saved = std::fs::read_to_string(dir.join("user-npmrc")).unwrap();
    assert!(saved.contains(&format!("_authToken={}", r.alice)));
    let who = client(Path::new("npm"), &dir)
        .env("npm_config_userconfig", dir.join("user-npmrc"))
        .args(["whoami", "--registry", &r.registry()])
        .output()
        .unwrap();
    assert_eq!(text(&who.stdout).trim(), "alice");
}

#[test]
fn npm_install_inside_an_environment_needs_no_credentials() {
    use support::environments::{created, exec_ok, git_repo};
    use support::images::{busybox_layer, image_layout, node_layer, push};

    let dir = tempfile::tempdir().unwrap();
    let berth = support::servers::Berth::start(&[], &[]);
    let (alice, bob) = (berth.cli(&berth.alice), berth.cli(&berth.bob));
    let registry = format!("{}/npm/", berth.server.url);

    // An image with this machine's node and npm, in Berth's registry.
    let layout = dir.path().join("layout");
    let layers = [busybox_layer(dir.path()), node_layer(dir.path())];
    image_layout(&layout, "node", &layers, &["PATH=/bin:/usr/bin"]);
    let image = format!("{}/alice/node:1", berth.host);
    push(&layout, "node", &image, &format!("alice:{}", berth.alice));

    // alice's private package, granted to her repository's environments; bob's public one.
    let publish = |token: &str, name: &str, says: &str| {
        let pkg = dir.path().join(name.replace(['@', '/'], "_"));
        std::fs::create_dir_all(&pkg).unwrap();
        let host = berth.host.as_str();
        std::fs::write(
            pkg.join(".npmrc"),
            format!("registry={registry}\n//{host}/npm/:_authToken={token}\n"),
        )
        .unwrap();
        std::fs::write(
            pkg.join("package.json"),
            serde_json::json!({ "name": name, "version": "1.0.0", "license": "MIT" }).to_string(),
        )
        .unwrap();
        std::fs::write(
            pkg.join("index.js"),
            format!("module.exports = () => {says:?};\n"),
        )
        .unwrap();
        npm_ok(&pkg, &["publish"]);
    };
    publish(&berth.alice, "@alice/lib", "alice's lib");
    publish(&berth.bob, "@bob/util", "bob's util");
    bob.ok(&[
        "package",
        "visibility",
        "@bob/util",
        "--type",
        "npm",
        "public",
    ]);

    let devcontainer = format!("{{\"image\": \"{image}\"}}");
    let url = git_repo(
        dir.path(),
        "app",
        &[(".devcontainer/devcontainer.json", &devcontainer)],
    );
    alice.ok(&["repo", "create", "alice/app", "--clone-url", &url]);
    alice.ok(&["package", "grant", "alice/node", "--repo", "alice/app"]);
    alice.ok(&[
        "package",
        "grant",
        "@alice/lib",
        "--type",
        "npm",
        "--repo",
        "alice/app",
    ]);
    let name = created(&alice, &["-R", "alice/app"]);

    // `.npmrc` names every owner whose packages the environment reads, and its token.
    let npmrc = exec_ok(&alice, &name, "cat $HOME/.npmrc");
    let token = exec_ok(&alice, &name, "echo -n $BERTH_TOKEN");
    for line in [
        format!("@alice:registry={registry}"),
        format!("@bob:registry={registry}"),
        format!("//{}/npm/:_authToken={token}", berth.host),
    ] {
        assert!(npmrc.contains(&line), "{line:?} not in:\n{npmrc}");
    }
    assert!(
        !npmrc.contains(&berth.alice),
        "alice's own token reached the environment"
    );

    let said = exec_ok(
        &alice,
        &name,
        r#"mkdir -p /tmp/p && cd /tmp/p && echo '{"name":"p","version":"1.0.0"}' > package.json && npm install --no-fund --no-audit --no-update-notifier @alice/lib @bob/util 2>&1 && node -e 'process.stdout.write(require("@alice/lib")() + " / " + require("@bob/util")())'"#,
    );
    assert!(
        said.ends_with("alice's lib / bob's util"),
        "npm inside said:\n{said}"
    );
    assert!(said.contains("added 2 packages"), "{said}");
}
