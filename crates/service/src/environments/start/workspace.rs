//! Step 4 of a start: the environment's disk, and its workspace on it, cloned at the first start.

use berth_domain::secrets::ResolvedSecret;
use secrecy::SecretString;

use super::super::git::{Upstream, clone_login};
use super::super::workspace::{WorkspaceError, shown_url};
use super::super::{CodespaceView, CreationLog, Environments, Paths, State};
use super::StartResult;

impl Environments {
    /// Step 4: the environment's disk (its machine type's size), then the workspace on it,
    /// cloned at the first start.
    pub(super) async fn prepare_workspace(
        &self,
        envs: &State,
        view: &CodespaceView,
        paths: &Paths,
        secrets: &[ResolvedSecret<SecretString>],
        log: &CreationLog,
    ) -> StartResult<()> {
        let machine = super::super::isolation::of(&envs.config, &view.record).machine;
        super::super::disk::attach(paths, machine.storage_in_bytes).await?;
        if paths.disks && paths.legacy() {
            log.line("this environment was made before environments had disks of their own: its storage is not limited");
        }
        let workspace = paths.workspace();
        if workspace.exists() {
            return Ok(());
        }
        let Some(url) = &view.repo.clone_url else {
            log.line(&format!(
                "{} has no clone_url; the workspace starts empty",
                view.repo.full_name()
            ));
            std::fs::create_dir_all(&workspace).map_err(|source| WorkspaceError::Io {
                what: "cannot create the workspace".into(),
                source,
            })?;
            return Ok(());
        };
        let branch = view.record.git_ref.as_deref();
        let login = clone_login(secrets);
        log.line(&format!(
            "cloning {}{}{}",
            shown_url(url),
            branch.map(|b| format!(" at {b}")).unwrap_or_default(),
            if login.is_some() {
                " with the GIT_CLONE_USERNAME/GIT_CLONE_PASSWORD secrets"
            } else {
                ""
            }
        ));
        let from = Upstream {
            url,
            branch,
            egress: self.remote().egress_for(&view.owner),
            login: login.as_ref(),
        };
        envs.config.sources.clone_repo(&from, &workspace).await?;
        Ok(())
    }
}
