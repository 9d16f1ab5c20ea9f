//! `berth codespace exec -it`: a command (or a login shell) on a terminal in the environment,
//! through the API's terminal WebSocket; this terminal in raw mode meanwhile, its size followed.

use std::os::fd::AsFd as _;

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use rustix::termios::{OptionalActions, Termios};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::Message;

use super::Exit;
use super::http::Client;

/// This terminal in raw mode until dropped (restored as it was).
struct Raw(Option<Termios>);

impl Raw {
    fn enter() -> Self {
        let stdin = std::io::stdin();
        let Ok(saved) = rustix::termios::tcgetattr(stdin.as_fd()) else {
            return Self(None);
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw);
        Self(Some(saved))
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ =
                rustix::termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, saved);
        }
    }
}

/// This terminal's size (columns, rows); 80×24 when it has none.
fn size() -> (u16, u16) {
    rustix::termios::tcgetwinsize(std::io::stdout().as_fd())
        .map(|w| (w.ws_col.max(1), w.ws_row.max(1)))
        .unwrap_or((80, 24))
}

pub async fn run(c: &Client, name: &str, command: Vec<String>) -> anyhow::Result<()> {
    let ws = c
        .websocket(&format!("/user/codespaces/{name}/terminal"))
        .await?;
    let (mut to_server, mut from_server) = ws.split();
    let (cols, rows) = size();
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
    let start = json!({ "command": command, "cols": cols, "rows": rows, "term": term });
    to_server
        .send(Message::Text(start.to_string().into()))
        .await?;
    let mut resized = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .context("cannot watch the terminal's size")?;
    let raw = Raw::enter();
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let mut buf = vec![0u8; 16 << 10];
    let mut reading = true;
    let outcome: Option<Value> = loop {
        tokio::select! {
            read = stdin.read(&mut buf), if reading => match read {
                Ok(0) | Err(_) => reading = false,
                Ok(n) => to_server.send(Message::Binary(buf[..n].to_vec().into())).await?,
            },
            _ = resized.recv() => {
                let (cols, rows) = size();
                let resize = json!({ "resize": [cols, rows] });
                to_server.send(Message::Text(resize.to_string().into())).await?;
            }
            message = from_server.next() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    stdout.write_all(&bytes).await?;
                    stdout.flush().await?;
                }
                Some(Ok(Message::Text(text))) => break serde_json::from_str(&text).ok(),
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
            },
        }
    };
    drop(raw);
    match outcome {
        Some(v) if v["exit_code"].is_i64() => {
            let code = v["exit_code"].as_i64().unwrap_or(255);
            if code == 0 {
                Ok(())
            } else {
                Err(Exit(u8::try_from(code).unwrap_or(255)).into())
            }
        }
        Some(v) => anyhow::bail!("{}", v["error"].as_str().unwrap_or("the terminal ended")),
        None => anyhow::bail!("the server closed the terminal"),
    }
}
