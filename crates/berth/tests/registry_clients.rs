//! The registry with the clients people use: Docker Engine, skopeo and podman, against a real
//! `berth serve`. `scripts/test` starts a throw-away dockerd and installs the tools.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::servers::Berth;
use support::{
    Cli, admin_token, assert_stderr, busybox_rootfs, docker, docker_host, multi_platform_layout,
    run, run_ok, text, without_timestamp,
};

/// A server ([`Berth`]: `alice` pushes with her token) and what these tests do with it.
struct Registry {
    berth: Berth,
}

impl Registry {
    /// A busybox image `repo_tag` of this registry imported into the Engine at `engine`, and
    /// alice logged in to the registry: the Docker configuration directory, the image's name and
    /// what `docker login` said.
    fn docker_busybox(&self, engine: &str, repo_tag: &str) -> (PathBuf, String, String) {
        let config = self.berth.dir.path().join("docker-config");
        let image = format!("{}/{repo_tag}", self.berth.host);
        let tar = busybox_rootfs(self.berth.dir.path());
        run_ok(
            docker(engine, &config).arg("import").arg(&tar).arg(&image),
            None,
        );
        let said = run_ok(
            docker(engine, &config).args([
                "login",
                &self.berth.host,
                "-u",
                "alice",
                "--password-stdin",
            ]),
            Some(&self.berth.alice),
        );
        (config, image, said)
    }

    fn start() -> Self {
        Self {
            berth: Berth::start(&[], &[]),
        }
    }

    fn creds(&self) -> String {
        format!("alice:{}", self.berth.alice)
    }

    /// The CLI as the site administrator.
    fn admin(&self) -> Cli {
        self.cli("admin", &admin_token(&self.berth.data()))
    }

    /// The CLI with `token`, its configuration in a directory named after `who`.
    fn cli(&self, who: &str, token: &str) -> Cli {
        Cli::signed_in(
            &self.berth.dir.path().join(who),
            &self.berth.server.url,
            token,
        )
    }

    /// A token for `login` made by the site administrator.
    fn token_for(&self, login: &str, scopes: &str) -> String {
        self.admin().token_for(login, scopes)
    }

    /// `skopeo copy --all` of the image in `layout` of the test's directory (made with one
    /// platform when missing) to `image` here with `creds`.
    fn skopeo_push(&self, creds: &str, image: &str) -> std::process::Output {
        let layout = self.berth.dir.path().join("layout");
        if !layout.exists() {
            multi_platform_layout(&layout, &["amd64"]);
        }
        run(
            Command::new("skopeo")
                .args([
                    "copy",
                    "--all",
                    "--dest-tls-verify=false",
                    "--dest-creds",
                    creds,
                ])
                .arg(format!("oci:{}:multi", layout.display()))
                .arg(format!("docker://{}/{image}", self.berth.host)),
            None,
        )
    }

    /// The manifest of `image` here, byte for byte, read by skopeo with alice's credentials.
    fn raw_manifest(&self, image: &str) -> String {
        let out = self.skopeo_inspect(Some(&self.creds()), image);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    }

    /// `skopeo inspect --raw` of `image` here, with `creds` or none.
    fn skopeo_inspect(&self, creds: Option<&str>, image: &str) -> std::process::Output {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--raw", "--tls-verify=false"]);
        match creds {
            Some(c) => cmd.args(["--creds", c]),
            None => cmd.arg("--no-creds"),
        };
        run(
            cmd.arg(format!("docker://{}/{image}", self.berth.host)),
            None,
        )
    }
}

/// `berth org team member add acme TEAM USER`.
fn team_add<'a>(team: &'a str, user: &'a str) -> [&'a str; 7] {
    ["org", "team", "member", "add", "acme", team, user]
}

