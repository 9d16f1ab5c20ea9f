//! Session channels: a command run in the environment with standard input streamed in, output
//! and standard error streamed out, and the exit status passed back.

use berth_service::environments::{ExecSpec, Output, Stdin};
use berth_service::{Berth, Principal};
use russh::ChannelId;
use russh::server::Handle;
use tokio::sync::mpsc;

/// The most session channels one connection may hold open.
pub(crate) const MAX_SESSIONS: usize = 10;
/// The most variables a client may pass, and the longest value.
const MAX_ENV: usize = 32;
const MAX_ENV_VALUE: usize = 256;

/// What a session channel has been asked for so far.
#[derive(Debug, Default)]
pub(crate) struct SessionChannel {
    env: Vec<(String, String)>,
    /// Standard input of the running command; dropped for end of file.
    stdin: Option<mpsc::Sender<Vec<u8>>>,
    started: bool,
}

/// A command about to run.
#[derive(Debug)]
pub(crate) struct Run {
    command: String,
    env: Vec<(String, String)>,
    stdin: mpsc::Receiver<Vec<u8>>,
}

impl SessionChannel {
    /// Keeps `LANG` and `LC_*` (what OpenSSH's clients send by default); refuses the rest.
    pub(crate) fn set_env(&mut self, name: &str, value: &str) -> bool {
        let wanted = name == "LANG" || name.starts_with("LC_");
        let sane = name.len() <= 32
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && value.len() <= MAX_ENV_VALUE
            && !value.contains('\0');
        if !wanted || !sane || self.env.len() >= MAX_ENV {
            return false;
        }
        self.env.push((name.to_owned(), value.to_owned()));
        true
    }

    pub(crate) fn started(&self) -> bool {
        self.started
    }

    pub(crate) fn start(&mut self, command: String) -> Run {
        let (tx, rx) = mpsc::channel(16);
        self.stdin = Some(tx);
        self.started = true;
        Run {
            command,
            env: std::mem::take(&mut self.env),
            stdin: rx,
        }
    }

    /// Passes `data` to the command's standard input (waiting while it is full).
    pub(crate) async fn stdin(&self, data: &[u8]) {
        if let Some(tx) = &self.stdin {
            let _ = tx.send(data.to_vec()).await;
        }
    }

    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }
}

/// Runs `run` in the environment as `principal` and answers on `channel` until it ends.
pub(crate) async fn run(
    berth: Berth,
    principal: Principal,
    environment: String,
    run: Run,
    handle: Handle,
    channel: ChannelId,
) {
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(64);
    let exec = ExecSpec {
        argv: vec!["/bin/sh".into(), "-c".into(), run.command],
        stdin: Stdin::Stream(run.stdin),
        env: run.env,
    };
    let environments = berth.environments().clone();
    let running = environments.exec_codespace(&principal, &environment, exec, out_tx);
    let forward = async {
        while let Some(chunk) = out_rx.recv().await {
            let sent = match chunk {
                Output::Stdout(bytes) => handle.data(channel, bytes).await,
                Output::Stderr(bytes) => handle.extended_data(channel, 1, bytes).await,
            };
            if sent.is_err() {
                break;
            }
        }
    };
    let (result, ()) = tokio::join!(running, forward);
    let status = match result {
        Ok(code) => u32::try_from(code).unwrap_or(255),
        Err(e) => {
            let message = crate::explain(&e, &environment);
            let _ = handle
                .extended_data(channel, 1, format!("berth: {message}\r\n").into_bytes())
                .await;
            255
        }
    };
    finish(&handle, channel, status).await;
}

/// Says `message` on the channel's standard error and ends it with status 1.
pub(crate) fn refuse(handle: Handle, channel: ChannelId, message: &'static str) {
    tokio::spawn(async move {
        let _ = handle
            .extended_data(channel, 1, format!("berth: {message}\r\n").into_bytes())
            .await;
        finish(&handle, channel, 1).await;
    });
}

async fn finish(handle: &Handle, channel: ChannelId, status: u32) {
    let _ = handle.exit_status_request(channel, status).await;
    let _ = handle.eof(channel).await;
    let _ = handle.close(channel).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_locale_is_taken_from_the_client() {
        let mut s = super::SessionChannel::default();
        assert!(s.set_env("LANG", "C.UTF-8"));
        assert!(s.set_env("LC_ALL", "C"));
        for (name, value) in [
            ("PATH", "/evil"),
            ("LD_PRELOAD", "/x.so"),
            ("LC_BAD NAME", "x"),
            ("LANG", "\0"),
        ] {
            assert!(!s.set_env(name, value), "{name}");
        }
        assert!(!s.set_env("LANG", &"x".repeat(super::MAX_ENV_VALUE + 1)));
    }
}
