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
    name: Option<&str>,
    stdio: bool,
    print_config: bool,
    command: &[String],
) -> anyhow::Result<()> {
    let Some(name) = name else {
        // `--config` alone: a block for every environment of the caller's, as `gh codespace ssh
        // --config` writes.
        let list = c.get("/user/codespaces").await?;
        let names = list["codespaces"].as_array().into_iter().flatten();
        let gateway = Gateway::pinned(c).await?;
        for name in names.filter_map(|cs| cs["name"].as_str()) {
            print!("{}", gateway.host_block(c, name));
        }
        return Ok(());
    };
    if stdio {
        return carry_stdio(c, name).await;
    }
    let block = Gateway::pinned(c).await?.host_block(c, name);
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

/// The server's SSH gateway as this machine's OpenSSH knows it: a host key alias, pinned in a
/// known_hosts file beside Berth's configuration.
struct Gateway {
    alias: String,
    known_hosts: PathBuf,
}

impl Gateway {
    /// Pins the gateway's host key (from `GET /meta`) in Berth's known_hosts.
    async fn pinned(c: &Client) -> anyhow::Result<Self> {
        let meta = c.get("/meta").await?;
        let host_key = meta["ssh_keys"][0]
            .as_str()
            .context("the server runs no SSH gateway (berth serve --ssh-listen turns it on)")?;
        let server = c.server();
        let alias = format!(
            "berth-gateway-{}",
            server
                .split_once("://")
                .map_or(server, |(_, rest)| rest)
                .replace([':', '/'], "-")
        );
        let dir = config::dir()?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let known_hosts = dir.join("known_hosts");
        update_known_hosts(&known_hosts, &alias, host_key)?;
        Ok(Self { alias, known_hosts })
    }

    /// The `Host` block for environment `name`.
    fn host_block(&self, c: &Client, name: &str) -> String {
        let berth = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("berth"));
        format!(
            "Host {alias}\n    User {name}\n    ProxyCommand {berth} --server {server} codespace ssh --stdio {name}\n    HostKeyAlias {gateway}\n    UserKnownHostsFile {known}\n    StrictHostKeyChecking yes\n",
            alias = alias(name),
            berth = berth.display(),
            server = c.server(),
            gateway = self.alias,
            known = self.known_hosts.display(),
        )
    }
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
