//! `/user/packages/{package_type}/{name}`, `/users/{login}/…` and `/orgs/{org}/…`: packages of
//! both kinds (`container`, `npm`: the route says which, as an [`Extension`]) with their
//! settings, grants and versions.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use berth_domain::Login;
use berth_domain::{Permission, RepoName, Visibility};
use berth_service::Access;
use berth_service::registry::{Grantee, RepoGrantChange};
use berth_store::PackageKind;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Call;
use crate::error::{ApiError, ApiResult};
use crate::paging::Paging;
use crate::wire::{At, Body, nullable, path_login, path_repo, word_field};
use crate::{AppState, render};

/// `PATCH` body: any of `visibility`, `repository` (`"OWNER/REPO"`, or `null` to unlink) and
/// `inherit_access`.
#[derive(Deserialize)]
pub struct PackageSettings {
    visibility: Option<String>,
    /// Absent: unchanged; `null`: unlink; a string: link.
    #[serde(default, deserialize_with = "nullable")]
    repository: Option<Option<String>>,
    inherit_access: Option<bool>,
}

/// GitHub's package object, plus Berth's `inherit_access`.
fn render_with_repo(
    s: &AppState,
    kind: PackageKind,
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
        "package_type": kind.as_str(),
        "visibility": p.visibility.as_str(),
        "owner": { "login": owner },
        // Answered under /users/ for users and organizations alike; `/` in names is %2F.
        "url": format!(
            "{}/api/v3/users/{owner}/packages/{}/{}",
            s.base_url,
            kind.as_str(),
            p.name.replace('/', "%2F")
        ),
        "created_at": render::timestamp(p.created_at),
        "updated_at": render::timestamp(p.updated_at),
    })
}

async fn update(
    s: &AppState,
    p: &berth_service::Principal,
    kind: PackageKind,
    owner: &str,
    name: &str,
    body: PackageSettings,
) -> ApiResult<Json<Value>> {
    let owner_login = path_login(owner)?;
    if body.visibility.is_none() && body.repository.is_none() && body.inherit_access.is_none() {
        return Err(ApiError::invalid(
            "Package",
            "visibility",
            "missing_field",
            "give visibility, repository or inherit_access",
        ));
    }
    let repository = match body.repository {
        None => None,
        Some(None) => Some(None),
        Some(Some(full)) => {
            let (o, n) = full.split_once('/').ok_or_else(|| {
                ApiError::invalid(
                    "Package",
                    "repository",
                    "invalid",
                    format!("{full:?} is not OWNER/REPO"),
                )
            })?;
            if !o.eq_ignore_ascii_case(owner) {
                return Err(ApiError::invalid(
                    "Package",
                    "repository",
                    "invalid",
                    format!("a package of {owner} links to a repository of {owner}, not of {o}"),
                ));
            }
            Some(Some(RepoName::parse(n).map_err(|e| {
                ApiError::invalid("Package", "repository", "invalid", e.to_string())
            })?))
        }
    };
    if repository.is_some() || body.inherit_access.is_some() {
        s.registry()
            .set_package_source(p, kind, &owner_login, name, repository, body.inherit_access)
            .await?;
    }
    if let Some(word) = body.visibility.as_deref() {
        let allowed = "public, private or internal";
        let visibility = word_field("Package", "visibility", word, Visibility::parse, allowed)?;
        s.registry()
            .set_package_visibility(p, kind, &owner_login, name, visibility)
            .await?;
    }
    get(s, p, kind, owner, name).await
}

pub async fn update_for_user(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    Path(name): Path<String>,
    Body(body): Body<PackageSettings>,
) -> ApiResult<Json<Value>> {
    let login = callers_login(&s, &p).await?;
    update(&s, &p, kind, login.as_str(), &name, body).await
}

pub async fn update_for_org(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    Path((org, name)): Path<(String, String)>,
    Body(body): Body<PackageSettings>,
) -> ApiResult<Json<Value>> {
    update(&s, &p, kind, &org, &name, body).await
}

