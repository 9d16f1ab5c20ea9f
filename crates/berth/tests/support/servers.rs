//! Real servers the end-to-end tests start and stop: Debian's `docker-registry` behind htpasswd,
//! `moto_server` with IAM enforced, and a Berth server with two users.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::TestNet;
use super::{Cli, Server, run_ok, serve_command, sigterm};

/// The PyPI venv `scripts/test` makes (moto, boto3); without it these tests fail, unless
/// `BERTH_SKIP_CLIENTS=1` says to skip them knowingly.
pub fn python() -> Option<PathBuf> {
    berth_store::testing::given("BERTH_TEST_PYTHON", "BERTH_SKIP_CLIENTS").map(PathBuf::from)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls until something accepts connections on `port` (the servers print nothing reliable).
pub fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    wait_for("127.0.0.1", port, what, child);
}

/// Polls until something accepts connections at `ip:port`.
pub fn wait_for(ip: &str, port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect((ip, port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed on drop.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's `docker-registry` with one htpasswd user, on plain HTTP on loopback.
pub struct Htpasswd {
    pub _daemon: Daemon,
    pub host: String,
    pub _dir: tempfile::TempDir,
}

pub const REG_USER: &str = "alice";
pub const REG_PASSWORD: &str = "htpasswd-s3cret";

impl Htpasswd {
    /// On the host's loopback.
    pub fn start() -> Self {
        Self::serve(None)
    }

    /// In the test namespace `net`, at its address (what environments reach when the server
    /// allows that network).
    pub fn start_in(net: &TestNet) -> Self {
        Self::serve(Some(net))
    }

    fn serve(net: Option<&TestNet>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let htpasswd = run_ok(
            Command::new("htpasswd").args(["-Bbn", REG_USER, REG_PASSWORD]),
            None,
        );
        std::fs::write(dir.path().join("htpasswd"), htpasswd).unwrap();
        let (ip, port) = match net {
            None => ("127.0.0.1".to_owned(), free_port()),
            Some(n) => (n.ns_ip.to_string(), 5000),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: {ip}:{port}\nauth:\n  htpasswd:\n    realm: berth-test\n    path: {htpasswd}\n",
            root = dir.path().join("data").display(),
            htpasswd = dir.path().join("htpasswd").display(),
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut command = match net {
            None => Command::new("docker-registry"),
            Some(n) => n.command("docker-registry"),
        };
        let mut child = command
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (scripts/test installs it)");
        wait_for(&ip, port, "docker-registry", &mut child);
        Self {
            _daemon: Daemon(child),
            host: format!("{ip}:{port}"),
            _dir: dir,
        }
    }
}

/// `moto_server` enforcing IAM after the three calls that create one user allowed to call
/// `ecr:GetAuthorizationToken`; its request log is kept to count the calls Berth makes.
pub struct Moto {
    pub _daemon: Daemon,
    pub url: String,
    pub log: PathBuf,
    pub python: PathBuf,
    pub key_id: String,
    pub secret: String,
    pub _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start(python: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("moto.log");
        let moto = python.with_file_name("moto_server");
        let mut child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (scripts/test installs moto[server])",
                    moto.display()
                )
            });
        wait_for_port(port, "moto_server", &mut child);
        let url = format!("http://127.0.0.1:{port}");
        let out = run_ok(
            Command::new(python)
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/clients/moto_iam.py"
                ))
                .args([&url, "ecr-puller"]),
            None,
        );
        let keys: serde_json::Value = serde_json::from_str(&out).unwrap();
        Self {
            _daemon: Daemon(child),
            url,
            log,
            python: python.to_owned(),
            key_id: keys["id"].as_str().unwrap().to_owned(),
            secret: keys["secret"].as_str().unwrap().to_owned(),
            _dir: dir,
        }
    }

    /// ECR calls answered so far (each is one `POST /` in the log; IAM calls come first).
    pub fn posts(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .matches("\"POST / HTTP/1.1\"")
            .count()
    }

    pub fn delete_key(&self) {
        run_ok(
            Command::new(&self.python)
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/clients/moto_iam.py"
                ))
                .args([
                    &self.url,
                    "ecr-puller",
                    "delete",
                    &self.key_id,
                    &self.secret,
                ]),
            None,
        );
    }
}

