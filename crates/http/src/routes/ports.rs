//! `/user/codespaces/{name}/ports`: what listens inside an environment, and a tunnel to one of
//! its ports over a WebSocket on the API (`berth codespace ports forward`), for deployments that
//! publish nothing but HTTPS. The tunnel carries the connection's bytes as binary messages.

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::Call;
use crate::error::ApiResult;
use crate::wire::At;

/// `GET /user/codespaces/{name}/ports`: `{total_count, ports: [{port}]}`.
pub async fn list(Call(s, p): Call, At(name): At<String>) -> ApiResult<Json<Value>> {
    let ports = s.environments().codespace_ports(&p, &name).await?;
    let items: Vec<Value> = ports.iter().map(|port| json!({ "port": port })).collect();
    Ok(Json(json!({ "total_count": items.len(), "ports": items })))
}

/// `GET /user/codespaces/{name}/ports/{port}/tunnel` (a WebSocket): the connection is made
/// before the upgrade, so a refusal is an ordinary error response.
pub async fn tunnel(
    Call(s, p): Call,
    At((name, port)): At<(String, u16)>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let stream = s.environments().connect_port(&p, &name, port, None).await?;
    Ok(upgrade.on_upgrade(move |socket| carry(socket, stream)))
}

/// Copies bytes both ways until either side ends.
pub(super) async fn carry(mut socket: WebSocket, stream: tokio::net::TcpStream) {
    let (mut from_port, mut to_port) = stream.into_split();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        tokio::select! {
            read = from_port.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if socket.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() {
                        return;
                    }
                }
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    if to_port.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    let _ = to_port.shutdown().await;
                    return;
                }
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
