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
//! through [`Access::CodespaceOwner`](crate::authz::Access::CodespaceOwner); everyone else is told it does not exist.
//! **Architecture Invariant:** one operation at a time per environment (a per-name lock), and
//! every state change is guarded by the state it leaves.

mod caches;
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
mod state;
mod view;
mod workspace;

use std::path::Path;
use std::sync::Arc;

pub use berth_domain::codespace::CodespaceState;
use berth_runtime::RunSpec;
use berth_store::{CodespaceRecord, Repo, Store};

pub use berth_runtime::network::AgentSocket;
pub use berth_runtime::{ExecSpec, Output, Signal, Stdin, Tty};
pub use collaborators::{Git, NpmScopes, SecretSource, Sources, TokenIssuer};
pub use config::{EnvironmentConfig, Replica, ServeInside};
pub use git::{CloneLogin, Upstream};
pub use log::CreationLog;
pub(crate) use paths::Paths;
pub(crate) use state::State;
pub use view::{CodespaceView, Placement};
pub use workspace::WorkspaceError;
pub(crate) use workspace::{check_branch, shown_url};

use crate::authz::Authz;
use crate::logins::Remote;
use crate::{Clock, Result, ServiceError};

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

    /// Which replica this server is (`None` while it runs no environments).
    pub fn replica(&self) -> Option<&Replica> {
        self.state.as_ref().map(|s| &s.config.replica)
    }

    /// How this server reaches other registries and ECR.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }
}

/// What a start was asked for by: the first start of a new environment, or a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Create,
    Start,
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
