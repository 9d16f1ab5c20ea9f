//! `/user/keys`: the caller's SSH public keys, in GitHub's shape.

use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use berth_store::SshKeyRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Call;
use crate::error::ApiResult;
use crate::paging::Paging;
use crate::wire::{At, Body};
use crate::{AppState, render};

fn render_key(s: &AppState, k: &SshKeyRecord) -> Value {
    json!({
        "id": k.id,
        "key": k.key,
        "url": format!("{}/api/v3/user/keys/{}", s.base_url, k.id),
        "title": k.title,
        "created_at": render::timestamp(k.created_at),
        "verified": true,
        "read_only": false,
        "fingerprint": k.fingerprint,
    })
}

#[derive(Deserialize)]
pub struct NewKey {
    title: Option<String>,
    key: Option<String>,
}

/// `POST /user/keys` `{title?, key}`.
pub async fn add(
    Call(s, p): Call,
    Body(body): Body<NewKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Some(key) = body.key else {
        return Err(crate::error::ApiError::invalid(
            "PublicKey",
            "key",
            "missing_field",
            "key is required: the contents of a .pub file, such as ~/.ssh/id_ed25519.pub",
        ));
    };
    let record = s
        .accounts()
        .add_ssh_key(&p, body.title.as_deref(), &key)
        .await?;
    Ok((StatusCode::CREATED, Json(render_key(&s, &record))))
}

/// `GET /user/keys`.
pub async fn list(Call(s, p): Call, paging: Paging) -> ApiResult<Response> {
    let keys = s.accounts().list_ssh_keys(&p).await?;
    let listing = paging.cut(keys);
    Ok(paging.list(&s, listing, |k| render_key(&s, k)))
}

/// `GET /user/keys/{id}`.
pub async fn get(Call(s, p): Call, At(id): At<i64>) -> ApiResult<Json<Value>> {
    let record = s.accounts().ssh_key(&p, id).await?;
    Ok(Json(render_key(&s, &record)))
}

/// `DELETE /user/keys/{id}`.
pub async fn delete(Call(s, p): Call, At(id): At<i64>) -> ApiResult<StatusCode> {
    s.accounts().delete_ssh_key(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
