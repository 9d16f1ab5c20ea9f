//! Environments as the end-to-end tests drive them: locally built images, a git repository with
//! a dev container, and `berth codespace` calls with their output.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::images::{busybox_layer, file_layer, image_layout, push, skopeo_layer};
use super::netns::TestNet;
use super::servers::{Berth, Htpasswd, REG_PASSWORD, REG_USER};
use super::{Cli, run_ok, succeeded, text};

/// The images every test uses, built once per test in `dir/layout`: `dev` (busybox, skopeo, a
/// marker file) and `other` (busybox and another marker).
pub struct Images {
    layout: PathBuf,
}

impl Images {
    pub fn build(dir: &Path) -> Self {
        let layout = dir.join("layout");
        let busybox = busybox_layer(dir);
        let skopeo = skopeo_layer(dir);
        let marker = file_layer(dir, "marker", "/etc/berth-image", b"dev\n");
        let other = file_layer(dir, "other", "/etc/berth-image", b"other\n");
        image_layout(
            &layout,
            "dev",
            &[busybox.clone(), skopeo, marker],
            &["PATH=/bin:/usr/bin", "IMAGE_VAR=from-image"],
        );
        image_layout(&layout, "other", &[busybox, other], &["PATH=/bin"]);
        Self { layout }
    }

    /// Only `other` (busybox and a marker) and `noshell` (a marker and no `/bin/sh`, which no
    /// environment can run): quick to build, for tests that need no skopeo inside.
    pub fn small(dir: &Path) -> Self {
        let layout = dir.join("layout");
        let busybox = busybox_layer(dir);
        let other = file_layer(dir, "other", "/etc/berth-image", b"other\n");
        image_layout(&layout, "other", &[busybox, other.clone()], &["PATH=/bin"]);
        image_layout(&layout, "noshell", &[other], &["PATH=/bin"]);
        Self { layout }
    }

    pub fn push(&self, tag: &str, dest: &str, creds: &str) {
        push(&self.layout, tag, dest, creds);
    }
}

/// A server (see [`Berth::start`]) with alice's CLI, and the test images `made` (say
/// [`Images::small`]) in a directory of their own, returned to be kept (tests put more there).
pub fn with_images(made: fn(&Path) -> Images) -> (tempfile::TempDir, Images, Berth, Cli) {
    let dir = tempfile::tempdir().unwrap();
    let images = made(dir.path());
    let berth = Berth::start(&[], &[]);
    let alice = berth.cli(&berth.alice);
    (dir, images, berth, alice)
}

/// From inside environment `name` of `cli`'s, Berth at `host` answers (its own network lets
/// environments reach the server that runs them).
pub fn reaches_berth(cli: &Cli, name: &str, host: &str) {
    let said = exec_ok(cli, name, &format!("wget -q -O - http://{host}/healthz"));
    assert_eq!(said, "ok\n");
}

/// Inside environment `name` of `cli`'s, skopeo reads `team/other:1` of the registry at `host`
/// (a [`TeamRegistry`]) with the login the environment was given.
pub fn other_image_inspected(cli: &Cli, name: &str, host: &str) {
    let inspected = exec_ok(
        cli,
        name,
        &format!("skopeo inspect --tls-verify=false docker://{host}/team/other:1"),
    );
    assert!(inspected.contains("\"Digest\""), "{inspected}");
}

/// Debian's `docker-registry` with htpasswd on a host of the test network `10.<second>.0.0/16`
/// (which a server can let environments reach), holding `team/dev:1` and `team/other:1` of
/// [`Images::build`].
pub struct TeamRegistry {
    pub images: Images,
    pub net: TestNet,
    pub registry: Htpasswd,
}

impl TeamRegistry {
    pub fn start(dir: &Path, second: u8) -> Self {
        let images = Images::build(dir);
        let net = TestNet::new(10, second);
        let registry = Htpasswd::start_in(&net);
        let creds = format!("{REG_USER}:{REG_PASSWORD}");
        images.push("dev", &format!("{}/team/dev:1", registry.host), &creds);
        images.push("other", &format!("{}/team/other:1", registry.host), &creds);
        Self {
            images,
            net,
            registry,
        }
    }
}

