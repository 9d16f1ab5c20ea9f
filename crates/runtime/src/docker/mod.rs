//! The Docker Engine runtime: the same [`Runtime`] as [`crate::runc`], through the Engine's API
//! on its unix socket, with the `bollard` client.
//!
//! What it keeps:
//! ```text
//! state_dir/image.json                 the prepared image: its reference, image ID and User
//! container <name>                     the environment (labels berth.codespace, berth.shape)
//! image berth.invalid/codespace/<name>:latest  the environment's changes, when its container had to be
//!                                      created again (below)
//! ```
//!
//! **Variables are given to every exec, never to the container.** A container's `Env` is fixed
//! when it is created and written to the Engine's disk (`config.v2.json`); `docker commit`
//! copies it into the committed image's config, and `docker create` merges an image's `Env`
//! back in, so a secret removed while the environment was stopped would come back. So the
//! container holds only `PATH` and `HOME` (no secrets), and each exec is given the
//! environment's variables (`RunSpec::env`, then the exec's own), which is what runc's
//! `config.json` plus `--env` give an exec. Start keeps them in the environment's secret
//! directory (tmpfs, 0600) for execs that come without them (the API's, after a restart of the
//! server). The main process (the keep-alive loop) reads none.
//!
//! **Stop/start keeps the container.** stop is `docker stop`; start starts the same container
//! again, so its writable layer lives on as runc's `upper/` does, without a commit each time.
//! What is fixed at create and not given per exec (the user and so the home mounts' targets,
//! the working directory, the mounts, Berth's own settings) is recorded as the `berth.shape`
//! label. When a start wants another shape, the container is committed to
//! `berth.invalid/codespace/<name>:latest`, removed, and created again from that image: changes are
//! kept and the new shape applies. Only the first container is created from the prepared
//! image; an image prepared later is not applied to an existing environment (Docker cannot move
//! a writable layer onto another base). Each commit adds a layer, and overlay2 stacks about 125,
//! which is why start does not commit every time.
//!
//! Who the environment runs as is read from its own `/etc/passwd` and `/etc/group` (its
//! container's, or, before the first one, those of a container created from the image and
//! never started) and resolved by [`resolve_user`], as runc does.
//!
//! Like runc, the container runs in the host's network, with a private `/tmp` (tmpfs) and the
//! Engine's default capabilities.
//!
//! **Logging:** bollard logs every JSON request body at `debug` (and `trace`) through the `log`
//! crate, and an exec's body holds the environment's variables: whoever installs the log
//! subscriber must keep the `bollard` target at `info` or above, whatever the user asks for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use berth_registry_client::{AuthVia, Credentials, ImageRef, RegistryError};
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerConfig, ContainerCreateBody, ContainerInspectResponse, CreateImageInfo, ExecConfig,
    HostConfig, Mount as DockerMount, MountType,
};
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptions, StopContainerOptionsBuilder,
};
use bollard::{API_DEFAULT_VERSION, ClientVersion};
use futures_util::StreamExt as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

mod container;
mod errors;
mod pull;

use crate::runc::KEEP_ALIVE;
use crate::users::{chown_tree, resolve_user};
use crate::{
    ExecSpec, ImageInfo, ImageSource, MountTarget, Narrator, Output, RunSpec, Runtime,
    RuntimeError, UserIds,
};
use container::{committed_image, container_body, load_env, save_env};
use errors::{
    engine, engine_message, is_not_found, max_api_version, parse_api_version, redact, with_causes,
};
use pull::{PullProgress, local_name, pull_error, pull_target, registry_auth};

/// The Engine's socket when `DOCKER_HOST` does not name one.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// How long one API call may take to answer (a commit of a large writable layer is the slowest).
const TIMEOUT_SECS: u64 = 600;
/// How long `docker stop` waits for the main process before killing it.
const STOP_SECS: i32 = 10;
/// The oldest Engine API spoken (Docker 19.03): everything used here is older.
const OLDEST_API: (usize, usize) = (1, 40);
const CODESPACE_LABEL: &str = "berth.codespace";
const SHAPE_LABEL: &str = "berth.shape";
const HINT: &str =
    "is dockerd running? set DOCKER_HOST=unix:///path/to/docker.sock if its socket is elsewhere";