async fn get(
    s: &AppState,
    p: &berth_service::Principal,
    kind: PackageKind,
    owner: &str,
    name: &str,
) -> ApiResult<Json<Value>> {
    let (package, repo) = s
        .registry()
        .package(p, kind, &path_login(owner)?, name)
        .await?;
    Ok(Json(render_with_repo(
        s,
        kind,
        owner,
        &package,
        repo.as_ref(),
    )))
}

pub async fn get_for_user(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let login = callers_login(&s, &p).await?;
    get(&s, &p, kind, login.as_str(), &name).await
}

pub async fn get_for_account(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    Path((owner, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    get(&s, &p, kind, &owner, &name).await
}

fn role(resource: &str, field: &str, word: &str) -> Result<Permission, ApiError> {
    Permission::parse(word).ok_or_else(|| {
        ApiError::invalid(
            resource,
            field,
            "invalid",
            format!("{field} must be read, write or admin, not {word:?}"),
        )
    })
}

/// `GET …/packages/container/{name}/access`: the explicit grants.
pub async fn access(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    At((owner, name)): At<(Login, String)>,
) -> ApiResult<Json<Value>> {
    let list = s.registry().package_access(&p, kind, &owner, &name).await?;
    let users: Vec<Value> = list
        .users
        .iter()
        .map(|(login, r)| json!({ "login": login, "role": r.as_str() }))
        .collect();
    let teams: Vec<Value> = list
        .teams
        .iter()
        .map(|(slug, r)| json!({ "slug": slug.as_str(), "role": r.as_str() }))
        .collect();
    let repositories: Vec<Value> = list
        .repositories
        .iter()
        .map(|(full, g)| json!({ "full_name": full, "environments": g.environments, "token_role": g.token_role.map(Permission::as_str) }))
        .collect();
    Ok(Json(
        json!({ "users": users, "teams": teams, "repositories": repositories }),
    ))
}

#[derive(Deserialize)]
pub struct UserGrantBody {
    role: Option<String>,
}

/// Whom a grant route names: a user (`…/access/users/{login}`) or a team of the package's
/// organization (`/orgs/{org}/…/access/teams/{team_slug}`); the route says which.
#[derive(Debug, Clone, Copy)]
pub enum Whom {
    User,
    Team,
}

impl Whom {
    fn grantee(self, who: &str) -> Result<(Option<Login>, &str), ApiError> {
        Ok(match self {
            Self::User => (Some(path_login(who)?), who),
            Self::Team => (None, who),
        })
    }
}

/// `PUT …/access/users/{login}` or `…/access/teams/{team_slug}` `{role}`: a user's or a team's
/// role on a package (`read` when the body names none).
pub async fn grant(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    Extension(whom): Extension<Whom>,
    At((owner, name, who)): At<(Login, String, String)>,
    Body(body): Body<UserGrantBody>,
) -> ApiResult<StatusCode> {
    let role = role("Grant", "role", body.role.as_deref().unwrap_or("read"))?;
    let (user, slug) = whom.grantee(&who)?;
    let to = user.as_ref().map_or(Grantee::Team(slug), Grantee::User);
    s.registry()
        .grant(&p, kind, &owner, &name, to, role)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE` of what [`grant`] gave.
pub async fn revoke(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    Extension(whom): Extension<Whom>,
    At((owner, name, who)): At<(Login, String, String)>,
) -> ApiResult<StatusCode> {
    let (user, slug) = whom.grantee(&who)?;
    let from = user.as_ref().map_or(Grantee::Team(slug), Grantee::User);
    s.registry().revoke(&p, kind, &owner, &name, from).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT …/access/repositories/{owner}/{repo}`: `environments` and `token_role` combine with
/// the repository's grant as it is (a field left out keeps its value; `token_role: null` removes
/// the token role).
#[derive(Deserialize)]
pub struct RepoGrantBody {
    environments: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    token_role: Option<Option<String>>,
}

/// Answers the grant as it now is: `{full_name, environments, token_role}`.
pub async fn grant_repository(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    At((owner, name, repo_owner, repo_name)): At<(Login, String, String, String)>,
    Body(body): Body<RepoGrantBody>,
) -> ApiResult<Json<Value>> {
    let token_role = match body.token_role {
        None => None,
        Some(None) => Some(None),
        Some(Some(w)) => Some(Some(role("Grant", "token_role", &w)?)),
    };
    if body.environments.is_none() && token_role.is_none() {
        return Err(ApiError::invalid(
            "Grant",
            "environments",
            "missing_field",
            "give environments (true: the repository's environments may pull) and/or token_role (read, write or admin)",
        ));
    }
    let (ro, rn) = path_repo(&repo_owner, &repo_name)?;
    let grant = s
        .registry()
        .grant_repository(
            &p,
            kind,
            &owner,
            &name,
            (&ro, &rn),
            RepoGrantChange {
                environments: body.environments,
                token_role,
            },
        )
        .await?;
    Ok(Json(json!({
        "full_name": format!("{ro}/{rn}"),
        "environments": grant.environments,
        "token_role": grant.token_role.map(Permission::as_str),
    })))
}

pub async fn revoke_repository(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    At((owner, name, repo_owner, repo_name)): At<(Login, String, String, String)>,
) -> ApiResult<StatusCode> {
    let (ro, rn) = path_repo(&repo_owner, &repo_name)?;
    s.registry()
        .revoke_repository(&p, kind, &owner, &name, &ro, &rn)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct ListQuery {
    package_type: Option<String>,
}

async fn list(
    s: &AppState,
    p: &berth_service::Principal,
    owner: &str,
    q: ListQuery,
    paging: Paging,
) -> ApiResult<Response> {
    let owner_login = path_login(owner)?;
    let kind = match q.package_type.as_deref() {
        Some("container") => PackageKind::Container,
        Some("npm") => PackageKind::Npm,
        Some(other) => {
            return Err(ApiError::invalid(
                "Package",
                "package_type",
                "invalid",
                format!("package_type must be container or npm, not {other:?}"),
            ));
        }
        None => {
            return Err(ApiError::invalid(
                "Package",
                "package_type",
                "missing_field",
                "package_type is required (container or npm)",
            ));
        }
    };
    let (_, packages) = s.registry().list_packages(p, kind, &owner_login).await?;
    let items: Vec<Value> = packages
        .iter()
        .map(|(pkg, repo)| render_with_repo(s, kind, owner, pkg, repo.as_ref()))
        .collect();
    let page = paging.cut(items);
    Ok(paging.respond(s, page.items, page.total))
}

pub async fn list_for_user(
    Call(s, p): Call,
    Query(q): Query<ListQuery>,
    paging: Paging,
) -> ApiResult<Response> {
    let login = callers_login(&s, &p).await?;
    list(&s, &p, login.as_str(), q, paging).await
}

pub async fn list_for_account(
    Call(s, p): Call,
    Path(owner): Path<String>,
    Query(q): Query<ListQuery>,
    paging: Paging,
) -> ApiResult<Response> {
    list(&s, &p, &owner, q, paging).await
}

fn render_version(
    s: &AppState,
    kind: PackageKind,
    owner: &Login,
    name: &str,
    v: &berth_store::VersionRecord,
) -> Value {
    let url = format!(
        "{}/api/v3/users/{owner}/packages/{}/{}/versions/{}",
        s.base_url,
        kind.as_str(),
        name.replace('/', "%2F"),
        v.id
    );
    json!({
        "id": v.id,
        "name": v.name,
        "url": url,
        "package_html_url": format!("{}/{owner}/packages/{}/{name}", s.base_url, kind.as_str()),
        "created_at": render::timestamp(v.created_at),
        "updated_at": render::timestamp(v.created_at),
        "deleted_at": v.deleted_at.map(render::timestamp),
        "metadata": match kind {
            PackageKind::Container => json!({ "package_type": "container", "container": { "tags": v.tags } }),
            PackageKind::Npm => json!({ "package_type": "npm", "npm": { "tags": v.tags } }),
        },
    })
}

#[derive(Deserialize)]
pub struct VersionsQuery {
    state: Option<String>,
}

/// `GET …/versions?state=active|deleted`.
pub async fn versions(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    At((owner, name)): At<(Login, String)>,
    Query(q): Query<VersionsQuery>,
    paging: Paging,
) -> ApiResult<Response> {
    let deleted = match q.state.as_deref() {
        None | Some("active") => false,
        Some("deleted") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "PackageVersion",
                "state",
                "invalid",
                format!("state must be active or deleted, not {other:?}"),
            ));
        }
    };
    let all = s
        .registry()
        .package_versions(&p, kind, &owner, &name, deleted)
        .await?;
    let page = paging.cut(all);
    Ok(paging.list(&s, page, |v| render_version(&s, kind, &owner, &name, v)))
}

fn version_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found())
}

