//! `/user`, `/users/{login}`: accounts and their repositories.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use berth_service::Access;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::paging::Paging;
use crate::wire::path_login;
use crate::{AppState, render};

pub async fn me(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Json<Value>> {
    let user = s.berth.authz().check(&p, Access::User).await?;
    Ok(Json(render::account(&s.base_url, user)))
}

pub async fn get(State(s): State<AppState>, Path(login): Path<String>) -> ApiResult<Json<Value>> {
    let account = s.berth.authz().account(&path_login(&login)?).await?;
    Ok(Json(render::account(&s.base_url, &account)))
}

pub async fn my_repos(
    State(s): State<AppState>,
    Caller(p): Caller,
    paging: Paging,
) -> ApiResult<Response> {
    let listing = s
        .berth
        .accounts()
        .list_user_repos(&p, paging.window())
        .await?;
    Ok(super::repos::page(&s, &paging, listing))
}

pub async fn repos(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(login): Path<String>,
    paging: Paging,
) -> ApiResult<Response> {
    let listing = s
        .berth
        .accounts()
        .list_owner_repos(&p, &path_login(&login)?, paging.window())
        .await?;
    Ok(super::repos::page(&s, &paging, listing))
}
