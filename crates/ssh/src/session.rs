//! Session channels: a command run in the environment with standard input streamed in, output
//! and standard error streamed out, and the exit status passed back.

use berth_service::environments::{ExecSpec, Output, Signal, Stdin, Tty};
use berth_service::{Berth, Principal};
use russh::ChannelId;
use russh::server::Handle;
use tokio::sync::mpsc;

/// The most session channels one connection may hold open.
pub(crate) const MAX_SESSIONS: usize = 10;
/// The most variables a client may pass, and the longest value.
const MAX_ENV: usize = 32;
const MAX_ENV_VALUE: usize = 256;

/// A terminal asked for: its type, and the sender of its window sizes.
#[derive(Debug)]
struct Terminal {
    term: String,
    size: tokio::sync::watch::Sender<(u16, u16)>,
}

/// What a session channel has been asked for so far.
#[derive(Debug, Default)]
pub(crate) struct SessionChannel {
    env: Vec<(String, String)>,
    terminal: Option<Terminal>,
    /// Standard input of the running command; dropped for end of file.
    stdin: Option<mpsc::Sender<Vec<u8>>>,
    /// Signals for the running command.
    signals: Option<mpsc::Sender<Signal>>,
    started: bool,
    /// The running command's task, ended when the channel closes (a terminal is hung up).
    task: Option<tokio::task::AbortHandle>,
    /// The channel itself, until it is used: as a stream for a subsystem, or dropped when a
    /// command starts (its data then comes through the handler's callbacks).
    channel: Option<russh::Channel<russh::server::Msg>>,
    /// Serving a subsystem (sftp).
    subsystem: bool,
    /// The client forwards its SSH agent (`ssh -A`).
    agent: bool,
    /// The forwarded agent's socket inside, while the command runs.
    agent_task: Option<tokio::task::AbortHandle>,
}

