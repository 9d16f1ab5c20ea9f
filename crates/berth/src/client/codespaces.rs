//! `berth codespace …`: the lifecycle calls, the creation log followed on standard error while
//! an environment comes up (pull progress included), and `exec` with its output and exit code
//! passed through.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};

use super::http::Client;
use super::{Exit, output};
use crate::cli::CodespaceCommand;

pub async fn run(c: &Client, as_json: bool, command: CodespaceCommand) -> anyhow::Result<()> {
    match command {
        CodespaceCommand::Create {
            repo,
            branch,
            image,
            display_name,
            machine,
            devcontainer_path,
            no_wait,
        } => {
            let body = json!({"ref": branch, "image": image, "display_name": display_name, "machine": machine, "devcontainer_path": devcontainer_path});
            let v = c
                .call(
                    Method::POST,
                    &format!("/repos/{repo}/codespaces"),
                    Some(body),
                )
                .await?
                .context("the server answered nothing")?;
            let name = output::field(&v, &["name"]);
            eprintln!("creating codespace {name}");
            if no_wait {
                return show(as_json, &v);
            }
            settle(c, as_json, &name, 0).await
        }
        CodespaceCommand::Machines { repo } => {
            let v = c.get(&format!("/repos/{repo}/codespaces/machines")).await?;
            if as_json {
                output::json(&v);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = v["machines"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    vec![
                        output::field(m, &["name"]),
                        output::field(m, &["cpus"]),
                        format!("{} GB", m["memory_in_bytes"].as_u64().unwrap_or(0) >> 30),
                        format!("{} GB", m["storage_in_bytes"].as_u64().unwrap_or(0) >> 30),
                    ]
                })
                .collect();
            output::table(&["MACHINE", "CPUS", "MEMORY", "STORAGE"], &rows);
            Ok(())
        }
        CodespaceCommand::Devcontainers { repo, branch } => {
            let path = match &branch {
                Some(b) => format!(
                    "/repos/{repo}/codespaces/devcontainers?ref={}",
                    url::form_urlencoded::byte_serialize(b.as_bytes()).collect::<String>()
                ),
                None => format!("/repos/{repo}/codespaces/devcontainers"),
            };
            let all = c.all_counted_pages(&path, "devcontainers").await?;
            if as_json {
                output::json(&json!({ "total_count": all.len(), "devcontainers": all }));
                return Ok(());
            }
            if all.is_empty() {
                eprintln!(
                    "{repo} has no dev container configuration{}; its environments use the image given with --image",
                    branch.map(|b| format!(" at {b}")).unwrap_or_default()
                );
            }
            for d in &all {
                println!("{}", output::field(d, &["path"]));
            }
            Ok(())
        }
        CodespaceCommand::List => {
            let all = c
                .all_counted_pages("/user/codespaces", "codespaces")
                .await?;
            if as_json {
                output::json(&json!({ "total_count": all.len(), "codespaces": all }));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|c| {
                    vec![
                        output::field(c, &["name"]),
                        output::field(c, &["repository", "full_name"]),
                        output::field(c, &["state"]),
                        output::field(c, &["created_at"]),
                    ]
                })
                .collect();
            output::table(&["NAME", "REPOSITORY", "STATE", "CREATED"], &rows);
            Ok(())
        }
        CodespaceCommand::Show { name } => {
            let v = get(c, &name).await?;
            show(as_json, &v)
        }
        CodespaceCommand::Start { name, no_wait } => {
            // What the log held before this start is not shown again.
            let before = log_text(c, &name).await?.len();
            let v = c
                .call(
                    Method::POST,
                    &format!("/user/codespaces/{name}/start"),
                    None,
                )
                .await?
                .context("the server answered nothing")?;
            if no_wait {
                return show(as_json, &v);
            }
            settle(c, as_json, &name, before).await
        }
        CodespaceCommand::Stop { name } => {
            let v = c
                .call(Method::POST, &format!("/user/codespaces/{name}/stop"), None)
                .await?
                .context("the server answered nothing")?;
            show(as_json, &v)
        }
        CodespaceCommand::Delete { name } => {
            c.delete(&format!("/user/codespaces/{name}")).await?;
            eprintln!("deleted codespace {name}");
            Ok(())
        }
        CodespaceCommand::Exec {
            name,
            no_stdin,
            interactive: _,
            tty: true,
            command,
        } => {
            let _ = no_stdin;
            super::terminal::run(c, &name, command).await
        }
        CodespaceCommand::Exec {
            name,
            no_stdin,
            command,
            ..
        } => {
            if command.is_empty() {
                return Err(super::usage(
                    "give the command to run after --, or -it for an interactive shell",
                ));
            }
            exec(c, &name, command, !no_stdin).await
        }
        CodespaceCommand::Logs { name, follow } => {
            if follow {
                follow_log(c, &name, 0, &mut std::io::stdout()).await
            } else {
                print!("{}", log_text(c, &name).await?);
                Ok(())
            }
        }
        CodespaceCommand::Ssh {
            name,
            stdio,
            config,
            command,
        } => super::ssh::run(c, name.as_deref(), stdio, config, &command).await,
        CodespaceCommand::Ports { command, name } => {
            super::ports::run(c, as_json, command, name).await
        }
    }
}

