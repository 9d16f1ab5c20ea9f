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
