//! SSH through HTTPS only: `GET /meta` shows the gateway's host key (GitHub's `ssh_keys`), and
//! `GET /user/codespaces/{name}/ssh` is a WebSocket carrying one SSH connection to the gateway
//! (`berth codespace ssh --stdio`, OpenSSH's `ProxyCommand`). The SSH connection authenticates
//! with the user's key as any other; the tunnel itself is only for the environment's owner.

use axum::Json;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Call;
use crate::error::{ApiError, ApiResult};
use crate::wire::At;

const GATEWAY_OFF: &str =
    "the SSH gateway is off on this server (berth serve --ssh-listen turns it on)";

fn conflict(message: String) -> ApiError {
    berth_service::ServiceError::Conflict(message).into()
}

/// `GET /meta`: what a client needs to trust this server's SSH gateway.
pub async fn meta(State(s): State<AppState>) -> Json<Value> {
    let mut v = json!({ "verifiable_password_authentication": false });
    if let Some(ssh) = &s.ssh {
        let (host_key, fingerprint) = ssh.host_key();
        v["ssh_keys"] = json!([host_key]);
        v["ssh_key_fingerprints"] =
            json!({ "SHA256_ED25519": fingerprint.trim_start_matches("SHA256:") });
    }
    Json(v)
}

/// `POST /admin/ssh/rotate-host-key` (site administrators): a new host key, served at once; open
/// connections keep theirs. Clients trust the new one again (`berth codespace ssh --config` pins
/// it anew from `/meta`).
pub async fn rotate_host_key(Call(s, p): Call) -> ApiResult<Json<Value>> {
    s.authz()
        .check(&p, berth_service::Access::SiteAdmin)
        .await?;
    let Some(ssh) = &s.ssh else {
        return Err(conflict(GATEWAY_OFF.into()));
    };
    let (host_key, fingerprint) = ssh
        .rotate_host_key()
        .map_err(berth_service::ServiceError::Internal)?;
    tracing::info!(%fingerprint, "SSH host key rotated");
    Ok(Json(
        json!({ "ssh_keys": [host_key], "fingerprint": fingerprint }),
    ))
}

/// `GET /user/codespaces/{name}/ssh` (a WebSocket): one connection to the SSH gateway.
pub async fn tunnel(
    Call(s, p): Call,
    At(name): At<String>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    s.environments().get_codespace(&p, &name).await?;
    let Some(ssh) = &s.ssh else {
        return Err(conflict(GATEWAY_OFF.into()));
    };
    let stream = tokio::net::TcpStream::connect(ssh.addr())
        .await
        .map_err(|e| conflict(format!("the SSH gateway does not answer: {e}")))?;
    Ok(upgrade.on_upgrade(move |socket| super::ports::carry(socket, stream)))
}