async fn get(c: &Client, name: &str) -> anyhow::Result<Value> {
    c.call(Method::GET, &format!("/user/codespaces/{name}"), None)
        .await?
        .context("the server answered nothing")
}

fn show(as_json: bool, v: &Value) -> anyhow::Result<()> {
    if as_json {
        output::json(v);
    } else {
        output::table(
            &["NAME", "REPOSITORY", "BRANCH", "STATE"],
            &[vec![
                output::field(v, &["name"]),
                output::field(v, &["repository", "full_name"]),
                output::field(v, &["git_status", "ref"]),
                output::field(v, &["state"]),
            ]],
        );
        if let Some(name) = v["machine"]["name"].as_str() {
            println!(
                "machine: {name} ({} cpus, {} GB memory, {} GB storage)",
                output::field(v, &["machine", "cpus"]),
                v["machine"]["memory_in_bytes"].as_u64().unwrap_or(0) >> 30,
                v["machine"]["storage_in_bytes"].as_u64().unwrap_or(0) >> 30
            );
        }
        if let Some(ids) = v["isolation"]["user_namespace"].as_str() {
            println!(
                "isolation: user namespace (host ids {ids}), network {}",
                output::field(v, &["isolation", "network"])
            );
        }
        // Why it failed, and what to do, is the first thing a user needs.
        if let Some(reason) = v["state_reason"].as_str().filter(|r| !r.is_empty()) {
            println!("reason: {reason}");
        }
    }
    Ok(())
}

async fn log_text(c: &Client, name: &str) -> anyhow::Result<String> {
    let resp = c
        .open(Method::GET, &format!("/user/codespaces/{name}/logs"), None)
        .await?;
    Ok(resp.text().await?)
}

/// Copies the creation log (from byte `skip`) to `out` until the environment settles.
async fn follow_log(
    c: &Client,
    name: &str,
    skip: usize,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let resp = c
        .open(
            Method::GET,
            &format!("/user/codespaces/{name}/logs?follow=true"),
            None,
        )
        .await?;
    let mut seen = 0usize;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.context("the log stream broke off; see the rest with `berth codespace logs`")?;
        let start = skip.saturating_sub(seen).min(chunk.len());
        seen += chunk.len();
        out.write_all(&chunk[start..])?;
        out.flush()?;
    }
    Ok(())
}

/// Follows the log on standard error, then reports the state the environment settled in.
async fn settle(c: &Client, as_json: bool, name: &str, skip: usize) -> anyhow::Result<()> {
    follow_log(c, name, skip, &mut std::io::stderr()).await?;
    let v = get(c, name).await?;
    match v["state"].as_str() {
        Some("Available") => {
            output::either(as_json, &v, name);
            Ok(())
        }
        Some("Failed") => bail!(
            "codespace {name} failed: {}",
            v["state_reason"].as_str().unwrap_or("no reason recorded")
        ),
        state => bail!(
            "codespace {name} is {}",
            state.unwrap_or("in an unknown state")
        ),
    }
}

/// The most standard input `exec` passes (the server's limit too).
const STDIN_LIMIT: u64 = 1 << 20;

/// Standard input for `exec`: read whole when it is a pipe or a file, never from a terminal.
fn read_stdin() -> anyhow::Result<Option<Vec<u8>>> {
    use std::io::{IsTerminal as _, Read as _};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(STDIN_LIMIT + 1)
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    if bytes.len() as u64 > STDIN_LIMIT {
        bail!(
            "standard input is larger than 1 MiB, the most `berth codespace exec` passes; copy bigger inputs into the workspace, or add -n not to pass it"
        );
    }
    Ok(Some(bytes))
}

/// Streams the command's output and ends with its exit code.
async fn exec(
    c: &Client,
    name: &str,
    command: Vec<String>,
    pass_stdin: bool,
) -> anyhow::Result<()> {
    let mut body = json!({ "command": command });
    if pass_stdin && let Some(bytes) = read_stdin()? {
        body["stdin"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    let resp = c
        .open(
            Method::POST,
            &format!("/user/codespaces/{name}/exec"),
            Some(body),
        )
        .await?;
    let mut stream = resp.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let engine = base64::engine::general_purpose::STANDARD;
    while let Some(chunk) = stream.next().await {
        pending.extend_from_slice(&chunk.context("the connection to the server broke off")?);
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let frame: Value = serde_json::from_slice(&line)
                .context("the server sent a frame that is not JSON")?;
            if let Some(data) = frame["data"].as_str() {
                let bytes = engine
                    .decode(data)
                    .context("the server sent output that is not base64")?;
                if frame["stream"] == "stderr" {
                    std::io::stderr().write_all(&bytes)?;
                } else {
                    let mut out = std::io::stdout();
                    out.write_all(&bytes)?;
                    out.flush()?;
                }
            } else if let Some(code) = frame["exit_code"].as_i64() {
                return match u8::try_from(code) {
                    Ok(0) => Ok(()),
                    Ok(code) => Err(Exit(code).into()),
                    Err(_) => Err(Exit(255).into()),
                };
            } else if let Some(e) = frame["error"].as_str() {
                bail!("{e}");
            }
        }
    }
    bail!("the server ended the output without an exit code; the command may still be running")
}