/// What [`Runtime::prepare`] leaves for [`Runtime::start`].
#[derive(Debug, Serialize, Deserialize)]
struct PreparedFile {
    reference: String,
    /// The image ID (`sha256:` of its config), immune to the tag moving.
    image: String,
    user: Option<String>,
}

/// The Docker Engine, reached on its unix socket. The API version is agreed on first use.
#[derive(Debug)]
pub struct Docker {
    socket: PathBuf,
    client: tokio::sync::OnceCell<bollard::Docker>,
}

/// The Engine named by `DOCKER_HOST` (`unix:///path`), else `/var/run/docker.sock`.
pub fn connect() -> Result<Docker, RuntimeError> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => match host.strip_prefix("unix://") {
            Some(path) => connect_to(Path::new(path)),
            None => Err(RuntimeError::Engine(format!(
                "DOCKER_HOST={host} is not a unix socket; Berth reaches the Docker Engine on its \
                 unix socket only: set DOCKER_HOST=unix:///path/to/docker.sock"
            ))),
        },
        _ => connect_to(Path::new(DEFAULT_SOCKET)),
    }
}

/// The Engine listening on `socket`.
pub fn connect_to(socket: &Path) -> Result<Docker, RuntimeError> {
    if socket.to_str().is_none() {
        return Err(RuntimeError::Engine(format!(
            "the Docker socket path {} is not UTF-8",
            socket.display()
        )));
    }
    if !socket.exists() {
        return Err(RuntimeError::Engine(format!(
            "there is no Docker socket at {}; {HINT}",
            socket.display()
        )));
    }
    Ok(Docker {
        socket: socket.to_owned(),
        client: tokio::sync::OnceCell::new(),
    })
}

impl Docker {
    async fn api(&self) -> Result<&bollard::Docker, RuntimeError> {
        self.client.get_or_try_init(|| self.negotiate()).await
    }

    /// A client speaking the newest API both sides know. bollard's own `negotiate_version`
    /// asks `/version` at its newest version, which older Engines refuse ("client version 1.53
    /// is too new. Maximum supported API version is 1.41"): that refusal names the version to
    /// use, so it is read instead.
    async fn negotiate(&self) -> Result<bollard::Docker, RuntimeError> {
        let path = self.socket.to_str().unwrap_or_default();
        let at = |(major_version, minor_version): (usize, usize)| {
            let version = ClientVersion {
                major_version,
                minor_version,
            };
            bollard::Docker::connect_with_unix(path, TIMEOUT_SECS, &version)
                .map_err(|e| self.unreachable(e))
        };
        let ours = (
            API_DEFAULT_VERSION.major_version,
            API_DEFAULT_VERSION.minor_version,
        );
        let client = at(ours)?;
        let theirs = match client.version().await {
            Ok(v) => v
                .api_version
                .as_deref()
                .and_then(parse_api_version)
                .unwrap_or(ours),
            Err(DockerError::DockerResponseServerError {
                status_code: 400,
                message,
            }) => max_api_version(&message).ok_or_else(|| {
                RuntimeError::Engine(format!("the Docker Engine refused to talk: {message}"))
            })?,
            Err(e) => return Err(self.unreachable(e)),
        };
        if theirs < OLDEST_API {
            return Err(RuntimeError::Engine(format!(
                "the Docker Engine at {} speaks API {}.{}; Berth needs {}.{} (Docker 19.03) or newer",
                self.socket.display(),
                theirs.0,
                theirs.1,
                OLDEST_API.0,
                OLDEST_API.1
            )));
        }
        if theirs < ours {
            at(theirs)
        } else {
            Ok(client)
        }
    }

    fn unreachable(&self, e: DockerError) -> RuntimeError {
        RuntimeError::Engine(format!(
            "cannot reach the Docker Engine at {}: {}; {HINT}",
            self.socket.display(),
            with_causes(&e)
        ))
    }

