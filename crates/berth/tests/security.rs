//! Hostile users and hostile upstreams (issue 14), with the real binary: one test per finding,
//! named after it.

mod support;

use std::os::unix::fs::PermissionsExt as _;

use support::environments::{AliceWithImage, created, git_repo};
use support::servers::Berth;
use support::{Cli, Server, assert_stderr, serve_at};

#[test]
fn the_data_directory_is_made_private_even_when_an_earlier_version_left_it_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _server = Server::start(serve_at(&data, &[]));
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "owner only");
}

#[test]
fn multi_line_secrets_and_their_base64_are_masked_in_the_creation_log() {
    let env = AliceWithImage::start();
    let (alice, image) = (&env.alice, &env.image);
    let devcontainer = format!(
        "{{\"image\": \"{image}\", \"postCreateCommand\": \"echo \\\"$PEM\\\"; printf %s \\\"$TOKEN\\\" | base64\"}}"
    );
    env.repo("web", &[(".devcontainer/devcontainer.json", &devcontainer)]);
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQDZ3x7Q9pLm2Rt5\n-----END PRIVATE KEY-----";
    // From standard input, as a key file would be piped in.
    let out = alice.run(&["secret", "set", "PEM", "-R", "alice/web"], Some(pem));
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    alice.ok(&[
        "secret",
        "set",
        "TOKEN",
        "-R",
        "alice/web",
        "--body",
        "tok-2f9c1e77aa",
    ]);
    let name = created(alice, &["-R", "alice/web"]);
    let log = alice.ok(&["codespace", "logs", &name]);
    assert!(log.contains("postCreateCommand"), "{log}");
    for leaked in [
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "BKcwggSjAgEAAoIBAQDZ3x7Q9pLm2Rt5",
        "tok-2f9c1e77aa",
        "dG9rLTJmOWMxZTc3YWE",
    ] {
        assert!(!log.contains(leaked), "{leaked} reached the log:\n{log}");
    }
    assert!(log.contains("| ***"), "{log}");
    alice.ok(&["codespace", "delete", &name]);
}

/// A listener on the host's loopback that counts connections.
fn counting_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(c);
        }
    });
    (port, hits)
}

/// Creating a codespace of `alice/web` from `image` fails, saying `words`.
#[track_caller]
fn create_fails(alice: &Cli, image: &str, words: &str) {
    alice.fails(
        &["codespace", "create", "-R", "alice/web", "--image", image],
        words,
    );
}

#[test]
fn the_server_does_not_connect_to_its_loopback_or_the_metadata_address_for_a_user() {
    let berth = Berth::start_strict(&[], &[]);
    let alice = berth.cli(&berth.alice);
    alice.ok(&["repo", "create", "alice/web"]);
    let (port, hits) = counting_listener();
    for (prefix, server) in [
        ("LOCAL", format!("127.0.0.1:{port}")),
        ("NAMED", format!("localhost:{port}")),
        ("META", "169.254.169.254".to_owned()),
    ] {
        for (k, v) in [
            ("SERVER", server.as_str()),
            ("USER", "u"),
            ("PASSWORD", "p"),
        ] {
            alice.ok(&[
                "secret",
                "set",
                &format!("{prefix}_CONTAINER_REGISTRY_{k}"),
                "-R",
                "alice/web",
                "--body",
                v,
            ]);
        }
    }
    // Once a port scanner: status codes and banners of the server's own loopback services.
    let out = alice.run(&["registry", "check", "-R", "alice/web"], None);
    let stdout = support::text(&out.stdout);
    assert_eq!(out.status.code(), Some(18), "{stdout}");
    assert_eq!(
        stdout.matches("the server may not connect there").count(),
        3,
        "each login refused before anything is sent:\n{stdout}"
    );
    // An image on the server's loopback is not pulled for the user either.
    create_fails(
        &alice,
        &format!("127.0.0.1:{port}/x/y:1"),
        "may not connect there",
    );
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached the loopback listener"
    );
}

#[test]
fn clone_urls_on_the_servers_disk_are_only_where_a_site_administrator_allows() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("git");
    std::fs::create_dir_all(allowed.join("team.git")).unwrap();
    let berth = Berth::start_strict(&["--clone-allow-dir", allowed.to_str().unwrap()], &[]);
    let alice = berth.cli(&berth.alice);
    for url in [
        "file:///etc/.git".to_owned(),
        "/etc".to_owned(),
        format!("file://{}", berth.data().display()),
        format!("file://{}/../../etc", allowed.display()),
    ] {
        let out = alice.run(&["repo", "create", "alice/x", "--clone-url", &url], None);
        assert!(!out.status.success(), "{url} was accepted");
        assert!(
            support::text(&out.stderr).contains("--clone-allow-dir"),
            "the message names the rule: {}",
            support::text(&out.stderr)
        );
    }
    let inside = format!("file://{}", allowed.join("team.git").display());
    alice.ok(&["repo", "create", "alice/x", "--clone-url", &inside]);
    // A site administrator may point a repository anywhere on the server.
    let admin = support::Cli::admin(&berth.server, &berth.data(), &dir.path().join("admin"));
    admin.ok(&[
        "repo",
        "edit",
        "alice/x",
        "--clone-url",
        "file:///srv/elsewhere.git",
    ]);
}

