//! Packages in the web UI: an owner's packages of both kinds (`/packages/{owner}`), and a page
//! each (`/packages/{owner}/{kind}/{name}`, a container name's `/` as `%2F`) with its versions and
//! how to pull or install it, and, for its admins, its settings: visibility (public only with its
//! confirmation), the linked repository and inheritance, grants to repositories' environments
//! ("Manage Codespaces access"), users and teams, and deletion. Every change is the packages
//! API's service call; a package the caller may not read is missing here too.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use berth_domain::{AccountKind, Login, Permission, RepoName, Visibility};
use berth_service::ServiceError;
use berth_service::accounts::sessions::SignedIn;
use berth_service::registry::{Grantee, RepoGrantChange};
use berth_store::PackageKind;
use serde::Deserialize;

use super::{Done, FromPath, Notice, Page, Posted, Subject, Viewer, again, failed, html, page_of};
use crate::AppState;
use crate::render::timestamp;

#[derive(Template)]
#[template(path = "packages.html")]
struct PackagesPage {
    page: Page,
    owner: String,
    host: String,
    base: String,
    packages: Vec<PackageRow>,
    /// How many there are in all, this page's number (from 1), and how many pages.
    total: usize,
    number: usize,
    pages: usize,
}

struct PackageRow {
    name: String,
    href: String,
    kind: &'static str,
    visibility: &'static str,
    repository: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "package.html")]
struct PackagePage {
    page: Page,
    owner: String,
    display: String,
    base: String,
    kind: &'static str,
    visibility: &'static str,
    repository: String,
    inherit: bool,
    how: String,
    /// (name, tags, published)
    versions: Vec<(String, String, String)>,
    notice: Notice,
    admin: Option<Settings>,
}

/// What only the package's admins see.
struct Settings {
    org: bool,
    linked: String,
    grants: Vec<GrantRow>,
}

struct GrantRow {
    who: String,
    role: String,
    kind: &'static str,
    key: String,
}

fn kind_of(word: &str) -> Option<PackageKind> {
    match word {
        "container" => Some(PackageKind::Container),
        "npm" => Some(PackageKind::Npm),
        _ => None,
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "No such package that you can see. An owner's packages are listed at /packages/OWNER.",
    )
        .into_response()
}

/// How many packages a page of a list shows.
const PER_PAGE: usize = 50;

#[derive(Deserialize)]
pub(super) struct PageQuery {
    page: Option<usize>,
}

/// `GET /packages/{owner}[?page=N]`: most recently updated first, [`PER_PAGE`] a page.
pub(super) async fn list(
    Viewer(s, signed_in): Viewer,
    Path(owner): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let Ok(login) = Login::parse(&owner) else {
        return not_found();
    };
    let registry = s.registry();
    let p = &signed_in.principal;
    let mut listed = Vec::new();
    for kind in [PackageKind::Container, PackageKind::Npm] {
        match registry.list_packages(p, kind, &login).await {
            Ok((_, l)) => listed.extend(l.into_iter().map(|(package, repo)| (kind, package, repo))),
            Err(ServiceError::NotFound) => return not_found(),
            Err(e) => return failed(&e),
        }
    }
    listed.sort_by(|a, b| {
        b.1.updated_at
            .cmp(&a.1.updated_at)
            .then(a.1.name.cmp(&b.1.name))
    });
    let pages = listed.len().div_ceil(PER_PAGE).max(1);
    let number = q.page.unwrap_or(1).clamp(1, pages);
    let packages = listed
        .iter()
        .skip((number - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|(kind, package, repo)| PackageRow {
            href: format!(
                "/packages/{login}/{}/{}",
                kind.as_str(),
                package.name.replace('/', "%2F")
            ),
            name: match kind {
                PackageKind::Npm => format!("@{login}/{}", package.name),
                PackageKind::Container => format!("{login}/{}", package.name),
            },
            kind: kind.as_str(),
            visibility: package.visibility.as_str(),
            repository: repo.as_ref().map(|r| r.full_name()).unwrap_or_default(),
            updated: timestamp(package.updated_at),
        })
        .collect();
    html(
        StatusCode::OK,
        &PackagesPage {
            page: page_of(&signed_in),
            owner: login.to_string(),
            host: s.registry_service.clone(),
            base: s.base_url.clone(),
            packages,
            total: listed.len(),
            number,
            pages,
        },
    )
}

fn said(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "visibility" => "The visibility is changed.",
        "source" => "The link is saved.",
        "granted" => "Access is granted.",
        "revoked" => "The grant is removed.",
        _ => return None,
    })
}