    /// The environment's container, if it has one (an exact name match: the Engine also
    /// answers to ID prefixes).
    async fn find(&self, name: &str) -> Result<Option<ContainerInspectResponse>, RuntimeError> {
        match self.api().await?.inspect_container(name, None).await {
            Ok(c) if c.name.as_deref().map(|n| n.trim_start_matches('/')) == Some(name) => {
                Ok(Some(c))
            }
            Ok(_) => Ok(None),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine("inspect the environment's container", e)),
        }
    }

    async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.api().await?.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(engine(&format!("inspect the image {image}"), e)),
        }
    }

    /// Creates the environment's container from `image` and starts it.
    /// The process id of the environment's main process.
    async fn pid(&self, spec: &RunSpec) -> Result<u32, RuntimeError> {
        self.find(&spec.name)
            .await?
            .and_then(|c| c.state)
            .and_then(|s| s.pid)
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| RuntimeError::Engine(format!("{} is not running", spec.name)))
    }

    /// Gives the running container its network (again: a started container has a new one).
    async fn attach_network(&self, spec: &RunSpec) -> Result<(), RuntimeError> {
        crate::network::detach(&spec.secret_dir);
        let pid = self.pid(spec).await?;
        crate::network::attach(pid, &spec.secret_dir, &spec.isolation.routes).await
    }

    async fn create_and_start(
        &self,
        spec: &RunSpec,
        image: &str,
        mut body: ContainerCreateBody,
        shape: String,
    ) -> Result<(), RuntimeError> {
        let api = self.api().await?;
        body.image = Some(image.to_owned());
        body.labels = Some(HashMap::from([
            (CODESPACE_LABEL.to_owned(), spec.name.clone()),
            (SHAPE_LABEL.to_owned(), shape),
        ]));
        let options = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        let created = api
            .create_container(Some(options), body)
            .await
            .map_err(|e| engine("create the environment's container", e))?;
        api.start_container(&created.id, None)
            .await
            .map_err(|e| engine("start the environment's container", e))
    }
}

/// A command the Engine runs (an exec): passed its caller's signals while it runs, and hung up
/// ([`crate::hang_up`]) when whoever waits for it goes first, since closing the attached stream
/// does not end it. Its host pid comes from the Engine.
struct ExecHangUp {
    api: bollard::Docker,
    id: String,
    running: bool,
    signals: Option<tokio::task::AbortHandle>,
}

impl ExecHangUp {
    fn new(api: &bollard::Docker, id: &str) -> Self {
        Self {
            api: api.clone(),
            id: id.to_owned(),
            running: true,
            signals: None,
        }
    }

    /// Passes `signals` on to the command until it ends.
    fn pass_signals(&mut self, signals: Option<tokio::sync::mpsc::Receiver<crate::Signal>>) {
        let (api, id) = (self.api.clone(), self.id.clone());
        self.signals = signals.map(|signals| {
            let find = move || exec_pid(api.clone(), id.clone());
            tokio::spawn(crate::pass_signals(signals, find)).abort_handle()
        });
    }

    /// The command ended while waited for: nothing to hang up or signal.
    fn ended(&mut self) {
        self.running = false;
        if let Some(signals) = self.signals.take() {
            signals.abort();
        }
    }
}

/// The host pid of exec `id`, once the Engine has started it.
async fn exec_pid(api: bollard::Docker, id: String) -> Option<i32> {
    let pid = api.inspect_exec(&id).await.ok()?.pid?;
    i32::try_from(pid).ok().filter(|p| *p > 0)
}

impl Drop for ExecHangUp {
    fn drop(&mut self) {
        if let Some(signals) = self.signals.take() {
            signals.abort();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.running {
            let find = exec_pid(self.api.clone(), std::mem::take(&mut self.id));
            runtime.spawn(async move {
                if let Some(pid) = find.await {
                    crate::hang_up(pid);
                }
            });
        }
    }
}

#[async_trait::async_trait]
impl Runtime for Docker {
    fn kind(&self) -> &'static str {
        "docker"
    }

