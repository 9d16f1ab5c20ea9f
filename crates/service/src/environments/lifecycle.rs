//! An environment's life after creation: list and show, start, stop, delete, exec, its log.
//! Every verb takes the caller and reaches the environment through `codespace_for` (its owner,
//! or a site administrator); state changes name the states they may leave.

use berth_runtime::{ExecSpec, Output};

use berth_domain::Scope;
use berth_domain::codespace::CodespaceState;
use berth_domain::codespace::CodespaceState::{
    Available, Deleted, Failed, Queued, Shutdown, ShuttingDown,
};
use berth_store::{Listing, Window};

use super::ports::available;
use super::remove_dir;
use super::{CodespaceView, Environments, Verb};
use crate::authz::Access;
use crate::{Principal, Result, ServiceError};

impl Environments {
    pub async fn list_codespaces(
        &self,
        p: &Principal,
        w: Window,
    ) -> Result<Listing<CodespaceView>> {
        let user = self.authz.check(p, Access::Scope(Scope::Codespace)).await?;
        let listing = self.store.list_codespaces(user.id, w).await?;
        let mut items = Vec::new();
        let mut repos = std::collections::HashMap::new();
        for record in listing.items {
            items.push(self.view_of(record, user.clone(), &mut repos).await?);
        }
        Ok(Listing {
            items,
            total: listing.total,
        })
    }

    pub async fn get_codespace(&self, p: &Principal, name: &str) -> Result<CodespaceView> {
        self.visible(p, name).await
    }

    /// Starts a stopped (or failed) environment in the background.
    pub async fn start_codespace(&self, p: &Principal, name: &str) -> Result<CodespaceView> {
        let view = self.codespace_for(p, name).await?;
        if !view.record.state.can_start() {
            // Available, or on its way: nothing to do.
            return Ok(view);
        }
        self.state()?;
        let moved = self.transition(name, &[Shutdown, Failed], Queued).await?;
        if moved {
            tracing::info!(codespace = %name, "starting an environment");
            self.spawn_start(name.to_owned(), Verb::Start);
        }
        self.codespace_for(p, name).await
    }

    pub(super) fn spawn_start(&self, name: String, verb: Verb) {
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
        let envs = self.state()?.clone();
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
        let moved = self
            .transition(name, &[Available, Failed], ShuttingDown)
            .await?;
        if !moved {
            // Something else (a start) got there first.
            return Err(ServiceError::Conflict(format!(
                "codespace {name} changed state meanwhile; look again and retry"
            )));
        }
        envs.stop_refreshing(name);
        let spec = self.bare_spec(&envs, &view.record, &view.repo);
        let log = envs.log(name);
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
                self.transition(name, &[ShuttingDown], Shutdown).await?;
            }
            Err(e) => {
                let reason = format!("could not stop: {e}");
                log.line(&reason);
                tracing::warn!(codespace = %name, error = %e, "an environment could not be stopped");
                self.mark_failed(name, &[ShuttingDown], &reason).await?;
            }
        }
        self.codespace_for(p, name).await
    }

    /// Deletes an environment: stops it, revokes its token, removes its files.
    pub async fn delete_codespace(&self, p: &Principal, name: &str) -> Result<()> {
        let view = self.codespace_for(p, name).await?;
        let envs = self.state()?.clone();
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
        let moved = self.transition(name, &settled, Deleted).await?;
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
            self.mark_failed(name, &[Deleted], &reason).await?;
            return Err(e);
        }
        self.store.delete_codespace(name).await?;
        envs.forget(name);
        tracing::info!(codespace = %name, "deleted an environment");
        Ok(())
    }

    /// Runs `argv` in a running environment with `stdin` as its standard input (`None`: none),
    /// streaming its output; returns the exit code (127: no such command, as a shell says).
    pub async fn exec_codespace(
        &self,
        p: &Principal,
        name: &str,
        exec: ExecSpec,
        output: tokio::sync::mpsc::Sender<Output>,
    ) -> Result<i32> {
        let view = self.codespace_for(p, name).await?;
        let envs = self.state()?.clone();
        if exec.argv.is_empty() {
            return Err(ServiceError::invalid(
                "Codespace",
                "command",
                "missing_field",
                "give the command to run",
            ));
        }
        let spec = available(&view, &envs, self)?;
        envs.config
            .runtime
            .exec(&spec, exec, output)
            .await
            .map_err(|e| ServiceError::Internal(format!("cannot run the command: {e}")))
    }
}
