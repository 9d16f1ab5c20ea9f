//! What a restart of the server leaves: starts and stops it interrupted are `Failed`, `Available`
//! environments whose process is gone are `Shutdown`, and running ones get their logins kept
//! fresh and Berth served inside their networks again. Only this replica's own: the others'
//! run on other machines.

use berth_domain::codespace::CodespaceState;
use berth_domain::codespace::CodespaceState::{Available, Shutdown};

use super::{CodespaceView, Environments, State, start};
use crate::{Result, ServiceError};

impl Environments {
    /// Settles environments a restart of the server interrupted: a start or stop under way is
    /// `Failed` (start it again), an `Available` one whose process is gone is `Shutdown`, and
    /// running ones get their ECR logins kept fresh again. First the replica says where the
    /// others reach it, and takes the environments made before replicas were recorded.
    pub async fn recover_codespaces(&self) -> Result<()> {
        let Some(envs) = self.state.clone() else {
            return Ok(());
        };
        let replica = &envs.config.replica;
        self.store
            .register_replica(
                &replica.id,
                replica.address.as_deref().unwrap_or_default(),
                replica.ssh_address.as_deref().unwrap_or_default(),
                self.now(),
            )
            .await?;
        self.store.adopt_unplaced_codespaces(&replica.id).await?;
        let busy = [
            CodespaceState::Queued,
            CodespaceState::Provisioning,
            CodespaceState::Starting,
            CodespaceState::ShuttingDown,
        ];
        for record in self.store.codespaces_in_states(&replica.id, &busy).await? {
            self.mark_failed(
                &record.name,
                &busy,
                "interrupted by a restart of the server; start it again",
            )
            .await?;
        }
        for record in self
            .store
            .codespaces_in_states(&replica.id, &[CodespaceState::Available])
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
                let log = envs.log(&view.record.name);
                if let Err(e) = self.serve_inside(&envs, &spec, &log).await {
                    tracing::warn!(codespace = %view.record.name, error = %e, "cannot serve Berth inside the environment again");
                }
            } else {
                self.transition(&view.record.name, &[Available], Shutdown)
                    .await?;
            }
        }
        Ok(())
    }
    /// After a restart of the server, writes a running environment's logins again (with a new
    /// environment token for Berth's registry; the one in its variables stays valid until it
    /// expires) and keeps them fresh.
    async fn refresh_logins(&self, envs: &State, view: &CodespaceView) -> Result<()> {
        let name = view.record.name.as_str();
        let paths = envs.paths(name);
        let log = envs.log(name);
        let secrets = self
            .secrets
            .environment_secrets(&view.owner, &view.repo)
            .await?;
        let set = crate::logins::logins_from_secrets(&secrets);
        let (token, _) = self
            .tokens
            .environment_token(view, envs.config.token_ttl)
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
                    npm_scopes: None,
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
