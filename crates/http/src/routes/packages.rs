//! `/user/packages/container/{name}` and `/orgs/{org}/packages/container/{name}`: package
//! settings (for now, visibility).

use axum::Json;
use axum::extract::{Path, State};
use berth_domain::Visibility;
use berth_service::Access;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::wire::{Body, path_login};
use crate::{AppState, render};

#[derive(Deserialize)]
pub struct PackageSettings {
    visibility: Option<String>,
}

fn render_package(s: &AppState, owner: &str, p: &berth_store::Package) -> Value {
    render_with_repo(s, owner, p, None)
}

/// GitHub's package object, plus Berth's `inherit_access`.
fn render_with_repo(
    s: &AppState,
    owner: &str,
    p: &berth_store::Package,
    repo: Option<&berth_store::Repo>,
) -> Value {
    let repository = repo.map(|r| {
        json!({
            "id": r.id,
            "name": r.name,
            "full_name": r.full_name(),
            "owner": { "login": r.owner_login },
            "private": r.visibility != Visibility::Public,
            "visibility": r.visibility.as_str(),
            "url": format!("{}/api/v3/repos/{}", s.base_url, r.full_name()),
        })
    });
    json!({
        "repository": repository,
        "inherit_access": p.inherit,
        "id": p.id,
        "name": p.name,
        "package_type": "container",
        "visibility": p.visibility.as_str(),
        "owner": { "login": owner },
        "url": format!("{}/api/v3/packages/container/{}", s.base_url, p.name),
        "created_at": render::timestamp(p.created_at),
        "updated_at": render::timestamp(p.updated_at),
    })
}

async fn update(
    s: &AppState,
    p: &berth_service::Principal,
    owner: &str,
    name: &str,
    body: PackageSettings,
) -> ApiResult<Json<Value>> {
    let word = body.visibility.as_deref().ok_or_else(|| {
        ApiError::invalid(
            "Package",
            "visibility",
            "missing_field",
            "visibility is required",
        )
    })?;
    let visibility = Visibility::parse(word).ok_or_else(|| {
        ApiError::invalid(
            "Package",
            "visibility",
            "invalid",
            format!("visibility must be public, private or internal, not {word:?}"),
        )
    })?;
    let package = s
        .berth
        .set_container_visibility(p, &path_login(owner)?, name, visibility)
        .await?;
    Ok(Json(render_package(s, owner, &package)))
}

pub async fn update_for_user(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(name): Path<String>,
    Body(body): Body<PackageSettings>,
) -> ApiResult<Json<Value>> {
    let login = s.berth.check(&p, Access::User).await?.login.to_string();
    update(&s, &p, &login, &name, body).await
}

pub async fn update_for_org(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((org, name)): Path<(String, String)>,
    Body(body): Body<PackageSettings>,
) -> ApiResult<Json<Value>> {
    update(&s, &p, &org, &name, body).await
}

async fn get(
    s: &AppState,
    p: &berth_service::Principal,
    owner: &str,
    name: &str,
) -> ApiResult<Json<Value>> {
    let (package, repo) = s
        .berth
        .container_package(p, &path_login(owner)?, name)
        .await?;
    Ok(Json(render_with_repo(s, owner, &package, repo.as_ref())))
}

pub async fn get_for_user(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let login = s.berth.check(&p, Access::User).await?.login.to_string();
    get(&s, &p, &login, &name).await
}

pub async fn get_for_account(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((owner, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    get(&s, &p, &owner, &name).await
}
