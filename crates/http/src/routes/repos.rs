//! `/repos/{owner}/{repo}`, repository creation and collaborators.

use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use berth_domain::Login;
use berth_domain::{Permission, RepoName, Visibility};
use berth_service::repos::{NewRepo, RepoChange, RepoView};
use berth_store::Listing;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Call;
use crate::error::{ApiError, ApiResult};
use crate::paging::Paging;
use crate::wire::{At, Body, RepoPath, nullable, word_field};
use crate::{AppState, render};

/// One page of repositories as a GitHub list response.
pub(super) fn page(s: &AppState, paging: &Paging, listing: Listing<RepoView>) -> Response {
    paging.list(s, listing, |v| render::repo(&s.base_url, v))
}

/// `GET /repos/{o}/{r}`, and `GET /repositories/{id}` (gh's form).
pub async fn get(Call(s, p): Call, RepoPath(owner, name): RepoPath) -> ApiResult<Json<Value>> {
    let view = s
        .authz()
        .repo_for(&p, &owner, &name, Permission::Read)
        .await?;
    Ok(Json(render::repo(&s.base_url, &view)))
}

/// `PATCH /repos/{o}/{r}`: GitHub's `name`, `description`, `visibility` (or `private`),
/// `default_branch`, and Berth's `clone_url`; `null` clears the nullable ones.
#[derive(Deserialize)]
pub struct EditRepo {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    visibility: Option<String>,
    private: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    default_branch: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    clone_url: Option<Option<String>>,
}

impl EditRepo {
    fn parse(self) -> Result<RepoChange, ApiError> {
        let name = self
            .name
            .map(|n| {
                RepoName::parse(&n)
                    .map_err(|e| ApiError::invalid("Repository", "name", "invalid", e.to_string()))
            })
            .transpose()?;
        let visibility = match (self.visibility.as_deref(), self.private) {
            (Some(word), _) => Some(parse_visibility(word)?),
            (None, Some(true)) => Some(Visibility::Private),
            (None, Some(false)) => Some(Visibility::Public),
            (None, None) => None,
        };
        Ok(RepoChange {
            name,
            visibility,
            description: self.description,
            clone_url: self.clone_url,
            default_branch: self.default_branch,
        })
    }
}

fn parse_visibility(word: &str) -> Result<Visibility, ApiError> {
    let allowed = "public, private or internal";
    word_field("Repository", "visibility", word, Visibility::parse, allowed)
}

pub async fn update(
    Call(s, p): Call,
    RepoPath(owner, name): RepoPath,
    Body(body): Body<EditRepo>,
) -> ApiResult<Json<Value>> {
    let view = s
        .accounts()
        .update_repo(&p, &owner, &name, body.parse()?)
        .await?;
    Ok(Json(render::repo(&s.base_url, &view)))
}

pub async fn delete(Call(s, p): Call, RepoPath(owner, name): RepoPath) -> ApiResult<StatusCode> {
    s.accounts().delete_repo(&p, &owner, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct CreateRepo {
    name: Option<String>,
    visibility: Option<String>,
    private: Option<bool>,
    clone_url: Option<String>,
    description: Option<String>,
}

impl CreateRepo {
    /// GitHub's rules: `visibility` wins over `private`; with neither, the repository is public.
    fn parse(self) -> Result<NewRepo, ApiError> {
        let name = self.name.ok_or_else(|| {
            ApiError::invalid("Repository", "name", "missing_field", "name is required")
        })?;
        let name = RepoName::parse(&name)
            .map_err(|e| ApiError::invalid("Repository", "name", "invalid", e.to_string()))?;
        let visibility = match (self.visibility.as_deref(), self.private) {
            (Some(word), _) => parse_visibility(word)?,
            (None, Some(true)) => Visibility::Private,
            (None, _) => Visibility::Public,
        };
        Ok(NewRepo {
            name,
            visibility,
            clone_url: self.clone_url,
            description: self.description,
        })
    }
}

pub async fn create_for_user(
    Call(s, p): Call,
    Body(body): Body<CreateRepo>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let view = s.accounts().create_repo(&p, None, body.parse()?).await?;
    Ok((StatusCode::CREATED, Json(render::repo(&s.base_url, &view))))
}

pub async fn create_for_org(
    Call(s, p): Call,
    At(org): At<Login>,
    Body(body): Body<CreateRepo>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let view = s
        .accounts()
        .create_repo(&p, Some(&org), body.parse()?)
        .await?;
    Ok((StatusCode::CREATED, Json(render::repo(&s.base_url, &view))))
}

pub async fn collaborators(
    Call(s, p): Call,
    RepoPath(owner, name): RepoPath,
    paging: Paging,
) -> ApiResult<Response> {
    let listing = s
        .accounts()
        .list_collaborators(&p, &owner, &name, paging.window())
        .await?;
    Ok(paging.list(&s, listing, |c| render::collaborator(&s.base_url, c)))
}

#[derive(Deserialize)]
pub struct CollaboratorBody {
    permission: Option<String>,
}

/// Adds the collaborator at once (Berth has no invitations) and answers 204, as GitHub does for
/// an existing collaborator.
pub async fn add_collaborator(
    Call(s, p): Call,
    At((owner, name, login)): At<(Login, RepoName, Login)>,
    Body(body): Body<CollaboratorBody>,
) -> ApiResult<StatusCode> {
    let word = body.permission.as_deref().unwrap_or("push");
    let allowed = "read, write or admin (or pull, push)";
    let permission = word_field(
        "Collaborator",
        "permission",
        word,
        Permission::parse,
        allowed,
    )?;
    s.accounts()
        .set_collaborator(&p, &owner, &name, &login, permission)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_collaborator(
    Call(s, p): Call,
    At((owner, name, login)): At<(Login, RepoName, Login)>,
) -> ApiResult<StatusCode> {
    s.accounts()
        .remove_collaborator(&p, &owner, &name, &login)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
