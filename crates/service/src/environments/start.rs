//! One start of an environment, in SPEC §5's order: resolve secrets → registry logins → a fresh
//! environment token → clone (first start only) → read the dev container configuration → pull
//! with the matching login → unpack → run → `postCreateCommand` (first start only). Every step
//! is narrated in the creation log; the first failure ends the start as `Failed` with a reason.

use berth_domain::codespace::{BuiltinVariables, CodespaceState, TOKEN_VARIABLES, layer_variables};
use berth_domain::isolation::{IDS_PER_ENVIRONMENT, IdRange};
use berth_domain::logins::RegistryHost;
use berth_registry_client::logins::{AuthFiles, Login, LoginSecret, write_private_file_as};
use berth_registry_client::{Credentials, ImageRef};
use berth_runtime::{ImageSource, Mount, MountTarget, Output, RunSpec};
use secrecy::{ExposeSecret, SecretString};

use super::failure::{PulledWith, pull_failure};
use super::workspace::{clone, read_devcontainer, shown_url};
use super::{CodespaceView, CreationLog, Environments, Paths};
use crate::logins::{LoginSet, logins_from_secrets};
use crate::{Berth, Result};

/// The prefix Berth's own registry login is shown under.
const BERTH_LOGIN: &str = "BERTH";

