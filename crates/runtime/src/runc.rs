//! The default runtime: `runc` running an OCI bundle Berth writes, in namespaces of its own
//! (user, network, cgroup, pid, ipc, uts, mount: [`spec`]) over an overlay of idmapped shared
//! layers ([`rootfs`]), its network attached between `runc create` and `runc start`
//! ([`crate::network`]).
//!
//! An environment's state directory holds:
//! ```text
//! image.json      the prepared image: its layer directories (bottom first), env, user
//! private/        its writable layer and the idmapped layers (see `rootfs`)
//! rootfs/         where the overlay is mounted while it runs
//! console.log     the main process's output
//! ```
//! The bundle's `config.json` holds the environment's variables, secrets included, so it is
//! written to the environment's secret directory, in memory ([`RunSpec::secret_dir`]), with
//! `root.path` pointing at `rootfs/`; runc's own state (which copies the config) is kept in
//! memory too (`--root`, under the run directory). The layers live in the shared
//! [`LayerStore`]; the blobs they came from in the shared [`BlobCache`]; each environment's
//! layers are also listed in `<data>/layer-pins/<name>.json`, which a collection of the caches
//! keeps (the record above is on the environment's disk, not always mounted).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod rootfs;
mod spec;

use berth_domain::codespace::layer_variables;
use berth_registry_client::pull::{BlobCache, PullOptions};
use berth_registry_client::{ConnectStep, Registry};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::caches::{CacheLimits, CacheReport, Cached, evict};
use crate::layers::LayerStore;
use crate::unpack::read_in_root;
use crate::users::{chown_tree, resolve_user};
use crate::{
    ExecSpec, ImageInfo, ImageSource, Narrator, Output, RunSpec, Runtime, RuntimeError, UserIds,
};
use berth_domain::oci::Digest;
use rootfs::{rootfs, unmount_all};

/// What [`Runtime::prepare`] leaves for [`Runtime::start`].
#[derive(Debug, Serialize, Deserialize)]
struct PreparedFile {
    reference: String,
    manifest_digest: String,
    /// Bottom first.
    layer_dirs: Vec<PathBuf>,
    user: Option<String>,
}

/// The main process: waits to be stopped, as dev containers' default `overrideCommand` does.
pub(crate) const KEEP_ALIVE: &str =
    "echo Container started; trap \"exit 0\" 15; while sleep 1000 & wait $!; do :; done";

/// `runc` with Berth's image caches.
#[derive(Debug, Clone)]
pub struct Runc {
    program: PathBuf,
    /// runc's `--root`: where it keeps its containers' state.
    state_root: PathBuf,
    blobs: BlobCache,
    layers: LayerStore,
    pull: PullOptions,
    /// Held shared by each prepare until its image is recorded and pinned, and exclusively by a
    /// collection of the caches: a collection sees every layer an environment uses pinned.
    caches: Arc<tokio::sync::RwLock<()>>,
    /// `<data>/layer-pins/<environment>.json`: the layer directories each environment uses.
    pins: PathBuf,
}

