//! Step 7 of a start: what the runtime is asked to run — the workspace folder, the mounts, the
//! user, the environment's isolation (with its host id range) — and the variables, layered as
//! the image's, the dev container's, the secrets, then Berth's own.

use berth_domain::codespace::{BuiltinVariables, TOKEN_VARIABLES, layer_variables};
use berth_domain::devcontainer::DevContainer;
use berth_domain::isolation::{IDS_PER_ENVIRONMENT, IdRange};
use berth_domain::secrets::ResolvedSecret;
use berth_runtime::{ImageInfo, Mount, MountTarget, RunSpec};
use secrecy::SecretString;

use super::super::{CodespaceView, Environments, Paths, State};
use super::{StartError, StartResult};

impl Environments {
    /// The run spec of a start, without its variables (which need the image's).
    pub(super) async fn run_spec(
        &self,
        envs: &State,
        view: &CodespaceView,
        paths: &Paths,
        dc: &DevContainer,
    ) -> StartResult<RunSpec> {
        let folder = match &dc.workspace_folder {
            Some(f) if f.starts_with('/') && !f.split('/').any(|c| c == "..") => f.clone(),
            Some(f) => return Err(StartError::WorkspaceFolder(f.clone())),
            None => format!("/workspaces/{}", view.repo.name),
        };
        let home = |source, rel: &str| Mount {
            source,
            target: MountTarget::Home(rel.to_owned()),
            readonly: false,
            owned: true,
            persistent: false,
        };
        let mut isolation = super::super::isolation::of(&envs.config, &view.record);
        isolation.ids = self.ensure_range(envs, &view.record).await?;
        Ok(RunSpec {
            name: view.record.name.clone(),
            state_dir: paths.runtime(),
            secret_dir: paths.secrets.clone(),
            env: Vec::new(),
            user: dc.remote_user.clone().or_else(|| dc.container_user.clone()),
            cwd: folder.clone(),
            mounts: vec![
                // Handed to the user at the first start, before anything runs.
                Mount {
                    source: paths.workspace(),
                    target: MountTarget::Absolute(folder),
                    readonly: false,
                    owned: !view.record.initialized,
                    persistent: true,
                },
                home(paths.docker_dir(), ".docker"),
                home(paths.containers_dir(), ".config/containers"),
                home(paths.npmrc(), ".npmrc"),
            ],
            isolation,
        })
    }

    /// The environment's host id range: the one it was given, or, for an environment from
    /// before id ranges, a free one now.
    async fn ensure_range(
        &self,
        envs: &State,
        record: &berth_store::CodespaceRecord,
    ) -> StartResult<IdRange> {
        if let Some(base) = record.uid_base {
            return Ok(IdRange {
                base,
                size: IDS_PER_ENVIRONMENT,
            });
        }
        for _ in 0..5 {
            let taken = self.store.codespace_uid_bases().await?;
            let range = envs
                .config
                .id_pool
                .allocate(&taken)
                .ok_or(StartError::NoIdRange)?;
            match self
                .store
                .set_codespace_uid_base(&record.name, range.base)
                .await
            {
                Ok(()) => return Ok(range),
                Err(berth_store::StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StartError::IdRangeContended)
    }
}

/// The environment's variables: the image's, the dev container's (`containerEnv`, then
/// `remoteEnv`, whose `null` unsets), the secrets, then Berth's own (the codespace variables and
/// the environment token), each layer over the one before.
pub(super) fn variables(
    envs: &State,
    view: &CodespaceView,
    info: &ImageInfo,
    dc: &DevContainer,
    secrets: &[ResolvedSecret<SecretString>],
    token: &SecretString,
) -> Vec<(String, SecretString)> {
    let secret = |v: String| SecretString::from(v);
    let image_env: Vec<(String, SecretString)> = info
        .env
        .iter()
        .map(|(k, v)| (k.clone(), secret(v.clone())))
        .collect();
    let container_env: Vec<(String, SecretString)> = dc
        .container_env
        .iter()
        .map(|(k, v)| (k.clone(), secret(v.clone())))
        .collect();
    let mut base = info.env.clone();
    base.extend(dc.container_env.iter().cloned());
    let remote_env = dc.resolved_remote_env(&base);
    let secret_env: Vec<(String, SecretString)> = secrets
        .iter()
        .map(|s| (s.name.as_str().to_owned(), s.value.clone()))
        .collect();
    let full_name = view.repo.full_name();
    let shown = BuiltinVariables {
        codespace_name: &view.record.name,
        repository: &full_name,
        user: view.owner.login.as_str(),
        server_url: &envs.config.server_url,
    };
    let mut builtins: Vec<(String, SecretString)> = shown
        .plain()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), secret(v)))
        .collect();
    for t in TOKEN_VARIABLES {
        builtins.push((t.to_owned(), token.clone()));
    }
    let mut from_image = layer_variables(&[
        image_env,
        container_env,
        remote_env
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), secret(v))))
            .collect(),
    ]);
    // `remoteEnv` null unsets what the image or `containerEnv` set (not secrets or Berth's).
    from_image.retain(|(k, _)| !remote_env.iter().any(|(n, v)| n == k && v.is_none()));
    layer_variables(&[from_image, secret_env, builtins])
}