#[test]
fn docker_logs_in_pushes_pulls_runs_and_logs_out_and_skopeo_reads_its_schema2_image() {
    let Some(engine) = docker_host() else { return };
    let reg = Registry::start();
    let (config, image, out) = reg.docker_busybox(&engine, "alice/busybox:v1");
    assert!(out.contains("Login Succeeded"), "{out}");
    let out = run_ok(docker(&engine, &config).args(["push", &image]), None);
    assert!(out.contains("digest: sha256:"), "{out}");
    run_ok(docker(&engine, &config).args(["rmi", &image]), None);
    run_ok(docker(&engine, &config).args(["pull", &image]), None);
    let out = run_ok(
        docker(&engine, &config).args([
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "/bin/busybox",
            "echo",
            "pulled-from-berth",
        ]),
        None,
    );
    assert_eq!(out.trim(), "pulled-from-berth");

    // skopeo reads the Docker schema 2 manifest docker pushed.
    let raw = run_ok(
        Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            &reg.creds(),
            &format!("docker://{image}"),
        ]),
        None,
    );
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let info = run_ok(
        Command::new("skopeo").args([
            "inspect",
            "--tls-verify=false",
            "--creds",
            &reg.creds(),
            &format!("docker://{image}"),
        ]),
        None,
    );
    assert!(info.contains("\"v1\""), "{info}");

    run_ok(
        docker(&engine, &config).args(["logout", &reg.berth.host]),
        None,
    );
    run_ok(docker(&engine, &config).args(["rmi", &image]), None);
    let out = run(docker(&engine, &config).args(["pull", &image]), None);
    assert!(!out.status.success());
    // Docker's own words for a registry that gives an anonymous token nothing (as distribution
    // and Docker Hub answer): the same for a private image as for a missing one.
    assert_stderr(&out, "may require 'docker login'");
    let missing = run(
        docker(&engine, &config).args(["pull", &format!("{}/alice/nothing:v1", reg.berth.host)]),
        None,
    );
    assert_eq!(
        text(&out.stderr).replace("busybox", "X"),
        text(&missing.stderr).replace("nothing", "X"),
        "a private image looks exactly like a missing one"
    );
    drop(reg);
}

/// Writes an OCI layout holding an index over one small image per platform.
#[test]
fn skopeo_copies_a_multi_platform_index_both_ways() {
    if docker_host().is_none() {
        return;
    }
    let reg = Registry::start();
    let layout = reg.berth.dir.path().join("layout");
    multi_platform_layout(&layout, &["amd64", "arm64"]);
    let dest = format!("docker://{}/alice/multi:v1", reg.berth.host);
    // skopeo_push copies this layout, two platforms, rather than make its one-platform one.
    let pushed = reg.skopeo_push(&reg.creds(), "alice/multi:v1");
    assert!(pushed.status.success(), "{}", text(&pushed.stderr));

    let raw = reg.raw_manifest("alice/multi:v1");
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let arches: Vec<_> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);

    let back = reg.berth.dir.path().join("back");
    run_ok(
        Command::new("skopeo")
            .args([
                "copy",
                "--all",
                "--src-tls-verify=false",
                "--src-creds",
                &reg.creds(),
                &dest,
            ])
            .arg(format!("oci:{}:copied", back.display())),
        None,
    );
    // skopeo compresses the plain tar layers on the way in, so layer digests change; the
    // configs (which name the uncompressed diff IDs) come back as they were.
    let copied: Vec<String> = std::fs::read_dir(back.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        copied.len(),
        7,
        "index, and per platform a manifest, config and layer: {copied:?}"
    );
    for arch in ["amd64", "arm64"] {
        let found = copied.iter().any(|hex| {
            std::fs::read(back.join("blobs/sha256").join(hex))
                .is_ok_and(|b| b.starts_with(format!("{{\"architecture\":\"{arch}\"").as_bytes()))
        });
        assert!(found, "the {arch} config came back");
    }
    // And a copy between two repositories of the registry.
    let copy = format!("docker://{}/alice/copy:v2", reg.berth.host);
    run_ok(
        Command::new("skopeo").args([
            "copy",
            "--all",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            &reg.creds(),
            "--dest-creds",
            &reg.creds(),
            &dest,
            &copy,
        ]),
        None,
    );
    let raw_copy = reg.raw_manifest("alice/copy:v2");
    assert_eq!(raw_copy, raw, "the index arrives byte for byte");
}

