//! `berth codespace ssh`: SSH into an environment through the API's WebSocket (no SSH port
//! needed), with OpenSSH and the user's own keys; the gateway's host key, from `GET /meta`, is
//! pinned in a known_hosts file of Berth's own.

use std::path::PathBuf;

use anyhow::Context as _;

use super::Exit;
use super::config;
use super::http::Client;

pub async fn run(
    c: &Client,
    name: &str,
    stdio: bool,
    print_config: bool,
    command: &[String],
) -> anyhow::Result<()> {
    if stdio {
        return carry_stdio(c, name).await;
    }
    let block = host_block(c, name).await?;
    if print_config {
        print!("{block}");
        return Ok(());
    }
    let file = config::dir()?.join(format!("ssh-config-{name}"));
    std::fs::write(&file, &block).with_context(|| format!("cannot write {}", file.display()))?;
    let status = std::process::Command::new("ssh")
        .arg("-F")
        .arg(&file)
        .arg(alias(name))
        .args(command)
        .status()
        .context("cannot run ssh; install OpenSSH's client (apt-get install openssh-client)")?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(Exit(u8::try_from(code).unwrap_or(255)).into()),
        None => Err(Exit(255).into()),
    }
}

fn alias(name: &str) -> String {
    format!("berth-{name}")
}

/// The `Host` block for `name`, its known_hosts written beside Berth's configuration.
async fn host_block(c: &Client, name: &str) -> anyhow::Result<String> {
    let meta = c.get("/meta").await?;
    let host_key = meta["ssh_keys"][0]
        .as_str()
        .context("the server runs no SSH gateway (berth serve --ssh-listen turns it on)")?;
    let server = c.server().to_owned();
    let gateway = format!(
        "berth-gateway-{}",
        server
            .split_once("://")
            .map_or(server.as_str(), |(_, rest)| rest)
            .replace([':', '/'], "-")
    );
    let dir = config::dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let known_hosts = dir.join("known_hosts");
    update_known_hosts(&known_hosts, &gateway, host_key)?;
    let berth = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("berth"));
    Ok(format!(
        "Host {alias}\n    User {name}\n    ProxyCommand {berth} --server {server} codespace ssh --stdio {name}\n    HostKeyAlias {gateway}\n    UserKnownHostsFile {known}\n    StrictHostKeyChecking yes\n",
        alias = alias(name),
        berth = berth.display(),
        known = known_hosts.display(),
    ))
}

/// Pins `host_key` for `gateway` in `file`, replacing what it said of that gateway before.
fn update_known_hosts(file: &std::path::Path, gateway: &str, host_key: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(file).unwrap_or_default();
    let mut lines: Vec<String> = old
        .lines()
        .filter(|l| l.split_whitespace().next() != Some(gateway))
        .map(str::to_owned)
        .collect();
    lines.push(format!("{gateway} {host_key}"));
    std::fs::write(file, lines.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", file.display()))
}

/// Carries one SSH connection between standard input/output and the API's tunnel.
async fn carry_stdio(c: &Client, name: &str) -> anyhow::Result<()> {
    let ws = c.websocket(&format!("/user/codespaces/{name}/ssh")).await?;
    super::http::bridge(ws, tokio::io::stdin(), tokio::io::stdout()).await
}
