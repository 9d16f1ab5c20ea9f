//! SSH public keys with real clients: `berth key` with keys made by `ssh-keygen` (a private key is
//! refused before it leaves the machine), and GitHub's CLI (`gh ssh-key add/list/delete`) over
//! HTTPS, each seeing what the other did.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Cli, Gh, Server, run_ok, serve_at};

/// A new Ed25519 key pair `dir/name` (and `.pub`) with `name` as its comment; its fingerprint as
/// `ssh-keygen -l` prints it.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let private = dir.join(name);
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&private),
        None,
    );
    let listed = run_ok(
        Command::new("ssh-keygen")
            .arg("-l")
            .arg("-f")
            .arg(private.with_extension("pub")),
        None,
    );
    let fingerprint = listed.split_whitespace().nth(1).unwrap().to_owned();
    (private, fingerprint)
}

#[test]
fn berth_and_gh_add_list_and_delete_ssh_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = support::tls_certificates(dir.path());
    let data = dir.path().join("data");
    let server = Server::start(serve_at(
        &data,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    ));
    let admin = Cli::admin(&server, &data, &dir.path().join("admin"))
        .with_env("SSL_CERT_FILE", ca.to_str().unwrap());
    let token = admin.user_with_token("alice", "admin:public_key");
    let alice = admin.with_env("BERTH_TOKEN", &token);
    let (laptop, laptop_fp) = keygen(dir.path(), "laptop");
    let (desktop, desktop_fp) = keygen(dir.path(), "desktop");

    // The private key is refused by the CLI itself: nothing is sent, nothing added.
    alice.fails(
        &["key", "add", laptop.to_str().unwrap()],
        "is a private key",
    );
    assert_eq!(alice.ok(&["key", "list", "--json"]).trim(), "[]");

    let added = alice.ok(&["key", "add", laptop.with_extension("pub").to_str().unwrap()]);
    assert!(
        added.contains(&laptop_fp) && added.contains("as laptop"),
        "{added}"
    );

    let host = server.url.trim_start_matches("https://").to_owned();
    let gh = Gh::new(&host, &token, &dir.path().join("gh"))
        .with_env("SSL_CERT_FILE", ca.to_str().unwrap());
    gh.ok(&[
        "ssh-key",
        "add",
        desktop.with_extension("pub").to_str().unwrap(),
        "--title",
        "my desktop",
    ]);
    let by_gh = gh.ok(&["ssh-key", "list"]);
    assert!(
        by_gh.contains("laptop") && by_gh.contains("my desktop"),
        "{by_gh}"
    );

    let listed = alice.ok(&["key", "list"]);
    assert!(
        listed.contains(&laptop_fp)
            && listed.contains(&desktop_fp)
            && listed.contains("my desktop"),
        "{listed}"
    );
    let keys: serde_json::Value =
        serde_json::from_str(&alice.ok(&["key", "list", "--json"])).unwrap();
    let id_of = |title: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["title"] == title)
            .unwrap()["id"]
            .to_string()
    };
    gh.ok(&["ssh-key", "delete", &id_of("laptop"), "--yes"]);
    alice.ok(&["key", "delete", &id_of("my desktop")]);
    assert_eq!(alice.ok(&["key", "list", "--json"]).trim(), "[]");
    assert!(!gh.ok(&["ssh-key", "list"]).contains("laptop"));
}
