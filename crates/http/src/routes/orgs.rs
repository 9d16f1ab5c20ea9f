//! `/orgs/{org}`: organizations, their repositories and members.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_domain::OrgRole;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::paging::Paging;
use crate::wire::{Body, path_login};
use crate::{AppState, render};

pub async fn get(State(s): State<AppState>, Path(org): Path<String>) -> ApiResult<Json<Value>> {
    let org = s.berth.authz().organization(&path_login(&org)?).await?;
    Ok(Json(render::account(&s.base_url, &org)))
}

pub async fn repos(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(org): Path<String>,
    paging: Paging,
) -> ApiResult<Response> {
    let org = s.berth.authz().organization(&path_login(&org)?).await?;
    let listing = s
        .berth
        .accounts()
        .list_owner_repos(&p, &org.login, paging.window())
        .await?;
    Ok(super::repos::page(&s, &paging, listing))
}

#[derive(Deserialize)]
pub struct MembersQuery {
    role: Option<String>,
}

/// `GET /orgs/{org}/members[?role=all|admin|member]` (GitHub's filter; `admin` are the owners).
pub async fn members(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(org): Path<String>,
    Query(q): Query<MembersQuery>,
    paging: Paging,
) -> ApiResult<Response> {
    let role = match q.role.as_deref() {
        None | Some("all") => None,
        Some(word) => Some(OrgRole::parse(word).ok_or_else(|| {
            ApiError::invalid(
                "Membership",
                "role",
                "invalid",
                format!("role must be all, admin or member, not {word:?}"),
            )
        })?),
    };
    let listing = s
        .berth
        .accounts()
        .list_members(&p, &path_login(&org)?, role, paging.window())
        .await?;
    let items = listing
        .items
        .iter()
        .map(|(a, _)| render::account(&s.base_url, a))
        .collect();
    Ok(paging.respond(&s, items, listing.total))
}

#[derive(Deserialize)]
pub struct MembershipBody {
    role: Option<String>,
}

pub async fn set_membership(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((org, login)): Path<(String, String)>,
    Body(body): Body<MembershipBody>,
) -> ApiResult<Json<Value>> {
    let word = body.role.as_deref().unwrap_or("member");
    let role = OrgRole::parse(word).ok_or_else(|| {
        ApiError::invalid(
            "Membership",
            "role",
            "invalid",
            format!("role must be admin (owner) or member, not {word:?}"),
        )
    })?;
    let (org, user, role) = s
        .berth
        .accounts()
        .set_membership(&p, &path_login(&org)?, &path_login(&login)?, role)
        .await?;
    Ok(Json(render::membership(&s.base_url, &org, &user, role)))
}

pub async fn membership(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((org, login)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (org, user, role) = s
        .berth
        .accounts()
        .membership(&p, &path_login(&org)?, &path_login(&login)?)
        .await?;
    Ok(Json(render::membership(&s.base_url, &org, &user, role)))
}

pub async fn remove_membership(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((org, login)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.berth
        .accounts()
        .remove_membership(&p, &path_login(&org)?, &path_login(&login)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
