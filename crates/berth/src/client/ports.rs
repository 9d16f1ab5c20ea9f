//! `berth codespace ports`: the ports listening inside an environment, and forwards to them
//! through the API's WebSocket tunnel (no SSH needed).

use anyhow::Context as _;

use super::http::Client;
use super::{output, usage};
use crate::cli::PortsCommand;

pub async fn run(
    c: &Client,
    as_json: bool,
    command: Option<PortsCommand>,
    name: Option<String>,
) -> anyhow::Result<()> {
    match (command, name) {
        (Some(PortsCommand::Forward { name, ports }), _) => forward(c, &name, &ports).await,
        (None, Some(name)) => {
            let v = c.get(&format!("/user/codespaces/{name}/ports")).await?;
            let ports = v["ports"].as_array().cloned().unwrap_or_default();
            output::many(as_json, &ports, &["PORT"], |p| {
                vec![output::field(p, &["port"])]
            });
            Ok(())
        }
        (None, None) => Err(usage(
            "name the codespace: berth codespace ports NAME, or berth codespace ports forward NAME LOCAL:REMOTE",
        )),
    }
}

/// `LOCAL:REMOTE`, or one port for both.
fn parse_ports(ports: &str) -> anyhow::Result<(u16, u16)> {
    let port = |s: &str| {
        s.parse::<u16>().map_err(|_| {
            usage(&format!(
                "{s:?} is not a port; give LOCAL:REMOTE, e.g. 3000:3000 (LOCAL 0 picks a free port)"
            ))
        })
    };
    match ports.split_once(':') {
        Some((local, remote)) => Ok((port(local)?, port(remote)?)),
        None => {
            let p = port(ports)?;
            Ok((p, p))
        }
    }
}

async fn forward(c: &Client, name: &str, ports: &str) -> anyhow::Result<()> {
    let (local, remote) = parse_ports(ports)?;
    // Asked first, so that a missing or stopped environment is said at once, not at the first
    // connection.
    c.get(&format!("/user/codespaces/{name}/ports")).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", local))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{local}; pick another LOCAL port"))?;
    let at = listener.local_addr()?;
    eprintln!("forwarding {at} to port {remote} of {name}; Ctrl-C stops");
    let path = format!("/user/codespaces/{name}/ports/{remote}/tunnel");
    loop {
        let (conn, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let c = c.clone();
        let path = path.clone();
        tokio::spawn(async move {
            if let Err(e) = carry(&c, &path, conn).await {
                eprintln!("warning: a forwarded connection failed: {e:#}");
            }
        });
    }
}

/// One local connection carried through a tunnel until either side ends.
async fn carry(c: &Client, path: &str, conn: tokio::net::TcpStream) -> anyhow::Result<()> {
    let ws = c.websocket(path).await?;
    let (reader, writer) = conn.into_split();
    super::http::bridge(ws, reader, writer).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_local_colon_remote_or_one_for_both() {
        assert_eq!(super::parse_ports("8080:3000").unwrap(), (8080, 3000));
        assert_eq!(super::parse_ports("3000").unwrap(), (3000, 3000));
        assert_eq!(super::parse_ports("0:22").unwrap(), (0, 22));
    }
}