impl Drop for SessionChannel {
    fn drop(&mut self) {
        for task in [self.task.take(), self.agent_task.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

/// A command about to run.
#[derive(Debug)]
pub(crate) struct Run {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    stdin: mpsc::Receiver<Vec<u8>>,
    signals: mpsc::Receiver<Signal>,
    tty: Option<Tty>,
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

    pub(crate) fn with_channel(channel: russh::Channel<russh::server::Msg>) -> Self {
        let mut fresh = Self::default();
        fresh.channel = Some(channel);
        fresh
    }

    /// The channel as a stream, for a subsystem (once; `None` after a command started).
    pub(crate) fn take_channel(&mut self) -> Option<russh::Channel<russh::server::Msg>> {
        if self.started {
            return None;
        }
        self.started = true;
        self.subsystem = true;
        self.channel.take()
    }

    pub(crate) fn is_subsystem(&self) -> bool {
        self.subsystem
    }

    /// The client asked to forward its agent.
    pub(crate) fn forward_agent(&mut self) -> bool {
        if self.started {
            return false;
        }
        self.agent = true;
        true
    }

    pub(crate) fn wants_agent(&self) -> bool {
        self.agent
    }

    /// The agent's socket, carried while the command runs: its path becomes `SSH_AUTH_SOCK`.
    pub(crate) fn agent_at(&mut self, path: String, task: tokio::task::AbortHandle) {
        self.env.push(("SSH_AUTH_SOCK".into(), path));
        self.agent_task = Some(task);
    }

    /// A terminal of type `term` (bounded to a sane word) and size.
    pub(crate) fn set_terminal(&mut self, term: &str, cols: u32, rows: u32) -> bool {
        let sane = !term.is_empty()
            && term.len() <= 64
            && term
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b));
        if !sane || self.started {
            return false;
        }
        let (size, _) = tokio::sync::watch::channel(window(cols, rows));
        self.terminal = Some(Terminal {
            term: term.to_owned(),
            size,
        });
        true
    }

    /// The terminal's new window size.
    pub(crate) fn resize(&self, cols: u32, rows: u32) -> bool {
        match &self.terminal {
            Some(t) => {
                t.size.send_replace(window(cols, rows));
                true
            }
            None => false,
        }
    }

    /// `command` (`None`: the user's login shell) about to run.
    pub(crate) fn start(&mut self, command: Option<String>) -> Run {
        self.channel = None;
        let (tx, rx) = mpsc::channel(16);
        self.stdin = Some(tx);
        let (signals_tx, signals) = mpsc::channel(4);
        self.signals = Some(signals_tx);
        self.started = true;
        Run {
            argv: command.map_or_else(berth_service::environments::login_shell, |c| {
                vec!["/bin/sh".into(), "-c".into(), c]
            }),
            env: std::mem::take(&mut self.env),
            stdin: rx,
            signals,
            tty: self.terminal.as_ref().map(|t| Tty {
                term: t.term.clone(),
                size: t.size.subscribe(),
            }),
        }
    }

    /// Passes `data` to the command's standard input (waiting while it is full).
    pub(crate) async fn stdin(&self, data: &[u8]) {
        if let Some(tx) = &self.stdin {
            let _ = tx.send(data.to_vec()).await;
        }
    }

    /// Passes the signal SSH names `name` to the running command. SSH asks no reply: a signal
    /// with an unknown name, with no command running, or beyond the few that may wait, is dropped.
    pub(crate) fn signal(&self, name: &russh::Sig) {
        if let (Some(signal), Some(tx)) = (signal_named(name), &self.signals) {
            let _ = tx.try_send(signal);
        }
    }

    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub(crate) fn running(&mut self, task: tokio::task::AbortHandle) {
        self.task = Some(task);
    }
}

/// Runs `run` in the environment as `principal` and answers on `channel` until it ends.
pub(crate) async fn run(
    berth: Berth,
    principal: Principal,
    environment: String,
    start: bool,
    run: Run,
    handle: Handle,
    channel: ChannelId,
) {
    if start {
        let _ = handle
            .extended_data(
                channel,
                1,
                format!("berth: {environment} is being made Available…\r\n").into_bytes(),
            )
            .await;
        if let Err(why) = crate::ensure_available(&berth, &principal, &environment).await {
            let _ = handle
                .extended_data(channel, 1, format!("berth: {why}\r\n").into_bytes())
                .await;
            finish(&handle, channel, 255).await;
            return;
        }
    }
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(64);
    let exec = ExecSpec {
        argv: run.argv,
        stdin: Stdin::Stream(run.stdin),
        env: run.env,
        tty: run.tty,
        signals: Some(run.signals),
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

/// The signal SSH names `name` (RFC 4254 §6.10, and `USR2`, which it leaves out), if any.
fn signal_named(name: &russh::Sig) -> Option<Signal> {
    use russh::Sig;
    Some(match name {
        Sig::ABRT => Signal::ABORT,
        Sig::ALRM => Signal::ALARM,
        Sig::FPE => Signal::FPE,
        Sig::HUP => Signal::HUP,
        Sig::ILL => Signal::ILL,
        Sig::INT => Signal::INT,
        Sig::KILL => Signal::KILL,
        Sig::PIPE => Signal::PIPE,
        Sig::QUIT => Signal::QUIT,
        Sig::SEGV => Signal::SEGV,
        Sig::TERM => Signal::TERM,
        Sig::USR1 => Signal::USR1,
        Sig::Custom(name) if name == "USR2" => Signal::USR2,
        Sig::Custom(_) => return None,
    })
}

/// A window size in the runtime's terms (columns, rows), clamped to what a terminal holds.
fn window(cols: u32, rows: u32) -> (u16, u16) {
    let clamp = |n: u32| u16::try_from(n.clamp(1, 1000)).unwrap_or(80);
    (clamp(cols), clamp(rows))
}

async fn finish(handle: &Handle, channel: ChannelId, status: u32) {
    let _ = handle.exit_status_request(channel, status).await;
    let _ = handle.eof(channel).await;
    let _ = handle.close(channel).await;
}

/// Carries every connection to the agent socket inside to the client's agent, over an agent
/// channel of the SSH connection, until aborted (the socket is removed then).
pub(crate) async fn carry_agent(socket: berth_service::environments::AgentSocket, handle: Handle) {
    while let Ok(mut conn) = socket.accept().await {
        let handle = handle.clone();
        tokio::spawn(async move {
            if let Ok(channel) = handle.channel_open_agent().await {
                // Until the program inside hangs up (or the agent does): the channel is closed
                // then, so that the client does not wait for it after the session ends.
                let stream = channel.into_stream();
                let (mut from_agent, mut to_agent) = tokio::io::split(stream);
                let (mut from_inside, mut to_inside) = conn.split();
                tokio::select! {
                    _ = tokio::io::copy(&mut from_inside, &mut to_agent) => {}
                    _ = tokio::io::copy(&mut from_agent, &mut to_inside) => {}
                }
            }
        });
    }
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