/// The package a path names.
pub(super) struct Named {
    owner: Login,
    kind: PackageKind,
    name: String,
}

impl FromPath for Named {
    fn from_path(params: &HashMap<String, String>) -> Option<Self> {
        Some(Self {
            owner: Login::parse(params.get("owner")?).ok()?,
            kind: kind_of(params.get("kind")?)?,
            name: params.get("name")?.clone(),
        })
    }

    fn missing() -> Response {
        not_found()
    }
}

impl Named {
    fn base(&self) -> String {
        format!(
            "/packages/{}/{}/{}",
            self.owner,
            self.kind.as_str(),
            self.name.replace('/', "%2F")
        )
    }
}

/// `GET /packages/{owner}/{kind}/{name}`.
pub(super) async fn show(
    Viewer(s, signed_in): Viewer,
    Subject(named): Subject<Named>,
    Query(q): Query<Done>,
) -> Response {
    let notice = Notice::shown(said(q.done.as_deref()));
    render(&s, &signed_in, &named, notice).await
}

async fn render(s: &AppState, signed_in: &SignedIn, named: &Named, notice: Notice) -> Response {
    let registry = s.registry();
    let p = &signed_in.principal;
    let (package, repo) = match registry
        .package(p, named.kind, &named.owner, &named.name)
        .await
    {
        Ok(found) => found,
        Err(ServiceError::NotFound) => return not_found(),
        Err(e) => return failed(&e),
    };
    let versions = match registry
        .package_versions(p, named.kind, &named.owner, &named.name, false)
        .await
    {
        Ok(v) => v,
        Err(e) => return failed(&e),
    };
    // The access list answers only to admins: it decides whether the settings show.
    let admin = match registry
        .package_access(p, named.kind, &named.owner, &named.name)
        .await
    {
        Ok(list) => {
            let org = s
                .authz()
                .account(&named.owner)
                .await
                .is_ok_and(|a| a.kind == AccountKind::Organization);
            let mut grants: Vec<GrantRow> = Vec::new();
            for (full, g) in &list.repositories {
                let mut what = Vec::new();
                if g.environments {
                    what.push("its environments pull".to_owned());
                }
                if let Some(role) = g.token_role {
                    what.push(format!("its tokens: {}", role.as_str()));
                }
                grants.push(GrantRow {
                    who: format!("repository {full}"),
                    role: what.join("; "),
                    kind: "repository",
                    key: full.clone(),
                });
            }
            for (login, role) in &list.users {
                grants.push(GrantRow {
                    who: format!("user {login}"),
                    role: role.as_str().to_owned(),
                    kind: "user",
                    key: login.clone(),
                });
            }
            for (slug, role) in &list.teams {
                grants.push(GrantRow {
                    who: format!("team {}", slug.as_str()),
                    role: role.as_str().to_owned(),
                    kind: "team",
                    key: slug.as_str().to_owned(),
                });
            }
            Some(Settings {
                org,
                linked: repo.as_ref().map(|r| r.full_name()).unwrap_or_default(),
                grants,
            })
        }
        Err(ServiceError::Forbidden(_) | ServiceError::NotFound) => None,
        Err(e) => return failed(&e),
    };
    let host = &s.registry_service;
    let (display, how) = match named.kind {
        PackageKind::Container => (
            format!("{}/{}", named.owner, named.name),
            format!("docker pull {host}/{}/{}:TAG", named.owner, named.name),
        ),
        PackageKind::Npm => (
            format!("@{}/{}", named.owner, named.name),
            format!("npm install @{}/{}", named.owner, named.name),
        ),
    };
    html(
        notice.status,
        &PackagePage {
            page: page_of(signed_in),
            owner: named.owner.to_string(),
            display,
            base: named.base(),
            kind: named.kind.as_str(),
            visibility: package.visibility.as_str(),
            repository: repo
                .as_ref()
                .map_or_else(|| "(none)".to_owned(), |r| r.full_name()),
            inherit: package.inherit,
            how,
            versions: versions
                .iter()
                .map(|v| (v.name.clone(), v.tags.join(", "), timestamp(v.created_at)))
                .collect(),
            notice,
            admin,
        },
    )
}

