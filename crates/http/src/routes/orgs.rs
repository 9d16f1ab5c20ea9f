//! `/orgs/{org}`: organizations, their repositories and members.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_domain::Login;
use berth_domain::OrgRole;
use serde_json::Value;

use crate::auth::Call;
use crate::error::ApiResult;
use crate::paging::Paging;
use crate::wire::{At, Body, RoleField, word_field};
use crate::{AppState, render};

pub async fn get(State(s): State<AppState>, At(org): At<Login>) -> ApiResult<Json<Value>> {
    let org = s.authz().organization(&org).await?;
    Ok(Json(render::account(&s.base_url, &org)))
}

pub async fn repos(Call(s, p): Call, At(org): At<Login>, paging: Paging) -> ApiResult<Response> {
    let org = s.authz().organization(&org).await?;
    let listing = s
        .accounts()
        .list_owner_repos(&p, &org.login, paging.window())
        .await?;
    Ok(super::repos::page(&s, &paging, listing))
}

/// `GET /orgs/{org}/members[?role=all|admin|member]` (GitHub's filter; `admin` are the owners).
pub async fn members(
    Call(s, p): Call,
    At(org): At<Login>,
    Query(q): Query<RoleField>,
    paging: Paging,
) -> ApiResult<Response> {
    let role = match q.role.as_deref() {
        None | Some("all") => None,
        Some(word) => Some(word_field(
            "Membership",
            "role",
            word,
            OrgRole::parse,
            "all, admin or member",
        )?),
    };
    let listing = s
        .accounts()
        .list_members(&p, &org, role, paging.window())
        .await?;
    Ok(paging.list(&s, listing, |(a, _)| render::account(&s.base_url, a)))
}

pub async fn set_membership(
    Call(s, p): Call,
    At((org, login)): At<(Login, Login)>,
    Body(body): Body<RoleField>,
) -> ApiResult<Json<Value>> {
    let word = body.role.as_deref().unwrap_or("member");
    let allowed = "admin (owner) or member";
    let role = word_field("Membership", "role", word, OrgRole::parse, allowed)?;
    let (org, user, role) = s.accounts().set_membership(&p, &org, &login, role).await?;
    Ok(Json(render::membership(&s.base_url, &org, &user, role)))
}

pub async fn membership(
    Call(s, p): Call,
    At((org, login)): At<(Login, Login)>,
) -> ApiResult<Json<Value>> {
    let (org, user, role) = s.accounts().membership(&p, &org, &login).await?;
    Ok(Json(render::membership(&s.base_url, &org, &user, role)))
}

pub async fn remove_membership(
    Call(s, p): Call,
    At((org, login)): At<(Login, Login)>,
) -> ApiResult<StatusCode> {
    s.accounts().remove_membership(&p, &org, &login).await?;
    Ok(StatusCode::NO_CONTENT)
}
