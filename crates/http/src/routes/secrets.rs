//! Codespaces secrets at GitHub's paths, one set of handlers for the three levels
//! (`/user/codespaces/secrets`, `/repos/{owner}/{repo}/codespaces/secrets`,
//! `/orgs/{org}/codespaces/secrets`), plus Berth's preview of what an environment would get and
//! the site administrator's master key rotation and audit trail.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use berth_domain::secrets::SecretLevel;
use berth_domain::{Login, RepoName};
use berth_service::secrets::{SecretMeta, SecretOwner, SetSecret};
use berth_store::PutSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Call;
use crate::error::{ApiError, ApiResult};
use crate::paging::Paging;
use crate::wire::{Body, RepoPath, path_login, path_repo};
use crate::{AppState, render};

/// The level a secrets path names, and the secret and repository it names, if any.
pub struct SecretPath {
    owner: OwnerPath,
    name: Option<String>,
    repository_id: Option<String>,
}

enum OwnerPath {
    User,
    Repository(Login, RepoName),
    Organization(Login),
}

impl SecretPath {
    fn owner(&self) -> SecretOwner<'_> {
        match &self.owner {
            OwnerPath::User => SecretOwner::User,
            OwnerPath::Repository(owner, name) => SecretOwner::Repository { owner, name },
            OwnerPath::Organization(org) => SecretOwner::Organization(org),
        }
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// Where a user or organization secret's selected repositories are listed.
    fn repositories_url(&self, base: &str, name: &str) -> Option<String> {
        match &self.owner {
            OwnerPath::User => Some(format!(
                "{base}/api/v3/user/codespaces/secrets/{name}/repositories"
            )),
            OwnerPath::Organization(org) => Some(format!(
                "{base}/api/v3/orgs/{org}/codespaces/secrets/{name}/repositories"
            )),
            OwnerPath::Repository(..) => None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SecretPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(mut map) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let owner = match (map.remove("owner"), map.remove("repo"), map.remove("org")) {
            (Some(owner), Some(repo), _) => {
                let (owner, repo) = path_repo(&owner, &repo)?;
                OwnerPath::Repository(owner, repo)
            }
            (_, _, Some(org)) => OwnerPath::Organization(path_login(&org)?),
            _ => OwnerPath::User,
        };
        Ok(SecretPath {
            owner,
            name: map.remove("name"),
            repository_id: map.remove("repository_id"),
        })
    }
}

fn render_secret(s: &AppState, path: &SecretPath, m: &SecretMeta) -> Value {
    let mut v = json!({
        "name": m.name,
        "created_at": render::timestamp(m.created_at),
        "updated_at": render::timestamp(m.updated_at),
    });
    if m.level != SecretLevel::Repository {
        v["visibility"] = json!(m.visibility.map(|v| v.as_str()));
        v["selected_repositories_url"] = json!(path.repositories_url(&s.base_url, m.name.as_str()));
    }
    v
}

pub async fn public_key(Call(s, p): Call, path: SecretPath) -> ApiResult<Json<Value>> {
    let key = s.secrets().secret_public_key(&p, path.owner()).await?;
    Ok(Json(json!({ "key_id": key.key_id, "key": key.key })))
}

pub async fn list(Call(s, p): Call, path: SecretPath, paging: Paging) -> ApiResult<Response> {
    let all = s.secrets().list_secrets(&p, path.owner()).await?;
    let page = paging.cut(all);
    Ok(paging.list_counted(&s, "secrets", page, |m| render_secret(&s, &path, m)))
}

pub async fn get(Call(s, p): Call, path: SecretPath) -> ApiResult<Json<Value>> {
    let m = s
        .secrets()
        .get_secret(&p, path.owner(), path.name())
        .await?;
    Ok(Json(render_secret(&s, &path, &m)))
}

/// Repository ids arrive as numbers or as digit strings (GitHub accepts both for user secrets).
fn repository_ids(field: Option<Vec<Value>>) -> Result<Option<Vec<i64>>, ApiError> {
    field
        .map(|ids| {
            ids.iter()
                .map(|v| match v {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                })
                .collect::<Option<Vec<i64>>>()
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Secret",
                        "selected_repository_ids",
                        "invalid",
                        "selected_repository_ids must be a list of repository ids",
                    )
                })
        })
        .transpose()
}

