//! Connections to an environment another replica runs (SPEC §6: any replica answers for the
//! environments the others run). This gateway signs the user in with their key, as for any
//! environment, then relays the connection's channels to the gateway of the replica that runs
//! it, signed in there as a replica: with the host key the replicas share (nothing else holds
//! it), under a user name naming the user and the environment. That gateway then decides
//! everything as for a connection of its own, for that user.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use russh::server::Handle;
use russh::{ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

/// How a relayed sign-in names whom it acts for: `berth-relay:<user id>:<environment>`.
const PREFIX: &str = "berth-relay:";

/// How long reaching the other gateway may take.
const CONNECT_TIME: Duration = Duration::from_secs(10);

/// The user name a relayed sign-in uses at the other gateway.
fn user_name(user_id: i64, environment: &str) -> String {
    format!("{PREFIX}{user_id}:{environment}")
}

/// The user id and environment (as the client named it, `+start` included) a relayed sign-in
/// names; `None` for any other user name.
pub(crate) fn relayed_for(user: &str) -> Option<(i64, &str)> {
    let (id, environment) = user.strip_prefix(PREFIX)?.split_once(':')?;
    let id = id.parse().ok()?;
    (!environment.is_empty()).then_some((id, environment))
}

/// Our client's connection, once it asked for its agent to be forwarded (`ssh -A`): where agent
/// channels the other gateway opens are carried.
type AgentTo = Arc<std::sync::Mutex<Option<Handle>>>;

/// The other gateway, trusted when it shows the host key the replicas share.
struct Peer {
    expected: russh::keys::PublicKey,
    agent: AgentTo,
}

impl russh::client::Handler for Peer {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(matches!(
            key,
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. }
                if key.key_data() == self.expected.key_data()
        ))
    }

    /// A program there reached the agent: carried to our client's agent, only if it forwards
    /// one; refused (dropped) otherwise.
    async fn server_channel_open_agent_forward(
        &mut self,
        theirs: russh::Channel<russh::client::Msg>,
        reply: russh::client::ChannelOpenHandle,
        _session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        let Some(client) = self.agent.lock().map(|to| to.clone()).unwrap_or_default() else {
            return Ok(());
        };
        reply.accept().await;
        tokio::spawn(async move {
            if let Ok(ours) = client.channel_open_agent().await {
                let (mut from_agent, mut to_agent) = tokio::io::split(ours.into_stream());
                let (mut from_there, mut to_there) = tokio::io::split(theirs.into_stream());
                tokio::select! {
                    _ = tokio::io::copy(&mut from_there, &mut to_agent) => {}
                    _ = tokio::io::copy(&mut from_agent, &mut to_there) => {}
                }
            }
        });
        Ok(())
    }
}

/// One client connection's relay to the other gateway, and its channels there by ours.
pub(crate) struct Relay {
    peer: russh::client::Handle<Peer>,
    channels: HashMap<ChannelId, ChannelWriteHalf<russh::client::Msg>>,
    agent: AgentTo,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("channels", &self.channels.len())
            .finish()
    }
}

impl Relay {
    /// Signs in at the gateway at `address` (`host:port`) for `user_id`'s connection to
    /// `environment`; what went wrong, for the log.
    pub(crate) async fn connect(
        address: &str,
        host_key: &Arc<PrivateKey>,
        user_id: i64,
        environment: &str,
    ) -> Result<Self, String> {
        let config = Arc::new(russh::client::Config {
            inactivity_timeout: Some(Duration::from_secs(3600)),
            keepalive_interval: Some(Duration::from_secs(30)),
            ..Default::default()
        });
        let agent = AgentTo::default();
        let peer = Peer {
            expected: host_key.public_key().clone(),
            agent: agent.clone(),
        };
        let mut handle =
            tokio::time::timeout(CONNECT_TIME, russh::client::connect(config, address, peer))
                .await
                .map_err(|_| format!("{address} did not answer in {CONNECT_TIME:?}"))?
                .map_err(|e| format!("{address}: {e}"))?;
        let key = PrivateKeyWithHashAlg::new(host_key.clone(), None);
        let signed_in = handle
            .authenticate_publickey(user_name(user_id, environment), key)
            .await
            .map_err(|e| format!("{address}: {e}"))?;
        if !signed_in.success() {
            return Err(format!(
                "{address} refused the relayed sign-in (do the replicas share their SSH host key?)"
            ));
        }
        Ok(Self {
            peer: handle,
            channels: HashMap::new(),
            agent,
        })
    }

    /// Opens a session channel there for our channel `ours`, whose client `to` gets what it
    /// sends.
    pub(crate) async fn open_session(&mut self, ours: ChannelId, to: Handle) -> bool {
        match self.peer.channel_open_session().await {
            Ok(theirs) => {
                let (read, write) = theirs.split();
                self.channels.insert(ours, write);
                tokio::spawn(pump(read, to, ours));
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "a relayed session channel could not be opened");
                false
            }
        }
    }

    /// A port forward there, to be joined to ours.
    pub(crate) async fn open_forward(
        &self,
        host: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
    ) -> Result<russh::Channel<russh::client::Msg>, String> {
        self.peer
            .channel_open_direct_tcpip(host, port, originator, originator_port)
            .await
            .map_err(|e| e.to_string())
    }

    /// Asks the other gateway to forward the agent on our channel `ours`'s counterpart: agent
    /// channels it opens are carried to our client `to`. Whether it was asked.
    pub(crate) async fn forward_agent(&self, ours: ChannelId, to: Handle) -> bool {
        let Some(theirs) = self.channels.get(&ours) else {
            return false;
        };
        if let Ok(mut agent) = self.agent.lock() {
            *agent = Some(to);
        }
        theirs.agent_forward(false).await.is_ok()
    }

    /// Our channel `ours`'s counterpart there.
    pub(crate) fn channel(&self, ours: ChannelId) -> Option<&ChannelWriteHalf<russh::client::Msg>> {
        self.channels.get(&ours)
    }

    pub(crate) fn forget(&mut self, ours: ChannelId) {
        self.channels.remove(&ours);
    }
}

/// Passes on what the other gateway sends on one channel to our client, until it closes.
async fn pump(mut theirs: ChannelReadHalf, to: Handle, ours: ChannelId) {
    while let Some(message) = theirs.wait().await {
        let passed = match message {
            ChannelMsg::Data { data } => to.data(ours, data).await.is_ok(),
            ChannelMsg::ExtendedData { data, ext } => {
                to.extended_data(ours, ext, data).await.is_ok()
            }
            ChannelMsg::Eof => to.eof(ours).await.is_ok(),
            ChannelMsg::ExitStatus { exit_status } => {
                to.exit_status_request(ours, exit_status).await.is_ok()
            }
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                lang_tag,
            } => to
                .exit_signal_request(ours, signal_name, core_dumped, error_message, lang_tag)
                .await
                .is_ok(),
            ChannelMsg::Close => {
                let _ = to.close(ours).await;
                break;
            }
            _ => true,
        };
        if !passed {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{relayed_for, user_name};

    #[test]
    fn a_relayed_sign_in_names_the_user_and_the_environment() {
        assert_eq!(
            relayed_for(&user_name(42, "alice-web-x1+start")),
            Some((42, "alice-web-x1+start"))
        );
        for other in [
            "alice-web-x1",
            "berth-relay:",
            "berth-relay:x:y",
            "berth-relay:4:",
            "berth-relay:4",
        ] {
            assert_eq!(relayed_for(other), None, "{other}");
        }
    }
}
