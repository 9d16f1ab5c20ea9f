//! Berth's environment runtimes. The service decides *what* an environment runs (a [`RunSpec`]:
//! image, environment variables, user, mounts); a [`Runtime`] makes it so.
//!
//! - [`runc`]: the default. Images are pulled with `berth-registry-client` into a blob cache,
//!   each layer unpacked once into a shared, content-addressed layer store ([`layers`],
//!   [`unpack`]), and an environment's root filesystem is an overlay of those layers under a
//!   writable layer of its own, run by `runc` from a bundle Berth writes.
//! - [`docker`]: the Docker Engine, through its API, given the same logins.
//!
//! **Architecture Invariant:** nothing a layer holds is written outside its layer directory:
//! every path is resolved inside that directory by the kernel (`openat2` with
//! `RESOLVE_IN_ROOT`), whatever `..`, absolute paths or symlinks the tar contains.
//! **Architecture Invariant:** environment variables and credentials reach the runtime as
//! [`secrecy::SecretString`]s and are never logged or shown in errors.

pub mod caches;
pub mod docker;
pub mod idmap;
pub mod layers;
pub mod network;
mod pty;
pub mod runc;
pub mod seccomp;
pub mod testing;
pub mod unpack;
pub mod users;

use std::fmt;
use std::path::PathBuf;

use berth_domain::isolation::{EgressRoute, IdRange, MachineType};
use berth_domain::logins::Scheme;
use berth_registry_client::{Credentials, ImageRef};
use secrecy::SecretString;

/// Where an image comes from and how to log in to its registry.
#[derive(Debug, Clone)]
pub struct ImageSource {
    pub reference: ImageRef,
    /// The scheme the login's server named, if any (otherwise HTTPS, or HTTP for loopback).
    pub scheme: Option<Scheme>,
    /// `None`: pull anonymously.
    pub credentials: Option<Credentials>,
    /// Where the pull may connect (SPEC §8): the owner's egress policy, or none for Berth's own
    /// registry.
    pub egress: berth_registry_client::Egress,
}

/// A host path mounted into the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: PathBuf,
    /// An absolute path inside the environment, or one relative to the user's home directory.
    pub target: MountTarget,
    pub readonly: bool,
    /// Handed to the environment's user (recursively) before anything runs in it.
    pub owned: bool,
    /// The environment's own, kept across starts (the workspace): its owners move with the
    /// environment's id range if that changes.
    pub persistent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountTarget {
    Absolute(String),
    /// Relative to the home directory of the environment's user (e.g. `.docker`).
    Home(String),
}

/// Everything an environment runs with, decided by the service.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The environment's name: also its container's name.
    pub name: String,
    /// A directory the runtime owns for this environment (bundle, writable layer). It outlives
    /// stop/start and is removed by [`Runtime::remove`].
    pub state_dir: PathBuf,
    /// A directory in memory (tmpfs) for files that hold secrets (the runc bundle's
    /// `config.json`, the login files): plaintext secrets never reach a disk. Removed at stop.
    pub secret_dir: PathBuf,
    /// The environment variables of the main process and of every exec, in order (later wins).
    pub env: Vec<(String, SecretString)>,
    /// The user to run as (`remoteUser`, else the image's user, else root): a name or `uid[:gid]`.
    pub user: Option<String>,
    /// The working directory (the workspace).
    pub cwd: String,
    pub mounts: Vec<Mount>,
    pub isolation: Isolation,
}

/// How an environment is fenced in (SPEC §7), decided by the service.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// The host ids its user namespace maps its ids `0..` to (runc; the Docker Engine maps ids
    /// as its daemon is configured).
    pub ids: IdRange,
    /// CPU, memory and process limits, from its machine type.
    pub machine: MachineType,
    /// The routes of its own network: the egress policy, with the host's own addresses denied.
    pub routes: Vec<EgressRoute>,
}

/// What an image's configuration says about how it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// Its `Env`, in order.
    pub env: Vec<(String, String)>,
    /// Its `User`, if set.
    pub user: Option<String>,
}