#[derive(Deserialize)]
pub struct PutBody {
    encrypted_value: Option<String>,
    key_id: Option<String>,
    visibility: Option<String>,
    selected_repository_ids: Option<Vec<Value>>,
}

pub async fn put(
    Call(s, p): Call,
    path: SecretPath,
    Body(body): Body<PutBody>,
) -> ApiResult<Response> {
    let required = |field: &'static str, v: Option<String>| {
        v.ok_or_else(|| {
            ApiError::invalid(
                "Secret",
                field,
                "missing_field",
                format!("{field} is required"),
            )
        })
    };
    let request = SetSecret {
        encrypted_value: required("encrypted_value", body.encrypted_value)?,
        key_id: required("key_id", body.key_id)?,
        visibility: body.visibility,
        selected_repository_ids: repository_ids(body.selected_repository_ids)?,
    };
    match s
        .secrets()
        .put_secret(&p, path.owner(), path.name(), request)
        .await?
    {
        PutSecret::Created => Ok((StatusCode::CREATED, Json(json!({}))).into_response()),
        PutSecret::Updated => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

pub async fn delete(Call(s, p): Call, path: SecretPath) -> ApiResult<StatusCode> {
    s.secrets()
        .delete_secret(&p, path.owner(), path.name())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn repositories(
    Call(s, p): Call,
    path: SecretPath,
    paging: Paging,
) -> ApiResult<Response> {
    let all = s
        .secrets()
        .secret_repositories(&p, path.owner(), path.name())
        .await?;
    let page = paging.cut(all);
    Ok(paging.list_counted(&s, "repositories", page, |v| render::repo(&s.base_url, v)))
}

#[derive(Deserialize)]
pub struct SelectionBody {
    selected_repository_ids: Option<Vec<Value>>,
}

pub async fn set_repositories(
    Call(s, p): Call,
    path: SecretPath,
    Body(body): Body<SelectionBody>,
) -> ApiResult<StatusCode> {
    let ids = repository_ids(body.selected_repository_ids)?.ok_or_else(|| {
        ApiError::invalid(
            "Secret",
            "selected_repository_ids",
            "missing_field",
            "selected_repository_ids is required",
        )
    })?;
    s.secrets()
        .set_secret_repositories(&p, path.owner(), path.name(), &ids)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn select(
    s: &AppState,
    p: &berth_service::Principal,
    path: &SecretPath,
    on: bool,
) -> ApiResult<StatusCode> {
    let id = path
        .repository_id
        .as_deref()
        .and_then(|i| i.parse().ok())
        .ok_or_else(ApiError::not_found)?;
    s.secrets()
        .select_secret_repository(p, path.owner(), path.name(), id, on)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_repository(Call(s, p): Call, path: SecretPath) -> ApiResult<StatusCode> {
    select(&s, &p, &path, true).await
}

pub async fn remove_repository(Call(s, p): Call, path: SecretPath) -> ApiResult<StatusCode> {
    select(&s, &p, &path, false).await
}

/// `GET /repos/{owner}/{repo}/codespaces/environment-secrets`: which secrets an environment of
/// the repository started by the caller would get, and from which level; never their values.
pub async fn preview(
    Call(s, p): Call,
    RepoPath(owner, repo): RepoPath,
    paging: Paging,
) -> ApiResult<Response> {
    let names = s
        .secrets()
        .preview_environment_secrets(&p, &owner, &repo)
        .await?;
    let page = paging.cut(names);
    Ok(paging.respond_counted(&s, "secrets", page.items, page.total))
}

pub async fn rotate_master_key(Call(s, p): Call) -> ApiResult<Json<Value>> {
    let report = s.secrets().rotate_master_key(&p).await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

/// `GET /admin/secrets/audit`: newest first, paged like every list.
pub async fn audit(Call(s, p): Call, paging: Paging) -> ApiResult<Response> {
    let page = s.secrets().secret_audit(&p, paging.window()).await?;
    Ok(paging.list(&s, page, |l| {
        json!({
            "at": render::timestamp(l.record.at),
            "actor": l.actor,
            "action": l.record.action,
            "scope": l.record.scope_kind,
            "scope_id": l.record.scope_id,
            "name": l.record.name,
        })
    }))
}
