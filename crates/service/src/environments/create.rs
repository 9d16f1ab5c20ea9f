//! Creating an environment, and what a creator is offered first: machine types, dev container
//! configurations, who pays (GitHub's `codespaces/new`).

use berth_domain::codespace::codespace_name;
use berth_domain::isolation::MachineType;
use rand::Rng as _;

use berth_domain::{Login, Permission, RepoName, Scope};
use berth_store::NewCodespace;

use super::{CodespaceView, Environments, NewEnvironment, Verb};
use super::{isolation, workspace};
use crate::authz::Access;
use crate::{Principal, Result, ServiceError};

impl Environments {
    /// Creates an environment of `owner/name` for the caller and starts it in the background.
    pub async fn create_codespace(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
        new: NewEnvironment,
    ) -> Result<CodespaceView> {
        let envs = self.state()?.clone();
        let (user, repo) = self.creator(p, owner, name).await?;
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
                        replica: &envs.config.replica.id,
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
        let envs = self.state()?.clone();
        self.creator(p, owner, name).await?;
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
        self.state()?;
        Ok(self.creator(p, owner, name).await?.0)
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
        let envs = self.state()?.clone();
        let (user, repo) = self.creator(p, owner, name).await?;
        if let Some(r) = git_ref {
            workspace::check_branch(r, "Codespace", "ref")?;
        }
        let Some(url) = &repo.clone_url else {
            return Ok(Vec::new());
        };
        let secrets = self.secrets.environment_secrets(&user, &repo).await?;
        let login = super::git::clone_login(&secrets);
        let from = super::git::Upstream {
            url,
            branch: git_ref.or(repo.default_branch.as_deref()),
            egress: self.remote().egress_for(&user),
            login: login.as_ref(),
        };
        envs.config
            .sources
            .config_paths(&from)
            .await
            .map_err(|e| ServiceError::invalid("Codespace", "ref", "invalid", e.to_string()))
    }

    /// Someone who may create an environment of `owner/name` (the `codespace` scope, and read
    /// access to the repository), with the repository.
    async fn creator(
        &self,
        p: &Principal,
        owner: &Login,
        name: &RepoName,
    ) -> Result<(berth_store::Account, berth_store::Repo)> {
        let user = self
            .authz
            .check(p, Access::Scope(Scope::Codespace))
            .await?
            .clone();
        let view = self
            .authz
            .repo_for(p, owner, name, Permission::Read)
            .await?;
        Ok((user, view.repo))
    }
}
