//! Two `berth serve` replicas (one PostgreSQL database, one SeaweedFS bucket, the same keys)
//! behind Debian's nginx, used by real clients through the balancer: docker, skopeo and npm push
//! with their requests landing on both replicas and pull back what they pushed; a replica killed
//! with SIGKILL in the middle of a large push loses nothing, and the client's retry finishes on
//! the other.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::nginx::Nginx;
use support::s3::Replicas;
use support::{busybox_root, docker, docker_host, multi_platform_layout, run_ok, text};

/// Replicas behind nginx; the replicas give nginx's address as theirs (`--external-url`), so
/// the registry's token realm and upload locations lead back through the balancer.
struct Balanced {
    replicas: Replicas,
    nginx: Nginx,
    /// nginx's `host:port`, what clients are given.
    host: String,
}

impl Balanced {
    fn start(name: &str) -> Option<Self> {
        let port = Nginx::port();
        let url = format!("http://127.0.0.1:{port}");
        let replicas = Replicas::start(name, &["--external-url", &url])?;
        let nginx = Nginx::start(
            &replicas.dir.path().join("nginx"),
            port,
            &replicas.addresses(),
        );
        Some(Self {
            replicas,
            nginx,
            host: format!("127.0.0.1:{port}"),
        })
    }

    fn dir(&self) -> &Path {
        self.replicas.dir.path()
    }

    fn creds(&self) -> String {
        format!("alice:{}", self.replicas.token)
    }

    /// A Docker client configuration logged in to the balancer as alice.
    fn docker_login(&self, engine: &str) -> PathBuf {
        let config = self.dir().join("docker-config");
        let said = run_ok(
            docker(engine, &config).args(["login", &self.host, "-u", "alice", "--password-stdin"]),
            Some(&self.replicas.token),
        );
        assert!(said.contains("Login Succeeded"), "{said}");
        config
    }

    /// The replicas that served the upload requests (`PATCH` and `PUT` of
    /// `/v2/…/blobs/uploads/…`) nginx logged.
    fn upload_upstreams(&self) -> Vec<String> {
        let mut served: Vec<String> = self
            .nginx
            .access_log()
            .lines()
            .filter(|l| l.starts_with("PATCH ") || l.starts_with("PUT "))
            .filter(|l| l.contains("/blobs/uploads/"))
            .filter_map(|l| l.rsplit(' ').next().map(str::to_owned))
            .collect();
        served.sort();
        served.dedup();
        served
    }
}

/// An image `image` of busybox and `extra` (a file of that many pseudo-random bytes at
/// `/data.bin`, when not 0) imported into the Engine; the data's SHA-256.
fn import_image(engine: &str, config: &Path, dir: &Path, image: &str, extra: u64) -> String {
    let data = dir.join("rootfs/data.bin");
    std::fs::create_dir_all(data.parent().unwrap()).unwrap();
    run_ok(
        Command::new("dd")
            .arg("if=/dev/urandom")
            .arg(format!("of={}", data.display()))
            .args(["bs=1M", "iflag=count_bytes", "status=none"])
            .arg(format!("count={extra}")),
        None,
    );
    let sum = run_ok(Command::new("sha256sum").arg(&data), None);
    // Streamed from tar to the Engine: the data is on the disk once, not twice.
    let root = busybox_root(dir);
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let into = Stdio::from(tar.stdout.take().unwrap());
    let imported = docker(engine, config)
        .args(["import", "-", image])
        .stdin(into)
        .output()
        .unwrap();
    support::succeeded(&imported, "docker import");
    assert!(tar.wait().unwrap().success(), "tar of {}", root.display());
    std::fs::remove_dir_all(root).unwrap();
    sum.split_whitespace().next().unwrap().to_owned()
}

/// The SHA-256 of `/data.bin` in a container of `image` (no network).
fn data_sum_in(engine: &str, config: &Path, image: &str) -> String {
    let out = run_ok(
        docker(engine, config).args([
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "/bin/busybox",
            "sha256sum",
            "/data.bin",
        ]),
        None,
    );
    out.split_whitespace().next().unwrap().to_owned()
}