pub async fn version(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    At((owner, name, id)): At<(Login, String, String)>,
) -> ApiResult<Json<Value>> {
    let v = s
        .registry()
        .package_version(&p, kind, &owner, &name, version_id(&id)?)
        .await?;
    Ok(Json(render_version(&s, kind, &owner, &name, &v)))
}

pub async fn delete_version(
    call: Call,
    kind: Extension<PackageKind>,
    at: At<(Login, String, String)>,
) -> ApiResult<StatusCode> {
    set_version_deleted(call, kind, at, true).await
}

pub async fn restore_version(
    call: Call,
    kind: Extension<PackageKind>,
    at: At<(Login, String, String)>,
) -> ApiResult<StatusCode> {
    set_version_deleted(call, kind, at, false).await
}

async fn set_version_deleted(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    At((owner, name, id)): At<(Login, String, String)>,
    deleted: bool,
) -> ApiResult<StatusCode> {
    s.registry()
        .set_version_deleted(&p, kind, &owner, &name, version_id(&id)?, deleted)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_for_user(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let login = callers_login(&s, &p).await?;
    s.registry().delete_package(&p, kind, &login, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_for_account(
    Call(s, p): Call,
    Extension(kind): Extension<PackageKind>,
    At((owner, name)): At<(Login, String)>,
) -> ApiResult<StatusCode> {
    s.registry().delete_package(&p, kind, &owner, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct OrgPackageSettings {
    auto_inherit_access: Option<bool>,
}

/// `GET /orgs/{org}/settings/packages`.
pub async fn org_settings(Call(s, p): Call, At(org): At<Login>) -> ApiResult<Json<Value>> {
    let on = s.registry().org_package_settings(&p, &org).await?;
    Ok(Json(json!({ "auto_inherit_access": on })))
}

/// `PATCH /orgs/{org}/settings/packages` `{auto_inherit_access}`: whether a repository token's
/// first publish makes the package inherit the repository's access.
pub async fn set_org_settings(
    Call(s, p): Call,
    At(org): At<Login>,
    Body(body): Body<OrgPackageSettings>,
) -> ApiResult<Json<Value>> {
    let on = body.auto_inherit_access.ok_or_else(|| {
        ApiError::invalid(
            "Organization",
            "auto_inherit_access",
            "missing_field",
            "auto_inherit_access is required",
        )
    })?;
    let on = s.registry().set_org_package_settings(&p, &org, on).await?;
    Ok(Json(json!({ "auto_inherit_access": on })))
}

/// The login of the signed-in user calling a `/user/packages` route (a token of no user is
/// refused there).
async fn callers_login(s: &AppState, p: &berth_service::Principal) -> ApiResult<Login> {
    Ok(s.authz().check(p, Access::User).await?.login.clone())
}
