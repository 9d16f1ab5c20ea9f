//! Berth's SSH gateway (`berth serve --ssh-listen`): the SSH user name is an environment's name,
//! and a user gets in with one of their keys (`/user/keys`) to an environment of theirs.
//!
//! What it serves: shells and commands (`ssh -p 2222 NAME@host [CMD]`), on a terminal when the
//! client asks for one (its type, window size and changes) or with standard input streamed in
//! and output and standard error out byte for byte, the exit status passed back, `LANG`/`LC_*`
//! from the client, all through the same service call as the API's exec; and port forwarding
//! (`ssh -N -L 3000:localhost:3000`, `ssh -W`), each forward connected inside the environment's
//! own network by the same service call as the API's tunnel; files (`sftp`, which `scp` speaks);
//! and the client's agent (`ssh -A`), on a socket inside the environment.
//!
//! **Architecture Invariant:** the gateway decides nothing itself: who a key stands for comes
//! from `Accounts::ssh_principal`, and every environment it reaches goes through the
//! environments service with that principal, which checks ownership and state as for the API.

mod host_key;
mod relay;
mod session;
mod sftp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use berth_service::{Berth, Principal};
use russh::keys::HashAlg;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelOpenFailure};

pub use host_key::{HostKeyError, load_or_create, public};

/// The most connections the gateway holds at once (signed in or not).
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a connection may take to sign in.
const SIGN_IN_TIME: std::time::Duration = std::time::Duration::from_secs(60);

/// The gateway, shared by every connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    berth: Berth,
    /// The configuration new connections get: replaced whole when the host key is rotated.
    config: Arc<std::sync::RwLock<Arc<russh::server::Config>>>,
}

fn config(host_key: russh::keys::PrivateKey) -> russh::server::Config {
    russh::server::Config {
        keys: vec![host_key],
        methods: russh::MethodSet::from(&[russh::MethodKind::PublicKey][..]),
        auth_rejection_time: std::time::Duration::from_secs(1),
        auth_rejection_time_initial: Some(std::time::Duration::ZERO),
        // A connection idle this long (no data, no keepalive answers) is closed.
        inactivity_timeout: Some(std::time::Duration::from_secs(3600)),
        keepalive_interval: Some(std::time::Duration::from_secs(30)),
        max_auth_attempts: 6,
        ..Default::default()
    }
}

impl Gateway {
    pub fn new(berth: Berth, host_key: russh::keys::PrivateKey) -> Self {
        Self {
            berth,
            config: Arc::new(std::sync::RwLock::new(Arc::new(config(host_key)))),
        }
    }

    /// The host key's public half and fingerprint (see [`public`]).
    pub fn host_key(&self) -> (String, String) {
        let config = self.current();
        public(&config.keys[0])
    }

    /// Replaces the host key in `data_dir` (the old one kept beside it) and serves the new one
    /// to every connection from now on; open ones keep theirs.
    pub fn rotate(&self, data_dir: &std::path::Path) -> Result<(String, String), HostKeyError> {
        let key = host_key::rotate(data_dir)?;
        let described = public(&key);
        *self.config.write().expect("gateway config poisoned") = Arc::new(config(key));
        Ok(described)
    }

    fn current(&self) -> Arc<russh::server::Config> {
        self.config.read().expect("gateway config poisoned").clone()
    }

    /// Serves connections on `listener` until the task is dropped, at most
    /// [`MAX_CONNECTIONS`] at a time (one more is closed at once).
    pub async fn serve(self, listener: tokio::net::TcpListener) {
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "the SSH gateway could not accept a connection");
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "the SSH gateway holds {MAX_CONNECTIONS} connections; one more was closed");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let signed_in = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let config = self.current();
            let connection = Connection {
                berth: self.berth.clone(),
                peer,
                who: None,
                signed_in: signed_in.clone(),
                sessions: HashMap::new(),
                host_key: Arc::new(config.keys[0].clone()),
                relay: None,
            };
            tokio::spawn(async move {
                let _slot = slot;
                match russh::server::run_stream(config, stream, connection).await {
                    Ok(running) => {
                        // A connection that does not sign in soon gives its slot back.
                        let handle = running.handle();
                        let watchdog = tokio::spawn(async move {
                            tokio::time::sleep(SIGN_IN_TIME).await;
                            if !signed_in.load(std::sync::atomic::Ordering::Relaxed) {
                                let _ = handle
                                    .disconnect(
                                        russh::Disconnect::ByApplication,
                                        "no sign-in in time".into(),
                                        "en".into(),
                                    )
                                    .await;
                            }
                        });
                        if let Err(e) = running.await {
                            tracing::debug!(%peer, error = %e, "an SSH connection ended");
                        }
                        watchdog.abort();
                    }
                    Err(e) => tracing::debug!(%peer, error = %e, "an SSH handshake failed"),
                }
            });
        }
    }
}

