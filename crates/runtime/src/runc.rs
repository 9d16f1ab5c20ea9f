//! The default runtime: `runc` running an OCI bundle Berth writes.
//!
//! An environment's state directory holds:
//! ```text
//! image.json      the prepared image: its layer directories (bottom first), env, user
//! upper/ work/    its writable layer (overlayfs upper and work dirs): kept by stop/start
//! rootfs/         where the overlay of the image's layers under upper/ is mounted while it runs
//! console.log     the main process's output
//! ```
//! The bundle's `config.json` holds the environment's variables, secrets included, so it is
//! written to the environment's secret directory, in memory ([`RunSpec::secret_dir`]), with
//! `root.path` pointing at `rootfs/`; runc's own state (which copies the config) is kept in
//! memory too (`--root`, under the run directory). The layers live in the shared
//! [`LayerStore`]; the blobs they came from in the shared [`BlobCache`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_domain::codespace::layer_variables;
use berth_registry_client::pull::{BlobCache, PullOptions};
use berth_registry_client::{ConnectStep, Registry};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::layers::LayerStore;
use crate::unpack::read_in_root;
use crate::users::{chown_tree, resolve_user};
use crate::{
    ExecSpec, ImageInfo, ImageSource, MountTarget, Narrator, Output, RunSpec, Runtime,
    RuntimeError, UserIds,
};

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

/// The capabilities Docker gives a container by default, without `CAP_NET_RAW`: environments
/// share the host's network, where raw sockets could read other users' loopback traffic. Only
/// root's processes get them.
const CAPABILITIES: [&str; 13] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// `runc` with Berth's image caches.
#[derive(Debug, Clone)]
pub struct Runc {
    program: PathBuf,
    /// runc's `--root`: where it keeps its containers' state.
    state_root: PathBuf,
    blobs: BlobCache,
    layers: LayerStore,
    http: reqwest::Client,
    pull: PullOptions,
}

impl Runc {
    /// Caches under `data_dir` (`pull-cache/`, `layers/`); runc's state under `run_dir` (a
    /// tmpfs: it holds the containers' configurations).
    pub fn open(data_dir: &Path, run_dir: &Path, http: reqwest::Client) -> std::io::Result<Self> {
        // Private: unpacked layers keep images' setuid files and device nodes, which no other
        // user of the host may reach.
        for dir in ["pull-cache", "layers", "environments"] {
            use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
            let path = data_dir.join(dir);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&path)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            program: PathBuf::from("runc"),
            state_root: run_dir.join("runc"),
            blobs: BlobCache::open(data_dir.join("pull-cache"))?,
            layers: LayerStore::open(data_dir.join("layers"))?,
            http,
            pull: PullOptions::default(),
        })
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

    /// Stops the container and forgets it in runc, then unmounts the root filesystem.
    async fn halt(&self, spec: &RunSpec) -> Result<(), RuntimeError> {
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
        unmount(&rootfs(spec));
        crate::remove_tree(&bundle(spec))
    }
}

fn runc_missing(program: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Engine(format!(
        "cannot run {}: {e}; install runc (apt-get install runc) or choose --runtime docker",
        program.display()
    ))
}

fn rootfs(spec: &RunSpec) -> PathBuf {
    spec.state_dir.join("rootfs")
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

/// Unmounts, ignoring "not mounted".
fn unmount(path: &Path) {
    let _ = rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH);
}

fn mount_overlay(spec: &RunSpec, layers: &[PathBuf]) -> Result<(), RuntimeError> {
    let upper = spec.state_dir.join("upper");
    let work = spec.state_dir.join("work");
    let target = rootfs(spec);
    for d in [&upper, &work, &target] {
        std::fs::create_dir_all(d)
            .map_err(RuntimeError::io(format!("cannot create {}", d.display())))?;
    }
    unmount(&target);
    // overlayfs lists lower layers top first.
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    let options = std::ffi::CString::new(options)
        .map_err(|_| RuntimeError::Engine("a layer path holds a NUL byte".into()))?;
    rustix::mount::mount(
        "overlay",
        &target,
        "overlay",
        rustix::mount::MountFlags::empty(),
        Some(options.as_c_str()),
    )
    .map_err(|e| {
        RuntimeError::Engine(format!(
            "cannot mount the environment's root filesystem (overlay of {} layers): {e}",
            layers.len()
        ))
    })
}