#[test]
fn podman_pulls_with_credentials() {
    let Some(engine) = docker_host() else { return };
    let reg = Registry::start();
    let (config, image, _) = reg.docker_busybox(&engine, "alice/podman:v1");
    run_ok(docker(&engine, &config).args(["push", &image]), None);

    let root = reg.berth.dir.path().join("podman");
    let podman = || {
        let mut c = Command::new("podman");
        c.arg("--storage-driver")
            .arg("vfs")
            .arg("--root")
            .arg(root.join("root"))
            .arg("--runroot")
            .arg(root.join("run"));
        c
    };
    let out = run(podman().args(["pull", "--tls-verify=false", &image]), None);
    assert!(
        !out.status.success(),
        "no credentials, no pull of a private image"
    );
    run_ok(
        podman().args([
            "pull",
            "--tls-verify=false",
            "--creds",
            &reg.creds(),
            &image,
        ]),
        None,
    );
    let images = run_ok(
        podman().args(["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        None,
    );
    assert!(images.contains(&image), "{images}");
}

#[test]
fn access_rules_hold_for_skopeo() {
    if docker_host().is_none() {
        return;
    }
    let reg = Registry::start();
    let admin = reg.admin();
    for login in ["olga", "mia", "otto"] {
        admin.ok(&["user", "create", login]);
    }
    admin.ok(&["org", "create", "acme", "--admin", "olga"]);
    let token = |login: &str, scopes: &str| reg.token_for(login, scopes);
    let olga_token = token("olga", "repo,write:packages,admin:org");
    let olga = reg.cli("olga", &olga_token);
    olga.ok(&["org", "member", "add", "acme", "mia"]);
    let (mia, otto) = (
        format!("mia:{}", token("mia", "read:packages")),
        format!("otto:{}", token("otto", "read:packages")),
    );
    let inspect = |creds: Option<&str>, image: &str| reg.skopeo_inspect(creds, image);
    // An internal image: org members pull it, outsiders cannot tell it exists.
    let push = |creds: &str, image: &str| {
        let out = reg.skopeo_push(creds, image);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    push(&format!("olga:{olga_token}"), "acme/base:v1");
    olga.ok(&["package", "visibility", "acme/base", "internal"]);
    assert!(
        inspect(Some(&mia), "acme/base:v1").status.success(),
        "an org member pulls an internal image"
    );
    let out = inspect(Some(&otto), "acme/base:v1");
    assert!(!out.status.success(), "an outsider cannot");
    let missing = inspect(Some(&otto), "acme/nothing:v1");
    assert_eq!(
        without_timestamp(&out.stderr).replace("base", "X"),
        without_timestamp(&missing.stderr).replace("nothing", "X"),
        "and cannot tell it from a missing one"
    );

    // A repository token's publish with the source label inherits the repository's collaborators.
    olga.ok(&["repo", "create", "acme/app", "--visibility", "private"]);
    let rt = olga
        .ok(&["token", "create", "--repo", "acme/app"])
        .trim()
        .to_owned();
    push(&format!("ci:{rt}"), "acme/app-image:v1");
    assert!(!inspect(Some(&otto), "acme/app-image:v1").status.success());
    olga.ok(&[
        "repo",
        "collaborator",
        "add",
        "acme/app",
        "otto",
        "--permission",
        "read",
    ]);
    assert!(
        inspect(Some(&otto), "acme/app-image:v1").status.success(),
        "a collaborator of the repository pulls"
    );
    olga.ok(&["repo", "collaborator", "remove", "acme/app", "otto"]);
    assert!(
        !inspect(Some(&otto), "acme/app-image:v1").status.success(),
        "removing the collaborator removes their pull"
    );

    // Public images are pulled anonymously, and public is final.
    assert!(!inspect(None, "acme/app-image:v1").status.success());
    olga.ok(&["package", "visibility", "acme/app-image", "public"]);
    assert!(
        inspect(None, "acme/app-image:v1").status.success(),
        "anonymous pulls of a public image work"
    );
    let out = olga.run(
        &["package", "visibility", "acme/app-image", "private"],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "nobody can turn public private");
}

/// Teams (GitHub's `/orgs/{org}/teams`): a team's grant on a package lets each of its members
/// pull through the token flow, for as long as they are in the team and in the organization; a
/// secret team is invisible to members outside it.
#[test]
fn team_grants_hold_for_skopeo() {
    let reg = Registry::start();
    let admin = reg.admin();
    for login in ["olga", "mia", "otto"] {
        admin.ok(&["user", "create", login]);
    }
    admin.ok(&["org", "create", "acme", "--admin", "olga"]);
    let olga_token = reg.token_for("olga", "repo,write:packages,admin:org");
    let olga = reg.cli("olga", &olga_token);
    let mia = reg.cli("mia", &reg.token_for("mia", "repo,admin:org"));
    olga.ok(&["org", "member", "add", "acme", "mia"]);
    olga.ok(&["org", "member", "add", "acme", "otto"]);
    let mia_pull = format!(
        "mia:{}",
        reg.token_for("mia", "read:packages,write:packages")
    );
    let inspect = |creds: &str| reg.skopeo_inspect(Some(creds), "acme/tool:v1");
    let push = |creds: &str| reg.skopeo_push(creds, "acme/tool:v1");
    assert!(push(&format!("olga:{olga_token}")).status.success());
    assert!(
        !inspect(&mia_pull).status.success(),
        "a member of the org reads no private package by default"
    );

    let made = olga.ok(&["org", "team", "create", "acme", "Platform Team"]);
    assert!(made.contains("platform-team"), "{made}");
    let team_member = |verb: &str| {
        olga.ok(&[
            "org",
            "team",
            "member",
            verb,
            "acme",
            "platform-team",
            "mia",
        ]);
    };
    team_member("add");
    olga.ok(&[
        "package",
        "grant",
        "acme/tool",
        "--team",
        "platform-team",
        "--role",
        "read",
    ]);
    assert!(
        olga.ok(&["package", "access", "acme/tool"])
            .contains("platform-team"),
        "the grant is listed"
    );
    assert!(
        inspect(&mia_pull).status.success(),
        "a team member pulls what the team was granted"
    );
    assert!(
        !push(&mia_pull).status.success(),
        "a read grant does not push"
    );

    // A user outside the organization cannot be put in its teams.
    admin.ok(&["user", "create", "eve"]);
    olga.fails(&team_add("platform-team", "eve"), "not a member of acme");

    // A secret team: members outside it neither see it nor manage it.
    olga.ok(&[
        "org",
        "team",
        "create",
        "acme",
        "Ops",
        "--privacy",
        "secret",
    ]);
    let seen = mia.ok(&["org", "team", "list", "acme"]);
    assert!(
        seen.contains("platform-team") && !seen.contains("ops"),
        "{seen}"
    );
    mia.fails(&team_add("ops", "mia"), "Not Found");
    // A plain member of a team does not manage it.
    mia.fails(&team_add("platform-team", "otto"), "maintainer");

    // Leaving the team, or the organization, ends the access at once.
    team_member("remove");
    assert!(!inspect(&mia_pull).status.success(), "out of the team");
    team_member("add");
    assert!(inspect(&mia_pull).status.success());
    olga.ok(&["org", "member", "remove", "acme", "mia"]);
    assert!(
        !inspect(&mia_pull).status.success(),
        "out of the organization"
    );
    olga.ok(&["org", "member", "add", "acme", "mia"]);
    assert!(
        !inspect(&mia_pull).status.success(),
        "coming back to the organization does not bring the team back"
    );
}
