//! `/orgs/{org}/teams`: an organization's teams and their memberships, in GitHub's shapes.

use axum::Json;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use berth_domain::Login;
use berth_domain::teams::{TeamPrivacy, TeamRole};
use berth_service::teams::{NewTeam, TeamChanges};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Call;
use crate::error::ApiResult;
use crate::paging::Paging;
use crate::wire::{At, Body, RoleField, nullable, word_field};
use crate::{AppState, render};

fn privacy(word: &str) -> ApiResult<TeamPrivacy> {
    word_field(
        "Team",
        "privacy",
        word,
        TeamPrivacy::parse,
        "closed or secret",
    )
}

fn role(word: &str) -> ApiResult<TeamRole> {
    word_field(
        "TeamMember",
        "role",
        word,
        TeamRole::parse,
        "member or maintainer",
    )
}

pub async fn list(Call(s, p): Call, At(org): At<Login>, paging: Paging) -> ApiResult<Response> {
    let (org, listing) = s.accounts().list_teams(&p, &org, paging.window()).await?;
    Ok(paging.list(&s, listing, |t| render::team(&s.base_url, &org, t)))
}

/// `POST /orgs/{org}/teams` `{name, description?, privacy?, maintainers?}`.
#[derive(Deserialize)]
pub struct CreateBody {
    name: String,
    description: Option<String>,
    privacy: Option<String>,
    #[serde(default)]
    maintainers: Vec<String>,
}

pub async fn create(
    Call(s, p): Call,
    At(org): At<Login>,
    Body(body): Body<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let maintainers = body
        .maintainers
        .iter()
        .map(|m| crate::wire::body_login("Team", "maintainers", m))
        .collect::<ApiResult<Vec<_>>>()?;
    let new = NewTeam {
        name: body.name,
        description: body.description,
        privacy: body.privacy.as_deref().map(privacy).transpose()?,
        maintainers,
    };
    let (org, team) = s.accounts().create_team(&p, &org, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(render::team(&s.base_url, &org, &team)),
    ))
}

pub async fn get(Call(s, p): Call, At((org, slug)): At<(Login, String)>) -> ApiResult<Json<Value>> {
    let (org, team) = s.authz().team(&p, &org, &slug).await?;
    Ok(Json(render::team(&s.base_url, &org, &team)))
}

/// `PATCH /orgs/{org}/teams/{team_slug}` `{name?, description?, privacy?}`.
#[derive(Deserialize)]
pub struct UpdateBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    privacy: Option<String>,
}

pub async fn update(
    Call(s, p): Call,
    At((org, slug)): At<(Login, String)>,
    Body(body): Body<UpdateBody>,
) -> ApiResult<Json<Value>> {
    let changes = TeamChanges {
        name: body.name,
        description: body.description,
        privacy: body.privacy.as_deref().map(privacy).transpose()?,
    };
    let (org, team) = s.accounts().update_team(&p, &org, &slug, changes).await?;
    Ok(Json(render::team(&s.base_url, &org, &team)))
}

pub async fn delete(
    Call(s, p): Call,
    At((org, slug)): At<(Login, String)>,
) -> ApiResult<StatusCode> {
    s.accounts().delete_team(&p, &org, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /orgs/{org}/teams/{team_slug}/members[?role=all|member|maintainer]`.
pub async fn members(
    Call(s, p): Call,
    At((org, slug)): At<(Login, String)>,
    Query(q): Query<RoleField>,
    paging: Paging,
) -> ApiResult<Response> {
    let wanted = match q.role.as_deref() {
        None | Some("all") => None,
        Some(word) => Some(role(word)?),
    };
    let all: Vec<Value> = s
        .accounts()
        .team_members(&p, &org, &slug)
        .await?
        .iter()
        .filter(|(_, r)| wanted.is_none_or(|w| w == *r))
        .map(|(a, _)| render::account(&s.base_url, a))
        .collect();
    let page = paging.cut(all);
    Ok(paging.respond(&s, page.items, page.total))
}

fn membership(s: &AppState, org: &Login, slug: &str, login: &Login, role: TeamRole) -> Value {
    json!({
        "url": format!("{}/api/v3/orgs/{org}/teams/{slug}/memberships/{login}", s.base_url),
        "role": role.as_str(),
        "state": "active",
    })
}

pub async fn get_membership(
    Call(s, p): Call,
    At((org, slug, login)): At<(Login, String, Login)>,
) -> ApiResult<Json<Value>> {
    let role = s
        .accounts()
        .team_membership(&p, &org, &slug, &login)
        .await?;
    Ok(Json(membership(&s, &org, &slug, &login, role)))
}

/// `PUT …/memberships/{username}` `{role?}` (default `member`).
pub async fn set_membership(
    Call(s, p): Call,
    At((org, slug, login)): At<(Login, String, Login)>,
    Body(body): Body<RoleField>,
) -> ApiResult<Json<Value>> {
    let role = role(body.role.as_deref().unwrap_or("member"))?;
    s.accounts()
        .set_team_membership(&p, &org, &slug, &login, role)
        .await?;
    Ok(Json(membership(&s, &org, &slug, &login, role)))
}

pub async fn remove_membership(
    Call(s, p): Call,
    At((org, slug, login)): At<(Login, String, Login)>,
) -> ApiResult<StatusCode> {
    s.accounts()
        .remove_team_membership(&p, &org, &slug, &login)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