    async fn prepare(
        &self,
        spec: &RunSpec,
        image: &ImageSource,
        narrator: &dyn Narrator,
    ) -> Result<ImageInfo, RuntimeError> {
        let api = self.api().await?;
        let shown = image.reference.to_string();
        let (from, tag) = pull_target(&image.reference);
        let mut client = api.clone();
        if let Some(credentials) = &image.credentials {
            // bollard's own `credentials` argument is encoded with the standard base64
            // alphabet; dockerd decodes base64url and pulls anonymously when that fails.
            let header = registry_auth(&image.reference.host.to_string(), credentials);
            client = client.with_request_modifier(move |mut request| {
                if let Ok(value) = header.expose_secret().parse() {
                    request.headers_mut().insert("x-registry-auth", value);
                }
                if let Some(value) = request.headers_mut().get_mut("x-registry-auth") {
                    value.set_sensitive(true);
                }
                request
            });
        }
        narrator.line(format!("docker: pulling {shown}"));
        let options = CreateImageOptionsBuilder::new()
            .from_image(&from)
            .tag(&tag)
            .build();
        let mut stream = client.create_image(Some(options), None, None);
        let mut progress = PullProgress::default();
        while let Some(event) = stream.next().await {
            let event = event.map_err(|e| pull_error(image, &shown, e))?;
            if let Some(line) = progress.see(&event, Instant::now()) {
                narrator.line(line);
            }
        }
        drop(stream);
        narrator.line(progress.summary(&shown));
        let inspected = api
            .inspect_image(&local_name(&image.reference))
            .await
            .map_err(|e| engine(&format!("inspect the pulled image {shown}"), e))?;
        let config = inspected.config.unwrap_or_default();
        let info = ImageInfo::from_parts(&config.env.unwrap_or_default(), config.user);
        let file = PreparedFile {
            reference: shown.clone(),
            image: inspected.id.ok_or_else(|| {
                RuntimeError::Engine(format!(
                    "docker reported no ID for the pulled image {shown}"
                ))
            })?,
            user: info.user.clone(),
        };
        crate::record_image(spec, &file)?;
        Ok(info)
    }

