//! `/user/tokens` (the caller's personal tokens) and `/repos/{o}/{r}/tokens` (repository tokens).

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use berth_domain::Login;
use berth_domain::Scopes;
use berth_service::tokens::TokenRequest;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Call;
use crate::error::{ApiError, ApiResult};
use crate::paging::Paging;
use crate::render;
use crate::wire::{Body, RepoPath, body_time};

/// The body of every token-creating call.
#[derive(Deserialize)]
pub struct TokenBody {
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    note: String,
    expires_at: Option<String>,
}

impl TokenBody {
    pub fn parse(self) -> Result<TokenRequest, ApiError> {
        let scopes = Scopes::parse(self.scopes.iter().map(String::as_str)).map_err(|w| {
            ApiError::invalid("Token", "scopes", "invalid", format!("unknown scope {w:?}"))
        })?;
        let expires_at = self
            .expires_at
            .as_deref()
            .map(|t| body_time("Token", "expires_at", t))
            .transpose()?;
        Ok(TokenRequest {
            scopes,
            note: self.note,
            expires_at,
        })
    }
}

pub async fn create(call: Call, body: Body<TokenBody>) -> ApiResult<(StatusCode, Json<Value>)> {
    create_personal(call, None, body).await
}

/// A personal token for the caller (`for_user: None`), or for another user by a site
/// administrator (impersonation): 201 with the token, shown this once.
pub(crate) async fn create_personal(
    Call(s, p): Call,
    for_user: Option<&Login>,
    Body(body): Body<TokenBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let minted = s
        .accounts()
        .create_personal_token(&p, for_user, body.parse()?)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(render::token(
            &s.base_url,
            &minted.record,
            Some(minted.token.expose_secret()),
        )),
    ))
}

pub async fn list(Call(s, p): Call, paging: Paging) -> ApiResult<Response> {
    let tokens = s.accounts().list_personal_tokens(&p).await?;
    let page = paging.cut(tokens);
    Ok(paging.list(&s, page, |t| render::token(&s.base_url, t, None)))
}

pub async fn revoke(Call(s, p): Call, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = id.parse().map_err(|_| ApiError::not_found())?;
    s.accounts().revoke_personal_token(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_for_repo(
    Call(s, p): Call,
    RepoPath(owner, name): RepoPath,
    Body(body): Body<TokenBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let minted = s
        .accounts()
        .create_repository_token(&p, &owner, &name, body.parse()?)
        .await?;
    let full_name = format!("{owner}/{name}");
    Ok((
        StatusCode::CREATED,
        Json(render::repo_token(
            &minted.record,
            &full_name,
            Some(minted.token.expose_secret()),
        )),
    ))
}
