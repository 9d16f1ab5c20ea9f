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

mod collaborators;
mod config;
mod create;
mod disk;
mod failure;
mod git;
mod isolation;
mod lifecycle;
mod log;
mod paths;
mod ports;
mod recovery;
mod start;
mod workspace;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_domain::Scope;
pub use berth_domain::codespace::CodespaceState;
use berth_domain::isolation::MachineType;
use berth_runtime::RunSpec;
use berth_store::{Account, CodespaceRecord, Repo, Store};

pub use berth_runtime::network::AgentSocket;
pub use berth_runtime::{ExecSpec, Output, Signal, Stdin, Tty};
pub use collaborators::{Git, NpmScopes, SecretSource, Sources, TokenIssuer};
pub use config::{EnvironmentConfig, ServeInside};
pub use git::{CloneLogin, Upstream};
pub use log::CreationLog;
pub(crate) use paths::Paths;
pub use workspace::WorkspaceError;
pub(crate) use workspace::{check_branch, shown_url};

use crate::authz::Access;
use crate::authz::Authz;
use crate::logins::Remote;
use crate::{Clock, Principal, Result, ServiceError};

/// The environments service: the lifecycle of every environment on this server, with what it
/// needs from the rest of Berth named as collaborators ([`SecretSource`], [`TokenIssuer`], the
/// runtime in its configuration). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Environments {
    store: Store,
    authz: Authz,
    clock: Arc<dyn Clock>,
    remote: Arc<Remote>,
    secrets: Arc<dyn SecretSource>,
    tokens: Arc<dyn TokenIssuer>,
    npm: Arc<dyn NpmScopes>,
    /// `None` until the server is configured to run environments.
    state: Option<Arc<State>>,
}

/// The `argv` of the environment user's login shell (from the image's `/etc/passwd`, else
/// `/bin/sh`), as SSH and the terminal API start it when no command is given.
pub fn login_shell() -> Vec<String> {
    const SCRIPT: &str = r#"u=$(id -un 2>/dev/null); s=$(grep "^$u:" /etc/passwd 2>/dev/null | cut -d: -f7); exec "${s:-/bin/sh}" -l"#;
    vec!["/bin/sh".into(), "-c".into(), SCRIPT.into()]
}

/// What an environment needs from the rest of Berth, given once when the service is built.
#[derive(Debug, Clone)]
pub struct Collaborators {
    pub store: Store,
    pub authz: Authz,
    pub clock: Arc<dyn Clock>,
    pub remote: Arc<Remote>,
    pub secrets: Arc<dyn SecretSource>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub npm: Arc<dyn NpmScopes>,
}

impl Environments {
    /// The service, not yet running environments: every call answers that they are not enabled
    /// (after checking the caller, as any call does) until [`Environments::run`].
    pub fn new(with: Collaborators) -> Self {
        Self {
            store: with.store,
            authz: with.authz,
            clock: with.clock,
            remote: with.remote,
            secrets: with.secrets,
            tokens: with.tokens,
            npm: with.npm,
            state: None,
        }
    }

    /// Runs environments with `config`.
    pub fn run(mut self, config: EnvironmentConfig) -> Self {
        self.state = Some(Arc::new(State::new(config)));
        self
    }

    /// Reaches other registries (and ECR) through `remote`.
    pub fn with_remote(mut self, remote: Arc<Remote>) -> Self {
        self.remote = remote;
        self
    }