    async fn start(&self, spec: &RunSpec) -> Result<UserIds, RuntimeError> {
        let prepared: PreparedFile = crate::recorded_image(spec)?;
        let api = self.api().await?;
        let existing = self.find(&spec.name).await?;
        let committed = committed_image(&spec.name);
        // Who the user is: in the container's files (its changes included) when it has one,
        // else in those of the image the container will be created from: the committed one
        // when an earlier start committed and failed after, else the prepared one.
        let (base, (passwd, group)) = match &existing {
            Some(c) => (
                None,
                self.user_files(c.id.as_deref().unwrap_or(&spec.name))
                    .await?,
            ),
            None => {
                let image = if self.image_exists(&committed).await? {
                    committed.clone()
                } else {
                    prepared.image.clone()
                };
                let files = self.image_user_files(spec, &image).await?;
                (Some(image), files)
            }
        };
        let user = spec.user.as_deref().or(prepared.user.as_deref());
        let ids = resolve_user(user, &passwd, &group).map_err(RuntimeError::Engine)?;
        save_env(spec)?;
        for m in &spec.mounts {
            if m.owned {
                chown_tree(&m.source, ids.uid, ids.gid).map_err(RuntimeError::io(format!(
                    "cannot hand {} to the environment's user",
                    m.source.display()
                )))?;
            }
        }
        let names = crate::network::write_name_files(&spec.secret_dir, &spec.name)?;
        let body = container_body(spec, &ids, (&names.0, &names.1));
        let shape = serde_json::to_string(&body).expect("plain values serialise");
        let Some(container) = existing else {
            let image = base.expect("chosen when there is no container");
            self.create_and_start(spec, &image, body, shape).await?;
            self.attach_network(spec).await?;
            return Ok(ids);
        };
        let id = container.id.clone().unwrap_or_else(|| spec.name.clone());
        let running = container.state.as_ref().and_then(|s| s.running) == Some(true);
        let labels = container.config.and_then(|c| c.labels).unwrap_or_default();
        if labels.get(SHAPE_LABEL) == Some(&shape) {
            if !running {
                api.start_container(&id, None)
                    .await
                    .map_err(|e| engine("start the environment's container", e))?;
            }
            self.attach_network(spec).await?;
            return Ok(ids);
        }
        // Another shape: keep the changes in an image and create the container again.
        tracing::info!(
            environment = %spec.name,
            image = %committed,
            "the environment's container is created again (another user, working directory or \
             mounts): its changes are committed first"
        );
        if running {
            api.stop_container(
                &id,
                Some(StopContainerOptionsBuilder::new().t(STOP_SECS).build()),
            )
            .await
            .map_err(|e| engine("stop the environment's container", e))?;
        }
        let (repo, tag) = committed.split_once(':').expect("the name has a tag");
        let options = CommitContainerOptionsBuilder::new()
            .container(&id)
            .repo(repo)
            .tag(tag)
            .pause(false)
            .comment("the changes of a Berth environment")
            .build();
        api.commit_container(options, ContainerConfig::default())
            .await
            .map_err(|e| engine("commit the environment's changes", e))?;
        api.remove_container(
            &id,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await
        .map_err(|e| engine("remove the environment's old container", e))?;
        self.create_and_start(spec, &committed, body, shape).await?;
        self.attach_network(spec).await?;
        Ok(ids)
    }

    async fn listen_inside(
        &self,
        spec: &RunSpec,
        addr: std::net::SocketAddr,
    ) -> Result<std::net::TcpListener, RuntimeError> {
        let pid = self.pid(spec).await?;
        crate::network::listen_inside(pid, addr).await
    }

    async fn listening_ports(&self, spec: &RunSpec) -> Result<Vec<u16>, RuntimeError> {
        crate::network::listening_ports(self.pid(spec).await?)
    }

    async fn listen_agent(
        &self,
        spec: &RunSpec,
        dir_name: &str,
    ) -> Result<crate::network::AgentSocket, RuntimeError> {
        crate::network::listen_agent_inside(self.pid(spec).await?, dir_name).await
    }

    async fn connect_inside(
        &self,
        spec: &RunSpec,
        port: u16,
    ) -> Result<std::net::TcpStream, RuntimeError> {
        crate::network::connect_inside(self.pid(spec).await?, port).await
    }

    async fn exec(
        &self,
        spec: &RunSpec,
        mut exec: ExecSpec,
        output: tokio::sync::mpsc::Sender<Output>,
    ) -> Result<i32, RuntimeError> {
        let api = self.api().await?;
        let tty = exec.tty.take();
        let mut env = if spec.env.is_empty() {
            load_env(spec)?
        } else {
            spec.env.clone()
        };
        env.extend(
            exec.env
                .iter()
                .map(|(k, v)| (k.clone(), secrecy::SecretString::from(v.clone()))),
        );
        if let Some(t) = &tty {
            env.push(("TERM".into(), secrecy::SecretString::from(t.term.clone())));
        }
        let config = ExecConfig {
            attach_stdin: Some(exec.stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(tty.is_some()),
            env: Some(
                env.iter()
                    .map(|(k, v)| format!("{k}={}", v.expose_secret()))
                    .collect(),
            ),
            cmd: Some(exec.argv.clone()),
            ..Default::default()
        };
        let created = api.create_exec(&spec.name, config).await.map_err(|e| {
            // The Engine may quote what it refused; the variables' values stay out.
            let what = "run a command in the environment";
            RuntimeError::Engine(redact(&engine_message(what, e), &env))
        })?;
        let options = StartExecOptions {
            detach: false,
            tty: tty.is_some(),
            output_capacity: None,
        };
        let started = api
            .start_exec(&created.id, Some(options))
            .await
            .map_err(|e| engine("start a command in the environment", e))?;
        let StartExecResults::Attached {
            output: mut stream,
            input,
        } = started
        else {
            return Err(RuntimeError::Engine(
                "docker started the command detached".into(),
            ));
        };
        let mut hang_up = ExecHangUp::new(api, &created.id);
        hang_up.pass_signals(exec.signals.take());
        // Standard input is written while the output is read (a command may answer as it reads),
        // then closed, which the Engine passes on as end of file.
        let feed = tokio::spawn(exec.stdin.feed(input));
        // A terminal's window size, now and whenever it changes.
        let resizer = tty.map(|t| {
            let api = api.clone();
            let id = created.id.clone();
            let mut size = t.size;
            tokio::spawn(async move {
                loop {
                    let (width, height) = *size.borrow_and_update();
                    let options = bollard::query_parameters::ResizeExecOptionsBuilder::new()
                        .h(i32::from(height))
                        .w(i32::from(width))
                        .build();
                    let _ = api.resize_exec(&id, options).await;
                    if size.changed().await.is_err() {
                        break;
                    }
                }
            })
        });
        // Read to the end even when nobody listens any more, so the command is never blocked
        // on a full pipe.
        let mut listening = true;
        while let Some(item) = stream.next().await {
            let chunk = match item.map_err(|e| engine("read the command's output", e))? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    Output::Stdout(message.to_vec())
                }
                LogOutput::StdErr { message } => Output::Stderr(message.to_vec()),
                LogOutput::StdIn { .. } => continue,
            };
            if listening && output.send(chunk).await.is_err() {
                listening = false;
            }
        }
        hang_up.ended();
        if let Some(r) = resizer {
            r.abort();
        }
        feed.abort();
        let _ = feed.await;
        // The output ends as the process does; the Engine records its exit a moment later.
        for attempt in 0u64..100 {
            let inspected = api
                .inspect_exec(&created.id)
                .await
                .map_err(|e| engine("read the command's exit code", e))?;
            if inspected.running != Some(true)
                && let Some(code) = inspected.exit_code
            {
                return Ok(i32::try_from(code).unwrap_or(255));
            }
            tokio::time::sleep(Duration::from_millis(10 * attempt.min(10))).await;
        }
        Err(RuntimeError::Engine(
            "docker did not report the command's exit code".into(),
        ))
    }

