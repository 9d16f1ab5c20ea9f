//! Steps 9 and 10 of a start: run the environment (and serve Berth inside its network), then
//! `postCreateCommand` at its first start, its output masked into the creation log.

use berth_domain::codespace::CodespaceState::{Provisioning, Starting};
use berth_domain::devcontainer::DevContainer;
use berth_domain::secrets::ResolvedSecret;
use berth_registry_client::logins::AuthFiles;
use berth_runtime::{Output, RunSpec};
use secrecy::{ExposeSecret, SecretString};

use super::super::{CodespaceView, CreationLog, Environments, State};
use super::{StartError, StartResult};

impl Environments {
    /// Step 9: `Starting`, then the runtime starts the environment; the auth files are handed
    /// to its user, and Berth is served inside its network.
    pub(super) async fn run_environment(
        &self,
        envs: &State,
        spec: &RunSpec,
        mut files: AuthFiles,
        log: &CreationLog,
    ) -> StartResult<AuthFiles> {
        self.transition(&spec.name, &[Provisioning], Starting)
            .await?;
        log.line(&super::super::isolation::describe(&spec.isolation));
        let ids = envs
            .config
            .runtime
            .start(spec)
            .await
            .map_err(StartError::Runtime)?;
        files.set_owner(ids.host_uid, ids.host_gid);
        log.line(&format!(
            "running as uid {} (host uid {}) in {}",
            ids.uid, ids.host_uid, spec.cwd
        ));
        self.serve_inside(envs, spec, log).await?;
        Ok(files)
    }

    /// Serves Berth inside the environment's network, at the addresses of the server's URL that
    /// its network would refuse (the server's loopback or private address).
    pub(in super::super) async fn serve_inside(
        &self,
        envs: &State,
        spec: &RunSpec,
        log: &CreationLog,
    ) -> StartResult<()> {
        let Some(serve) = envs.config.serve_inside.clone() else {
            return Ok(());
        };
        let mut handles = Vec::new();
        for addr in
            super::super::isolation::inside_addresses(&envs.config.server_url, &spec.isolation)
                .await
        {
            let listener = envs
                .config
                .runtime
                .listen_inside(spec, addr)
                .await
                .map_err(StartError::Runtime)?;
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

    /// Step 10: `postCreateCommand`, at the first start only; a command that fails leaves the
    /// environment usable, with a warning.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn post_create(
        &self,
        envs: &State,
        view: &CodespaceView,
        spec: &RunSpec,
        dc: &DevContainer,
        secrets: &[ResolvedSecret<SecretString>],
        token: &SecretString,
        log: &CreationLog,
    ) -> StartResult<()> {
        if view.record.initialized {
            return Ok(());
        }
        if let Some(cmd) = &dc.post_create_command {
            let hidden: Vec<&str> = secrets
                .iter()
                .map(|s| s.value.expose_secret())
                .chain([token.expose_secret()])
                .collect();
            for argv in cmd.invocations() {
                log.line(&format!("postCreateCommand: {}", argv.join(" ")));
                let code = self.exec_into_log(envs, spec, argv, &hidden, log).await?;
                if code != 0 {
                    log.line(&format!("warning: postCreateCommand exited with {code}; the codespace is usable, fix the command in devcontainer.json"));
                }
            }
        }
        self.store
            .mark_codespace_initialized(&view.record.name, self.now())
            .await?;
        Ok(())
    }

    /// Runs one command in the environment with its output in the creation log.
    async fn exec_into_log(
        &self,
        envs: &State,
        spec: &RunSpec,
        argv: Vec<String>,
        hidden: &[&str],
        log: &CreationLog,
    ) -> StartResult<i32> {
        // The command's output goes to a file on disk: secret values in it are masked, as
        // GitHub Actions masks them (each line of a multi-line value, and base64 forms too).
        let masker = berth_domain::masking::Masker::new(hidden.iter().copied());
        let mask = |line: &str| masker.mask(line);
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let exec = berth_runtime::ExecSpec {
            argv,
            stdin: berth_runtime::Stdin::None,
            env: Vec::new(),
            tty: None,
            signals: None,
        };
        let run = envs.config.runtime.exec(spec, exec, tx);
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
        code.map_err(StartError::Runtime)
    }
}
