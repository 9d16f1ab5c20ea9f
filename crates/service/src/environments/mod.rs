//! Development environments (SPEC §5): created for a repository by a user, started and stopped,
//! exec'd into, deleted. The work of a start ([`start`]) runs in the background; the API answers
//! at once with the environment `Queued`, and its creation log tells the rest.
//!
//! Each environment has a directory under the environments root:
//! ```text
//! <root>/<name>/creation.log   what each start did (names and hosts, never values)
//!              /workspace/     the clone, mounted at /workspaces/<repo>
//!              /runtime/       the runtime's own (writable layer, image record)
//! <run root>/<name>/           in memory (tmpfs), removed at stop: what holds secrets
//!              /home/docker/config.json, /home/containers/auth.json, /home/npmrc
//!                              the logins, mounted into the user's home
//!              /bundle/        the runtime's (runc's config.json carries the variables)
//! ```
//!
//! **Architecture Invariant:** only the environment's owner (or a site administrator) reaches it,
//! through [`Access::CodespaceOwner`]; everyone else is told it does not exist.
//! **Architecture Invariant:** one operation at a time per environment (a per-name lock), and
//! every state change is guarded by the state it leaves.

mod disk;
mod failure;
mod isolation;
mod log;
mod start;
mod workspace;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_domain::codespace::{CodespaceState, codespace_name};
use berth_domain::isolation::{EgressPolicy, IdPool, MachineType};
use berth_domain::{Login, Permission, RepoName, Scope};
use berth_runtime::{ExecSpec, RunSpec, Runtime};
use berth_store::{Account, CodespaceRecord, Listing, NewCodespace, Repo, Window};
use rand::Rng as _;

pub use berth_runtime::Output;
pub use log::CreationLog;
pub(crate) use workspace::{check_branch, shown_url};

use crate::authz::Access;
use crate::{Berth, Principal, Result, ServiceError};

/// Serves Berth (its API and registries) on a listening socket made inside an environment's
/// network; the handle stops it when the environment stops. Given by the server, which knows
/// the HTTP application and its TLS.
#[derive(Clone)]
pub struct ServeInside(
    pub Arc<dyn Fn(std::net::TcpListener) -> tokio::task::AbortHandle + Send + Sync>,
);

impl std::fmt::Debug for ServeInside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServeInside")
    }
}

/// How environments run on this server.
#[derive(Debug, Clone)]
pub struct EnvironmentConfig {
    /// Where environments' directories live (`<data>/environments`).
    pub root: PathBuf,
    pub runtime: Arc<dyn Runtime>,
    /// A directory on a tmpfs for what holds plaintext secrets (SPEC §2: plaintext only in
    /// memory while an environment is started).
    pub run_root: PathBuf,
    /// Berth's URL as environments reach it: the API, the registry and npm are under it.
    pub server_url: String,
    /// How long an environment token lives (it is replaced at every start, revoked at stop).
    pub token_ttl: i64,
    /// The machine types offered; the first is the default.
    pub machines: Vec<MachineType>,
    /// What environments' networks may reach beyond the defaults (SPEC §7).
    pub egress: EgressPolicy,
    /// The host's own addresses, which environments may not reach.
    pub host_addresses: Vec<std::net::IpAddr>,
    /// The host id ranges environments' user namespaces are given.
    pub id_pool: IdPool,
    /// How Berth is served inside environments' networks (`None`: not at all, in tests that
    /// run no HTTP server).
    pub serve_inside: Option<ServeInside>,
}

impl EnvironmentConfig {
    /// The machine type `name` (`None`: the default one).
    pub fn machine(&self, name: Option<&str>) -> Option<&MachineType> {
        match name {
            None => self.machines.first(),
            Some(n) => self
                .machines
                .iter()
                .find(|m| m.name.eq_ignore_ascii_case(n)),
        }
    }
}

/// The environments of this server: configuration, per-environment locks, and the tasks
/// keeping running environments' ECR logins fresh.
#[derive(Debug)]
pub(crate) struct Environments {
    config: EnvironmentConfig,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    refreshers: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// Berth served inside each running environment's network.
    inside: Mutex<HashMap<String, Vec<tokio::task::AbortHandle>>>,
}

