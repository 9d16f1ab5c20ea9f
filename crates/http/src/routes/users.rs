//! `/user`, `/users/{login}`: accounts and their repositories.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use berth_domain::Login;
use berth_service::Access;
use serde_json::Value;

use crate::auth::{Call, Caller};
use crate::error::ApiResult;
use crate::paging::Paging;
use crate::wire::At;
use crate::{AppState, render};

pub async fn me(State(s): State<AppState>, Caller(p): Caller) -> ApiResult<Json<Value>> {
    let user = s.authz().check(&p, Access::User).await?;
    Ok(Json(render::account(&s.base_url, user)))
}

pub async fn get(State(s): State<AppState>, At(login): At<Login>) -> ApiResult<Json<Value>> {
    let account = s.authz().account(&login).await?;
    Ok(Json(render::account(&s.base_url, &account)))
}

pub async fn my_repos(Call(s, p): Call, paging: Paging) -> ApiResult<Response> {
    let listing = s.accounts().list_user_repos(&p, paging.window()).await?;
    Ok(super::repos::page(&s, &paging, listing))
}

/// `GET /user/orgs`: the organizations the caller belongs to.
pub async fn my_orgs(Call(s, p): Call, paging: Paging) -> ApiResult<Response> {
    let listing = s.accounts().my_organizations(&p, paging.window()).await?;
    Ok(paging.list(&s, listing, |(org, _)| render::account(&s.base_url, org)))
}

pub async fn repos(Call(s, p): Call, At(login): At<Login>, paging: Paging) -> ApiResult<Response> {
    let listing = s
        .accounts()
        .list_owner_repos(&p, &login, paging.window())
        .await?;
    Ok(super::repos::page(&s, &paging, listing))
}