    async fn running(&self, spec: &RunSpec) -> Result<bool, RuntimeError> {
        Ok(self
            .find(&spec.name)
            .await?
            .and_then(|c| c.state)
            .and_then(|s| s.running)
            == Some(true))
    }

    async fn stop(&self, spec: &RunSpec) -> Result<(), RuntimeError> {
        crate::network::detach(&spec.secret_dir);
        let Some(container) = self.find(&spec.name).await? else {
            return Ok(());
        };
        if container.state.and_then(|s| s.running) != Some(true) {
            return Ok(());
        }
        let id = container.id.unwrap_or_else(|| spec.name.clone());
        let options = StopContainerOptionsBuilder::new().t(STOP_SECS).build();
        match self.api().await?.stop_container(&id, Some(options)).await {
            Err(e) if !is_not_found(&e) => Err(engine("stop the environment's container", e)),
            _ => Ok(()),
        }
    }

    async fn remove(&self, spec: &RunSpec) -> Result<(), RuntimeError> {
        let api = self.api().await?;
        // Its container and any probe an interrupted start left behind.
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![format!("{CODESPACE_LABEL}={}", spec.name)],
        )]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let containers = api
            .list_containers(Some(options))
            .await
            .map_err(|e| engine("list the environment's containers", e))?;
        for id in containers.into_iter().filter_map(|c| c.id) {
            let options = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            match api.remove_container(&id, Some(options)).await {
                Err(e) if !is_not_found(&e) => {
                    return Err(engine("remove the environment's container", e));
                }
                _ => {}
            }
        }
        match api
            .remove_image(
                &committed_image(&spec.name),
                None::<RemoveImageOptions>,
                None,
            )
            .await
        {
            Err(e) if !is_not_found(&e) => {
                return Err(engine("remove the image of the environment's changes", e));
            }
            _ => {}
        }
        crate::remove_tree(&spec.state_dir)
    }
}
