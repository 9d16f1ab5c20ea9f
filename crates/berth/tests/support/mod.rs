//! Starting real `berth serve` processes and running the real CLI against them.
#![allow(
    dead_code,
    reason = "shared by several test binaries, each using a subset"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

pub mod environments;
pub mod images;
pub mod netns;
pub mod nginx;
pub mod s3;
pub mod servers;
pub mod ssh;
pub mod web;

pub const BIN: &str = env!("CARGO_BIN_EXE_berth");

/// A running server; killed on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub log: Arc<Mutex<String>>,
    /// Its `--data-dir`, to remove the tmpfs directory it made (`<data>/run`) when dropped.
    data_dir: Option<PathBuf>,
}

/// The berth binary with no `BERTH_*` variables inherited from the caller.
fn berth_command() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("BERTH_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A `berth serve` command with a clean environment (no `BERTH_*` from the caller).
pub fn serve_command(args: &[&str]) -> Command {
    let mut cmd = berth_command();
    cmd.arg("serve").args(args);
    cmd.env("BERTH_LOG", "info");
    cmd
}

/// `berth serve` keeping its data in `data`, on a free loopback port, with `extra` arguments.
pub fn serve_at(data: &Path, extra: &[&str]) -> Command {
    let data = data.display().to_string();
    let mut args = vec!["--data-dir", &data, "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    serve_command(&args)
}

/// The site administrator's token that a server keeping its data in `data` wrote at first start.
pub fn admin_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A runtime for the few async calls a test makes.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The URL of a fresh PostgreSQL database, or `None` when the tests have no PostgreSQL server.
pub fn postgres_database() -> Option<String> {
    let pg = berth_store::testing::postgres_server()?;
    Some(runtime().block_on(berth_store::testing::fresh_postgres_database(&pg)))
}

/// Sends SIGTERM to `child` (it is not waited for).
pub fn sigterm(child: &Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
}

impl Server {
    /// Starts `berth serve ARGS` and waits until it says where it listens.
    pub fn start(mut cmd: Command) -> Server {
        let args: Vec<_> = cmd.get_args().map(|a| a.to_os_string()).collect();
        let data_dir = args
            .iter()
            .position(|a| a == "--data-dir")
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on ") {
                    let _ = tx.send(line[i + "listening on ".len()..].trim().to_owned());
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => Server {
                child,
                url,
                log,
                data_dir,
            },
            Err(_) => {
                let _ = child.kill();
                panic!("berth serve did not start:\n{}", log.lock().unwrap());
            }
        }
    }

    /// The port of its SSH gateway (started with `--ssh-listen 127.0.0.1:0`), from its log.
    pub fn ssh_port(&self) -> u16 {
        let log = self.log.lock().unwrap();
        let at = log
            .split_once("SSH gateway at ssh://")
            .unwrap_or_else(|| panic!("no SSH gateway in:\n{log}"))
            .1;
        let addr = at.split_whitespace().next().unwrap();
        addr.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    /// Sends SIGTERM and waits for the process to end.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        sigterm(&self.child);
        let status = self.child.wait().unwrap();
        // The reader thread drains the pipe; the process is gone, so the log is complete soon.
        for _ in 0..100 {
            if self.log.lock().unwrap().contains("stopped") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(run) = self
            .data_dir
            .as_ref()
            .and_then(|d| std::fs::read_link(d.join("run")).ok())
        {
            // Only when no environment is left in it (the Berth fixture stops those first).
            let _ = std::fs::remove_dir(run.join("environments"));
            let _ = std::fs::remove_dir(&run);
        }
    }
}

/// Runs a command to its end and returns its output; panics if it does not start.
pub fn run_to_end(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run berth")
}

/// The CLI with its own config directory and no inherited `BERTH_*` variables.
#[derive(Clone)]
pub struct Cli {
    pub config_dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Cli {
    pub fn new(config_dir: &Path) -> Self {
        Self {
            config_dir: config_dir.to_owned(),
            env: Vec::new(),
        }
    }

    pub fn with_env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run(&mut self.command(args), stdin)
    }

    /// The command `berth ARGS` with this CLI's configuration, to run as the caller likes (a
    /// long-running one, say).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = berth_command();
        cmd.args(args);
        cmd.env("BERTH_CONFIG_DIR", &self.config_dir);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The CLI of `token` on the server at `url`, its configuration in `config`.
    pub fn signed_in(config: &Path, url: &str, token: &str) -> Cli {
        Cli::new(config)
            .with_env("BERTH_SERVER", url)
            .with_env("BERTH_TOKEN", token)
    }

    /// The site administrator's CLI of a server whose data directory is `data`, with its own
    /// config directory `config`.
    pub fn admin(server: &Server, data: &Path, config: &Path) -> Cli {
        Cli::signed_in(config, &server.url, &admin_token(data))
    }

    /// Creates the user `login` (as this site administrator) and returns a token of theirs with
    /// `scopes` (comma-separated).
    #[track_caller]
    pub fn user_with_token(&self, login: &str, scopes: &str) -> String {
        self.ok(&["user", "create", login]);
        self.token_for(login, scopes)
    }

    /// A token of the user `login` with `scopes` (comma-separated), made by this site
    /// administrator.
    #[track_caller]
    pub fn token_for(&self, login: &str, scopes: &str) -> String {
        self.ok(&["token", "create", "--user", login, "--scopes", scopes])
            .trim()
            .to_owned()
    }

    /// Runs and insists on success; returns standard output.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and insists on exit code `code` with `words` in standard error.
    #[track_caller]
    pub fn exits(&self, args: &[&str], code: i32, words: &str) {
        let out = self.run(args, None);
        assert_eq!(
            out.status.code(),
            Some(code),
            "berth {args:?}: {}",
            text(&out.stderr)
        );
        assert_stderr(&out, words);
    }

    /// Runs and insists on failure with `words` in standard error; returns standard error.
    #[track_caller]
    pub fn fails(&self, args: &[&str], words: &str) -> String {
        let out = self.run(args, None);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "berth {args:?} succeeded");
        assert!(stderr.contains(words), "berth {args:?}: {stderr}");
        stderr
    }
}

/// Asserts that `out`'s standard error says `words`.
#[track_caller]
pub fn assert_stderr(out: &Output, words: &str) {
    let stderr = text(&out.stderr);
    assert!(stderr.contains(words), "{stderr}");
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A Go client's stderr with its `time="…"` log field removed, so two runs a
/// second apart compare equal.
pub fn without_timestamp(stderr: &[u8]) -> String {
    text(stderr)
        .split(' ')
        .filter(|field| !field.starts_with("time="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `cmd` started with `stdin`, its output and errors piped.
#[track_caller]
fn spawn_piped(cmd: &mut Command, stdin: Stdio) -> std::process::Child {
    let started = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    started.unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// Runs `cmd` with `input` on its standard input (closed after it), collecting its output.
#[track_caller]
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = spawn_piped(cmd, Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, input).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[track_caller]
pub fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    run_with_input(cmd, stdin.unwrap_or_default().as_bytes())
}

/// The output of `cmd`, which must exit within `limit` (killed and failed otherwise).
#[track_caller]
pub fn exits_within(cmd: &mut Command, limit: std::time::Duration) -> Output {
    let mut child = spawn_piped(cmd, Stdio::null());
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{cmd:?} still ran after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// The body of a plain `GET` of `url`.
pub fn get_text(url: &str) -> String {
    runtime().block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

#[track_caller]
pub fn run_ok(cmd: &mut Command, stdin: Option<&str>) -> String {
    let out = run(cmd, stdin);
    succeeded(&out, &format!("{cmd:?}"))
}

/// Asserts that `what` exited successfully (its output in the message if not); its standard
/// output.
#[track_caller]
pub fn succeeded(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// An OCI layout in `dir` whose `multi` tag is an index of one tiny image per architecture,
/// each layer holding a file `arch` that names it.
pub fn multi_platform_layout(dir: &Path, platforms: &[&str]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut manifests = Vec::new();
    for arch in platforms {
        let content = dir.join(format!("content-{arch}"));
        std::fs::create_dir_all(&content).unwrap();
        std::fs::write(content.join("arch"), arch).unwrap();
        let tar = dir.join(format!("layer-{arch}.tar"));
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(&content)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
            None,
        );
        let layer = std::fs::read(&tar).unwrap();
        let (layer_digest, layer_size) = put(&layer);
        let config = serde_json::json!({ "architecture": arch, "os": "linux", "rootfs": { "type": "layers", "diff_ids": [layer_digest] } });
        let (config_digest, config_size) = put(config.to_string().as_bytes());
        let manifest = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size }] });
        let (d, s) = put(manifest.to_string().as_bytes());
        manifests.push(serde_json::json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": s, "platform": { "os": "linux", "architecture": arch } }));
    }
    let index = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests });
    let (d, s) = put(index.to_string().as_bytes());
    let top = serde_json::json!({ "schemaVersion": 2, "manifests": [{ "mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s, "annotations": { "org.opencontainers.image.ref.name": "multi" } }] });
    std::fs::write(dir.join("index.json"), top.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// The test Docker Engine; without it these tests fail, unless `BERTH_SKIP_CLIENTS=1` says to
/// skip them knowingly.
pub fn docker_host() -> Option<String> {
    berth_store::testing::given("BERTH_TEST_DOCKER_HOST", "BERTH_SKIP_CLIENTS")
}

/// A docker command against the test engine with its own client config directory.
pub fn docker(host: &str, config: &Path) -> Command {
    let mut c = Command::new("docker");
    c.env("DOCKER_HOST", host).arg("--config").arg(config);
    c
}

/// A root filesystem with a static busybox: `dir/rootfs`.
pub fn busybox_root(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("busybox-static (scripts/test installs it)");
    root
}

/// [`busybox_root`] as a tar file.
pub fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = busybox_root(dir);
    let tar = dir.join("rootfs.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        None,
    );
    tar
}

/// A CA (`ca.pem`) and a leaf certificate for 127.0.0.1 signed by it (`cert.pem`, `key.pem`) in
/// `dir`: a self-signed CA certificate is not accepted as a server certificate by webpki.
pub fn tls_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let script = r#"set -e
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=test-ca -keyout ca.key -out ca.pem
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out leaf.csr
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > leaf.ext
        openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile leaf.ext -out cert.pem"#;
    let made = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("openssl (scripts/test installs it)");
    assert!(made.status.success(), "{}", text(&made.stderr));
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

/// Debian's `gh`, pointed at a Berth server as at a GitHub Enterprise host: its own config
/// directory, a token for the host, no prompts, nothing inherited from the caller's gh.
pub struct Gh {
    env: Vec<(String, String)>,
}

impl Gh {
    /// `gh` for `host` (host:port) with `token`, keeping its configuration in `config_dir`.
    pub fn new(host: &str, token: &str, config_dir: &Path) -> Self {
        let env = [
            ("GH_HOST", host.to_owned()),
            ("GH_ENTERPRISE_TOKEN", token.to_owned()),
            ("GH_CONFIG_DIR", config_dir.display().to_string()),
            ("GH_PROMPT_DISABLED", "1".to_owned()),
        ];
        Self {
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    pub fn with_env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("gh")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN")
            .output()
            .expect("gh (scripts/test installs it)")
    }

    /// Runs gh, asserts it succeeded, and returns its standard output.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.run(args), &format!("gh {args:?}"))
    }
}

/// A server on HTTPS (a certificate of a private CA made in `dir`) and its site administrator's
/// CLI trusting that CA; the CA's file, for other clients (`SSL_CERT_FILE`).
pub fn https_server(dir: &Path) -> (Server, Cli, PathBuf) {
    let (ca, cert, key) = tls_certificates(dir);
    let data = dir.join("data");
    let server = Server::start(serve_at(
        &data,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    ));
    let admin = Cli::admin(&server, &data, &dir.join("admin"))
        .with_env("SSL_CERT_FILE", ca.to_str().unwrap());
    (server, admin, ca)
}

/// A new Ed25519 key pair `dir/name` (and `.pub`) with `name` as its comment; its fingerprint
/// as `ssh-keygen -l` prints it.
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
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
