//! The SSH gateway as the tests reach it: Debian's OpenSSH client, and tmux for a terminal.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::servers::Daemon;
use super::{run_ok, text};

/// `ssh` to `host` as a client config `config` names it (the Host blocks `berth codespace ssh
/// --config` prints for `cli`, whose ProxyCommand runs `cli`'s berth over the API's
/// WebSocket), with `key` only, running `command`.
pub fn through_config(
    config: &Path,
    key: &Path,
    cli: &super::Cli,
    host: &str,
    command: &str,
) -> Command {
    let mut ssh = Command::new("ssh");
    ssh.arg("-F")
        .arg(config)
        .arg("-i")
        .arg(key)
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
        .arg(host)
        .arg(command)
        .env("BERTH_CONFIG_DIR", &cli.config_dir)
        .stdin(Stdio::null());
    for (k, v) in &cli.env {
        ssh.env(k, v);
    }
    ssh
}

/// `ssh` to the gateway at `port` as `user` with `key`, trusting the host key on first use
/// into a known_hosts of the test's own, never asking anything.
pub fn ssh(dir: &Path, port: u16, key: &Path, user: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(["-p", &port.to_string()]);
    signed_in(&mut cmd, dir, key)
        .arg(format!("{user}@127.0.0.1"))
        .args(args);
    cmd
}

/// The options every client here uses: `key` only, never asking, the host key trusted on first
/// use into a known_hosts of the test's own.
fn signed_in<'c>(cmd: &'c mut Command, dir: &Path, key: &Path) -> &'c mut Command {
    cmd.arg("-i")
        .arg(key)
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(["-o", "StrictHostKeyChecking=accept-new", "-o"])
        .arg(format!(
            "UserKnownHostsFile={}",
            dir.join("known_hosts").display()
        ))
}

/// `scp` or `sftp` (`program`) to the gateway at `port` with `key`, as [`ssh`] connects; `args`
/// name the files (`USER@127.0.0.1:PATH` for remote ones).
pub fn file_client(program: &str, dir: &Path, port: u16, key: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(["-P", &port.to_string()]);
    signed_in(&mut cmd, dir, key).args(args);
    cmd
}

/// `ssh -W localhost:PORT`: the request sent through a direct-tcpip channel, the answer read.
pub fn through_w(cmd: &mut Command, request: &[u8]) -> Output {
    super::run_with_input(cmd, request)
}

/// The command line of `cmd`, with the variables it sets, quoted for a shell (tmux runs it so).
fn shell_line(cmd: &Command) -> String {
    let quote = |a: &std::ffi::OsStr| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''"));
    // env's options (unset) before its assignments.
    let mut words = vec!["env".to_owned()];
    for (k, v) in cmd.get_envs() {
        if v.is_none() {
            words.extend(["-u".to_owned(), quote(k)]);
        }
    }
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            let assignment = format!("{}={}", k.to_string_lossy(), v.to_string_lossy());
            words.push(quote(assignment.as_ref()));
        }
    }
    words.push(quote(cmd.get_program()));
    words.extend(cmd.get_args().map(quote));
    words.join(" ")
}

/// What tmux's window `t` shows now.
fn capture(socket: &Path) -> String {
    run_ok(
        Command::new("tmux")
            .arg("-S")
            .arg(socket)
            .args(["capture-pane", "-p", "-t", "t"]),
        None,
    )
}