#[test]
fn a_clone_from_an_address_the_server_may_not_reach_is_never_attempted() {
    let berth = Berth::start_strict(&[], &[]);
    let alice = berth.cli(&berth.alice);
    let (port, hits) = counting_listener();
    alice.ok(&[
        "repo",
        "create",
        "alice/web",
        "--clone-url",
        &format!("http://127.0.0.1:{port}/web.git"),
    ]);
    create_fails(
        &alice,
        "registry.invalid/x:1",
        "cannot clone http://127.0.0.1",
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn a_private_upstream_is_cloned_with_credentials_from_secrets_not_from_the_clone_url() {
    let env = AliceWithImage::start();
    let (alice, image, dir) = (&env.alice, &env.image, &env.dir);
    let file_url = git_repo(
        dir.path(),
        "web",
        &[
            (
                ".devcontainer/devcontainer.json",
                &format!("{{\"image\": \"{image}\"}}"),
            ),
            ("README", "private upstream\n"),
        ],
    );
    let bare = std::path::PathBuf::from(file_url.trim_start_matches("file://"));
    support::run_ok(
        std::process::Command::new("git")
            .arg("update-server-info")
            .current_dir(&bare),
        None,
    );
    let upstream = BasicAuthGit::serve(dir.path(), "bob", "s3cret-clone-pw-4471");
    let url = format!("http://127.0.0.1:{}/web.git", upstream.port);
    alice.ok(&["repo", "create", "alice/web", "--clone-url", &url]);
    alice.ok(&["package", "grant", "alice/other", "--repo", "alice/web"]);

    // Without the secrets the upstream turns the clone away, and the error says so.
    let (out, _) = support::environments::create(alice, &["-R", "alice/web"]);
    assert!(!out.status.success());
    assert_stderr(&out, "cannot clone http://127.0.0.1");

    alice.ok(&[
        "secret",
        "set",
        "GIT_CLONE_USERNAME",
        "-R",
        "alice/web",
        "--body",
        "bob",
    ]);
    alice.ok(&[
        "secret",
        "set",
        "GIT_CLONE_PASSWORD",
        "-R",
        "alice/web",
        "--body",
        "s3cret-clone-pw-4471",
    ]);
    let name = created(alice, &["-R", "alice/web"]);
    let readme = support::environments::exec_ok(alice, &name, "cat /workspaces/web/README");
    assert!(readme.contains("private upstream"), "{readme}");
    let log = alice.ok(&["codespace", "logs", &name]);
    assert!(
        log.contains("with the GIT_CLONE_USERNAME/GIT_CLONE_PASSWORD secrets"),
        "{log}"
    );
    assert!(!log.contains("s3cret-clone-pw-4471"), "{log}");
    // The workspace's git configuration keeps no copy of the credentials.
    let config = support::environments::exec_ok(alice, &name, "cat /workspaces/web/.git/config");
    assert!(!config.contains("Authorization"), "{config}");
    assert!(upstream.authorized() > 0, "the upstream saw the login");
    alice.ok(&["codespace", "delete", &name]);
}

/// A dumb-HTTP git server (static files) that answers 401 unless the request carries the one
/// Basic login it was given.
struct BasicAuthGit {
    child: std::process::Child,
    port: u16,
    count: std::path::PathBuf,
}

impl BasicAuthGit {
    fn serve(root: &std::path::Path, user: &str, password: &str) -> Self {
        let count = root.join("authorized.count");
        let script = r#"
import base64, http.server, sys, functools
root, expected, count = sys.argv[1], sys.argv[2], sys.argv[3]
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != "Basic " + expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with open(count, "a") as f:
            f.write("x")
        super().do_GET()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(H, directory=root))
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
        use base64::Engine as _;
        let expected =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(root)
            .arg(expected)
            .arg(&count)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line.trim().parse().expect("the git server's port");
        BasicAuthGit { child, port, count }
    }

    fn authorized(&self) -> usize {
        std::fs::read(&self.count).map(|b| b.len()).unwrap_or(0)
    }
}

impl Drop for BasicAuthGit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
