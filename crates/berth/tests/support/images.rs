//! Development images built locally for the environment tests (nothing is pulled from the
//! internet): busybox-static with a user `vscode`, and the host's skopeo with the libraries it
//! links, so a test can run `skopeo inspect` inside an environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

use super::run_ok;

/// A layer directory holding busybox-static (every applet linked), `/etc/passwd` with `root`
/// and `vscode` (1000), and `/etc/group`.
pub fn busybox_layer(dir: &Path) -> PathBuf {
    let root = dir.join("layer-busybox");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("busybox-static (scripts/test installs it)");
    let applets = run_ok(Command::new("/bin/busybox").arg("--list"), None);
    for applet in applets.lines().filter(|a| *a != "busybox") {
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    let etc = root.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\nvscode:x:1000:1000::/home/vscode:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(etc.join("group"), "root:x:0:\nvscode:x:1000:\n").unwrap();
    for d in ["root", "tmp", "home/vscode"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    run_ok(
        Command::new("chown")
            .arg("1000:1000")
            .arg(root.join("home/vscode")),
        None,
    );
    root
}

/// A layer directory holding the host's skopeo (and its `ssh-add`, to reach a forwarded agent),
/// with skopeo's policy.
pub fn skopeo_layer(dir: &Path) -> PathBuf {
    let root = host_programs_layer(dir, "skopeo", &["skopeo", "ssh-add"]);
    std::fs::create_dir_all(root.join("etc/containers")).unwrap();
    std::fs::write(
        root.join("etc/containers/policy.json"),
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    root
}

/// A layer directory holding one file, `path`, with `contents`.
pub fn file_layer(dir: &Path, name: &str, path: &str, contents: &[u8]) -> PathBuf {
    let root = dir.join(format!("layer-{name}"));
    let file = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, contents).unwrap();
    root
}

/// A layer directory `layer-<name>` holding this machine's `programs` and every library `ldd` says
/// they need, each at its own path: dynamically linked tools for a busybox image.
pub fn host_programs_layer(dir: &Path, name: &str, programs: &[&str]) -> PathBuf {
    let root = dir.join(format!("layer-{name}"));
    for program in programs {
        let path = run_ok(
            Command::new("sh").args(["-c", &format!("command -v {program}")]),
            None,
        );
        let path = PathBuf::from(path.trim());
        let mut files = vec![path.clone()];
        let ldd = run_ok(Command::new("ldd").arg(&path), None);
        for line in ldd.lines() {
            let lib = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(p) = lib.filter(|p| p.starts_with('/')) {
                files.push(PathBuf::from(p));
            }
        }
        for f in files {
            let to = root.join(f.strip_prefix("/").unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f, &to).unwrap();
        }
    }
    root
}

/// An OCI layout in `layout` whose tag `tag` is one linux/amd64 image of `layers` (directories,
/// bottom first, each a gzipped layer) with `env` in its configuration.
pub fn image_layout(layout: &Path, tag: &str, layers: &[PathBuf], env: &[&str]) {
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = hex::encode(Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, dir) in layers.iter().enumerate() {
        let tar = layout.join(format!("layer-{i}.tar"));
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(dir)
                .arg("--numeric-owner")
                .arg("-cf")
                .arg(&tar)
                .arg("."),
            None,
        );
        let plain = std::fs::read(&tar).unwrap();
        diff_ids.push(format!("sha256:{}", hex::encode(Sha256::digest(&plain))));
        run_ok(Command::new("gzip").arg("-1").arg("-n").arg(&tar), None);
        let gz = layout.join(format!("layer-{i}.tar.gz"));
        let (digest, size) = put(&std::fs::read(&gz).unwrap());
        std::fs::remove_file(gz).unwrap();
        descriptors.push(serde_json::json!({ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size }));
    }
    let config = serde_json::json!({ "architecture": "amd64", "os": "linux",
        "config": { "Env": env, "Cmd": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids } });
    let (config_digest, config_size) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
        "layers": descriptors });
    let (d, s) = put(manifest.to_string().as_bytes());
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::json!({ "schemaVersion": 2, "manifests": [] }));
    index["manifests"].as_array_mut().unwrap().push(serde_json::json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": s, "annotations": { "org.opencontainers.image.ref.name": tag } }));
    std::fs::write(index_path, index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
}

/// Copies `layout:tag` to `docker://dest` over plain HTTP with `creds` (`user:password`).
pub fn push(layout: &Path, tag: &str, dest: &str, creds: &str) {
    skopeo_copy(layout, tag, dest, creds, &[]);
}

/// `push` with `options` for skopeo copy (as `--multi-arch all`).
pub fn skopeo_copy(layout: &Path, tag: &str, dest: &str, creds: &str, options: &[&str]) {
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--quiet"])
            .args(options)
            .args(["--dest-tls-verify=false", "--dest-creds", creds])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{dest}")),
        None,
    );
}

/// A layer directory holding `/usr/local/bin/suid-id`: a static program, setuid root, that
/// calls `setuid(0)` and prints its uid (0 when setuid programs work, as `sudo` needs).
pub fn setuid_layer(dir: &Path) -> PathBuf {
    let root = dir.join("layer-suid");
    let bin = root.join("usr/local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let source = dir.join("suid-id.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n  if (setuid(0) != 0) { perror(\"setuid\"); return 1; }\n  printf(\"%d\\n\", (int)getuid());\n  return 0;\n}\n",
    )
    .unwrap();
    run_ok(
        Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(bin.join("suid-id"))
            .arg(&source),
        None,
    );
    run_ok(
        Command::new("chmod").arg("4755").arg(bin.join("suid-id")),
        None,
    );
    root
}

/// A layer directory holding this machine's Node.js (`node` and the libraries it links) and npm
/// (`/usr/lib/node_modules/npm`, run as `/usr/bin/npm`), for a busybox image.
pub fn node_layer(dir: &Path) -> PathBuf {
    let root = host_programs_layer(dir, "node", &["node"]);
    let modules = root.join("usr/lib/node_modules");
    std::fs::create_dir_all(&modules).unwrap();
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg("/usr/lib/node_modules/npm")
            .arg(&modules),
        None,
    );
    let bin = root.join("usr/bin");
    std::os::unix::fs::symlink("../lib/node_modules/npm/bin/npm-cli.js", bin.join("npm")).unwrap();
    // npm's `#!/usr/bin/env node`.
    std::os::unix::fs::symlink("/bin/busybox", bin.join("env")).unwrap();
    root
}
