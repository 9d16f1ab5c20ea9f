//! Secrets with real clients against a real server on PostgreSQL: a PyNaCl script that knows
//! only GitHub's API, and the `berth secret` CLI, at all three levels; then nothing secret in
//! the PostgreSQL dump or the server's trace-level log, and a master key rotation that survives
//! a restart.

mod support;

use std::process::Command;

use base64::Engine;
use support::{Cli, Gh, Server, postgres_database, serve_at, text};

const PY_PREFIX: &str = "pynacl-value-of-";
const CLI_VALUES: [&str; 3] = ["cli-user-value", "cli-repo-value", "cli-org-value"];

fn pg_dump(url: &str) -> String {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("bin/pg_dump"))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| "pg_dump".into());
    let out = Command::new(bin).arg(url).output().expect("pg_dump runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn assert_absent(haystack: &str, needles: &[String], place: &str) {
    for n in needles {
        let b64 = base64::engine::general_purpose::STANDARD.encode(n);
        assert!(!haystack.contains(n.as_str()), "{n:?} found in {place}");
        assert!(!haystack.contains(&b64), "base64 of {n:?} found in {place}");
    }
}

#[test]
fn pynacl_and_the_cli_manage_secrets_and_nothing_leaks() {
    let Some(db) = postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = || serve_at(&data, &["--database-url", &db]);
    let mut cmd = serve();
    cmd.env("BERTH_LOG", "trace");
    let server = Server::start(cmd);
    let admin = Cli::admin(&server, &data, &dir.path().join("admin"));
    admin.ok(&["user", "create", "alice"]);
    admin.ok(&["org", "create", "acme", "--admin", "alice"]);
    let token = admin.token_for("alice", "repo,codespace,admin:org");
    let alice = Cli::signed_in(&dir.path().join("alice"), &server.url, &token);
    alice.ok(&["repo", "create", "acme/app"]);
    alice.ok(&["repo", "create", "acme/other"]);

    // The PyNaCl client.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/pynacl_secrets.py"
    );
    let python = std::env::var("BERTH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(script)
        .env("BASE", &server.url)
        .env("TOKEN", &token)
        .env("REPO", "acme/app")
        .env("ORG", "acme")
        .env("VALUE_PREFIX", PY_PREFIX)
        .output()
        .expect("python runs (scripts/test makes a venv with PyNaCl: BERTH_TEST_PYTHON)");
    assert!(
        out.status.success() && text(&out.stdout).contains("ok"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // The CLI, at the three levels.
    alice.ok(&[
        "secret",
        "set",
        "cli_user",
        "--repos",
        "acme/app",
        "--body",
        CLI_VALUES[0],
    ]);
    let out = alice.run(
        &["secret", "set", "CLI_REPO", "-R", "acme/app"],
        Some(CLI_VALUES[1]),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    alice.ok(&[
        "secret",
        "set",
        "CLI_ORG",
        "--org",
        "acme",
        "--visibility",
        "all",
        "--body",
        CLI_VALUES[2],
    ]);
    assert!(alice.ok(&["secret", "list"]).contains("CLI_USER"));
    assert!(
        alice
            .ok(&["secret", "list", "-R", "acme/app"])
            .contains("CLI_REPO")
    );
    assert!(
        alice
            .ok(&["secret", "list", "--org", "acme"])
            .contains("CLI_ORG")
    );
    let preview: serde_json::Value =
        serde_json::from_str(&alice.ok(&["secret", "preview", "-R", "acme/app", "--json"]))
            .unwrap();
    assert_eq!(
        preview,
        serde_json::json!([
            { "name": "CLI_ORG", "source": "organization" },
            { "name": "CLI_REPO", "source": "repository" },
            { "name": "CLI_USER", "source": "user" },
            { "name": "PY_KEEP", "source": "user" },
        ]),
        "the user's PY_KEEP beats the repository's and the organization's"
    );
    alice.ok(&["secret", "repos", "add", "CLI_USER", "acme/other"]);
    let repos = alice.ok(&["secret", "repos", "list", "CLI_USER"]);
    assert!(
        repos.contains("acme/app") && repos.contains("acme/other"),
        "{repos}"
    );
    alice.ok(&["secret", "repos", "remove", "CLI_USER", "acme/app"]);
    alice.ok(&[
        "secret", "repos", "set", "PY_KEEP", "--org", "acme", "other",
    ]);
    let preview = alice.ok(&["secret", "preview", "-R", "acme/app"]);
    assert!(!preview.contains("CLI_USER"), "{preview}");
    alice.ok(&["secret", "delete", "CLI_ORG", "--org", "acme"]);
    assert!(
        !alice
            .ok(&["secret", "list", "--org", "acme"])
            .contains("CLI_ORG")
    );
    alice.exits(
        &["secret", "set", "GITHUB_TOKEN", "--body", "x"],
        1,
        "GITHUB_",
    );

    // Rotation: a new master key wraps everything; after a restart with only the new key in the
    // key file, values sealed to the scopes' public keys still open.
    let rotated: serde_json::Value =
        serde_json::from_str(&admin.ok(&["admin", "rotate-master-key", "--json"])).unwrap();
    assert_eq!(rotated["generated"], true);
    assert!(rotated["rewrapped"].as_u64().unwrap() >= 6, "{rotated}");
    assert_eq!(rotated["retired"].as_array().unwrap().len(), 1, "{rotated}");
    let key_file = std::fs::read_to_string(data.join("master.key")).unwrap();
    assert_eq!(key_file.lines().count(), 1);
    let audit = admin.ok(&["admin", "secret-audit", "--limit", "100"]);
    assert!(
        audit.contains("deleted") && audit.contains("CLI_ORG"),
        "{audit}"
    );
    let (_, log) = server.terminate();

    let server = Server::start(serve());
    let alice = alice.with_env("BERTH_SERVER", &server.url);
    let out = alice.run(
        &["secret", "set", "CLI_REPO", "-R", "acme/app"],
        Some("after rotation"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut values: Vec<String> = ["user", "repository", "organization"]
        .iter()
        .map(|l| format!("{PY_PREFIX}{l}"))
        .collect();
    values.extend(CLI_VALUES.iter().map(|v| (*v).to_owned()));
    values.push("after rotation".to_owned());
    values.push(key_file.trim().to_owned());
    let dump = pg_dump(&db);
    assert!(
        dump.contains("PY_KEEP") && dump.contains("CLI_REPO"),
        "the dump holds the secrets' rows"
    );
    assert_absent(&dump, &values, "the PostgreSQL dump");
    assert_absent(&log, &values, "the server's trace log");
    assert!(
        log.contains("master key rotated"),
        "the log says what happened"
    );
}

/// GitHub's own CLI sets and lists Codespaces secrets over HTTPS, with the settings the README
/// gives (`GH_HOST` with the port, `GH_ENTERPRISE_TOKEN`, `SSL_CERT_FILE` for a private CA).
#[test]
fn gh_sets_codespaces_secrets_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin, ca) = support::https_server(dir.path());
    let token = admin.user_with_token("alice", "repo,codespace,admin:org");
    let bob = admin.user_with_token("bob", "repo");
    admin
        .clone()
        .with_env("BERTH_TOKEN", &bob)
        .ok(&["repo", "create", "bob/secret-plans"]);
    admin.ok(&["org", "create", "acme", "--admin", "alice"]);
    let alice = admin.with_env("BERTH_TOKEN", &token);
    alice.ok(&["repo", "create", "alice/tools"]);
    alice.ok(&["repo", "create", "acme/site"]);

    let host = server.url.trim_start_matches("https://").to_owned();
    let gh = Gh::new(&host, &token, &dir.path().join("gh"))
        .with_env("SSL_CERT_FILE", ca.to_str().unwrap());
    let repo = format!("{host}/alice/tools");
    gh.ok(&[
        "secret",
        "set",
        "GH_REPO_SECRET",
        "--app",
        "codespaces",
        "--body",
        "from-gh",
        "--repo",
        &repo,
    ]);
    let set_user_secret = [
        "secret",
        "set",
        "GH_USER_SECRET",
        "--user",
        "--app",
        "codespaces",
        "--body",
        "mine",
    ];
    gh.ok(&set_user_secret);
    assert!(
        gh.ok(&["secret", "list", "--app", "codespaces", "--repo", &repo])
            .contains("GH_REPO_SECRET")
    );
    assert!(
        gh.ok(&["secret", "list", "--user", "--app", "codespaces"])
            .contains("GH_USER_SECRET")
    );
    // --repos: gh maps the names to ids through GraphQL, then sets the selection.
    gh.ok(&[&set_user_secret[..], &["--repos", "alice/tools,acme/site"]].concat());
    let selected = alice.ok(&["secret", "repos", "list", "GH_USER_SECRET"]);
    assert!(
        selected.contains("alice/tools") && selected.contains("acme/site"),
        "{selected}"
    );
    gh.ok(&[
        "secret",
        "set",
        "GH_ORG_SECRET",
        "--org",
        "acme",
        "--app",
        "codespaces",
        "--body",
        "ours",
        "--repos",
        "acme/site",
    ]);
    let selected = alice.ok(&["secret", "repos", "list", "GH_ORG_SECRET", "--org", "acme"]);
    assert!(selected.contains("acme/site"), "{selected}");
    assert!(
        gh.ok(&["secret", "list", "--org", "acme", "--app", "codespaces"])
            .contains("GH_ORG_SECRET")
    );
    // A repository gh cannot see fails the lookup with GitHub's message, and nothing is set.
    let out = gh.run(&[
        "secret",
        "set",
        "GH_NOPE",
        "--user",
        "--app",
        "codespaces",
        "--body",
        "x",
        "--repos",
        "bob/secret-plans",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .contains("Could not resolve to a Repository with the name 'bob/secret-plans'"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !gh.ok(&["secret", "list", "--user", "--app", "codespaces"])
            .contains("GH_NOPE")
    );
    let preview = alice.ok(&["secret", "preview", "-R", "acme/site"]);
    assert!(
        preview.contains("GH_ORG_SECRET") && preview.contains("GH_USER_SECRET"),
        "{preview}"
    );
    let preview = alice.ok(&["secret", "preview", "-R", "alice/tools"]);
    assert!(
        preview.contains("GH_REPO_SECRET") && preview.contains("GH_USER_SECRET"),
        "{preview}"
    );
}
