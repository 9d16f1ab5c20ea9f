//! An environment's ports: what listens inside its own network (Berth's own listener there
//! left out), and connections to it for a
//! port forward (the API's tunnel, and later SSH's `direct-tcpip`). Each forward opened is in the
//! environment's log with who opened it, never what it carries.

use berth_domain::codespace::CodespaceState;
use berth_runtime::RunSpec;

use super::{AgentSocket, CodespaceView, Environments, State};
use crate::{Principal, Result, ServiceError};

/// The run spec of `view`'s environment when it is `Available`; otherwise what to do.
pub(super) fn available(
    view: &CodespaceView,
    envs: &State,
    service: &Environments,
) -> Result<RunSpec> {
    let name = &view.record.name;
    if view.record.state != CodespaceState::Available {
        return Err(ServiceError::Conflict(format!(
            "codespace {name} is {}, not Available; start it with `berth codespace start {name}`",
            view.record.state
        )));
    }
    Ok(service.bare_spec(envs, &view.record, &view.repo))
}

impl Environments {
    /// `GET /user/codespaces/{name}/ports`: the TCP ports listening inside, ascending.
    pub async fn codespace_ports(&self, p: &Principal, name: &str) -> Result<Vec<u16>> {
        let view = self.codespace_for(p, name).await?;
        let envs = self.state()?.clone();
        let spec = available(&view, &envs, self)?;
        let ports = envs
            .config
            .runtime
            .listening_ports(&spec)
            .await
            .map_err(|e| ServiceError::Internal(format!("cannot list the ports: {e}")))?;
        // Berth's own listeners inside (its API at the server's URL) are not the user's.
        let berths: Vec<u16> = if envs.config.serve_inside.is_some() {
            super::isolation::inside_addresses(&envs.config.server_url, &spec.isolation)
                .await
                .iter()
                .map(std::net::SocketAddr::port)
                .collect()
        } else {
            Vec::new()
        };
        Ok(ports.into_iter().filter(|p| !berths.contains(p)).collect())
    }

    /// A connection to `port` on the environment's own loopback, for a port forward by `p`
    /// (`via`: how, for the log, such as the SSH key's fingerprint).
    pub async fn connect_port(
        &self,
        p: &Principal,
        name: &str,
        port: u16,
        via: Option<&str>,
    ) -> Result<tokio::net::TcpStream> {
        let view = self.codespace_for(p, name).await?;
        let envs = self.state()?.clone();
        let spec = available(&view, &envs, self)?;
        if port == 0 {
            return Err(ServiceError::invalid(
                "Codespace",
                "port",
                "invalid",
                "port 0 names no port; give the port a server listens on inside (berth codespace ports NAME)",
            ));
        }
        let stream = envs
            .config
            .runtime
            .connect_inside(&spec, port)
            .await
            .map_err(|e| ServiceError::Conflict(e.to_string()))?;
        let who = p.user().map_or("someone", |a| a.login.as_str());
        let via = via.map(|v| format!(" ({v})")).unwrap_or_default();
        envs.log(name)
            .line(&format!("port {port} forwarded for {who}{via}"));
        tokio::net::TcpStream::from_std(stream)
            .map_err(|e| ServiceError::Internal(format!("cannot use the connection: {e}")))
    }

    /// Writes `what` in the environment's log, the owner's record of who reached it and how
    /// (SSH sign-ins and commands, by key fingerprint); never what they carried.
    pub async fn note_access(&self, p: &Principal, name: &str, what: &str) -> Result<()> {
        self.codespace_for(p, name).await?;
        self.state()?.log(name).line(what);
        Ok(())
    }

    /// A socket inside the environment for `p`'s SSH agent (forwarded with `ssh -A`), removed
    /// when dropped.
    pub async fn agent_socket(&self, p: &Principal, name: &str) -> Result<AgentSocket> {
        let view = self.codespace_for(p, name).await?;
        let envs = self.state()?.clone();
        let spec = available(&view, &envs, self)?;
        let dir_name = format!("berth-agent-{}", hex::encode(rand::random::<[u8; 12]>()));
        envs.config
            .runtime
            .listen_agent(&spec, &dir_name)
            .await
            .map_err(|e| ServiceError::Conflict(e.to_string()))
    }
}
