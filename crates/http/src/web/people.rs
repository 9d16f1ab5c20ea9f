//! An organization's page (`/orgs/{org}`: its members, which its owners add, change and remove,
//! and its teams, which owners create and delete and owners and maintainers staff) and the site
//! administrator's (`/admin`: users, created and given new passwords; organizations, created
//! with their first owner). The service
//! decides who may: members see an organization's members, owners change them, site
//! administrators see the administration page; others get the page's "missing" answer.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, post};
use berth_domain::teams::TeamRole;
use berth_domain::{AccountKind, Login, OrgRole};
use berth_service::ServiceError;
use berth_service::accounts::sessions::SignedIn;
use berth_service::accounts::teams::NewTeam;
use secrecy::ExposeSecret;

use super::{Done, FromPath, Notice, Page, Posted, Subject, Viewer, failed, html, page_of};
use crate::AppState;
use crate::render::timestamp;

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    page: Page,
    org: String,
    owner: bool,
    /// (login, role)
    members: Vec<(String, &'static str)>,
    teams: Vec<TeamView>,
    notice: Notice,
}

struct TeamView {
    slug: String,
    name: String,
    /// (login, role)
    members: Vec<(String, &'static str)>,
    /// Whether the signed-in user may change it: an owner of the organization, or one of the
    /// team's maintainers.
    manage: bool,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    page: Page,
    /// (login, site administrator, created)
    users: Vec<(String, bool, String)>,
    /// (login, created)
    organizations: Vec<(String, String)>,
    notice: Notice,
    /// A password just made: (login, password), shown once.
    made: Option<(String, String)>,
}

fn said(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "member" => "The member is saved.",
        "removed" => "The member is removed.",
        "team" => "The team is created.",
        "team-deleted" => "The team is deleted.",
        "team-member" => "The team member is saved.",
        "team-removed" => "The team member is removed.",
        "created" => "The user is created; give them a password below.",
        "org" => "The organization is created; its owner adds members on its page.",
        _ => return None,
    })
}

fn missing() -> Response {
    (
        StatusCode::NOT_FOUND,
        "Not found, or not yours to see: an organization's page is for its members, the administration page for site administrators.",
    )
        .into_response()
}

/// The organization of a page, as its path's `{org}` names it.
pub(super) struct Org(Login);

impl FromPath for Org {
    fn from_path(params: &HashMap<String, String>) -> Option<Self> {
        Login::parse(params.get("org")?).ok().map(Org)
    }

    fn missing() -> Response {
        missing()
    }
}

/// `GET /orgs/{org}`.
pub(super) async fn org(
    Viewer(s, signed_in): Viewer,
    Subject(Org(org)): Subject<Org>,
    Query(q): Query<Done>,
) -> Response {
    let notice = Notice::shown(said(q.done.as_deref()));
    org_page(&s, &signed_in, &org, notice).await
}

pub(super) fn role_word(role: OrgRole) -> &'static str {
    if role == OrgRole::Owner {
        "owner"
    } else {
        "member"
    }
}

async fn org_page(s: &AppState, signed_in: &SignedIn, org: &Login, notice: Notice) -> Response {
    let all = berth_store::Window {
        limit: 1000,
        offset: 0,
    };
    let accounts = s.accounts();
    let p = &signed_in.principal;
    let members = match accounts.list_members(p, org, None, all).await {
        Ok(l) => l.items,
        Err(ServiceError::NotFound | ServiceError::Forbidden(_)) => return missing(),
        Err(e) => return failed(&e),
    };
    let me = p.user().map(|a| a.id);
    let owner = members
        .iter()
        .any(|(a, role)| Some(a.id) == me && *role == OrgRole::Owner);
    let listed = async {
        let mut teams = Vec::new();
        for team in accounts.list_teams(p, org, all).await?.1.items {
            let members = accounts.team_members(p, org, team.slug.as_str()).await?;
            let manage = owner
                || members
                    .iter()
                    .any(|(a, role)| Some(a.id) == me && *role == TeamRole::Maintainer);
            teams.push(TeamView {
                slug: team.slug.to_string(),
                name: team.name,
                members: members
                    .iter()
                    .map(|(a, role)| (a.login.to_string(), role.as_str()))
                    .collect(),
                manage,
            });
        }
        Ok::<_, ServiceError>(teams)
    };
    let teams = match listed.await {
        Ok(t) => t,
        Err(e) => return failed(&e),
    };
    html(
        notice.status,
        &OrgPage {
            page: page_of(signed_in),
            org: org.to_string(),
            owner,
            members: members
                .iter()
                .map(|(a, role)| (a.login.to_string(), role_word(*role)))
                .collect(),
            teams,
            notice,
        },
    )
}