/// A bare git repository at `dir/name.git` with one commit on `main` holding `files`.
pub fn git_repo(dir: &Path, name: &str, files: &[(&str, &str)]) -> String {
    let work = dir.join(format!("{name}-work"));
    std::fs::create_dir_all(&work).unwrap();
    for (path, contents) in files {
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
    let git = |args: &[&str], cwd: &Path| {
        run_ok(
            Command::new("git")
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@example.invalid",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(cwd),
            None,
        )
    };
    git(&["init", "--quiet"], &work);
    git(&["add", "."], &work);
    git(&["commit", "--quiet", "-m", "init"], &work);
    let bare = dir.join(format!("{name}.git"));
    git(
        &[
            "clone",
            "--quiet",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
        dir,
    );
    format!("file://{}", bare.display())
}

/// `berth codespace create …`; returns the environment's name (which it says first).
pub fn create(cli: &Cli, args: &[&str]) -> (Output, String) {
    let out = cli.run(&[&["codespace", "create"], args].concat(), None);
    let name = text(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("creating codespace "))
        .unwrap_or_default()
        .trim()
        .to_owned();
    (out, name)
}

#[track_caller]
pub fn created(cli: &Cli, args: &[&str]) -> String {
    let (out, name) = create(cli, args);
    assert!(
        out.status.success(),
        "create failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    name
}

pub fn exec(cli: &Cli, name: &str, script: &str) -> Output {
    cli.run(
        &["codespace", "exec", name, "--", "/bin/sh", "-c", script],
        None,
    )
}

#[track_caller]
pub fn exec_ok(cli: &Cli, name: &str, script: &str) -> String {
    succeeded(&exec(cli, name, script), &format!("exec {script:?}"))
}

pub fn state(cli: &Cli, name: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&cli.ok(&["--json", "codespace", "show", name])).unwrap();
    v["state"].as_str().unwrap().to_owned()
}

/// The start most single-environment tests share: a server, alice's CLI, and the small `other`
/// image pushed as `alice/other:1` (`image` is its full reference).
pub struct AliceWithImage {
    pub dir: tempfile::TempDir,
    pub berth: Berth,
    pub alice: Cli,
    pub image: String,
}

impl AliceWithImage {
    pub fn start() -> Self {
        let (dir, images, berth, alice) = with_images(Images::small);
        let image = format!("{}/alice/other:1", berth.host);
        images.push("other", &image, &format!("alice:{}", berth.alice));
        Self {
            dir,
            berth,
            alice,
            image,
        }
    }

    /// The repository `alice/NAME` cloned from a local git repository holding `files`, its
    /// environments granted the image.
    pub fn repo(&self, name: &str, files: &[(&str, &str)]) -> String {
        let url = git_repo(self.dir.path(), name, files);
        self.alice.ok(&[
            "repo",
            "create",
            &format!("alice/{name}"),
            "--clone-url",
            &url,
        ]);
        self.alice.ok(&[
            "package",
            "grant",
            "alice/other",
            "--repo",
            &format!("alice/{name}"),
        ]);
        url
    }
}

/// busybox's httpd inside `name`, which puts itself in the background, serving `page` on `port`.
pub fn serve_page(cli: &Cli, name: &str, port: u16, page: &str) {
    exec_ok(
        cli,
        name,
        &format!(
            "mkdir -p /tmp/www && echo {page} > /tmp/www/index.html && httpd -p {port} -h /tmp/www"
        ),
    );
}

/// An HTTP/1.0 GET of `/` at 127.0.0.1:`port`: the whole answer (what came before the
/// connection was closed or reset).
pub fn http_get(port: u16) -> String {
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    String::from_utf8(answer).unwrap()
}

/// `berth codespace ports forward NAME 0:REMOTE` in the background: the process, the local port
/// it printed, and the rest of its standard error.
pub fn start_forward(
    cli: &Cli,
    name: &str,
    remote: u16,
) -> (std::process::Child, u16, std::process::ChildStderr) {
    let mut child = cli
        .command(&[
            "codespace",
            "ports",
            "forward",
            name,
            &format!("0:{remote}"),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut said = Vec::new();
    // One byte at a time, so that nothing after the first line is taken from the pipe.
    let mut reader = stderr;
    let mut byte = [0u8; 1];
    while reader.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        said.push(byte[0]);
    }
    let said = String::from_utf8(said).unwrap();
    let local = said
        .strip_prefix("forwarding 127.0.0.1:")
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(port, _)| port.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    (child, local, reader)
}