/// Who a connection authenticated as: the key's user, with the environment asked for.
#[derive(Debug)]
struct Authenticated {
    principal: Principal,
    environment: String,
    fingerprint: String,
    /// Asked for with `NAME+start`: a stopped environment is started first.
    start: bool,
}

/// The user name's suffix that asks for a stopped environment to be started.
const START_SUFFIX: &str = "+start";

/// How long a connection waits for an environment it started to be `Available`.
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Starts `name` if it is stopped (or failed) and waits until it is `Available`.
async fn ensure_available(berth: &Berth, p: &Principal, name: &str) -> Result<(), String> {
    use berth_service::environments::CodespaceState as S;
    let environments = berth.environments();
    let view = environments
        .get_codespace(p, name)
        .await
        .map_err(|e| explain(&e, name))?;
    if matches!(view.record.state, S::Shutdown | S::Failed) {
        environments
            .start_codespace(p, name)
            .await
            .map_err(|e| explain(&e, name))?;
    }
    let deadline = tokio::time::Instant::now() + START_WAIT;
    loop {
        let view = environments
            .get_codespace(p, name)
            .await
            .map_err(|e| explain(&e, name))?;
        match view.record.state {
            S::Available => return Ok(()),
            S::Failed => {
                return Err(format!(
                    "codespace {name} failed to start: {} (berth codespace logs {name})",
                    view.record.state_reason.unwrap_or_default()
                ));
            }
            _ if tokio::time::Instant::now() > deadline => {
                return Err(format!(
                    "codespace {name} did not come up in time; look at berth codespace logs {name}"
                ));
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
}

/// One SSH connection.
#[derive(Debug)]
struct Connection {
    berth: Berth,
    peer: SocketAddr,
    who: Option<Authenticated>,
    /// Set once it signs in (its watchdog closes it otherwise).
    signed_in: Arc<std::sync::atomic::AtomicBool>,
    /// Its session channels.
    sessions: HashMap<russh::ChannelId, session::SessionChannel>,
    /// The gateway's host key, which the replicas share: what a relay signs in with.
    host_key: Arc<russh::keys::PrivateKey>,
    /// Set when the environment runs on another replica: every channel is relayed there.
    relay: Option<relay::Relay>,
}

impl Connection {
    /// The other gateway's counterpart of our channel, when this connection is relayed.
    fn relayed(
        &self,
        channel: russh::ChannelId,
    ) -> Option<&russh::ChannelWriteHalf<russh::client::Msg>> {
        self.relay.as_ref()?.channel(channel)
    }

    /// A sign-in another replica's gateway relays (see [`relay`]): it must show the host key
    /// the replicas share; it then acts for the user it names, as that user's own key would.
    async fn relayed_sign_in(
        &mut self,
        key: &VerifiedPublicKey<'_>,
        user_id: i64,
        environment: &str,
    ) -> Result<Auth, russh::Error> {
        if key.public_key.key_data() != self.host_key.public_key().key_data() {
            tracing::info!(peer = %self.peer, "a relayed SSH sign-in without the replicas' host key");
            return Ok(Auth::reject());
        }
        match self.berth.accounts().ssh_principal_of(user_id).await {
            Ok(Some(principal)) => {
                tracing::info!(peer = %self.peer, user_id, %environment, "SSH connection relayed from another replica");
                self.signed_in
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                self.who = Some(Authenticated {
                    principal,
                    environment: environment
                        .strip_suffix(START_SUFFIX)
                        .unwrap_or(environment)
                        .to_owned(),
                    fingerprint: format!("relayed for user {user_id}"),
                    start: environment.ends_with(START_SUFFIX),
                });
                Ok(Auth::Accept)
            }
            Ok(None) => Ok(Auth::reject()),
            Err(e) => {
                tracing::warn!(error = %e, "a relayed SSH sign-in could not be checked");
                Ok(Auth::reject())
            }
        }
    }

    /// Runs `command` (`None`: a login shell) on the session `channel`.
    async fn start(
        &mut self,
        channel: russh::ChannelId,
        command: Option<String>,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        let (Some(who), Some(state)) = (&self.who, self.sessions.get_mut(&channel)) else {
            return session.channel_failure(channel);
        };
        if state.started() {
            return session.channel_failure(channel);
        }
        let what = match (command.is_some(), state.wants_agent()) {
            (true, false) => "a command",
            (false, false) => "a shell",
            (true, true) => "a command with the client's agent",
            (false, true) => "a shell with the client's agent",
        };
        tracing::info!(peer = %self.peer, key = %who.fingerprint, environment = %who.environment, what, "SSH session");
        note(&self.berth, who, what).await;
        if state.wants_agent() {
            match self
                .berth
                .environments()
                .agent_socket(&who.principal, &who.environment)
                .await
            {
                Ok(socket) => {
                    let path = socket.path.clone();
                    let task = tokio::spawn(session::carry_agent(socket, session.handle()));
                    state.agent_at(path, task.abort_handle());
                }
                Err(e) => {
                    tracing::warn!(environment = %who.environment, error = %e, "no agent socket")
                }
            }
        }
        let run = state.start(command);
        session.channel_success(channel)?;
        let task = tokio::spawn(session::run(
            self.berth.clone(),
            who.principal.clone(),
            who.environment.clone(),
            who.start,
            run,
            session.handle(),
            channel,
        ));
        state.running(task.abort_handle());
        Ok(())
    }
}

/// Writes in the environment's log that `who` did `what` (never what it carried).
async fn note(berth: &Berth, who: &Authenticated, what: &str) {
    let login = who.principal.user().map(|a| a.login.to_string());
    let line = format!(
        "ssh: {what} by {} with key {}",
        login.as_deref().unwrap_or("someone"),
        who.fingerprint
    );
    let _ = berth
        .environments()
        .note_access(&who.principal, &who.environment, &line)
        .await;
}

/// The relay to the gateway of the replica that runs `user`'s environment (the SSH user name),
/// when another one runs it and its gateway can be reached; `None` otherwise (then the
/// environments service refuses, saying where it runs and what reaches it).
async fn relay_for(
    berth: &Berth,
    host_key: &Arc<russh::keys::PrivateKey>,
    principal: &Principal,
    user: &str,
) -> Option<relay::Relay> {
    use berth_service::environments::Placement;
    let environment = user.strip_suffix(START_SUFFIX).unwrap_or(user);
    let placed = berth.environments().placement(principal, environment).await;
    let Ok(Placement::Elsewhere {
        replica,
        ssh_address: Some(address),
        ..
    }) = placed
    else {
        return None;
    };
    let user_id = principal.user()?.id;
    match relay::Relay::connect(&address, host_key, user_id, user).await {
        Ok(relay) => Some(relay),
        Err(e) => {
            tracing::warn!(%replica, error = %e, "cannot relay an SSH connection to the replica running its environment");
            None
        }
    }
}

/// What a refusal says: someone else's environment reads exactly as a missing one.
fn explain(e: &berth_service::ServiceError, environment: &str) -> String {
    match e {
        berth_service::ServiceError::NotFound => {
            format!("no codespace {environment} of yours (berth codespace list shows yours)")
        }
        berth_service::ServiceError::Conflict(why) if why.contains("not Available") => {
            format!("{why}; or connect as {environment}{START_SUFFIX}@… to start it")
        }
        e => e.to_string(),
    }
}

/// Answers a channel request: taken (success) or not (failure).
fn answer(
    session: &mut Session,
    channel: russh::ChannelId,
    taken: bool,
) -> Result<(), russh::Error> {
    if taken {
        session.channel_success(channel)
    } else {
        session.channel_failure(channel)
    }
}

/// What a forward may reach: the environment's own loopback, by any of its names.
fn is_loopback_name(host: &str) -> bool {
    matches!(
        host,
        "localhost" | "127.0.0.1" | "::1" | "[::1]" | "ip6-localhost"
    )
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let fingerprint = key.public_key.fingerprint(HashAlg::Sha256).to_string();
        if let Some((user_id, environment)) = relay::relayed_for(user) {
            return self.relayed_sign_in(&key, user_id, environment).await;
        }
        match self.berth.accounts().ssh_principal(&fingerprint).await {
            Ok(Some(principal)) => {
                let login = principal.user().map(|a| a.login.to_string());
                tracing::info!(peer = %self.peer, user = ?login, key = %fingerprint, environment = %user, "SSH sign-in");
                // In the environment's own log too, when it is theirs (else nothing is said).
                let _ = self
                    .berth
                    .environments()
                    .note_access(
                        &principal,
                        user.strip_suffix(START_SUFFIX).unwrap_or(user),
                        &format!(
                            "ssh: {} signed in with key {fingerprint} from {}",
                            login.as_deref().unwrap_or("someone"),
                            self.peer.ip()
                        ),
                    )
                    .await;
                self.signed_in
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                self.relay = relay_for(&self.berth, &self.host_key, &principal, user).await;
                self.who = Some(Authenticated {
                    principal,
                    environment: user.strip_suffix(START_SUFFIX).unwrap_or(user).to_owned(),
                    fingerprint,
                    start: user.ends_with(START_SUFFIX),
                });
                Ok(Auth::Accept)
            }
            Ok(None) => {
                tracing::info!(peer = %self.peer, key = %fingerprint, "SSH key held by no account");
                Ok(Auth::reject())
            }
            Err(e) => {
                tracing::warn!(error = %e, "SSH sign-in could not be checked");
                Ok(Auth::reject())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.who.is_none() || self.sessions.len() >= session::MAX_SESSIONS {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        if let Some(relay) = &mut self.relay {
            if relay.open_session(channel.id(), session.handle()).await {
                reply.accept().await;
            } else {
                reply.reject(ChannelOpenFailure::ConnectFailed).await;
            }
            return Ok(());
        }
        self.sessions
            .insert(channel.id(), session::SessionChannel::with_channel(channel));
        reply.accept().await;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: russh::ChannelId,
        name: &str,
        value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(theirs) = self.relayed(channel) {
            let _ = theirs.set_env(false, name, value).await;
            return session.channel_success(channel);
        }
        let taken = self
            .sessions
            .get_mut(&channel)
            .is_some_and(|s| s.set_env(name, value));
        answer(session, channel, taken)
    }

    async fn exec_request(
        &mut self,
        channel: russh::ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(theirs) = self.relayed(channel) {
            let _ = theirs.exec(false, data.to_vec()).await;
            return session.channel_success(channel);
        }
        let command = String::from_utf8_lossy(data).into_owned();
        self.start(channel, Some(command), session).await
    }

    async fn pty_request(
        &mut self,
        channel: russh::ChannelId,
        term: &str,
        cols: u32,
        rows: u32,
        pix_width: u32,
        pix_height: u32,
        modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(theirs) = self.relayed(channel) {
            let _ = theirs
                .request_pty(false, term, cols, rows, pix_width, pix_height, modes)
                .await;
            return session.channel_success(channel);
        }
        let taken = self
            .sessions
            .get_mut(&channel)
            .is_some_and(|s| s.set_terminal(term, cols, rows));
        answer(session, channel, taken)
    }

    async fn window_change_request(
        &mut self,
        channel: russh::ChannelId,
        cols: u32,
        rows: u32,
        pix_width: u32,
        pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(theirs) = self.relayed(channel) {
            let _ = theirs
                .window_change(cols, rows, pix_width, pix_height)
                .await;
        } else if let Some(state) = self.sessions.get(&channel) {
            state.resize(cols, rows);
        }
        Ok(())
    }

    async fn signal(
        &mut self,
        channel: russh::ChannelId,
        signal: russh::Sig,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(theirs) = self.relayed(channel) {
            let _ = theirs.signal(signal).await;
        } else if let Some(state) = self.sessions.get(&channel) {
            state.signal(&signal);
        }
        Ok(())
    }

    async fn agent_request(
        &mut self,
        channel: russh::ChannelId,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        // Relayed: the other gateway opens agent channels to this one, carried to the client.
        if let Some(relay) = &self.relay {
            return Ok(relay.forward_agent(channel, session.handle()).await);
        }
        Ok(self
            .sessions
            .get_mut(&channel)
            .is_some_and(session::SessionChannel::forward_agent))
    }

    async fn shell_request(
        &mut self,
        channel: russh::ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(theirs) = self.relayed(channel) {
            let _ = theirs.request_shell(false).await;
            return session.channel_success(channel);
        }
        self.start(channel, None, session).await
    }

    async fn subsystem_request(
        &mut self,
        channel: russh::ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(theirs) = self.relayed(channel) {
            let _ = theirs.request_subsystem(false, name).await;
            return session.channel_success(channel);
        }
        let (Some(who), Some(state)) = (&self.who, self.sessions.get_mut(&channel)) else {
            return session.channel_failure(channel);
        };
        if name != "sftp" {
            tracing::info!(peer = %self.peer, subsystem = %name, "SSH subsystem refused");
            return session.channel_failure(channel);
        }
        let Some(stream) = state.take_channel() else {
            return session.channel_failure(channel);
        };
        if who.start
            && let Err(why) = ensure_available(&self.berth, &who.principal, &who.environment).await
        {
            tracing::info!(peer = %self.peer, %why, "SSH sftp refused");
            return session.channel_failure(channel);
        }
        note(&self.berth, who, "sftp").await;
        session.channel_success(channel)?;
        let files = sftp::Session::new(
            self.berth.clone(),
            who.principal.clone(),
            who.environment.clone(),
        );
        russh_sftp::server::run(stream.into_stream(), files).await;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: russh::ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(theirs) = self.relayed(channel) {
            let _ = theirs.data(data).await;
        } else if let Some(state) = self.sessions.get(&channel) {
            state.stdin(data).await;
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: russh::ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(theirs) = self.relayed(channel) {
            let _ = theirs.eof().await;
        } else if let Some(state) = self.sessions.get_mut(&channel) {
            state.close_stdin();
            // The client is done with its files: the subsystem ends well, as sftp-server's.
            if state.is_subsystem() {
                session.exit_status_request(channel, 0)?;
                session.eof(channel)?;
                session.close(channel)?;
            }
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: russh::ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(relay) = &mut self.relay {
            if let Some(theirs) = relay.channel(channel) {
                let _ = theirs.close().await;
            }
            relay.forget(channel);
        }
        self.sessions.remove(&channel);
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(relay) = &self.relay {
            // The other gateway decides what may be reached, as for its own connections.
            let opened = relay
                .open_forward(
                    host_to_connect,
                    port_to_connect,
                    originator_address,
                    originator_port,
                )
                .await;
            match opened {
                Ok(theirs) => {
                    reply.accept().await;
                    tokio::spawn(async move {
                        let (mut ours, mut theirs) = (channel.into_stream(), theirs.into_stream());
                        let _ = tokio::io::copy_bidirectional(&mut ours, &mut theirs).await;
                    });
                }
                Err(reason) => {
                    reply
                        .reject(ChannelOpenFailure::Other { code: 1, reason })
                        .await;
                }
            }
            return Ok(());
        }
        let Some(who) = &self.who else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        let refuse = |reason: String| ChannelOpenFailure::Other { code: 1, reason };
        if !is_loopback_name(host_to_connect) {
            reply
                .reject(refuse(format!(
                    "only the environment's own ports are forwarded: use localhost, not {host_to_connect}"
                )))
                .await;
            return Ok(());
        }
        let Ok(port) = u16::try_from(port_to_connect) else {
            reply
                .reject(refuse(format!("{port_to_connect} is not a port")))
                .await;
            return Ok(());
        };
        if who.start
            && let Err(why) = ensure_available(&self.berth, &who.principal, &who.environment).await
        {
            reply.reject(refuse(why)).await;
            return Ok(());
        }
        let connected = self
            .berth
            .environments()
            .connect_port(
                &who.principal,
                &who.environment,
                port,
                Some(&format!("ssh, key {}", who.fingerprint)),
            )
            .await;
        match connected {
            Ok(mut stream) => {
                tracing::info!(peer = %self.peer, key = %who.fingerprint, environment = %who.environment, port, "SSH port forward");
                reply.accept().await;
                tokio::spawn(async move {
                    let mut channel = channel.into_stream();
                    let _ = tokio::io::copy_bidirectional(&mut channel, &mut stream).await;
                });
            }
            Err(e) => reply.reject(refuse(explain(&e, &who.environment))).await,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn forwards_reach_only_the_environments_loopback() {
        for host in ["localhost", "127.0.0.1", "::1"] {
            assert!(super::is_loopback_name(host), "{host}");
        }
        for host in ["10.0.2.2", "example.com", "169.254.169.254", ""] {
            assert!(!super::is_loopback_name(host), "{host}");
        }
    }
}