impl Runc {
    /// Caches under `data_dir` (`pull-cache/`, `layers/`); runc's state under `run_dir` (a
    /// tmpfs: it holds the containers' configurations).
    pub fn open(data_dir: &Path, run_dir: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        // Private: unpacked layers keep images' setuid files and device nodes, which no other
        // user of the host may reach. runc never reads here (what it reads is staged on the
        // tmpfs run directory; see `rootfs`), so nothing needs to pass through.
        for dir in ["pull-cache", "layers", "layer-pins", "environments"] {
            let path = data_dir.join(dir);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&path)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
        }
        let layers = LayerStore::open(data_dir.join("layers"))?;
        let unpacked = layers.clone();
        Ok(Self {
            program: PathBuf::from("runc"),
            state_root: run_dir.join("runc"),
            // A layer's blob is not downloaded again while the layer is unpacked.
            blobs: BlobCache::open(data_dir.join("pull-cache"))?
                .kept_elsewhere(move |digest| unpacked.contains(digest)),
            layers,
            pull: PullOptions::default(),
            caches: Arc::default(),
            pins: data_dir.join("layer-pins"),
        })
    }

    /// The same runtime with these limits on the layers it unpacks.
    pub fn with_layer_limits(
        mut self,
        limits: crate::unpack::UnpackLimits,
        image_bytes: u64,
    ) -> Self {
        self.layers = self.layers.with_limits(limits, image_bytes);
        self
    }

    /// Where the layers environment `name` uses are listed (its pin on the layer store).
    fn pin(&self, name: &str) -> PathBuf {
        self.pins.join(format!("{name}.json"))
    }

    /// The layer directories `environments` use: each one's pin, else (prepared before pins)
    /// its image record when its disk is mounted. Pins of environments not among them (gone
    /// while this server was not running) are removed, unless `dry_run`.
    fn layers_in_use(
        &self,
        environments: &[RunSpec],
        dry_run: bool,
    ) -> Result<std::collections::HashSet<PathBuf>, RuntimeError> {
        let io = |e| RuntimeError::io("cannot read the environments' layer pins")(e);
        let damaged = |path: &Path, e: serde_json::Error| {
            RuntimeError::Engine(format!(
                "{} is damaged ({e}); the caches are not collected until it is removed or the environment started again",
                path.display()
            ))
        };
        let mut in_use = std::collections::HashSet::new();
        for spec in environments {
            let pin = self.pin(&spec.name);
            let dirs: Vec<PathBuf> = match std::fs::read(&pin) {
                Ok(text) => serde_json::from_slice(&text).map_err(|e| damaged(&pin, e))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let record = spec.state_dir.join("image.json");
                    match std::fs::read(&record) {
                        Ok(text) => {
                            serde_json::from_slice::<PreparedFile>(&text)
                                .map_err(|e| damaged(&record, e))?
                                .layer_dirs
                        }
                        // Never prepared, or its disk is not mounted (then it is not running,
                        // and its next start prepares its image again).
                        Err(_) => Vec::new(),
                    }
                }
                Err(e) => return Err(io(e)),
            };
            in_use.extend(dirs);
        }
        if !dry_run {
            let kept: std::collections::HashSet<String> = environments
                .iter()
                .map(|spec| format!("{}.json", spec.name))
                .collect();
            for entry in std::fs::read_dir(&self.pins).map_err(io)? {
                let entry = entry.map_err(io)?;
                if !kept.contains(entry.file_name().to_string_lossy().as_ref()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(in_use)
    }

    fn runc(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.arg("--root").arg(&self.state_root);
        c.stdin(Stdio::null());
        c.kill_on_drop(true);
        c
    }

    /// Runs runc to completion; a failure carries its stderr (runc's messages hold no secrets).
    async fn run(&self, args: &[&str]) -> Result<String, RuntimeError> {
        let out = self
            .runc()
            .args(args)
            .output()
            .await
            .map_err(|e| runc_missing(&self.program, e))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(RuntimeError::Engine(format!(
                "runc {} failed: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// runc's status word for the container, `None` if runc does not know it.
    async fn status(&self, name: &str) -> Result<Option<String>, RuntimeError> {
        let out = self
            .runc()
            .args(["state", name])
            .output()
            .await
            .map_err(|e| runc_missing(&self.program, e))?;
        if !out.status.success() {
            return Ok(None);
        }
        let state: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| RuntimeError::Engine(format!("runc state printed no JSON: {e}")))?;
        Ok(state["status"].as_str().map(str::to_owned))
    }

    /// Stops the container and forgets it in runc, then takes its network down and unmounts
    /// its file systems: those always, whatever failed before.
    async fn halt(&self, spec: &RunSpec) -> Result<(), RuntimeError> {
        let stopped = self.kill_and_delete(spec).await;
        crate::network::detach(&spec.secret_dir);
        unmount_all(spec);
        stopped?;
        crate::remove_tree(&bundle(spec))
    }

    async fn kill_and_delete(&self, spec: &RunSpec) -> Result<(), RuntimeError> {
        if let Some(status) = self.status(&spec.name).await? {
            if status == "running" {
                let _ = self.run(&["kill", &spec.name, "TERM"]).await;
                for _ in 0..100 {
                    if self.status(&spec.name).await?.as_deref() != Some("running") {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            self.run(&["delete", "--force", &spec.name]).await?;
        }
        Ok(())
    }

    /// The process id of the environment's main process, if runc runs it.
    async fn pid(&self, name: &str) -> Result<u32, RuntimeError> {
        let out = self.run(&["state", name]).await?;
        let state: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| RuntimeError::Engine(format!("runc state printed no JSON: {e}")))?;
        state["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| RuntimeError::Engine(format!("runc knows no process of {name}")))
    }
}

impl Runc {
    /// `runc exec --tty` on a terminal of Berth's, carried until the command ends; its exit code.
    async fn exec_on_terminal(
        &self,
        spec: &RunSpec,
        mut exec: ExecSpec,
        tty: crate::Tty,
        output: tokio::sync::mpsc::Sender<Output>,
    ) -> Result<i32, RuntimeError> {
        let (master, slave) = crate::pty::open_pair()?;
        // The size is there before runc starts: it sizes the terminal inside from its own.
        crate::pty::resize(&master, *tty.size.borrow());
        let mut hang_up = HangUp::new(spec);
        let mut cmd = self.runc();
        cmd.args(["exec", "--tty", "--pid-file"])
            .arg(&hang_up.pid_file)
            .arg("--env")
            .arg(format!("TERM={}", tty.term));
        for (k, v) in &exec.env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        cmd.arg(&spec.name).args(&exec.argv);
        let io = |f: &std::fs::File| {
            f.try_clone()
                .map(Stdio::from)
                .map_err(RuntimeError::io("cannot use the terminal"))
        };
        cmd.stdin(io(&slave)?)
            .stdout(io(&slave)?)
            .stderr(io(&slave)?);
        // Dropped (the client left): runc goes, its terminal inside closes, and the command is
        // hung up as on any terminal.
        cmd.kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| runc_missing(&self.program, e))?;
        hang_up.pass_signals(exec.signals.take());
        // Only runc holds the slave now: the master ends when runc does.
        drop(slave);
        let pid = child
            .id()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32));
        let resized = move || {
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::WINCH);
            }
        };
        let mut carrier = tokio::spawn(crate::pty::carry(
            master, exec.stdin, tty.size, resized, output,
        ));
        let status = child.wait().await;
        hang_up.ended();
        // What the command wrote last is still read; a process it left in the background does
        // not keep the session open.
        if tokio::time::timeout(std::time::Duration::from_millis(500), &mut carrier)
            .await
            .is_err()
        {
            carrier.abort();
        }
        let status = status.map_err(RuntimeError::io("runc exec failed"))?;
        use std::os::unix::process::ExitStatusExt as _;
        Ok(status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(255))
    }

    /// `runc create`, the environment's network attached to the created namespaces, then
    /// `runc start`: nothing of the environment runs before its network is fenced.
    async fn create_and_start(
        &self,
        spec: &RunSpec,
        image: &PreparedFile,
    ) -> Result<UserIds, RuntimeError> {
        let root = rootfs(spec);
        let read = |p: &str| {
            read_in_root(&root, p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let user = spec.user.as_deref().or(image.user.as_deref());
        let mut ids = resolve_user(user, &read("/etc/passwd"), &read("/etc/group"))
            .map_err(RuntimeError::Engine)?;
        let range = spec.isolation.ids;
        let outside = |id: u32| {
            range.host_id(id).ok_or_else(|| {
                RuntimeError::Engine(format!(
                    "the environment's user has id {id}, above the {} ids an environment maps; choose another remoteUser",
                    range.size
                ))
            })
        };
        ids.host_uid = outside(ids.uid)?;
        ids.host_gid = outside(ids.gid)?;
        for m in &spec.mounts {
            if m.owned {
                chown_tree(&m.source, ids.host_uid, ids.host_gid).map_err(RuntimeError::io(
                    format!(
                        "cannot hand {} to the environment's user",
                        m.source.display()
                    ),
                ))?;
            }
        }
        let defaults = vec![
            (
                "PATH".to_owned(),
                SecretString::from(
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
                ),
            ),
            ("HOME".to_owned(), SecretString::from(ids.home.clone())),
        ];
        let env = layer_variables(&[defaults, spec.env.clone()]);
        let env: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("{k}={}", v.expose_secret()))
            .collect();
        let (resolv, hosts) = crate::network::write_name_files(&spec.secret_dir, &spec.name)?;
        let names = spec::NameFiles {
            resolv: &resolv,
            hosts: &hosts,
        };
        let mounts = rootfs::stage(spec)?;
        let config = spec::config(
            spec,
            &mounts,
            &ids,
            &env,
            &["/bin/sh", "-c", KEEP_ALIVE],
            &root,
            &names,
        );
        let bundle = bundle(spec);
        berth_registry_client::logins::write_private_file(
            &bundle.join("config.json"),
            &serde_json::to_vec_pretty(&config).expect("plain values serialise"),
        )
        .map_err(RuntimeError::io("cannot write the bundle's config.json"))?;
        let console = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.state_dir.join("console.log"))
            .map_err(RuntimeError::io("cannot open the console log"))?;
        // The log is kept across starts: a failure is told from what this start added, and
        // runc's own messages are kept apart, in a log of this start.
        let before = console.metadata().map(|m| m.len()).unwrap_or(0);
        let runc_log = bundle.join("runc.log");
        let _ = std::fs::remove_file(&runc_log);
        let status = self
            .runc()
            .arg("--log")
            .arg(&runc_log)
            .args(["--log-format", "json"])
            .arg("create")
            .arg("--bundle")
            .arg(&bundle)
            .arg(&spec.name)
            .stdout(
                console
                    .try_clone()
                    .map_err(RuntimeError::io("cannot open the console log"))?,
            )
            .stderr(console)
            .status()
            .await
            .map_err(|e| runc_missing(&self.program, e))?;
        if !status.success() {
            let why = match std::fs::read_to_string(&runc_log)
                .ok()
                .and_then(|l| last_error(&l))
            {
                Some(message) => message,
                None => {
                    let log = std::fs::read(spec.state_dir.join("console.log")).unwrap_or_default();
                    let start = usize::try_from(before).unwrap_or(0).min(log.len());
                    let log = String::from_utf8_lossy(&log[start..]);
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
                }
            };
            return Err(RuntimeError::Engine(format!(
                "runc could not start the environment ({status}): {why}"
            )));
        }
        let pid = self.pid(&spec.name).await?;
        crate::network::attach(pid, &spec.secret_dir, &spec.isolation.routes).await?;
        self.run(&["start", &spec.name]).await?;
        Ok(ids)
    }
}

fn runc_missing(program: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Engine(format!(
        "cannot run {}: {e}; install runc (apt-get install runc) or choose --runtime docker",
        program.display()
    ))
}

fn bundle(spec: &RunSpec) -> PathBuf {
    spec.secret_dir.join("bundle")
}

/// Copies one of a command's streams to `out`. With a `hold` slot, a first chunk that starts
/// like runc's own failure (`exec failed: `) is put there instead of being sent.
async fn pump(
    mut r: Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    out: tokio::sync::mpsc::Sender<Output>,
    wrap: fn(Vec<u8>) -> Output,
    hold: Option<Arc<Mutex<Option<Vec<u8>>>>>,
) {
    const RUNC_FAILURE: &[u8] = b"exec failed: ";
    let mut buf = vec![0u8; 16 * 1024];
    let mut first = true;
    let mut listening = true;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let chunk = buf[..n].to_vec();
                if let Some(slot) = hold.as_ref().filter(|_| std::mem::take(&mut first))
                    && chunk.starts_with(RUNC_FAILURE)
                {
                    *slot.lock().expect("held output poisoned") = Some(chunk);
                    continue;
                }
                // Keep reading after the listener left, so the command never blocks on a pipe.
                if listening && out.send(wrap(chunk)).await.is_err() {
                    listening = false;
                }
            }
        }
    }
}