    fn state(&self) -> Result<&Arc<State>> {
        self.state.as_ref().ok_or_else(|| {
            ServiceError::Conflict(
                "environments are not enabled on this server; start it with berth serve (which runs them with runc)".into(),
            )
        })
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    pub(crate) fn now_utc(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(self.now())
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// How this server reaches other registries and ECR.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }
}

/// The service's own state: configuration, per-environment locks, the tasks keeping running
/// environments' ECR logins fresh, and each environment's events.
#[derive(Debug)]
pub(crate) struct State {
    config: EnvironmentConfig,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    refreshers: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// Berth served inside each running environment's network.
    inside: Mutex<HashMap<String, Vec<tokio::task::AbortHandle>>>,
    /// Each environment's events (a line logged, a state changed), for followers of its log.
    events: Mutex<HashMap<String, Arc<tokio::sync::watch::Sender<u64>>>>,
}

impl State {
    pub(crate) fn new(config: EnvironmentConfig) -> Self {
        Self {
            config,
            locks: Mutex::new(HashMap::new()),
            refreshers: Mutex::new(HashMap::new()),
            inside: Mutex::new(HashMap::new()),
            events: Mutex::new(HashMap::new()),
        }
    }

    fn events(&self, name: &str) -> Arc<tokio::sync::watch::Sender<u64>> {
        self.events
            .lock()
            .expect("event map poisoned")
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::watch::channel(0).0))
            .clone()
    }

    /// The environment's creation log; every line written is an event its followers hear.
    fn log(&self, name: &str) -> CreationLog {
        CreationLog::new(self.paths(name).log(), self.events(name))
    }

    /// Tells the followers of `name`'s log that something happened (its state changed).
    fn notify(&self, name: &str) {
        self.events(name).send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Forgets a deleted environment: its lock and its events (followers of its log end).
    fn forget(&self, name: &str) {
        self.locks.lock().expect("lock map poisoned").remove(name);
        self.events.lock().expect("event map poisoned").remove(name);
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
            disks: self.config.disks,
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

impl Environments {
    /// Moves `name` from one of the states `from` to `to`, and tells the followers of its log;
    /// `false` when it was in none of `from`.
    async fn transition(
        &self,
        name: &str,
        from: &[CodespaceState],
        to: CodespaceState,
    ) -> Result<bool> {
        self.set_state(name, from, to, None).await
    }

    /// Moves `name` from one of the states `from` to `Failed`, saying why.
    async fn mark_failed(&self, name: &str, from: &[CodespaceState], reason: &str) -> Result<bool> {
        self.set_state(name, from, CodespaceState::Failed, Some(reason))
            .await
    }

    async fn set_state(
        &self,
        name: &str,
        from: &[CodespaceState],
        to: CodespaceState,
        reason: Option<&str>,
    ) -> Result<bool> {
        let moved = self
            .store
            .set_codespace_state(name, from, to, reason, self.now())
            .await?;
        if let Some(state) = &self.state {
            state.notify(name);
        }
        Ok(moved)
    }

    /// The runtime spec of an environment, without variables (which only a start resolves).
    fn bare_spec(&self, envs: &State, record: &CodespaceRecord, repo: &Repo) -> RunSpec {
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
        self.view_of(record, owner, &mut HashMap::new()).await
    }

    /// `record` as a view, its owner given, its repository looked up once per `repos` (a
    /// listing shares one among all its environments).
    pub(super) async fn view_of(
        &self,
        record: CodespaceRecord,
        owner: Account,
        repos: &mut HashMap<i64, Repo>,
    ) -> Result<CodespaceView> {
        let repo = match repos.get(&record.repo_id) {
            Some(repo) => repo.clone(),
            None => {
                let (repo, _) = self
                    .store
                    .repo_by_id(record.repo_id, Some(owner.id))
                    .await?
                    .ok_or(ServiceError::NotFound)?;
                repos.insert(record.repo_id, repo.clone());
                repo
            }
        };
        let machine = self
            .state
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
        self.authz.check(p, Access::Scope(Scope::Codespace)).await?;
        let record = self
            .store
            .codespace_by_name(name)
            .await?
            .filter(|c| c.state != CodespaceState::Deleted)
            .ok_or(ServiceError::NotFound)?;
        self.authz
            .check(
                p,
                Access::CodespaceOwner {
                    owner_id: record.owner_id,
                },
            )
            .await?;
        self.view(record).await
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