/// Bytes received so far on the open connections to `port` on loopback (what `ss` says).
fn bytes_received(port: u16) -> u64 {
    let out = Command::new("ss")
        .args(["-tinH", "state", "established"])
        .arg(format!("( sport = :{port} )"))
        .output()
        .expect("ss (scripts/test installs iproute2)");
    text(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("bytes_received:"))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

#[test]
fn docker_skopeo_and_npm_push_and_pull_through_nginx_across_both_replicas() {
    let Some(engine) = docker_host() else { return };
    let Some(b) = Balanced::start("balanced") else {
        return;
    };
    let dir = b.dir().to_owned();

    // docker: push, pull back after removing it, run.
    let config = b.docker_login(&engine);
    let image = format!("{}/alice/tool:v1", b.host);
    let sum = import_image(&engine, &config, &dir, &image, 1 << 20);
    let out = run_ok(docker(&engine, &config).args(["push", &image]), None);
    assert!(out.contains("digest: sha256:"), "{out}");
    run_ok(docker(&engine, &config).args(["rmi", &image]), None);
    run_ok(docker(&engine, &config).args(["pull", &image]), None);
    assert_eq!(data_sum_in(&engine, &config, &image), sum);
    run_ok(docker(&engine, &config).args(["rmi", &image]), None);

    // skopeo: a multi-platform index out and back, every blob byte for byte (the index too:
    // skopeo keeps its digest).
    let layout = dir.join("layout");
    multi_platform_layout(&layout, &["amd64", "arm64"]);
    let skopeo = |from: String, to: String| {
        run_ok(
            Command::new("skopeo")
                .args(["copy", "--all", "--preserve-digests"])
                .args(["--src-tls-verify=false", "--dest-tls-verify=false"])
                .args(["--src-creds", &b.creds(), "--dest-creds", &b.creds()])
                .arg(from)
                .arg(to),
            None,
        )
    };
    let remote = format!("docker://{}/alice/multi:1", b.host);
    skopeo(format!("oci:{}:multi", layout.display()), remote.clone());
    let back = dir.join("back");
    skopeo(remote, format!("oci:{}:back", back.display()));
    let mut compared = 0;
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let pushed = entry.unwrap().path();
        let pulled = back.join("blobs/sha256").join(pushed.file_name().unwrap());
        assert!(
            std::fs::read(&pulled).ok() == Some(std::fs::read(&pushed).unwrap()),
            "{} came back different or not at all",
            pulled.display()
        );
        compared += 1;
    }
    assert_eq!(
        compared, 7,
        "an index, and per platform a manifest, a config and a layer"
    );

    // npm: publish and install.
    let registry = format!("http://{}/npm/", b.host);
    let npm_project = |name: &str, manifest: serde_json::Value| {
        let project = dir.join(name);
        std::fs::create_dir_all(&project).unwrap();
        let npmrc = format!(
            "registry={registry}\n//{}/npm/:_authToken={}\n",
            b.host, b.replicas.token
        );
        std::fs::write(project.join(".npmrc"), npmrc).unwrap();
        std::fs::write(project.join("package.json"), manifest.to_string()).unwrap();
        project
    };
    let npm = |project: &Path, args: &[&str]| {
        run_ok(
            Command::new("npm")
                .current_dir(project)
                .env("HOME", project)
                .env("npm_config_cache", project.with_extension("cache"))
                .env("npm_config_update_notifier", "false")
                .args(args),
            None,
        )
    };
    let lib = npm_project(
        "lib",
        serde_json::json!({ "name": "@alice/lib", "version": "1.0.0", "main": "index.js", "license": "MIT" }),
    );
    std::fs::write(lib.join("index.js"), "module.exports = () => 'balanced';\n").unwrap();
    npm(&lib, &["publish"]);
    let app = npm_project(
        "app",
        serde_json::json!({ "name": "app", "version": "1.0.0", "license": "MIT" }),
    );
    npm(&app, &["install", "@alice/lib@1.0.0"]);
    let said = run_ok(
        Command::new("node")
            .current_dir(&app)
            .args(["-e", "process.stdout.write(require('@alice/lib')())"]),
        None,
    );
    assert_eq!(said, "balanced");

    // The uploads' requests were spread over both replicas by the balancer.
    let served = b.upload_upstreams();
    assert_eq!(
        served.len(),
        2,
        "uploads served by {served:?}:\n{}",
        b.nginx.access_log()
    );
}

#[test]
fn a_replica_killed_during_a_large_push_loses_nothing_and_the_retry_finishes_on_the_other() {
    let Some(engine) = docker_host() else { return };
    let Some(mut b) = Balanced::start("killed") else {
        return;
    };
    let dir = b.dir().to_owned();
    let config = b.docker_login(&engine);
    let image = format!("{}/alice/big:v1", b.host);
    let sum = import_image(&engine, &config, &dir, &image, 500 << 20);

    let push = docker(&engine, &config)
        .args(["push", &image])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Whichever replica takes the layer's bytes is killed once 64 MiB of it have arrived.
    let ports = b
        .replicas
        .addresses()
        .map(|a| a.rsplit_once(':').unwrap().1.parse().unwrap());
    let deadline = Instant::now() + Duration::from_secs(300);
    let victim = loop {
        if let Some(i) = (0..2).find(|&i| bytes_received(ports[i]) > 64 << 20) {
            break i;
        }
        assert!(Instant::now() < deadline, "no replica received the layer");
        std::thread::sleep(Duration::from_millis(20));
    };
    let killed = if victim == 0 {
        &mut b.replicas.a.child
    } else {
        &mut b.replicas.b.child
    };
    killed.kill().unwrap();
    killed.wait().unwrap();

    let out = push.wait_with_output().unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "docker push failed:\n{said}");
    assert!(said.contains("Retrying"), "the client retried:\n{said}");
    assert!(said.contains("digest: sha256:"), "{said}");

    // Pulled back through the balancer (the survivor serves it), the data is whole.
    run_ok(docker(&engine, &config).args(["rmi", &image]), None);
    run_ok(docker(&engine, &config).args(["pull", &image]), None);
    assert_eq!(data_sum_in(&engine, &config, &image), sum);
    run_ok(docker(&engine, &config).args(["rmi", &image]), None);
}