/// The message of the last error runc logged (its `--log-format json` lines).
fn last_error(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["level"] == "error")
        .and_then(|v| v["msg"].as_str().map(str::to_owned))
}

#[async_trait::async_trait]
impl Runtime for Runc {
    fn kind(&self) -> &'static str {
        "runc"
    }

    async fn prepare(
        &self,
        spec: &RunSpec,
        image: &ImageSource,
        narrator: &dyn Narrator,
    ) -> Result<ImageInfo, RuntimeError> {
        let _caches = self.caches.read().await;
        let shown = image.reference.to_string();
        let pull_error = |source| RuntimeError::Pull {
            image: shown.clone(),
            source,
        };
        let registry = Registry::connect(
            &image.egress,
            &image.reference.host,
            image.scheme,
            image.credentials.clone(),
            |step| {
                if let ConnectStep::FellBackToHttp { .. } = step {
                    narrator.line(format!(
                        "{} does not speak HTTPS; using plain HTTP (loopback registry)",
                        image.reference.host
                    ));
                }
            },
        )
        .await
        .map_err(pull_error)?;
        let prepared = crate::layers::prepare(
            &registry,
            &image.reference,
            &self.blobs,
            &self.layers,
            &self.pull,
            narrator,
        )
        .await?;
        let config = prepared.pulled.config.config().clone().unwrap_or_default();
        let info = ImageInfo::from_config(&config);
        let file = PreparedFile {
            reference: shown.clone(),
            manifest_digest: prepared.pulled.manifest_digest.to_string(),
            layer_dirs: prepared.layer_dirs,
            user: info.user.clone(),
        };
        crate::record_image(spec, &file)?;
        // Beside the caches too: the record is on the environment's disk, which a stopped
        // environment may not have mounted.
        let pinned = serde_json::to_vec(&file.layer_dirs).expect("paths serialise");
        berth_registry_client::logins::write_private_file(&self.pin(&spec.name), &pinned)
            .map_err(RuntimeError::io("cannot pin the environment's layers"))?;
        Ok(info)
    }

    async fn start(&self, spec: &RunSpec) -> Result<UserIds, RuntimeError> {
        let image: PreparedFile = crate::recorded_image(spec)?;
        self.halt(spec).await?;
        rootfs::mount(spec, &image.layer_dirs).await?;
        let started = self.create_and_start(spec, &image).await;
        if started.is_err() {
            crate::network::detach(&spec.secret_dir);
            let _ = self.run(&["delete", "--force", &spec.name]).await;
            unmount_all(spec);
        }
        started
    }

    async fn listen_inside(
        &self,
        spec: &RunSpec,
        addr: std::net::SocketAddr,
    ) -> Result<std::net::TcpListener, RuntimeError> {
        let pid = self.pid(&spec.name).await?;
        crate::network::listen_inside(pid, addr).await
    }

    async fn listening_ports(&self, spec: &RunSpec) -> Result<Vec<u16>, RuntimeError> {
        crate::network::listening_ports(self.pid(&spec.name).await?)
    }

    async fn listen_agent(
        &self,
        spec: &RunSpec,
        dir_name: &str,
    ) -> Result<crate::network::AgentSocket, RuntimeError> {
        crate::network::listen_agent_inside(self.pid(&spec.name).await?, dir_name).await
    }

    async fn connect_inside(
        &self,
        spec: &RunSpec,
        port: u16,
    ) -> Result<std::net::TcpStream, RuntimeError> {
        crate::network::connect_inside(self.pid(&spec.name).await?, port).await
    }

    async fn exec(
        &self,
        spec: &RunSpec,
        mut exec: ExecSpec,
        output: tokio::sync::mpsc::Sender<Output>,
    ) -> Result<i32, RuntimeError> {
        if let Some(tty) = exec.tty.take() {
            return self.exec_on_terminal(spec, exec, tty, output).await;
        }
        // runc's own messages go to a log of this exec, apart from the command's output, so a
        // command that cannot start is reported as a shell would (127 "command not found").
        let mut hang_up = HangUp::new(spec);
        let runc_log = hang_up.pid_file.with_extension("log");
        let mut cmd = self.runc();
        cmd.arg("--log")
            .arg(&runc_log)
            .args(["--log-format", "json"]);
        cmd.arg("exec").arg("--pid-file").arg(&hang_up.pid_file);
        for (k, v) in &exec.env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        cmd.arg(&spec.name).args(&exec.argv);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if exec.stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|e| runc_missing(&self.program, e))?;
        hang_up.pass_signals(exec.signals.take());
        let feed = child
            .stdin
            .take()
            .map(|pipe| tokio::spawn(exec.stdin.feed(pipe)));
        let stdout = child
            .stdout
            .take()
            .map(|s| tokio::spawn(pump(Box::new(s), output.clone(), Output::Stdout, None)));
        // runc prints its own failure on stderr before the command ever runs; the first chunk
        // is held back when it looks like that, until the exit status says whose it was.
        let held: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
        let stderr = child.stderr.take().map(|s| {
            tokio::spawn(pump(
                Box::new(s),
                output.clone(),
                Output::Stderr,
                Some(held.clone()),
            ))
        });
        let status = child.wait().await;
        hang_up.ended();
        let status = status.map_err(RuntimeError::io("runc exec failed"))?;
        // Its output is read to the end; standard input is no longer wanted (a client that never
        // closes it must not hold the session open).
        if let Some(feed) = feed {
            feed.abort();
        }
        for task in [stdout, stderr].into_iter().flatten() {
            let _ = task.await;
        }
        let runc_error = std::fs::read_to_string(&runc_log)
            .ok()
            .and_then(|log| last_error(&log));
        use std::os::unix::process::ExitStatusExt as _;
        let code = status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(255);
        let held = held.lock().expect("held output poisoned").take();
        match runc_error {
            Some(message) if code == 255 => {
                let argv0 = exec.argv.first().map_or("", String::as_str);
                let (code, text) = crate::not_started(argv0, &message);
                let _ = output.send(Output::Stderr(text.into_bytes())).await;
                Ok(code)
            }
            _ => {
                if let Some(chunk) = held {
                    let _ = output.send(Output::Stderr(chunk)).await;
                }
                Ok(code)
            }
        }
    }

    async fn running(&self, spec: &RunSpec) -> Result<bool, RuntimeError> {
        Ok(self.status(&spec.name).await?.as_deref() == Some("running"))
    }

    async fn stop(&self, spec: &RunSpec) -> Result<(), RuntimeError> {
        self.halt(spec).await
    }

    async fn remove(&self, spec: &RunSpec) -> Result<(), RuntimeError> {
        self.halt(spec).await?;
        crate::remove_tree(&spec.state_dir)?;
        match std::fs::remove_file(self.pin(&spec.name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(RuntimeError::io("cannot unpin the environment's layers")(e))
            }
            _ => Ok(()),
        }
    }

    async fn collect_caches(
        &self,
        environments: &[RunSpec],
        limits: CacheLimits,
        dry_run: bool,
    ) -> Result<CacheReport, RuntimeError> {
        let _exclusive = self.caches.write().await;
        let io = |e| RuntimeError::io("cannot collect the image caches")(e);
        let in_use = self.layers_in_use(environments, dry_run)?;
        let layers = self.layers.cached(&in_use).map_err(io)?;
        let blobs: Vec<Cached<Digest>> = self
            .blobs
            .blobs()
            .map_err(io)?
            .into_iter()
            .map(|(key, bytes, used)| Cached {
                key,
                bytes,
                last_used: used
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
                in_use: false,
            })
            .collect();
        let size = |entries: &[Cached<Digest>], keys: &[Digest]| -> u64 {
            entries
                .iter()
                .filter(|e| keys.contains(&e.key))
                .map(|e| e.bytes)
                .sum()
        };
        let (gone_layers, gone_blobs) = (
            evict(&layers, limits.layer_bytes),
            evict(&blobs, limits.pull_cache_bytes),
        );
        let report = CacheReport {
            blobs_removed: gone_blobs.len() as u64,
            blob_bytes_freed: size(&blobs, &gone_blobs),
            layers_removed: gone_layers.len() as u64,
            layer_bytes_freed: size(&layers, &gone_layers),
            layers_in_use: layers.iter().filter(|l| l.in_use).count() as u64,
            blob_bytes_held: blobs.iter().map(|b| b.bytes).sum::<u64>() - size(&blobs, &gone_blobs),
            layer_bytes_held: layers.iter().map(|l| l.bytes).sum::<u64>()
                - size(&layers, &gone_layers),
        };
        if !dry_run {
            for digest in &gone_layers {
                self.layers.remove(digest).map_err(io)?;
            }
            for digest in &gone_blobs {
                self.blobs.remove(digest).map_err(io)?;
            }
        }
        Ok(report)
    }
}