/// A change an organization's page posts.
pub(super) enum OrgChange {
    SetMember,
    RemoveMember,
    CreateTeam,
    DeleteTeam(String),
    SetTeamMember(String),
    RemoveTeamMember(String),
}

/// The handler of a form of an organization's page that makes one change: `POST
/// /orgs/{org}/members` (`login`, `role`), `/orgs/{org}/members/remove` (`login`),
/// `/orgs/{org}/teams` (`name`).
pub(super) fn org_form(change: fn() -> OrgChange) -> MethodRouter<AppState> {
    post(
        move |State(s): State<AppState>, Subject(Org(org)): Subject<Org>, posted: Posted| async move {
            change_org(&s, org, change(), &posted).await
        },
    )
}

/// `POST /orgs/{org}/teams/{slug}/{verb}`: `delete`; `members` (`login`, `role`);
/// `members-remove` (`login`).
pub(super) async fn change_team(
    State(s): State<AppState>,
    Subject(Org(org)): Subject<Org>,
    Path((_, slug, verb)): Path<(String, String, String)>,
    posted: Posted,
) -> Response {
    let change = match verb.as_str() {
        "delete" => OrgChange::DeleteTeam(slug),
        "members" => OrgChange::SetTeamMember(slug),
        "members-remove" => OrgChange::RemoveTeamMember(slug),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    change_org(&s, org, change, &posted).await
}

/// The `login` field as a login, or what is wrong with it.
fn login_field(posted: &Posted) -> Result<Login, String> {
    let asked = posted.field("login").trim();
    Login::parse(asked).map_err(|e| format!("{asked:?} is not a login: {e}"))
}

async fn change_org(s: &AppState, org: Login, change: OrgChange, posted: &Posted) -> Response {
    let signed_in = &posted.signed_in;
    let again =
        |status, error: String| org_page(s, signed_in, &org, Notice::refused(status, error));
    let accounts = s.accounts();
    let p = &signed_in.principal;
    let login = match change {
        OrgChange::CreateTeam | OrgChange::DeleteTeam(_) => None,
        _ => match login_field(posted) {
            Ok(l) => Some(l),
            Err(e) => return again(StatusCode::UNPROCESSABLE_ENTITY, e).await,
        },
    };
    let user = || login.clone().expect("a change of a member has a login");
    let done = match &change {
        OrgChange::SetMember => {
            let role = if posted.field("role") == "owner" {
                OrgRole::Owner
            } else {
                OrgRole::Member
            };
            accounts
                .set_membership(p, &org, &user(), role)
                .await
                .map(|_| "member")
        }
        OrgChange::RemoveMember => accounts
            .remove_membership(p, &org, &user())
            .await
            .map(|()| "removed"),
        OrgChange::CreateTeam => {
            let new = NewTeam {
                name: posted.field("name").trim().to_owned(),
                description: None,
                privacy: None,
                maintainers: Vec::new(),
            };
            accounts.create_team(p, &org, new).await.map(|_| "team")
        }
        OrgChange::DeleteTeam(slug) => accounts
            .delete_team(p, &org, slug)
            .await
            .map(|()| "team-deleted"),
        OrgChange::SetTeamMember(slug) => {
            let role = if posted.field("role") == "maintainer" {
                TeamRole::Maintainer
            } else {
                TeamRole::Member
            };
            accounts
                .set_team_membership(p, &org, slug, &user(), role)
                .await
                .map(|_| "team-member")
        }
        OrgChange::RemoveTeamMember(slug) => accounts
            .remove_team_membership(p, &org, slug, &user())
            .await
            .map(|()| "team-removed"),
    };
    match done {
        Ok(word) => Redirect::to(&format!("/orgs/{org}?done={word}")).into_response(),
        Err(ServiceError::NotFound) => {
            let what = match (&change, &login) {
                (OrgChange::SetMember | OrgChange::RemoveMember, Some(login)) => {
                    format!("there is no user {login}")
                }
                (_, Some(login)) => {
                    format!("there is no such team, or no user {login} in it")
                }
                _ => "there is no such team".to_owned(),
            };
            again(StatusCode::UNPROCESSABLE_ENTITY, what).await
        }
        Err(ServiceError::Invalid(i)) => again(StatusCode::UNPROCESSABLE_ENTITY, i.message).await,
        Err(ServiceError::Forbidden(m)) => again(StatusCode::FORBIDDEN, m).await,
        Err(e) => failed(&e),
    }
}

/// `GET /admin`.
pub(super) async fn admin(Viewer(s, signed_in): Viewer, Query(q): Query<Done>) -> Response {
    let notice = Notice::shown(said(q.done.as_deref()));
    admin_page(&s, &signed_in, notice, None).await
}

async fn admin_page(
    s: &AppState,
    signed_in: &SignedIn,
    notice: Notice,
    made: Option<(String, String)>,
) -> Response {
    let accounts = s.accounts();
    let p = &signed_in.principal;
    let listed = async {
        Ok::<_, ServiceError>((
            accounts.list_accounts(p, AccountKind::User).await?,
            accounts.list_accounts(p, AccountKind::Organization).await?,
        ))
    };
    let (users, organizations) = match listed.await {
        Ok(l) => l,
        Err(ServiceError::Forbidden(_) | ServiceError::NotFound) => return missing(),
        Err(e) => return failed(&e),
    };
    html(
        notice.status,
        &AdminPage {
            page: page_of(signed_in),
            users: users
                .iter()
                .map(|a| (a.login.to_string(), a.site_admin, timestamp(a.created_at)))
                .collect(),
            organizations: organizations
                .iter()
                .map(|a| (a.login.to_string(), timestamp(a.created_at)))
                .collect(),
            notice,
            made,
        },
    )
}

/// A change the administration page posts.
#[derive(Clone, Copy)]
pub(super) enum AdminChange {
    CreateUser,
    NewPassword,
    CreateOrganization,
}

/// The handler of a form of the administration page: `POST /admin/users` (`login`) creates a
/// user; `/admin/users/password` (`login`) gives one a new password, shown once;
/// `/admin/organizations` (`login`, `owner`) creates an organization with its first owner.
pub(super) fn admin_form(change: AdminChange) -> MethodRouter<AppState> {
    post(
        move |State(s): State<AppState>, posted: Posted| async move {
            admin_change(&s, change, &posted).await
        },
    )
}

async fn admin_change(s: &AppState, change: AdminChange, posted: &Posted) -> Response {
    let signed_in = &posted.signed_in;
    let again = |error: String| {
        let notice = Notice::refused(StatusCode::UNPROCESSABLE_ENTITY, error);
        admin_page(s, signed_in, notice, None)
    };
    let accounts = s.accounts();
    let p = &signed_in.principal;
    let login = match login_field(posted) {
        Ok(l) => l,
        Err(e) => return again(e).await,
    };
    let result = match change {
        AdminChange::CreateUser => accounts.create_user(p, &login).await.map(|_| None),
        AdminChange::NewPassword => accounts
            .set_password(p, &login, None)
            .await
            .map(|made| made.map(|pw| (login.to_string(), pw.expose_secret().to_owned()))),
        AdminChange::CreateOrganization => {
            let asked = posted.field("owner").trim();
            let owner = match Login::parse(asked) {
                Ok(o) => o,
                Err(e) => return again(format!("{asked:?} is not a login: {e}")).await,
            };
            match accounts.create_organization(p, &login, &owner).await {
                Ok(_) => return Redirect::to("/admin?done=org").into_response(),
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(None) => Redirect::to("/admin?done=created").into_response(),
        Ok(Some(made)) => admin_page(s, signed_in, Notice::shown(None), Some(made)).await,
        Err(ServiceError::Invalid(i)) => again(i.message).await,
        Err(ServiceError::Forbidden(_) | ServiceError::NotFound) => missing(),
        Err(e) => failed(&e),
    }
}