/// What tmux's window `t` shows, once `wanted` is in it (within 20 s).
fn screen_with(socket: &Path, wanted: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let shown = capture(socket);
        if shown.contains(wanted) {
            return shown;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{wanted:?} never shown:\n{shown}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A shell on a terminal, driven through tmux as a person types: the prompt, the window size
/// and its changes, Ctrl-C interrupting a command.
pub fn terminal_session(ssh: &Command) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("tmux.sock");
    let tmux = |args: &[&str]| {
        run_ok(Command::new("tmux").arg("-S").arg(&socket).args(args), None);
    };
    // Should ssh end, what it said stays on the screen.
    let line = format!("{}; echo ssh-ended-$?; sleep 60", shell_line(ssh));
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "100",
        "-y",
        "30",
        &line,
    ]);
    tmux(&[
        "send-keys",
        "-t",
        "t",
        "echo the-answer-is-$((6*7))",
        "Enter",
    ]);
    screen_with(&socket, "the-answer-is-42");
    tmux(&["send-keys", "-t", "t", "stty size", "Enter"]);
    screen_with(&socket, "30 100");
    tmux(&["resize-window", "-t", "t", "-x", "90", "-y", "25"]);
    // The new size reaches the terminal inside a moment later (the Docker Engine's resize is an
    // API call): asked again until it shows, for a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        tmux(&["send-keys", "-t", "t", "clear; stty size", "Enter"]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let shown = capture(&socket);
        if shown.contains("25 90") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the resize never arrived:\n{shown}"
        );
    }
    tmux(&[
        "send-keys",
        "-t",
        "t",
        "sleep 60; echo not-interrupted",
        "Enter",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    tmux(&["send-keys", "-t", "t", "C-c", ""]);
    tmux(&["send-keys", "-t", "t", "echo interrupted-$((1+1))", "Enter"]);
    let shown = screen_with(&socket, "interrupted-2");
    assert!(
        !shown.lines().any(|l| l.trim() == "not-interrupted"),
        "the sleep ran to its end:\n{shown}"
    );
    tmux(&["send-keys", "-t", "t", "exit", "Enter"]);
    let _ = Command::new("tmux")
        .arg("-S")
        .arg(&socket)
        .arg("kill-server")
        .output();
}

/// `ssh -A` to `name` with an agent this side starts holding `key`: inside, `ssh-add -l` lists
/// the key (`fingerprint`) from a socket in a directory only the user reaches; without `-A` there
/// is no agent inside, and nothing is left of the last one.
pub fn forwarded_agent_answers(dir: &Path, port: u16, key: &Path, fingerprint: &str, name: &str) {
    let sock = dir.join("agent.sock");
    let _agent = Daemon(
        Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..500 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(sock.exists(), "ssh-agent made no socket in 10 s");
    run_ok(
        Command::new("ssh-add").arg(key).env("SSH_AUTH_SOCK", &sock),
        None,
    );
    let with_agent = |args: &[&str]| {
        ssh(dir, port, key, name, args)
            .env("SSH_AUTH_SOCK", &sock)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = with_agent(&[
        "-A",
        "ssh-add -l; echo sock=$SSH_AUTH_SOCK; ls -ld $(dirname $SSH_AUTH_SOCK)",
    ]);
    let said = text(&out.stdout);
    assert!(said.contains(fingerprint), "{said}{}", text(&out.stderr));
    assert!(said.contains("sock=/tmp/berth-agent-"), "{said}");
    assert!(said.contains("drwx------"), "{said}");
    let out = with_agent(&["echo sock=$SSH_AUTH_SOCK; ls -d /tmp/berth-agent-* 2>&1"]);
    let said = text(&out.stdout);
    assert!(said.starts_with("sock=\n"), "{said}");
    assert!(said.contains("No such file"), "{said}");
}

/// A client that hangs up mid-command (killed), with a terminal or without, leaves nothing
/// running in the environment (as `cli`'s `codespace exec` sees it).
pub fn hanging_up_leaves_nothing_running(
    dir: &Path,
    port: u16,
    key: &Path,
    name: &str,
    cli: &super::Cli,
) {
    let running = || super::environments::exec_ok(cli, name, "ps -o args");
    for (n, options) in [(4241, &[][..]), (4242, &["-tt"][..])] {
        let sleep = format!("sleep {n}");
        let mut args = options.to_vec();
        args.push(&sleep);
        let mut client = ssh(dir, port, key, name, &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while !running().contains(&sleep) {
            assert!(started.elapsed().as_secs() < 10, "{sleep} never ran");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        client.kill().unwrap();
        client.wait().unwrap();
        let hung_up = std::time::Instant::now();
        while running().contains(&sleep) {
            assert!(
                hung_up.elapsed().as_secs() < 10,
                "{sleep} outlived its client: {}",
                running()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Signed in to the gateway at `port` as `name` with `key`, with russh's client: for what
/// OpenSSH's client cannot be made to do.
async fn russh_client(port: u16, key: &Path, name: &str) -> russh::client::Handle<TrustAny> {
    let config = std::sync::Arc::new(russh::client::Config::default());
    let mut session = russh::client::connect(config, ("127.0.0.1", port), TrustAny)
        .await
        .unwrap();
    let key = russh::keys::load_secret_key(key, None).unwrap();
    let signed_in = session
        .authenticate_publickey(
            name,
            russh::keys::PrivateKeyWithHashAlg::new(std::sync::Arc::new(key), None),
        )
        .await
        .unwrap();
    assert!(signed_in.success());
    session
}

/// A client that trusts any host key (the tests pin it with OpenSSH elsewhere).
struct TrustAny;

impl russh::client::Handler for TrustAny {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// Signals an SSH client sends (`signal` requests; OpenSSH's client has no way to, so russh's
/// client sends them) reach the command `name` runs, signed in with `key`: `USR1` is trapped,
/// and `TERM` ends the command with status 143 (standard input never closed, as from a terminal).
pub fn signals_reach_the_command(port: u16, key: &Path, name: &str) {
    use russh::ChannelMsg;
    within_a_minute(async {
        let session = russh_client(port, key, name).await;
        let mut channel = session.channel_open_session().await.unwrap();
        channel
            .exec(
                true,
                "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done",
            )
            .await
            .unwrap();
        let mut said = String::new();
        let mut status = None;
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { data } => {
                    said.push_str(&String::from_utf8_lossy(&data));
                    if said == "ready\n" {
                        channel.signal(russh::Sig::USR1).await.unwrap();
                    } else if said.ends_with("got-usr1\n") {
                        channel.signal(russh::Sig::TERM).await.unwrap();
                    }
                }
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                _ => {}
            }
        }
        assert_eq!(said, "ready\ngot-usr1\n");
        assert_eq!(status, Some(143));
    });
}

/// Runs `test` to its end, failing (never hanging) if it takes over a minute.
fn within_a_minute(test: impl std::future::Future<Output = ()>) {
    let limit = std::time::Duration::from_secs(60);
    super::runtime()
        .block_on(async { tokio::time::timeout(limit, test).await })
        .expect("the SSH exchange did not finish within a minute");
}

/// One connection holds at most 10 sessions at a time: one more is refused and the connection
/// goes on; a closed one's place is free again.
pub fn sessions_per_connection_are_bounded(port: u16, key: &Path, name: &str) {
    within_a_minute(async {
        let session = russh_client(port, key, name).await;
        let mut open = Vec::new();
        for _ in 0..10 {
            open.push(session.channel_open_session().await.unwrap());
        }
        assert!(session.channel_open_session().await.is_err());
        open.pop().unwrap().close().await.unwrap();
        let mut again = None;
        for _ in 0..50 {
            if let Ok(channel) = session.channel_open_session().await {
                again = Some(channel);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(again.is_some(), "a closed session's place was not freed");
    });
}

/// The gateway at `port` holds at most 1024 connections at a time: each of them hears its banner,
/// one more is closed at once without one, and a closed one's place is free again.
pub fn connections_are_bounded(port: u16) {
    use std::io::Read as _;
    // The first bytes the gateway sends: its banner, or nothing (`Ok(None)`) when it closes the
    // connection; a timeout is an error, never taken for either.
    let banner = |conn: &mut std::net::TcpStream| -> std::io::Result<Option<[u8; 8]>> {
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        let mut first = [0u8; 8];
        match conn.read_exact(&mut first) {
            Ok(()) => Ok(Some(first)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(None),
            Err(e) => Err(e),
        }
    };
    let connect = || std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut held: Vec<_> = (0..1024).map(|_| connect()).collect();
    for conn in &mut held {
        assert_eq!(banner(conn).unwrap(), Some(*b"SSH-2.0-"));
    }
    assert_eq!(
        banner(&mut connect()).unwrap(),
        None,
        "a 1025th connection was served"
    );
    drop(held.pop());
    let freed = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        banner(&mut connect()).unwrap().is_some()
    });
    assert!(freed, "a closed connection's place was not freed");
}