/// A command `runc exec` runs, hung up ([`crate::hang_up`]) when whoever waits for it goes first
/// (an SSH client or a WebSocket that disconnected): killing runc does not reach the command
/// inside, so the command itself is found by its host pid, from runc's `--pid-file`. Its files
/// (the pid file, and runc's log beside it) are removed either way.
struct HangUp {
    pid_file: std::path::PathBuf,
    running: bool,
    /// Passing the client's signals on, while the command runs.
    signals: Option<tokio::task::AbortHandle>,
}

impl HangUp {
    fn new(spec: &RunSpec) -> Self {
        static EXECS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = EXECS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            pid_file: spec
                .secret_dir
                .join(format!("exec-{}-{n}.pid", std::process::id())),
            running: true,
            signals: None,
        }
    }

    /// Passes `signals` on to the command (its pid as runc wrote it) until it ends.
    fn pass_signals(&mut self, signals: Option<tokio::sync::mpsc::Receiver<crate::Signal>>) {
        let pid_file = self.pid_file.clone();
        let find = move || std::future::ready(pid_in(&pid_file));
        self.signals =
            signals.map(|signals| tokio::spawn(crate::pass_signals(signals, find)).abort_handle());
    }

    /// The command ended while waited for: nothing to hang up or signal.
    fn ended(&mut self) {
        self.running = false;
        if let Some(signals) = self.signals.take() {
            signals.abort();
        }
    }
}

/// The pid runc wrote in `pid_file`, once it has.
fn pid_in(pid_file: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

impl Drop for HangUp {
    fn drop(&mut self) {
        if let Some(signals) = self.signals.take() {
            signals.abort();
        }
        let pid = pid_in(&self.pid_file);
        let _ = std::fs::remove_file(&self.pid_file);
        let _ = std::fs::remove_file(self.pid_file.with_extension("log"));
        if let Some(pid) = pid.filter(|_| self.running) {
            crate::hang_up(pid);
        }
    }
}
