//! The README's walk-through, run exactly as written: `berth serve` with no flags in a fresh
//! directory (so the default, relative `./berth-data`, and the default 127.0.0.1:8080), then
//! every `sh` block between the README's `<!-- walkthrough -->` markers, in order, by bash with
//! `-euo pipefail`, from that directory. The one substitution is the first command: the README
//! builds and runs the server with `cargo run --release`; this runs the binary cargo built for
//! the tests, which is the same program.
//!
//! Once, no environment started on the default data directory (runc resolved the relative path
//! inside its bundle) while every test used absolute temporary directories.

mod support;

use std::path::Path;
use std::process::Command;

use support::servers::tidy_environments;
use support::{BIN, Server, serve_command, text};

/// The shell blocks of the walk-through, joined in order.
fn walkthrough_script() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README");
    let start = readme
        .find("<!-- walkthrough -->")
        .expect("the README marks its walk-through with <!-- walkthrough -->");
    let end = readme
        .find("<!-- /walkthrough -->")
        .expect("and ends it with <!-- /walkthrough -->");
    let mut script = String::new();
    let mut rest = &readme[start..end];
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + "```sh\n".len()..];
        let close = body.find("```").expect("every block is closed");
        script.push_str(&body[..close]);
        rest = &body[close..][3..];
    }
    assert!(
        script.lines().count() > 20,
        "the walk-through has its blocks"
    );
    script
}

/// Stops what the walk-through left running if it failed half-way.
struct Tidy<'a> {
    dir: &'a Path,
}

impl Drop for Tidy<'_> {
    fn drop(&mut self) {
        tidy_environments(&self.dir.join("berth-data"), self.dir);
    }
}

#[test]
fn the_readme_walkthrough_runs_as_written_on_the_default_data_directory() {
    let script = walkthrough_script();
    assert!(
        std::net::TcpListener::bind("127.0.0.1:8080").is_ok(),
        "127.0.0.1:8080 is taken: the walk-through runs `berth serve` with its default address"
    );
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // A user who has set git up.
    std::fs::write(
        home.join(".gitconfig"),
        "[user]\n\tname = Walk Through\n\temail = walk@example.invalid\n",
    )
    .unwrap();
    let _tidy = Tidy { dir: dir.path() };

    let mut serve = serve_command(&[]);
    serve
        .current_dir(dir.path())
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME");
    let server = Server::start(serve);
    assert_eq!(server.url, "http://127.0.0.1:8080");

    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = Command::new("bash");
    bash.args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME");
    for (k, _) in std::env::vars() {
        if k.starts_with("BERTH_") {
            bash.env_remove(k);
        }
    }
    let out = bash
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bash");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "the walk-through failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server\n{}",
        server.log.lock().unwrap()
    );
    for expected in [
        "hello from alice-tools-",
        "in /workspaces/tools",
        "hello over ssh in /workspaces/tools",
        "piped in",
        "ready",
        "all steps passed",
        "API_URL   repository",
        "+ @acme/greeting@1.0.0",
        "hello from @acme/greeting",
        "found 0 vulnerabilities",
    ] {
        assert!(
            stdout.contains(expected),
            "the walk-through printed no {expected:?}:\n{stdout}"
        );
    }
    assert!(
        stderr.contains("deleted codespace alice-tools-"),
        "{stderr}"
    );
    assert!(
        dir.path().join("berth-data/berth.db").exists(),
        "the server used ./berth-data"
    );
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.contains("an environment is available") && log.contains("deleted an environment"),
        "the server's log tells environments' lifecycle:\n{log}"
    );
}
