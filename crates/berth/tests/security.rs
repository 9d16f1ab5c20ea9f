//! Hostile users and hostile upstreams (issue 14), with the real binary: one test per finding,
//! named after it.

mod support;

use std::os::unix::fs::PermissionsExt as _;

use support::environments::{Images, created, git_repo};
use support::servers::Berth;
use support::{Server, serve_command};

#[test]
fn the_data_directory_is_made_private_even_when_an_earlier_version_left_it_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _server = Server::start(serve_command(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]));
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "owner only");
}

#[test]
fn multi_line_secrets_and_their_base64_are_masked_in_the_creation_log() {
    let dir = tempfile::tempdir().unwrap();
    let images = Images::small(dir.path());
    let berth = Berth::start(&[], &[]);
    let alice = berth.cli(&berth.alice);
    let image = format!("{}/alice/other:1", berth.host);
    images.push("other", &image, &format!("alice:{}", berth.alice));
    let devcontainer = format!(
        "{{\"image\": \"{image}\", \"postCreateCommand\": \"echo \\\"$PEM\\\"; printf %s \\\"$TOKEN\\\" | base64\"}}"
    );
    let url = git_repo(
        dir.path(),
        "web",
        &[(".devcontainer/devcontainer.json", &devcontainer)],
    );
    alice.ok(&["repo", "create", "alice/web", "--clone-url", &url]);
    alice.ok(&["package", "grant", "alice/other", "--repo", "alice/web"]);
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
    let name = created(&alice, &["-R", "alice/web"]);
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
    let out = alice.run(
        &[
            "codespace",
            "create",
            "-R",
            "alice/web",
            "--image",
            &format!("127.0.0.1:{port}/x/y:1"),
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        support::text(&out.stderr).contains("may not connect there"),
        "{}",
        support::text(&out.stderr)
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
    let out = alice.run(
        &[
            "codespace",
            "create",
            "-R",
            "alice/web",
            "--image",
            "registry.invalid/x:1",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        support::text(&out.stderr).contains("cannot clone http://127.0.0.1"),
        "{}",
        support::text(&out.stderr)
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}