impl Environments {
    pub(crate) fn new(config: EnvironmentConfig) -> Self {
        Self {
            config,
            locks: Mutex::new(HashMap::new()),
            refreshers: Mutex::new(HashMap::new()),
            inside: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("lock map poisoned")
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.config.root.join(name)
    }

    fn paths(&self, name: &str) -> Paths {
        Paths {
            dir: self.dir(name),
            secrets: self.config.run_root.join(name),
        }
    }

    /// Stops serving Berth inside the environment's network (so nothing of the server keeps
    /// that network alive once the environment stops).
    fn stop_serving(&self, name: &str) {
        if let Some(handles) = self
            .inside
            .lock()
            .expect("inside map poisoned")
            .remove(name)
        {
            for h in handles {
                h.abort();
            }
        }
    }

    fn stop_refreshing(&self, name: &str) {
        self.stop_serving(name);
        if let Some(task) = self
            .refreshers
            .lock()
            .expect("refresher map poisoned")
            .remove(name)
        {
            task.abort();
        }
    }
}

/// What a start was asked for by: the first start of a new environment, or a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Create,
    Start,
}

/// An environment with its owner and repository, for rendering.
#[derive(Debug, Clone)]
pub struct CodespaceView {
    pub record: CodespaceRecord,
    pub owner: Account,
    pub repo: Repo,
    /// Its machine type, when the server still offers it.
    pub machine: Option<MachineType>,
}

/// What `POST /repos/{o}/{r}/codespaces` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewEnvironment {
    /// The branch to clone (default: the clone's default branch).
    pub git_ref: Option<String>,
    /// An image to use instead of the dev container's.
    pub image: Option<String>,
    pub display_name: Option<String>,
    /// A machine type's name (default: the server's first).
    pub machine: Option<String>,
    /// The dev container configuration to use (default: the repository's default one).
    pub devcontainer_path: Option<String>,
}

/// The paths an environment's files live at.
pub(crate) struct Paths {
    pub dir: PathBuf,
    /// In memory: removed at stop.
    pub secrets: PathBuf,
}

impl Paths {
    pub fn log(&self) -> PathBuf {
        self.dir.join("creation.log")
    }
    /// Made before environments had disks of their own: the workspace and the runtime's state
    /// are directly in its directory, on the server's disk.
    pub fn legacy(&self) -> bool {
        self.dir.join("workspace").exists() && !self.disk_image().exists()
    }
    pub fn disk_image(&self) -> PathBuf {
        self.dir.join("disk.img")
    }
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk")
    }
    /// Where the workspace and the runtime's state are: on the environment's disk.
    fn on_disk(&self) -> PathBuf {
        if self.legacy() {
            self.dir.clone()
        } else {
            self.disk()
        }
    }
    pub fn workspace(&self) -> PathBuf {
        self.on_disk().join("workspace")
    }
    pub fn docker_dir(&self) -> PathBuf {
        self.secrets.join("home/docker")
    }
    pub fn containers_dir(&self) -> PathBuf {
        self.secrets.join("home/containers")
    }
    pub fn npmrc(&self) -> PathBuf {
        self.secrets.join("home/npmrc")
    }
    pub fn runtime(&self) -> PathBuf {
        self.on_disk().join("runtime")
    }
}

impl Berth {
    /// Runs environments with `config` (without it, the environment API answers that they are
    /// not enabled on this server).
    pub fn with_environments(mut self, config: EnvironmentConfig) -> Self {
        self.environments = Some(Arc::new(Environments::new(config)));
        self
    }

    fn environments(&self) -> Result<&Arc<Environments>> {
        self.environments.as_ref().ok_or_else(|| {
            ServiceError::Conflict(
                "environments are not enabled on this server; start it with berth serve (which runs them with runc)".into(),
            )
        })
    }

    /// The runtime spec of an environment, without variables (which only a start resolves).
    fn bare_spec(&self, envs: &Environments, record: &CodespaceRecord, repo: &Repo) -> RunSpec {
        let paths = envs.paths(&record.name);
        RunSpec {
            name: record.name.clone(),
            state_dir: paths.runtime(),
            secret_dir: paths.secrets.clone(),
            env: Vec::new(),
            user: None,
            cwd: format!("/workspaces/{}", repo.name),
            mounts: Vec::new(),
            isolation: isolation::of(&envs.config, record),
        }
    }