impl Berth {
    /// Runs a start of `name` that was queued. Its outcome is recorded as the environment's state.
    pub(crate) async fn run_start(&self, name: &str, verb: super::Verb) -> Result<()> {
        let envs = self.environments()?.clone();
        let lock = envs.lock(name);
        let _held = lock.lock().await;
        let Some(record) = self.store.codespace_by_name(name).await? else {
            return Ok(());
        };
        if record.state != CodespaceState::Queued {
            return Ok(());
        }
        let view = self.view(record).await?;
        let paths = envs.paths(name);
        let log = CreationLog::open(&paths.log());
        log.line(&format!(
            "{} codespace {name} for {} (runtime {})",
            match verb {
                super::Verb::Create => "creating",
                super::Verb::Start => "starting",
            },
            view.repo.full_name(),
            envs.config.runtime.kind()
        ));
        self.store
            .set_codespace_state(
                name,
                &[CodespaceState::Queued],
                CodespaceState::Provisioning,
                None,
                self.now(),
            )
            .await?;
        match self.provision(&envs, &view, &paths, &log).await {
            Ok(()) => {
                log.line("codespace is Available");
                tracing::info!(codespace = %name, "an environment is available");
                self.store
                    .set_codespace_state(
                        name,
                        &[CodespaceState::Starting],
                        CodespaceState::Available,
                        None,
                        self.now(),
                    )
                    .await?;
            }
            Err(reason) => {
                log.line(&format!("failed: {reason}"));
                tracing::warn!(codespace = %name, %reason, "an environment failed to start");
                envs.stop_refreshing(name);
                let spec = self.bare_spec(&envs, &view.record, &view.repo);
                if let Err(e) = envs.config.runtime.stop(&spec).await {
                    log.line(&format!("could not tidy up after the failure: {e}"));
                }
                if let Err(e) = super::remove_dir(&paths.secrets) {
                    log.line(&format!("could not tidy up after the failure: {e}"));
                }
                self.store
                    .revoke_environment_tokens(name, self.now())
                    .await?;
                self.store
                    .set_codespace_state(
                        name,
                        &[CodespaceState::Provisioning, CodespaceState::Starting],
                        CodespaceState::Failed,
                        Some(&reason),
                        self.now(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// The steps of a start; `Err` is the reason shown with `Failed`.
    async fn provision(
        &self,
        envs: &Environments,
        view: &CodespaceView,
        paths: &Paths,
        log: &CreationLog,
    ) -> std::result::Result<(), String> {
        let internal = |e: crate::ServiceError| e.to_string();
        let (user, repo, name) = (&view.owner, &view.repo, view.record.name.as_str());

        // Still allowed? Access may have been taken away since the environment was created.
        let (_, facts) = self
            .store
            .repo_by_id(repo.id, Some(user.id))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the repository no longer exists")?;
        let as_user = crate::Principal::User {
            account: user.clone(),
            scopes: berth_domain::Scopes::parse(["repo"]).expect("a known scope"),
            token_id: 0,
        };
        if self.repo_permission(&as_user, repo, facts).is_none() {
            return Err(format!(
                "{} can no longer read {}; ask for access to the repository, or delete the codespace",
                user.login,
                repo.full_name()
            ));
        }

        // 1. Secrets, 2. registry logins.
        let secrets = self
            .environment_secret_values(user, repo)
            .await
            .map_err(internal)?;
        let listed: Vec<String> = secrets
            .iter()
            .map(|s| format!("{} ({})", s.name.as_str(), s.source.as_str()))
            .collect();
        log.line(&format!(
            "secrets: {}",
            if listed.is_empty() {
                "none".to_owned()
            } else {
                listed.join(", ")
            }
        ));
        let set = logins_from_secrets(&secrets);
        for problem in &set.problems {
            log.line(&format!("warning: {problem}"));
        }
        for login in &set.logins {
            let kind = match login.secret {
                LoginSecret::EcrKeys { .. } => " (AWS access keys, swapped for an ECR token)",
                _ => "",
            };
            log.line(&format!(
                "registry login {}: {}{kind}",
                login.prefix, login.host
            ));
        }

        // 3. A fresh environment token.
        self.store
            .revoke_environment_tokens(name, self.now())
            .await
            .map_err(|e| e.to_string())?;
        let (token, record) = self
            .mint_environment_token(user, repo, name, envs.config.token_ttl)
            .await
            .map_err(internal)?;
        log.line(&format!(
            "issued a fresh environment token, valid until {}",
            rfc3339(record.expires_at)
        ));

        // 4. The environment's disk (its machine type's size), then the workspace on it, cloned at
        // the first start.
        let machine = super::isolation::of(&envs.config, &view.record).machine;
        super::disk::attach(paths, machine.storage_in_bytes).await?;
        if paths.legacy() {
            log.line("this environment was made before environments had disks of their own: its storage is not limited");
        }
        let workspace = paths.workspace();
        if !workspace.exists() {
            match &repo.clone_url {
                Some(url) => {
                    let branch = view.record.git_ref.as_deref();
                    let login = super::workspace::clone_login(&secrets);
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
                    clone(
                        url,
                        branch,
                        &workspace,
                        self.remote().egress_for(user),
                        login.as_ref(),
                    )
                    .await?;
                }
                None => {
                    log.line(&format!(
                        "{} has no clone_url; the workspace starts empty",
                        repo.full_name()
                    ));
                    std::fs::create_dir_all(&workspace)
                        .map_err(|e| format!("cannot create the workspace: {e}"))?;
                }
            }
        }

        // 5. The dev container configuration.
        let dc = match read_devcontainer(&workspace, view.record.devcontainer_path.as_deref())? {
            Some((rel, dc)) => {
                log.line(&format!("read {rel}"));
                if !dc.unsupported.is_empty() {
                    log.line(&format!(
                        "{rel}: not supported by Berth, ignored: {}",
                        dc.unsupported.join(", ")
                    ));
                }
                dc
            }
            None => {
                log.line(
                    "no .devcontainer/devcontainer.json or .devcontainer.json in the workspace",
                );
                Default::default()
            }
        };
        let image = match (&view.record.image, &dc.image) {
            (Some(i), _) => {
                log.line(&format!("image {i} (asked for at creation)"));
                i.clone()
            }
            (None, Some(i)) => {
                log.line(&format!("image {i} (from the dev container configuration)"));
                i.clone()
            }
            (None, None) => {
                return Err("no image: give one with `berth codespace create --image REF`, or add \"image\" to .devcontainer/devcontainer.json".into());
            }
        };
        let reference = ImageRef::parse(&image).map_err(|e| format!("image {image}: {e}"))?;

        // 6. Pull with the matching login (Berth's own registry: the environment token).
        let (own_host, own_scheme) = RegistryHost::parse(&envs.config.server_url)
            .map_err(|e| format!("the server's URL is not usable for its registry: {e}"))?;
        let berth_login = own_login(&envs.config.server_url, user.login.as_str(), &token)?;
        let full_name = repo.full_name();
        let (source, with) = if reference.host.config_key() == own_host.config_key() {
            log.line(&format!(
                "pulling {image} from Berth's registry with the environment token"
            ));
            let (credentials, _) = berth_login
                .credentials(&self.remote().ecr, self.now_utc())
                .await
                .map_err(|e| e.to_string())?;
            (
                ImageSource {
                    reference: reference.clone(),
                    scheme: own_scheme,
                    credentials,
                    // Berth's own registry: its own address, whatever the policy.
                    egress: self.remote().unrestricted.clone(),
                },
                PulledWith::Berth {
                    package: &reference.repository,
                    repository: &full_name,
                },
            )
        } else if let Some(login) = set
            .logins
            .iter()
            .find(|l| l.host.config_key() == reference.host.config_key())
        {
            log.line(&format!(
                "pulling {image} with the registry login {}",
                login.prefix
            ));
            let (credentials, _) = login
                .credentials(&self.remote().ecr, self.now_utc())
                .await
                .map_err(|e| {
                    format!(
                        "cannot pull {image}: the registry login {} is not usable: {e}",
                        login.prefix
                    )
                })?;
            (
                ImageSource {
                    reference: reference.clone(),
                    scheme: login.scheme,
                    credentials,
                    egress: self.remote().egress_for(user).clone(),
                },
                PulledWith::Login {
                    prefix: &login.prefix,
                },
            )
        } else {
            log.line(&format!(
                "pulling {image} anonymously: no registry login names {}",
                reference.host
            ));
            (
                ImageSource {
                    reference: reference.clone(),
                    scheme: None,
                    credentials: None,
                    egress: self.remote().egress_for(user).clone(),
                },
                PulledWith::Anonymous,
            )
        };

        // The egress policy, before anything is sent (the Docker Engine pulls by itself, so
        // this is its check; runc's pull checks every connection again).
        if source.egress.is_restricted() {
            let authority = reference.host.api_authority();
            let (name, port) = match authority.rsplit_once(':') {
                Some((h, p)) if !authority.ends_with(']') => (h, p.parse().unwrap_or(443)),
                _ => (authority, 443),
            };
            if let Err(berth_registry_client::egress::ResolveError::Refused(r)) =
                source.egress.resolve(name, port).await
            {
                return Err(format!("cannot pull {image}: {r}"));
            }
        }

        let folder = match &dc.workspace_folder {
            Some(f) if f.starts_with('/') && !f.split('/').any(|c| c == "..") => f.clone(),
            Some(f) => {
                return Err(format!(
                    "workspaceFolder {f:?} must be an absolute path inside the container"
                ));
            }
            None => format!("/workspaces/{}", repo.name),
        };
        let home = |source, rel: &str| Mount {
            source,
            target: MountTarget::Home(rel.to_owned()),
            readonly: false,
            owned: true,
            persistent: false,
        };
        let mut isolation = super::isolation::of(&envs.config, &view.record);
        isolation.ids = self.ensure_range(envs, &view.record).await?;
        let mut spec = RunSpec {
            name: name.to_owned(),
            state_dir: paths.runtime(),
            secret_dir: paths.secrets.clone(),
            env: Vec::new(),
            user: dc.remote_user.clone().or_else(|| dc.container_user.clone()),
            cwd: folder.clone(),
            mounts: vec![
                // Handed to the user at the first start, before anything runs.
                Mount {
                    source: workspace.clone(),
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
        };
        let narrate = |line: String| log.line(&line);
        let info = envs
            .config
            .runtime
            .prepare(&spec, &source, &narrate)
            .await
            .map_err(|e| match e {
                berth_runtime::RuntimeError::Pull { source: error, .. } => {
                    pull_failure(&image, &reference.host.to_string(), with, &error)
                }
                other => other.to_string(),
            })?;

        // 7. The variables: the image's, the dev container's, the secrets, then Berth's.
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
        let shown = BuiltinVariables {
            codespace_name: name,
            repository: &full_name,
            user: user.login.as_str(),
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
        let env = layer_variables(&[from_image, secret_env, builtins]);
        spec.env = env;

        // 8. Logins inside: config.json and auth.json for every login and Berth's registry.
        let mut files = self
            .write_logins(
                paths,
                &set,
                berth_login,
                &token,
                Rewrite {
                    npm_scope: Some(repo.owner_login.as_str()),
                    owner: None,
                },
                log,
            )
            .await?;

        // 9. Run.
        self.store
            .set_codespace_state(
                name,
                &[CodespaceState::Provisioning],
                CodespaceState::Starting,
                None,
                self.now(),
            )
            .await
            .map_err(|e| e.to_string())?;
        log.line(&super::isolation::describe(&spec.isolation));
        let ids = envs
            .config
            .runtime
            .start(&spec)
            .await
            .map_err(|e| e.to_string())?;
        files.set_owner(ids.host_uid, ids.host_gid);
        log.line(&format!(
            "running as uid {} (host uid {}) in {}",
            ids.uid, ids.host_uid, spec.cwd
        ));
        self.serve_inside(envs, &spec, log).await?;

        // 10. postCreateCommand, at the first start.
        if !view.record.initialized {
            if let Some(cmd) = &dc.post_create_command {
                for argv in cmd.invocations() {
                    log.line(&format!("postCreateCommand: {}", argv.join(" ")));
                    let hidden: Vec<&str> = secrets
                        .iter()
                        .map(|s| s.value.expose_secret())
                        .chain([token.expose_secret()])
                        .collect();
                    let code = self.exec_into_log(envs, &spec, argv, &hidden, log).await?;
                    if code != 0 {
                        log.line(&format!("warning: postCreateCommand exited with {code}; the codespace is usable, fix the command in devcontainer.json"));
                    }
                }
            }
            self.store
                .mark_codespace_initialized(name, self.now())
                .await
                .map_err(|e| e.to_string())?;
        }
        self.keep_fresh(envs, name, files, log.clone());
        Ok(())
    }

    /// The environment's host id range: the one it was given, or, for an environment from
    /// before id ranges, a free one now.
    async fn ensure_range(
        &self,
        envs: &Environments,
        record: &berth_store::CodespaceRecord,
    ) -> std::result::Result<IdRange, String> {
        if let Some(base) = record.uid_base {
            return Ok(IdRange {
                base,
                size: IDS_PER_ENVIRONMENT,
            });
        }
        for _ in 0..5 {
            let taken = self
                .store
                .codespace_uid_bases()
                .await
                .map_err(|e| e.to_string())?;
            let range = envs.config.id_pool.allocate(&taken).ok_or(
                "every id range of the server's pool is in use; delete environments first",
            )?;
            match self
                .store
                .set_codespace_uid_base(&record.name, range.base)
                .await
            {
                Ok(()) => return Ok(range),
                Err(berth_store::StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("cannot find a free id range for the environment; try again".into())
    }

    /// Serves Berth inside the environment's network, at the addresses of the server's URL that
    /// its network would refuse (the server's loopback or private address).
    pub(super) async fn serve_inside(
        &self,
        envs: &Environments,
        spec: &RunSpec,
        log: &CreationLog,
    ) -> std::result::Result<(), String> {
        let Some(serve) = envs.config.serve_inside.clone() else {
            return Ok(());
        };
        let mut handles = Vec::new();
        for addr in
            super::isolation::inside_addresses(&envs.config.server_url, &spec.isolation).await
        {
            let listener = envs
                .config
                .runtime
                .listen_inside(spec, addr)
                .await
                .map_err(|e| e.to_string())?;
            handles.push((serve.0)(listener));
            log.line(&format!(
                "Berth's API and registries answer inside the environment at {addr}"
            ));
        }
        let old = envs
            .inside
            .lock()
            .expect("inside map poisoned")
            .insert(spec.name.clone(), handles);
        for h in old.into_iter().flatten() {
            h.abort();
        }
        Ok(())
    }

    /// Writes the environment's `config.json`, `auth.json` (every login, and Berth's registry
    /// with the environment token) and `.npmrc`; returns the auth files to keep fresh.
    pub(super) async fn write_logins(
        &self,
        paths: &Paths,
        set: &LoginSet,
        berth_login: Login,
        token: &SecretString,
        rewrite: Rewrite<'_>,
        log: &CreationLog,
    ) -> std::result::Result<AuthFiles, String> {
        let server = self
            .environments
            .as_ref()
            .map(|e| e.config.server_url.trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let npm_host = server
            .split_once("://")
            .map_or(server.as_str(), |(_, rest)| rest);
        if let Some(owner) = rewrite.npm_scope {
            let npmrc = format!(
                "; written by Berth for this codespace\n@{owner}:registry={server}/npm/\n//{npm_host}/npm/:_authToken={token}\n",
                owner = owner.to_ascii_lowercase(),
                token = token.expose_secret()
            );
            write_private_file_as(&paths.npmrc(), npmrc.as_bytes(), None)
                .map_err(|e| format!("cannot write the environment's .npmrc: {e}"))?;
        }

        let own_host = berth_login.host.clone();
        let mut logins = set.logins.clone();
        logins.retain(|l| l.host.config_key() != own_host.config_key());
        logins.push(berth_login);
        let mut files = AuthFiles::new(
            vec![
                paths.docker_dir().join("config.json"),
                paths.containers_dir().join("auth.json"),
            ],
            logins,
        );
        if let Some((uid, gid)) = rewrite.owner {
            files.set_owner(uid, gid);
        }
        let report = files
            .write(&self.remote().ecr, self.now_utc())
            .await
            .map_err(|e| format!("cannot write the environment's registry logins: {e}"))?;
        for failure in &report.failures {
            log.line(&format!("warning: {failure}"));
        }
        let hosts: Vec<String> = report.written.iter().map(ToString::to_string).collect();
        log.line(&format!(
            "logged in inside the environment (~/.docker/config.json, ~/.config/containers/auth.json): {}; npm: ~/.npmrc",
            hosts.join(", ")
        ));
        Ok(files)
    }

    /// Rewrites the environment's auth files whenever a swapped (ECR) password nears the end of
    /// its life, until the environment stops.
    pub(super) fn keep_fresh(
        &self,
        envs: &Environments,
        name: &str,
        mut files: AuthFiles,
        log: CreationLog,
    ) {
        if files.next_refresh().is_none() {
            return;
        }
        let berth = self.clone();
        let task = tokio::spawn(async move {
            while let Some(at) = files.next_refresh() {
                let wait = (at - berth.now_utc()).max(time::Duration::ZERO);
                tokio::time::sleep(
                    std::time::Duration::from_secs(wait.whole_seconds().unsigned_abs())
                        + std::time::Duration::from_millis(100),
                )
                .await;
                match files
                    .refresh_if_due(&berth.remote().ecr, berth.now_utc())
                    .await
                {
                    Ok(Some(report)) => {
                        for failure in &report.failures {
                            log.line(&format!(
                                "warning: renewing a registry login failed: {failure}"
                            ));
                        }
                        if report.failures.is_empty() {
                            log.line("renewed the environment's ECR logins");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        log.line(&format!("warning: cannot rewrite the registry logins: {e}"))
                    }
                }
            }
        });
        if let Some(old) = envs
            .refreshers
            .lock()
            .expect("refresher map poisoned")
            .insert(name.to_owned(), task)
        {
            old.abort();
        }
    }

    /// Runs one command in the environment with its output in the creation log.
    async fn exec_into_log(
        &self,
        envs: &Environments,
        spec: &RunSpec,
        argv: Vec<String>,
        hidden: &[&str],
        log: &CreationLog,
    ) -> std::result::Result<i32, String> {
        // The command's output goes to a file on disk: secret values in it are masked, as
        // GitHub Actions masks them (each line of a multi-line value, and base64 forms too).
        let masker = berth_domain::masking::Masker::new(hidden.iter().copied());
        let mask = |line: &str| masker.mask(line);
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let exec = berth_runtime::ExecSpec { argv, stdin: None };
        let run = envs.config.runtime.exec(spec, &exec, tx);
        let pump = async {
            let mut pending = String::new();
            while let Some(chunk) = rx.recv().await {
                let (Output::Stdout(b) | Output::Stderr(b)) = chunk;
                pending.push_str(&String::from_utf8_lossy(&b));
                while let Some(i) = pending.find('\n') {
                    log.line(&format!("  | {}", mask(&pending[..i])));
                    pending.drain(..=i);
                }
            }
            if !pending.is_empty() {
                log.line(&format!("  | {}", mask(&pending)));
            }
        };
        let (code, ()) = tokio::join!(run, pump);
        code.map_err(|e| e.to_string())
    }
}

/// What [`Berth::write_logins`] writes besides the auth files.
pub(super) struct Rewrite<'a> {
    /// `.npmrc` too, with this account's scope on Berth's registry (only before a start: it is
    /// mounted as a file, so a running environment would not see a replaced one).
    pub npm_scope: Option<&'a str>,
    /// The auth files' owner, once the environment's user is known.
    pub owner: Option<(u32, u32)>,
}

/// The login for Berth's own registry: the user's login with the environment token.
pub(super) fn own_login(
    server_url: &str,
    user: &str,
    token: &SecretString,
) -> std::result::Result<Login, String> {
    let (host, scheme) = RegistryHost::parse(server_url)
        .map_err(|e| format!("the server's URL is not usable for its registry: {e}"))?;
    Ok(Login {
        prefix: BERTH_LOGIN.to_owned(),
        host,
        scheme,
        secret: LoginSecret::Password(Credentials {
            username: user.to_owned(),
            password: token.clone(),
        }),
    })
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}
