//! Regressions found by following the README as a new user (issue 12), with the real binary as
//! server and client: one test per finding, named after it.

mod support;

use support::environments::{Images, create, created, exec, exec_ok, git_repo, with_images};
use support::servers::Berth;
use support::{Cli, Server, assert_stderr, serve_at, text};

/// The site administrator's CLI of a [`Berth`] fixture.
fn admin(berth: &Berth) -> Cli {
    Cli::admin(
        &berth.server,
        &berth.data(),
        &berth.dir.path().join("admin"),
    )
}

#[test]
fn a_second_server_on_one_data_directory_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = || serve_at(&data, &[]);
    let first = Server::start(serve());
    let second = serve().stdin(std::process::Stdio::null()).output().unwrap();
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is in use by another berth serve")
            && stderr.contains(&format!("process {}", first.child.id())),
        "{stderr}"
    );
    // Once the first is gone, the directory is free again.
    let (status, _) = first.terminate();
    assert!(status.success());
    let _again = Server::start(serve());
}

#[test]
fn registry_check_without_server_checks_berths_own_registry_as_the_saved_login() {
    let berth = Berth::start(&[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(dir.path());
    let out = cli.run(
        &["login", "--server", &berth.server.url],
        Some(&berth.alice),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Once exited 2, asking for --server.
    let out = cli.run(&["registry", "check"], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&berth.host)
            && stdout.contains("accepted by the token endpoint")
            && stdout.contains("all steps passed"),
        "{stdout}"
    );

    // Anonymous (no saved login, a registry named): once claimed "username and password accepted".
    let anonymous = Cli::new(&dir.path().join("nobody"));
    let out = anonymous.run(&["registry", "check", "--server", &berth.host], None);
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains("accepted") && stdout.contains("no credentials given"),
        "{stdout}"
    );
    let out = anonymous.run(&["registry", "check"], None);
    assert_stderr(&out, "berth login");
}

#[test]
fn token_create_refuses_what_it_would_ignore() {
    let berth = Berth::start(&[], &[]);
    let alice = berth.cli(&berth.alice);
    alice.ok(&["repo", "create", "alice/ci"]);
    // Once made a scope-less token without a word.
    alice.exits(&["token", "create"], 2, "--scopes");
    // Once ignored --scopes for a repository token.
    alice.exits(
        &["token", "create", "--repo", "alice/ci", "--scopes", "repo"],
        2,
        "does not apply to a repository token",
    );
    assert!(
        alice
            .ok(&["token", "create", "--repo", "alice/ci"])
            .starts_with("berth_rt_")
    );
}

#[test]
fn login_takes_a_server_without_a_scheme_and_logout_says_what_it_did() {
    let berth = Berth::start(&[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::new(dir.path());
    // Once: "builder error: relative URL without a base".
    let out = cli.run(&["login", "--server", &berth.host], Some(&berth.alice));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_stderr(&out, &format!("using http://{}", berth.host));
    assert!(cli.ok(&["user", "show"]).contains("alice"));
    // Once printed nothing.
    assert!(cli.ok(&["logout"]).contains("logged out"));
    assert!(cli.ok(&["logout"]).contains("not logged in"));
}

#[test]
fn an_org_member_creates_a_repository_and_edits_and_deletes_it_from_the_cli() {
    let berth = Berth::start(&[], &[]);
    let admin = admin(&berth);
    admin.ok(&["org", "create", "acme", "--admin", "alice"]);
    // Once echoed "admin" for --role owner.
    let out = admin.ok(&["org", "member", "add", "acme", "bob", "--role", "owner"]);
    assert!(out.contains("owner") && !out.contains("admin"), "{out}");
    admin.ok(&["org", "member", "add", "acme", "bob"]);
    // Once had no role column.
    let members = admin.ok(&["org", "member", "list", "acme"]);
    let rows: Vec<Vec<&str>> = members
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["LOGIN", "ROLE"],
            vec!["alice", "owner"],
            vec!["bob", "member"]
        ]
    );

    // Once created the repository, then failed with "Not Found (HTTP 404)".
    let bob = berth.cli(&berth.bob);
    let out = bob.run(
        &[
            "repo",
            "create",
            "acme/x",
            "--clone-url",
            "https://git.example/nowhere.git",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("admin"), "{}", text(&out.stdout));

    // A clone URL can be changed, and a repository deleted.
    let edited = bob.ok(&[
        "--json",
        "repo",
        "edit",
        "acme/x",
        "--clone-url",
        "https://git.example/x.git",
        "--default-branch",
        "dev",
    ]);
    let v: serde_json::Value = serde_json::from_str(&edited).unwrap();
    assert_eq!(
        (v["clone_url"].as_str(), v["default_branch"].as_str()),
        (Some("https://git.example/x.git"), Some("dev"))
    );
    let out = bob.run(&["repo", "edit", "acme/x"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "nothing to change is a usage error"
    );
    let out = bob.run(&["repo", "delete", "acme/x"], None);
    assert_eq!(out.status.code(), Some(2), "a delete needs --yes");
    assert!(
        bob.ok(&["repo", "delete", "acme/x", "--yes"])
            .contains("deleted acme/x")
    );
    assert!(!bob.run(&["repo", "show", "acme/x"], None).status.success());
}

/// A server, the small test images (in a directory of their own, returned to be kept), and
/// alice's CLI with her repository `alice/web`.
fn alice_with_a_repository() -> (tempfile::TempDir, Images, Berth, Cli) {
    let (dir, images, berth, alice) = with_images(Images::small);
    alice.ok(&["repo", "create", "alice/web"]);
    (dir, images, berth, alice)
}

#[test]
fn a_package_grant_to_a_repository_gives_its_environments_access_and_grants_combine() {
    let (_dir, images, berth, alice) = alice_with_a_repository();
    images.push(
        "other",
        &format!("{}/alice/img:1", berth.host),
        &format!("alice:{}", berth.alice),
    );
    // Once printed "granted" and gave environments nothing.
    let out = alice.ok(&["package", "grant", "alice/img", "--repo", "alice/web"]);
    assert!(out.contains("its environments may pull"), "{out}");
    // Once wiped the environments access.
    let out = alice.ok(&[
        "package",
        "grant",
        "alice/img",
        "--repo",
        "alice/web",
        "--token-role",
        "read",
    ]);
    assert!(
        out.contains("its environments may pull") && out.contains("tokens have read access"),
        "{out}"
    );
    // With --json, grant and revoke once printed nothing.
    let v: serde_json::Value = serde_json::from_str(&alice.ok(&[
        "--json",
        "package",
        "grant",
        "alice/img",
        "--user",
        "bob",
    ]))
    .unwrap();
    assert_eq!(v["role"], "read");
    let v: serde_json::Value = serde_json::from_str(&alice.ok(&[
        "--json",
        "package",
        "revoke",
        "alice/img",
        "--user",
        "bob",
    ]))
    .unwrap();
    assert_eq!(v["revoked"], "bob");

    // An environment of alice/web pulls it with no credentials of the user's.
    let image = format!("{}/alice/img:1", berth.host);
    let name = created(&alice, &["-R", "alice/web", "--image", &image]);
    assert_eq!(exec_ok(&alice, &name, "cat /etc/berth-image"), "other\n");
    alice.ok(&["codespace", "delete", &name]);
}

#[test]
fn secret_commands_say_what_they_did_and_an_unselected_user_secret_warns() {
    let berth = Berth::start(&[], &[]);
    let alice = berth.cli(&berth.alice);
    alice.ok(&["repo", "create", "alice/web"]);
    // Once silently reached no environment.
    let out = alice.run(&["secret", "set", "LONELY", "--body", "x"], None);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("reaches no environment yet")
            && text(&out.stderr).contains("berth secret repos add LONELY"),
        "{}",
        text(&out.stderr)
    );
    let out = alice.run(
        &[
            "secret",
            "set",
            "PAIRED",
            "--body",
            "x",
            "--repos",
            "alice/web",
        ],
        None,
    );
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    // Once printed nothing.
    assert!(
        alice
            .ok(&["secret", "repos", "add", "LONELY", "alice/web"])
            .contains("LONELY is selected for alice/web")
    );
    assert!(
        alice
            .ok(&["secret", "repos", "remove", "LONELY", "alice/web"])
            .contains("selected for no repository")
    );
    assert!(
        alice
            .ok(&["secret", "repos", "set", "LONELY", "alice/web"])
            .contains("selected for alice/web")
    );
    let v: serde_json::Value =
        serde_json::from_str(&alice.ok(&["--json", "secret", "delete", "LONELY"])).unwrap();
    assert_eq!(v["result"], "deleted");
}

#[test]
fn a_failed_environment_shows_why_once_and_exec_behaves_like_a_shell() {
    let (dir, images, berth, alice) = with_images(Images::small);
    let url = git_repo(dir.path(), "web", &[("README", "hi\n")]);
    alice.ok(&["repo", "create", "alice/web", "--clone-url", &url]);
    let creds = format!("alice:{}", berth.alice);
    for tag in ["other", "noshell"] {
        images.push(tag, &format!("{}/alice/{tag}:1", berth.host), &creds);
        alice.ok(&[
            "package",
            "grant",
            &format!("alice/{tag}"),
            "--repo",
            "alice/web",
        ]);
    }

    // An image without /bin/sh cannot run: the reason is shown without --json.
    let noshell = format!("{}/alice/noshell:1", berth.host);
    let (out, name) = create(&alice, &["-R", "alice/web", "--image", &noshell]);
    assert!(!out.status.success());
    let shown = alice.ok(&["codespace", "show", &name]);
    let reason = shown
        .lines()
        .find_map(|l| l.strip_prefix("reason: "))
        .unwrap_or_else(|| panic!("no reason shown:\n{shown}"))
        .to_owned();
    assert!(reason.contains("runc could not start"), "{reason}");
    // Started again, it fails the same way: the reason once piled up every earlier runc error.
    let out = alice.run(&["codespace", "start", &name], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&format!("starting codespace {name}")),
        "a start once said it was creating:\n{}",
        text(&out.stderr)
    );
    let again = alice.ok(&["codespace", "show", &name]);
    let again = again
        .lines()
        .find_map(|l| l.strip_prefix("reason: "))
        .unwrap_or_default();
    assert_eq!(again, reason, "the second failure's reason alone");
    alice.ok(&["codespace", "delete", &name]);

    let image = format!("{}/alice/other:1", berth.host);
    let name = created(&alice, &["-R", "alice/web", "--image", &image]);
    // Once runc's raw message and 255; Docker (and a shell) say 127 and "not found".
    let out = alice.run(&["codespace", "exec", &name, "--", "no-such-command"], None);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(text(&out.stderr), "no-such-command: command not found\n");
    let out = exec(&alice, &name, "exit 255");
    assert_eq!(out.status.code(), Some(255), "a command's own 255 is kept");
    // Standard input passes through (once it was not read at all); -n leaves it out.
    let out = alice.run(&["codespace", "exec", &name, "--", "cat"], Some("piped\n"));
    assert_eq!(text(&out.stdout), "piped\n");
    let out = alice.run(
        &["codespace", "exec", "-n", &name, "--", "cat"],
        Some("piped\n"),
    );
    assert_eq!(text(&out.stdout), "");
    alice.ok(&["codespace", "delete", &name]);
}

#[test]
fn the_server_log_tells_environments_lifecycle() {
    let (_dir, images, berth, alice) = alice_with_a_repository();
    let image = format!("{}/alice/other:1", berth.host);
    images.push("other", &image, &format!("alice:{}", berth.alice));
    alice.ok(&["package", "grant", "alice/other", "--repo", "alice/web"]);
    let name = created(&alice, &["-R", "alice/web", "--image", &image]);
    alice.ok(&["codespace", "stop", &name]);
    alice.ok(&["codespace", "delete", &name]);
    let log = berth.server.log.lock().unwrap().clone();
    for line in [
        "creating an environment",
        "an environment is available",
        "stopped an environment",
        "deleted an environment",
    ] {
        assert!(
            log.lines().any(|l| l.contains(line) && l.contains(&name)),
            "{line:?} not in the server's log:\n{log}"
        );
    }
}