    async fn view(&self, record: CodespaceRecord) -> Result<CodespaceView> {
        let owner = self
            .store
            .account_by_id(record.owner_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let (repo, _) = self
            .store
            .repo_by_id(record.repo_id, Some(owner.id))
            .await?
            .ok_or(ServiceError::NotFound)?;
        let machine = self
            .environments
            .as_ref()
            .and_then(|e| e.config.machine(Some(&record.machine)).cloned());
        Ok(CodespaceView {
            record,
            owner,
            repo,
            machine,
        })
    }

    /// The environment `name`, if the caller may reach it.
    async fn codespace_for(&self, p: &Principal, name: &str) -> Result<CodespaceView> {
        self.check(p, Access::Scope(Scope::Codespace)).await?;
        let record = self
            .store
            .codespace_by_name(name)
            .await?
            .filter(|c| c.state != CodespaceState::Deleted)
            .ok_or(ServiceError::NotFound)?;
        self.check(
            p,
            Access::CodespaceOwner {
                owner_id: record.owner_id,
            },
        )
        .await?;
        self.view(record).await
    }

    /// Creates an environment of `owner/name` for the caller and starts it in the background.
    pub async fn create_codespace(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        new: NewEnvironment,
    ) -> Result<CodespaceView> {
        let envs = self.environments()?.clone();
        let user = self
            .check(p, Access::Scope(Scope::Codespace))
            .await?
            .clone();
        let repo = self.repo_for(p, owner, name, Permission::Read).await?.repo;
        if let Some(image) = &new.image {
            berth_registry_client::ImageRef::parse(image).map_err(|e| {
                ServiceError::invalid("Codespace", "image", "invalid", e.to_string())
            })?;
        }
        if let Some(r) = &new.git_ref {
            workspace::check_branch(r, "Codespace", "ref")?;
        }
        if let Some(path) = &new.devcontainer_path
            && !berth_domain::devcontainer::is_config_path(path)
        {
            return Err(ServiceError::invalid(
                "Codespace",
                "devcontainer_path",
                "invalid",
                format!(
                    "devcontainer_path {path:?} is not where a dev container configuration lives: .devcontainer/devcontainer.json, .devcontainer.json or .devcontainer/<folder>/devcontainer.json"
                ),
            ));
        }
        let machine = envs
            .config
            .machine(new.machine.as_deref())
            .ok_or_else(|| isolation::unknown_machine(&envs.config, new.machine.as_deref()))?
            .name
            .clone();
        let display = new
            .display_name
            .clone()
            .unwrap_or_else(|| repo.name.to_string());
        // A name and an id range of its own; another creation taking the same range at the same
        // moment makes the insert conflict, and it is tried again with the next free one.
        let mut attempt = 0;
        let record = loop {
            attempt += 1;
            let suffix: String = (0..10)
                .map(|_| char::from_digit(rand::rng().random_range(0..36), 36).expect("base 36"))
                .collect();
            let cs_name = codespace_name(user.login.as_str(), repo.name.as_str(), &suffix);
            let taken = self.store.codespace_uid_bases().await?;
            let range = envs.config.id_pool.allocate(&taken).ok_or_else(|| {
                ServiceError::Conflict(
                    "this server runs as many environments as its id pool holds; delete some first"
                        .into(),
                )
            })?;
            // Private until the start opens it to the environment's own ids: layers and
            // writable layers hold images' setuid files and devices.
            {
                use std::os::unix::fs::DirBuilderExt as _;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(envs.dir(&cs_name))
                    .map_err(|e| {
                        ServiceError::Internal(format!(
                            "cannot create the environment's directory: {e}"
                        ))
                    })?;
            }
            let inserted = self
                .store
                .insert_codespace(
                    &NewCodespace {
                        name: &cs_name,
                        owner_id: user.id,
                        repo_id: repo.id,
                        display_name: &display,
                        // Without a branch, the repository's default branch (if it names one).
                        git_ref: new.git_ref.as_deref().or(repo.default_branch.as_deref()),
                        image: new.image.as_deref(),
                        devcontainer_path: new.devcontainer_path.as_deref(),
                        runtime: envs.config.runtime.kind(),
                        machine: &machine,
                        uid_base: range.base,
                    },
                    self.now(),
                )
                .await;
            match inserted {
                Ok(record) => break record,
                Err(berth_store::StoreError::Conflict(_)) if attempt < 5 => {
                    let _ = std::fs::remove_dir(envs.dir(&cs_name));
                }
                Err(e) => {
                    let _ = std::fs::remove_dir(envs.dir(&cs_name));
                    return Err(e.into());
                }
            }
        };
        let cs_name = record.name.clone();
        tracing::info!(codespace = %cs_name, repository = %repo.full_name(), user = %user.login, "creating an environment");
        self.spawn_start(cs_name.clone(), Verb::Create);
        self.view(record).await
    }

    /// The machine types an environment of `owner/name` can have (GitHub's machines API).
    pub async fn codespace_machines(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
    ) -> Result<Vec<MachineType>> {
        let envs = self.environments()?.clone();
        self.check(p, Access::Scope(Scope::Codespace)).await?;
        self.repo_for(p, owner, name, Permission::Read).await?;
        Ok(envs.config.machines.clone())
    }

    /// Who a codespace of `owner/name` created by `p` is billed to (GitHub's `codespaces/new`):
    /// Berth bills nobody, so it is always the creator, who must be able to create one.
    pub async fn codespace_billable_owner(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
    ) -> Result<berth_store::Account> {
        self.environments()?;
        let user = self
            .check(p, Access::Scope(Scope::Codespace))
            .await?
            .clone();
        self.repo_for(p, owner, name, Permission::Read).await?;
        Ok(user)
    }

    /// The dev container configurations a codespace of `owner/name` may be created from, at
    /// `git_ref` (else the repository's default branch), defaults first (GitHub's devcontainers
    /// API). Read from the clone URL as the environment's clone would be: under the user's egress
    /// policy, with the clone credentials among their secrets. No clone URL: none.
    pub async fn codespace_devcontainers(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        git_ref: Option<&str>,
    ) -> Result<Vec<String>> {
        self.environments()?;
        let user = self
            .check(p, Access::Scope(Scope::Codespace))
            .await?
            .clone();
        let repo = self.repo_for(p, owner, name, Permission::Read).await?.repo;
        if let Some(r) = git_ref {
            workspace::check_branch(r, "Codespace", "ref")?;
        }
        let Some(url) = &repo.clone_url else {
            return Ok(Vec::new());
        };
        let secrets = self.environment_secret_values(&user, &repo).await?;
        workspace::config_paths(
            url,
            git_ref.or(repo.default_branch.as_deref()),
            self.remote().egress_for(&user),
            workspace::clone_login(&secrets).as_ref(),
        )
        .await
        .map_err(|e| ServiceError::invalid("Codespace", "ref", "invalid", e.to_string()))
    }

    pub async fn list_codespaces(
        &self,
        p: &Principal,
        w: Window,
    ) -> Result<Listing<CodespaceView>> {
        let user = self.check(p, Access::Scope(Scope::Codespace)).await?;
        let listing = self.store.list_codespaces(user.id, w).await?;
        let mut items = Vec::new();
        for record in listing.items {
            items.push(self.view(record).await?);
        }
        Ok(Listing {
            items,
            total: listing.total,
        })
    }

    pub async fn get_codespace(&self, p: &Principal, name: &str) -> Result<CodespaceView> {
        self.codespace_for(p, name).await
    }

    /// Starts a stopped (or failed) environment in the background.
    pub async fn start_codespace(&self, p: &Principal, name: &str) -> Result<CodespaceView> {
        let view = self.codespace_for(p, name).await?;
        if !view.record.state.can_start() {
            // Available, or on its way: nothing to do.
            return Ok(view);
        }
        let moved = self
            .store
            .set_codespace_state(
                name,
                &[CodespaceState::Shutdown, CodespaceState::Failed],
                CodespaceState::Queued,
                None,
                self.now(),
            )
            .await?;
        if moved {
            tracing::info!(codespace = %name, "starting an environment");
            self.spawn_start(name.to_owned(), Verb::Start);
        }
        self.codespace_for(p, name).await
    }

    fn spawn_start(&self, name: String, verb: Verb) {
        let berth = self.clone();
        tokio::spawn(async move {
            if let Err(e) = berth.run_start(&name, verb).await {
                tracing::warn!(codespace = %name, error = %e, "an environment's start could not record its failure");
            }
        });
    }

    /// Stops an environment, keeping its workspace and writable layer.
    pub async fn stop_codespace(&self, p: &Principal, name: &str) -> Result<CodespaceView> {
        let view = self.codespace_for(p, name).await?;
        let envs = self.environments()?.clone();
        if view.record.state == CodespaceState::Shutdown {
            return Ok(view);
        }
        if !view.record.state.can_stop() {
            return Err(ServiceError::Conflict(format!(
                "codespace {name} is {}; wait until it is Available, then stop it",
                view.record.state
            )));
        }
        let lock = envs.lock(name);
        let _held = lock.lock().await;
        let now = self.now();
        let moved = self
            .store
            .set_codespace_state(
                name,
                &[CodespaceState::Available, CodespaceState::Failed],
                CodespaceState::ShuttingDown,
                None,
                now,
            )
            .await?;
        if !moved {
            // Something else (a start) got there first.
            return Err(ServiceError::Conflict(format!(
                "codespace {name} changed state meanwhile; look again and retry"
            )));
        }
        envs.stop_refreshing(name);
        let spec = self.bare_spec(&envs, &view.record, &view.repo);
        let log = CreationLog::open(&envs.paths(name).log());
        let stopped = envs
            .config
            .runtime
            .stop(&spec)
            .await
            .map_err(|e| e.to_string());
        let tidied = remove_dir(&envs.paths(name).secrets).map_err(|e| e.to_string());
        self.store
            .revoke_environment_tokens(name, self.now())
            .await?;
        match stopped.and(tidied) {
            Ok(()) => {
                log.line("stopped; the workspace and the environment's changes are kept");
                tracing::info!(codespace = %name, "stopped an environment");
                self.store
                    .set_codespace_state(
                        name,
                        &[CodespaceState::ShuttingDown],
                        CodespaceState::Shutdown,
                        None,
                        self.now(),
                    )
                    .await?;
            }
            Err(e) => {
                let reason = format!("could not stop: {e}");
                log.line(&reason);
                tracing::warn!(codespace = %name, error = %e, "an environment could not be stopped");
                self.store
                    .set_codespace_state(
                        name,
                        &[CodespaceState::ShuttingDown],
                        CodespaceState::Failed,
                        Some(&reason),
                        self.now(),
                    )
                    .await?;
            }
        }
        self.codespace_for(p, name).await
    }

    /// Deletes an environment: stops it, revokes its token, removes its files.
    pub async fn delete_codespace(&self, p: &Principal, name: &str) -> Result<()> {
        let view = self.codespace_for(p, name).await?;
        let envs = self.environments()?.clone();
        if view.record.state.is_busy() {
            return Err(ServiceError::Conflict(format!(
                "codespace {name} is {}; wait until it settles, then delete it",
                view.record.state
            )));
        }
        let lock = envs.lock(name);
        let _held = lock.lock().await;
        let settled = [
            CodespaceState::Available,
            CodespaceState::Shutdown,
            CodespaceState::Failed,
        ];
        let moved = self
            .store
            .set_codespace_state(name, &settled, CodespaceState::Deleted, None, self.now())
            .await?;
        if !moved {
            return Err(ServiceError::Conflict(format!(
                "codespace {name} changed state meanwhile; look again and retry"
            )));
        }
        envs.stop_refreshing(name);
        self.store
            .revoke_environment_tokens(name, self.now())
            .await?;
        let spec = self.bare_spec(&envs, &view.record, &view.repo);
        let removed = match envs.config.runtime.remove(&spec).await {
            Ok(()) => {
                remove_dir(&envs.paths(name).secrets).and_then(|()| remove_dir(&envs.dir(name)))
            }
            Err(e) => Err(ServiceError::Internal(format!(
                "cannot remove the environment: {e}"
            ))),
        };
        if let Err(e) = removed {
            // Visible again, so that it can be deleted again.
            let reason = format!("{e}; delete the codespace again");
            self.store
                .set_codespace_state(
                    name,
                    &[CodespaceState::Deleted],
                    CodespaceState::Failed,
                    Some(&reason),
                    self.now(),
                )
                .await?;
            return Err(e);
        }
        self.store.delete_codespace(name).await?;
        envs.locks.lock().expect("lock map poisoned").remove(name);
        tracing::info!(codespace = %name, "deleted an environment");
        Ok(())
    }

    /// Runs `argv` in a running environment with `stdin` as its standard input (`None`: none),
    /// streaming its output; returns the exit code (127: no such command, as a shell says).
    pub async fn exec_codespace(
        &self,
        p: &Principal,
        name: &str,
        argv: Vec<String>,
        stdin: Option<Vec<u8>>,
        output: tokio::sync::mpsc::Sender<Output>,
    ) -> Result<i32> {
        let view = self.codespace_for(p, name).await?;
        let envs = self.environments()?.clone();
        if argv.is_empty() {
            return Err(ServiceError::invalid(
                "Codespace",
                "command",
                "missing_field",
                "give the command to run",
            ));
        }
        if view.record.state != CodespaceState::Available {
            return Err(ServiceError::Conflict(format!(
                "codespace {name} is {}, not Available; start it with `berth codespace start {name}`",
                view.record.state
            )));
        }
        let spec = self.bare_spec(&envs, &view.record, &view.repo);
        envs.config
            .runtime
            .exec(&spec, &ExecSpec { argv, stdin }, output)
            .await
            .map_err(|e| ServiceError::Internal(format!("cannot run the command: {e}")))
    }

    /// The creation log's path, for reading and following.
    pub async fn codespace_log(
        &self,
        p: &Principal,
        name: &str,
    ) -> Result<(CodespaceView, PathBuf)> {
        let view = self.codespace_for(p, name).await?;
        let envs = self.environments()?;
        let path = envs.paths(name).log();
        Ok((view, path))
    }

    /// The state of `name` now (for following a log until the environment settles).
    pub async fn codespace_state(&self, name: &str) -> Result<Option<CodespaceState>> {
        Ok(self.store.codespace_by_name(name).await?.map(|c| c.state))
    }

    /// Settles environments a restart of the server interrupted: a start or stop under way is
    /// `Failed` (start it again), an `Available` one whose process is gone is `Shutdown`, and
    /// running ones get their ECR logins kept fresh again.
    pub async fn recover_codespaces(&self) -> Result<()> {
        let Some(envs) = self.environments.clone() else {
            return Ok(());
        };
        let busy = [
            CodespaceState::Queued,
            CodespaceState::Provisioning,
            CodespaceState::Starting,
            CodespaceState::ShuttingDown,
        ];
        for record in self.store.codespaces_in_states(&busy).await? {
            self.store
                .set_codespace_state(
                    &record.name,
                    &busy,
                    CodespaceState::Failed,
                    Some("interrupted by a restart of the server; start it again"),
                    self.now(),
                )
                .await?;
        }
        for record in self
            .store
            .codespaces_in_states(&[CodespaceState::Available])
            .await?
        {
            let view = self.view(record).await?;
            let spec = self.bare_spec(&envs, &view.record, &view.repo);
            let running = envs.config.runtime.running(&spec).await.unwrap_or(false);
            if running {
                if let Err(e) = self.refresh_logins(&envs, &view).await {
                    tracing::warn!(codespace = %view.record.name, error = %e, "cannot keep the environment's logins fresh");
                }
                // The listener the previous server made inside went with it.
                let log = CreationLog::open(&envs.paths(&view.record.name).log());
                if let Err(e) = self.serve_inside(&envs, &spec, &log).await {
                    tracing::warn!(codespace = %view.record.name, error = %e, "cannot serve Berth inside the environment again");
                }
            } else {
                self.store
                    .set_codespace_state(
                        &view.record.name,
                        &[CodespaceState::Available],
                        CodespaceState::Shutdown,
                        None,
                        self.now(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

impl Berth {
    /// After a restart of the server, writes a running environment's logins again (with a new
    /// environment token for Berth's registry; the one in its variables stays valid until it
    /// expires) and keeps them fresh.
    async fn refresh_logins(&self, envs: &Environments, view: &CodespaceView) -> Result<()> {
        let name = view.record.name.as_str();
        let paths = envs.paths(name);
        let log = CreationLog::open(&paths.log());
        let secrets = self
            .environment_secret_values(&view.owner, &view.repo)
            .await?;
        let set = crate::logins::logins_from_secrets(&secrets);
        let (token, _) = self
            .mint_environment_token(&view.owner, &view.repo, name, envs.config.token_ttl)
            .await?;
        let login = start::own_login(&envs.config.server_url, view.owner.login.as_str(), &token)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let config = paths.docker_dir().join("config.json");
        let owner = std::fs::metadata(&config).ok().map(|m| {
            use std::os::unix::fs::MetadataExt as _;
            (m.uid(), m.gid())
        });
        let files = self
            .write_logins(
                &paths,
                &set,
                login,
                &token,
                start::Rewrite {
                    npm_scope: None,
                    owner,
                },
                &log,
            )
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.keep_fresh(envs, name, files, log);
        Ok(())
    }
}

/// Removes one of an environment's directories, detaching any mount left below it first, so
/// that the removal never reaches through a bind mount into the workspace.
fn remove_dir(path: &Path) -> Result<()> {
    berth_runtime::unmount_under(path);
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ServiceError::Internal(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
        _ => Ok(()),
    }
}