fn bind(source: &Path, target: &str, readonly: bool) -> serde_json::Value {
    let mut options = vec!["rbind", "rprivate"];
    if readonly {
        options.push("ro");
    }
    json!({"destination": target, "type": "bind", "source": source, "options": options})
}

/// The bundle's `config.json`: host network, private pid/ipc/uts/mount namespaces, the
/// workspace and home files bound in, Docker's default capabilities for root.
fn bundle_config(spec: &RunSpec, ids: &UserIds, env: &[String]) -> serde_json::Value {
    let caps: Vec<&str> = if ids.uid == 0 {
        CAPABILITIES.to_vec()
    } else {
        Vec::new()
    };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}),
    ];
    for f in ["/etc/resolv.conf", "/etc/hosts"] {
        if Path::new(f).exists() {
            mounts.push(bind(Path::new(f), f, true));
        }
    }
    for m in &spec.mounts {
        let target = match &m.target {
            MountTarget::Absolute(t) => t.clone(),
            MountTarget::Home(rel) => format!("{}/{rel}", ids.home.trim_end_matches('/')),
        };
        mounts.push(bind(&m.source, &target, m.readonly));
    }
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": ids.uid, "gid": ids.gid},
            "args": ["/bin/sh", "-c", KEEP_ALIVE],
            "env": env,
            "cwd": spec.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false
        },
        "root": {"path": rootfs(spec), "readonly": false},
        "hostname": spec.name,
        "mounts": mounts,
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
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
        let shown = image.reference.to_string();
        let pull_error = |source| RuntimeError::Pull {
            image: shown.clone(),
            source,
        };
        let registry = Registry::connect(
            &self.http,
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
        Ok(info)
    }

    async fn start(&self, spec: &RunSpec) -> Result<UserIds, RuntimeError> {
        let image: PreparedFile = crate::recorded_image(spec)?;
        self.halt(spec).await?;
        mount_overlay(spec, &image.layer_dirs)?;
        let root = rootfs(spec);
        let read = |p: &str| {
            read_in_root(&root, p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let user = spec.user.as_deref().or(image.user.as_deref());
        let ids = resolve_user(user, &read("/etc/passwd"), &read("/etc/group"))
            .map_err(RuntimeError::Engine)?;
        for m in &spec.mounts {
            if m.owned {
                chown_tree(&m.source, &ids).map_err(RuntimeError::io(format!(
                    "cannot hand {} to the environment's user",
                    m.source.display()
                )))?;
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
        let config = bundle_config(spec, &ids, &env);
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
            .arg("run")
            .arg("--detach")
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
            unmount(&root);
            return Err(RuntimeError::Engine(format!(
                "runc could not start the environment ({status}): {why}"
            )));
        }
        Ok(ids)
    }

    async fn exec(
        &self,
        spec: &RunSpec,
        exec: &ExecSpec,
        output: tokio::sync::mpsc::Sender<Output>,
    ) -> Result<i32, RuntimeError> {
        // runc's own messages go to a log of this exec, apart from the command's output, so a
        // command that cannot start is reported as a shell would (127 "command not found").
        static EXECS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = EXECS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let runc_log = spec
            .secret_dir
            .join(format!("exec-{}-{n}.log", std::process::id()));
        let mut cmd = self.runc();
        cmd.arg("--log")
            .arg(&runc_log)
            .args(["--log-format", "json"]);
        cmd.arg("exec");
        cmd.arg(&spec.name).args(&exec.argv);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if exec.stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|e| runc_missing(&self.program, e))?;
        let feed = match (child.stdin.take(), exec.stdin.clone()) {
            (Some(mut pipe), Some(bytes)) => Some(tokio::spawn(async move {
                use tokio::io::AsyncWriteExt as _;
                // A command that stops reading early closes the pipe: not an error of ours.
                let _ = pipe.write_all(&bytes).await;
                let _ = pipe.shutdown().await;
            })),
            _ => None,
        };
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
        let status = child
            .wait()
            .await
            .map_err(RuntimeError::io("runc exec failed"))?;
        for task in [stdout, stderr, feed].into_iter().flatten() {
            let _ = task.await;
        }
        let runc_error = std::fs::read_to_string(&runc_log)
            .ok()
            .and_then(|log| last_error(&log));
        let _ = std::fs::remove_file(&runc_log);
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
        crate::remove_tree(&spec.state_dir)
    }
}