impl ImageInfo {
    /// From an OCI image configuration.
    pub fn from_config(config: &berth_registry_client::pull::ImageConfig) -> Self {
        Self::from_parts(
            config.env().as_deref().unwrap_or_default(),
            config.user().clone(),
        )
    }

    /// From an image's `Env` (`NAME=value` each) and `User` (empty means unset).
    pub fn from_parts(env: &[String], user: Option<String>) -> Self {
        let env = env
            .iter()
            .map(|e| {
                let (k, v) = e.split_once('=').unwrap_or((e, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        Self {
            env,
            user: user.filter(|u| !u.is_empty()),
        }
    }
}

/// The user an environment's processes run as, found in the image's `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIds {
    /// Inside the environment.
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// The same user's ids on the host (its user namespace's mapping), which owns its files.
    pub host_uid: u32,
    pub host_gid: u32,
}

/// One command run in an environment.
#[derive(Debug)]
pub struct ExecSpec {
    /// Run with the environment's own variables, as its user, in its working directory.
    pub argv: Vec<String>,
    /// What the command reads on standard input.
    pub stdin: Stdin,
    /// Variables besides the environment's own (an SSH client's `LANG`, say); theirs win.
    pub env: Vec<(String, String)>,
    /// Run on a terminal (standard error then comes with the output, as on any terminal).
    pub tty: Option<Tty>,
    /// Signals for the command while it runs (an SSH client's `signal` requests), sent to the
    /// command itself, as `sshd` sends them.
    pub signals: Option<tokio::sync::mpsc::Receiver<Signal>>,
}

pub use rustix::process::Signal;

/// How long a hung-up command has to end before it is killed.
const HANG_UP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Hangs up the command whose host pid is `pid`, whose caller went before it ended (an SSH
/// client or a WebSocket that disconnected): `SIGHUP`, as when a terminal closes, and `SIGKILL`
/// [`HANG_UP_GRACE`] later, through a pidfd so that a reused pid is never hit.
pub(crate) fn hang_up(pid: i32) {
    use rustix::process::pidfd_send_signal;
    let Some(command) = pidfd(pid) else {
        return;
    };
    if pidfd_send_signal(&command, Signal::HUP).is_ok() {
        std::thread::spawn(move || {
            std::thread::sleep(HANG_UP_GRACE);
            let _ = pidfd_send_signal(&command, Signal::KILL);
        });
    }
}

/// The process whose host pid is `pid`, held so that signals never reach another that reuses it.
fn pidfd(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use rustix::process::{Pid, PidfdFlags, pidfd_open};
    Pid::from_raw(pid).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok())
}

/// Until `signals` closes, sends each to the command whose host pid `find` answers. A client may
/// signal as soon as the command has written something, before its runtime has told its pid
/// (runc writes the pid file after the process started): a signal then waits for the pid, up to
/// [`PID_WAIT`], and is dropped only if none comes.
pub(crate) async fn pass_signals<F, Fut>(
    mut signals: tokio::sync::mpsc::Receiver<Signal>,
    mut find: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<i32>>,
{
    let mut command = None;
    while let Some(signal) = signals.recv().await {
        let waited = std::time::Instant::now();
        while command.is_none() {
            command = find().await.and_then(pidfd);
            if command.is_some() || waited.elapsed() >= PID_WAIT {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if let Some(command) = &command {
            let _ = rustix::process::pidfd_send_signal(command, signal);
        }
    }
}

/// How long a signal waits for its command's pid.
const PID_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A terminal for a command: its type and its window size, which may change while it runs.
#[derive(Debug)]
pub struct Tty {
    /// `TERM` inside.
    pub term: String,
    /// (columns, rows); the latest value is the size.
    pub size: tokio::sync::watch::Receiver<(u16, u16)>,
}

/// What a command reads on standard input.
#[derive(Debug, Default)]
pub enum Stdin {
    /// Nothing at all (no pipe).
    #[default]
    None,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// What arrives, as it arrives; end of file when the sender is dropped.
    Stream(tokio::sync::mpsc::Receiver<Vec<u8>>),
}

impl Stdin {
    pub fn is_some(&self) -> bool {
        !matches!(self, Stdin::None)
    }

    /// Writes it all to `pipe`, then closes it (end of file). A command that stops reading early
    /// closes the pipe: not an error of ours.
    pub(crate) async fn feed(self, mut pipe: impl tokio::io::AsyncWrite + Unpin) {
        use tokio::io::AsyncWriteExt as _;
        match self {
            Stdin::None => {}
            Stdin::Bytes(bytes) => {
                let _ = pipe.write_all(&bytes).await;
            }
            Stdin::Stream(mut rx) => {
                while let Some(chunk) = rx.recv().await {
                    if pipe.write_all(&chunk).await.is_err() || pipe.flush().await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = pipe.shutdown().await;
    }
}

/// The exit code and message of a command that could not be started at all, as a shell (and
/// Docker) reports them: 127 for a command that does not exist, 126 for one that cannot be run.
pub(crate) fn not_started(argv0: &str, runtime_message: &str) -> (i32, String) {
    if runtime_message.contains("executable file not found")
        || runtime_message.contains("no such file or directory")
    {
        (127, format!("{argv0}: command not found\n"))
    } else if runtime_message.contains("permission denied") {
        (126, format!("{argv0}: permission denied\n"))
    } else {
        (
            126,
            format!("{argv0}: cannot run the command: {runtime_message}\n"),
        )
    }
}

/// A chunk of an exec's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// Where runtimes narrate long work (pull and unpack progress) for the creation log.
pub trait Narrator: Send + Sync {
    fn line(&self, line: String);
}

impl<F: Fn(String) + Send + Sync> Narrator for F {
    fn line(&self, line: String) {
        self(line)
    }
}

/// What a runtime failed at, with what to do next where there is something.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Pulling the image failed; the registry error names the registry and the cause.
    #[error("cannot pull {image}: {source}")]
    Pull {
        image: String,
        #[source]
        source: berth_registry_client::RegistryError,
    },
    /// A layer could not be unpacked (including hostile entries).
    #[error(transparent)]
    Unpack(#[from] unpack::UnpackError),
    /// The runtime program or engine failed.
    #[error("{0}")]
    Engine(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// Detaches every mount at or below `path` (deepest first), as `umount -l` does: a directory
/// tree with a bind mount of an environment's workspace in it is never removed through it.
pub fn unmount_under(path: &std::path::Path) {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    // The fifth field is the mount point, with spaces and the like written as octal escapes.
    let mut points: Vec<PathBuf> = table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_point)
        .filter(|p| p.starts_with(path))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = rustix::mount::unmount(&p, rustix::mount::UnmountFlags::DETACH);
    }
}

fn unescape_mount_point(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Removes a directory tree the runtime owns; one already gone is fine.
pub(crate) fn remove_tree(path: &std::path::Path) -> Result<(), RuntimeError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RuntimeError::Io {
            what: format!("cannot remove {}", path.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Records what [`Runtime::prepare`] leaves for [`Runtime::start`] in the environment's
/// `image.json` (its own format per runtime).
pub(crate) fn record_image<T: serde::Serialize>(
    spec: &RunSpec,
    file: &T,
) -> Result<(), RuntimeError> {
    std::fs::create_dir_all(&spec.state_dir).map_err(RuntimeError::io(
        "cannot create the environment's directory",
    ))?;
    let text = serde_json::to_vec_pretty(file).expect("plain values serialise");
    berth_registry_client::logins::write_private_file(&spec.state_dir.join("image.json"), &text)
        .map_err(RuntimeError::io("cannot record the prepared image"))
}

/// What [`record_image`] recorded.
pub(crate) fn recorded_image<T: serde::de::DeserializeOwned>(
    spec: &RunSpec,
) -> Result<T, RuntimeError> {
    let text = std::fs::read(spec.state_dir.join("image.json"))
        .map_err(RuntimeError::io("the environment has no prepared image"))?;
    serde_json::from_slice(&text).map_err(|e| {
        RuntimeError::Engine(format!(
            "the prepared image record is damaged: {e}; start the environment again"
        ))
    })
}

/// What runs environments. One per server; environments are addressed by name.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + fmt::Debug {
    /// `runc` or `docker`: recorded with each environment.
    fn kind(&self) -> &'static str;

    /// Gets `image` ready to run (pulled, unpacked) for the environment, narrating progress,
    /// and returns what the image itself says about how it runs.
    async fn prepare(
        &self,
        spec: &RunSpec,
        image: &ImageSource,
        narrator: &dyn Narrator,
    ) -> Result<ImageInfo, RuntimeError>;

    /// Starts the environment's main process (a process that waits to be stopped) from the
    /// image last prepared for it, keeping its writable layer from earlier runs.
    async fn start(&self, spec: &RunSpec) -> Result<UserIds, RuntimeError>;

    /// A listening socket at `addr` inside the running environment's own network, for Berth to
    /// serve its API and registry there (at the address environments are told).
    async fn listen_inside(
        &self,
        spec: &RunSpec,
        addr: std::net::SocketAddr,
    ) -> Result<std::net::TcpListener, RuntimeError>;

    /// The TCP ports listening inside the running environment's own network, ascending.
    async fn listening_ports(&self, spec: &RunSpec) -> Result<Vec<u16>, RuntimeError>;

    /// A connection to `port` on the running environment's own loopback, made inside its
    /// network (what a port forward carries).
    async fn connect_inside(
        &self,
        spec: &RunSpec,
        port: u16,
    ) -> Result<std::net::TcpStream, RuntimeError>;

    /// A Unix socket inside the running environment at `/tmp/<dir_name>/agent.sock` (an SSH
    /// agent forwarded there); the listener and its path inside.
    async fn listen_agent(
        &self,
        spec: &RunSpec,
        dir_name: &str,
    ) -> Result<network::AgentSocket, RuntimeError>;

    /// Runs a command inside a running environment as its user, in its working directory,
    /// streaming output to `output`, and returns the exit code.
    async fn exec(
        &self,
        spec: &RunSpec,
        exec: ExecSpec,
        output: tokio::sync::mpsc::Sender<Output>,
    ) -> Result<i32, RuntimeError>;

    /// Whether the environment's main process is running.
    async fn running(&self, spec: &RunSpec) -> Result<bool, RuntimeError>;

    /// Stops the environment, keeping its writable layer. Stopping a stopped one is fine.
    async fn stop(&self, spec: &RunSpec) -> Result<(), RuntimeError>;

    /// Stops it if needed and removes everything the runtime holds for it.
    async fn remove(&self, spec: &RunSpec) -> Result<(), RuntimeError>;

    /// Brings this machine's caches (pulled blobs, unpacked layers) within `limits`, least
    /// recently used first, never removing a layer one of `environments` (every environment
    /// this machine keeps, running or not) uses; on a dry run removes nothing and says what
    /// would go. A runtime with no caches of Berth's (the Docker Engine keeps its own images)
    /// has nothing to collect.
    async fn collect_caches(
        &self,
        environments: &[RunSpec],
        limits: caches::CacheLimits,
        dry_run: bool,
    ) -> Result<caches::CacheReport, RuntimeError> {
        let _ = (environments, limits, dry_run);
        Ok(caches::CacheReport::default())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;

    #[tokio::test]
    async fn a_signal_sent_before_the_pid_is_known_waits_for_it() {
        // Regression: a signal that came before runc had written the pid file was dropped, so a
        // client's USR1 right after the command's first output was lost (seen under load).
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let mut asked = 0;
        let find = move || {
            asked += 1;
            std::future::ready((asked > 3).then_some(pid))
        };
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let passing = tokio::spawn(super::pass_signals(rx, find));
        tx.send(super::Signal::TERM).await.unwrap();
        drop(tx);
        passing.await.unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(15), "{status:?}");
    }
}