/// A Berth server with `alice` (who pushes) and `bob`, and their tokens.
pub struct Berth {
    pub server: Server,
    pub host: String,
    pub alice: String,
    pub bob: String,
    pub dir: tempfile::TempDir,
    /// What it was started with, for [`Berth::restart`].
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Berth {
    /// A server that may reach this machine for users: the tests' registries and git
    /// repositories are here, and the server reaches them only because it is told so (SPEC §8).
    pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let tmp = std::env::temp_dir().display().to_string();
        let allow = [
            "--egress-allow",
            "127.0.0.0/8",
            "--clone-allow-dir",
            tmp.as_str(),
        ];
        Self::start_strict(&[&allow[..], extra].concat(), env)
    }

    /// A server with the default egress policy and no local clone directories.
    pub fn start_strict(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut args = vec![
            "--data-dir".to_owned(),
            data.display().to_string(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let server = Self::serve(&args, &env);
        let cli = Cli::admin(&server, &data, &dir.path().join("admin"));
        let mut tokens = Vec::new();
        for user in ["alice", "bob"] {
            tokens.push(cli.user_with_token(user, "repo,codespace,write:packages"));
        }
        let host = server.url.trim_start_matches("http://").to_owned();
        Self {
            server,
            host,
            bob: tokens.pop().unwrap(),
            alice: tokens.pop().unwrap(),
            dir,
            args,
            env,
        }
    }

    fn serve(args: &[String], env: &[(String, String)]) -> Server {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = serve_command(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server::start(cmd)
    }

    /// Stops the server (SIGTERM) and starts it again on the same address and data.
    pub fn restart(&mut self) {
        sigterm(&self.server.child);
        self.server.child.wait().unwrap();
        // Its tmpfs directory is the next server's too.
        self.server.data_dir = None;
        let mut args = self.args.clone();
        let listen = args.iter().position(|a| a == "--listen").unwrap() + 1;
        args[listen] = self.host.clone();
        self.server = Self::serve(&args, &self.env);
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn cli(&self, token: &str) -> Cli {
        Cli::new(
            &self
                .dir
                .path()
                .join(format!("cli-{}", &token[token.len() - 6..])),
        )
        .with_env("BERTH_SERVER", &self.server.url)
        .with_env("BERTH_TOKEN", token)
    }
}

/// A test that fails leaves its environments running: they are stopped here, their mounts
/// undone and the server's tmpfs directory removed, so nothing outlives the test.
impl Drop for Berth {
    fn drop(&mut self) {
        tidy_environments(&self.data(), self.dir.path());
    }
}

/// Stops every environment of the server on `data` (its data directory), undoes every mount
/// under `root` and removes the server's tmpfs directory.
pub fn tidy_environments(data: &Path, root: &Path) {
    let run = data.join("run");
    let Ok(run_dir) = std::fs::read_link(&run) else {
        return;
    };
    let runc = |args: &[&str]| {
        Command::new("runc")
            .arg("--root")
            .arg(run_dir.join("runc"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .output()
    };
    if let Ok(out) = runc(&["list", "-q"]) {
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            let _ = runc(&["delete", "--force", name]);
        }
    }
    // Their user-mode networks outlive them (as they outlive a restart of the server).
    for env in std::fs::read_dir(run_dir.join("environments"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(pid) = std::fs::read_to_string(env.path().join("network/slirp4netns.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
    let root = root.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|t| t.starts_with(&root))
        .collect();
    // Deepest first: a parent detached first takes its children with it.
    targets.sort_by_key(|t| std::cmp::Reverse(t.matches('/').count()));
    for target in targets {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(target)
            .stderr(Stdio::null())
            .status();
    }
    let _ = std::fs::remove_dir_all(run_dir);
}
