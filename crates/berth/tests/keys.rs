//! SSH public keys with real clients: `berth key` with keys made by `ssh-keygen` (a private key is
//! refused before it leaves the machine), and GitHub's CLI (`gh ssh-key add/list/delete`) over
//! HTTPS, each seeing what the other did.

mod support;

use support::{Gh, keygen};

#[test]
fn berth_and_gh_add_list_and_delete_ssh_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin, ca) = support::https_server(dir.path());
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