/// `POST /packages/{owner}/{kind}/{name}/{action}`: `visibility`, `source`, `grant`, `revoke`,
/// `delete`, each with the session's form token.
pub(super) async fn act(
    State(s): State<AppState>,
    Subject(named): Subject<Named>,
    Path((.., action)): Path<(String, String, String, String)>,
    posted: Posted,
) -> Response {
    let signed_in = &posted.signed_in;
    let done = change(&s, &named, &action, &posted).await;
    match done {
        Ok(Some(word)) => Redirect::to(&format!("{}?done={word}", named.base())).into_response(),
        Ok(None) => Redirect::to(&format!("/packages/{}", named.owner)).into_response(),
        Err(e) => again(e, not_found, |n| render(&s, signed_in, &named, n)).await,
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::invalid("Package", field, "invalid", message)
}

/// One change; `Some(word)` names what the page says after it, `None` that the package is gone.
async fn change(
    s: &AppState,
    named: &Named,
    action: &str,
    posted: &Posted,
) -> Result<Option<&'static str>, ServiceError> {
    let registry = s.registry();
    let p = posted.principal();
    let (owner, kind, name) = (&named.owner, named.kind, named.name.as_str());
    match action {
        "visibility" => {
            let v = Visibility::parse(posted.field("visibility"))
                .ok_or_else(|| invalid("visibility", "choose private, internal or public"))?;
            if v == Visibility::Public && posted.field("confirm") != "public-is-final" {
                return Err(invalid(
                    "visibility",
                    "making a package public is final: tick the box that says you understand",
                ));
            }
            registry
                .set_package_visibility(p, kind, owner, name, v)
                .await?;
            Ok(Some("visibility"))
        }
        "source" => {
            let asked = posted.field("repository").trim();
            let repository = if asked.is_empty() {
                None
            } else {
                let repo = asked
                    .split_once('/')
                    .filter(|(o, _)| o.eq_ignore_ascii_case(owner.as_str()))
                    .and_then(|(_, n)| RepoName::parse(n).ok())
                    .ok_or_else(|| invalid("repository", format!("a package of {owner} links to a repository OWNER/REPO of {owner}, not {asked:?}")))?;
                Some(repo)
            };
            let inherit = posted.field("inherit") == "on";
            registry
                .set_package_source(p, kind, owner, name, Some(repository), Some(inherit))
                .await?;
            Ok(Some("source"))
        }
        "grant" | "revoke" => {
            let who = posted.field("who").trim();
            let grant = action == "grant";
            match posted.field("kind") {
                "repository" => {
                    let (o, r) = who
                        .split_once('/')
                        .and_then(|(o, r)| Some((Login::parse(o).ok()?, RepoName::parse(r).ok()?)))
                        .ok_or_else(|| {
                            invalid("repository", format!("{who:?} is not OWNER/REPO"))
                        })?;
                    if grant {
                        let change = RepoGrantChange {
                            environments: Some(true),
                            token_role: None,
                        };
                        registry
                            .grant_repository(p, kind, owner, name, (&o, &r), change)
                            .await?;
                    } else {
                        registry
                            .revoke_repository(p, kind, owner, name, &o, &r)
                            .await?;
                    }
                }
                "user" | "team" => {
                    let login;
                    let to = if posted.field("kind") == "user" {
                        login = Login::parse(who).map_err(|e| invalid("user", e.to_string()))?;
                        Grantee::User(&login)
                    } else {
                        Grantee::Team(who)
                    };
                    if grant {
                        let role = Permission::parse(posted.field("role"))
                            .ok_or_else(|| invalid("role", "choose read, write or admin"))?;
                        registry.grant(p, kind, owner, name, to, role).await?;
                    } else {
                        registry.revoke(p, kind, owner, name, to).await?;
                    }
                }
                _ => return Err(invalid("kind", "grant to a repository, a user or a team")),
            }
            Ok(Some(if grant { "granted" } else { "revoked" }))
        }
        "delete" => {
            if posted.field("confirm").trim() != name {
                return Err(invalid(
                    "name",
                    format!("type the package's name, {name}, to delete it"),
                ));
            }
            registry.delete_package(p, kind, owner, name).await?;
            Ok(None)
        }
        _ => Err(ServiceError::NotFound),
    }
}
