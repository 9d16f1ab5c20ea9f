//! `GET /user/codespaces/{name}/terminal` (a WebSocket): a command on a terminal in the
//! environment, for `berth codespace exec -it` and the web UI's terminal. The client's first
//! message is text, `{"command": [..]?, "cols": N, "rows": N, "term"?: ".."}` (no command: the
//! user's login shell); then binary messages are keystrokes, and text `{"resize": [cols, rows]}`
//! changes the window. The server sends the terminal's output as binary messages and ends with
//! text `{"exit_code": N}` (or `{"error": ".."}`).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use berth_service::Principal;
use berth_service::environments::{Environments, ExecSpec, Output, Stdin, Tty};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::auth::Call;
use crate::error::ApiResult;
use crate::wire::At;

#[derive(Debug, Deserialize)]
struct Start {
    command: Option<Vec<String>>,
    cols: u16,
    rows: u16,
    term: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Resize {
    resize: (u16, u16),
}

pub async fn open(
    Call(s, p): Call,
    At(name): At<String>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    // Checked before the upgrade, so that refusals are ordinary errors.
    s.environments().get_codespace(&p, &name).await?;
    let environments = s.environments().clone();
    Ok(upgrade.on_upgrade(move |socket| run(socket, environments, p, name)))
}

pub(crate) async fn run(
    mut socket: WebSocket,
    environments: Environments,
    p: Principal,
    name: String,
) {
    let start = match socket.recv().await {
        Some(Ok(Message::Text(text))) => serde_json::from_str::<Start>(&text),
        _ => return,
    };
    let start = match start {
        Ok(start) => start,
        Err(e) => {
            let said = json!({ "error": format!("the first message must be {{\"command\"?, \"cols\", \"rows\", \"term\"?}}: {e}") });
            let _ = socket.send(Message::Text(said.to_string().into())).await;
            return;
        }
    };
    let (size_tx, size_rx) = watch::channel((start.cols.max(1), start.rows.max(1)));
    let (stdin_tx, stdin_rx) = mpsc::channel::<Vec<u8>>(16);
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(64);
    let argv = start
        .command
        .filter(|c| !c.is_empty())
        .unwrap_or_else(berth_service::environments::login_shell);
    let exec = ExecSpec {
        argv,
        stdin: Stdin::Stream(stdin_rx),
        env: Vec::new(),
        tty: Some(Tty {
            term: start.term.unwrap_or_else(|| "xterm-256color".into()),
            size: size_rx,
        }),
        signals: None,
    };
    let mut running = Box::pin(environments.exec_codespace(&p, &name, exec, out_tx));
    let stdin = Some(stdin_tx);
    let result = loop {
        tokio::select! {
            result = &mut running => break result,
            Some(chunk) = out_rx.recv() => {
                let (Output::Stdout(bytes) | Output::Stderr(bytes)) = chunk;
                if socket.send(Message::Binary(bytes.into())).await.is_err() {
                    return;
                }
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    if let Some(tx) = &stdin {
                        let _ = tx.send(bytes.to_vec()).await;
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    if let Ok(r) = serde_json::from_str::<Resize>(&text) {
                        size_tx.send_replace((r.resize.0.max(1), r.resize.1.max(1)));
                    }
                }
                Some(Ok(_)) => {}
                // The client left: the command goes with the terminal (it is hung up).
                Some(Err(_)) | None => return,
            },
        }
    };
    while let Ok(chunk) = out_rx.try_recv() {
        let (Output::Stdout(bytes) | Output::Stderr(bytes)) = chunk;
        let _ = socket.send(Message::Binary(bytes.into())).await;
    }
    let last = match result {
        Ok(code) => json!({ "exit_code": code }),
        Err(e) => json!({ "error": e.to_string() }),
    };
    let _ = socket.send(Message::Text(last.to_string().into())).await;
    let _ = socket.send(Message::Close(None)).await;
}
