//! An organization's page (`/orgs/{org}`: its members, which its owners add, change and remove)
//! and the site administrator's (`/admin`: users, created and given new passwords). The service
//! decides who may: members see an organization's members, owners change them, site
//! administrators see the administration page; others get the page's "missing" answer.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use berth_domain::{Login, OrgRole};
use berth_service::ServiceError;
use berth_service::accounts::sessions::SignedIn;
use secrecy::ExposeSecret;

use super::{Done, Page, Posted, failed, html, page_of, session, to_sign_in};
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
    done: Option<&'static str>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    page: Page,
    /// (login, site administrator, created)
    users: Vec<(String, bool, String)>,
    done: Option<&'static str>,
    error: Option<String>,
    /// A password just made: (login, password), shown once.
    made: Option<(String, String)>,
}

fn said(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "member" => "The member is saved.",
        "removed" => "The member is removed.",
        "created" => "The user is created; give them a password below.",
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

/// `GET /orgs/{org}`.
pub(super) async fn org(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let Some(signed_in) = session(&s, &headers).await else {
        return to_sign_in(&format!("/orgs/{org}"));
    };
    let Ok(org) = Login::parse(&org) else {
        return missing();
    };
    org_page(
        &s,
        &signed_in,
        &org,
        StatusCode::OK,
        said(q.done.as_deref()),
        None,
    )
    .await
}

async fn org_page(
    s: &AppState,
    signed_in: &SignedIn,
    org: &Login,
    status: StatusCode,
    done: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let all = berth_store::Window {
        limit: 1000,
        offset: 0,
    };
    let members = match s
        .berth
        .accounts()
        .list_members(&signed_in.principal, org, None, all)
        .await
    {
        Ok(l) => l.items,
        Err(ServiceError::NotFound | ServiceError::Forbidden(_)) => return missing(),
        Err(e) => return failed(&e),
    };
    let me = signed_in.principal.user().map(|a| a.id);
    let owner = members
        .iter()
        .any(|(a, role)| Some(a.id) == me && *role == OrgRole::Owner);
    html(
        status,
        &OrgPage {
            page: page_of(signed_in),
            org: org.to_string(),
            owner,
            members: members
                .iter()
                .map(|(a, role)| {
                    let word = if *role == OrgRole::Owner {
                        "owner"
                    } else {
                        "member"
                    };
                    (a.login.to_string(), word)
                })
                .collect(),
            done,
            error,
        },
    )
}

/// `POST /orgs/{org}/members` (`login`, `role`).
pub(super) async fn change_member_add(
    State(s): State<AppState>,
    Path(org): Path<String>,
    posted: Posted,
) -> Response {
    change_member(&s, &org, "set", &posted).await
}

/// `POST /orgs/{org}/members/remove` (`login`).
pub(super) async fn change_member_remove(
    State(s): State<AppState>,
    Path(org): Path<String>,
    posted: Posted,
) -> Response {
    change_member(&s, &org, "remove", &posted).await
}

async fn change_member(s: &AppState, org: &str, action: &str, posted: &Posted) -> Response {
    let signed_in = &posted.signed_in;
    let Ok(org) = Login::parse(org) else {
        return missing();
    };
    let accounts = s.berth.accounts();
    let p = &signed_in.principal;
    let asked = posted.field("login").trim().to_owned();
    let login = match Login::parse(&asked) {
        Ok(l) => l,
        Err(e) => {
            return org_page(
                s,
                signed_in,
                &org,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(format!("{asked:?} is not a login: {e}")),
            )
            .await;
        }
    };
    let done = match action {
        "remove" => accounts
            .remove_membership(p, &org, &login)
            .await
            .map(|()| "removed"),
        _ => {
            let role = if posted.field("role") == "owner" {
                OrgRole::Owner
            } else {
                OrgRole::Member
            };
            accounts
                .set_membership(p, &org, &login, role)
                .await
                .map(|_| "member")
        }
    };
    match done {
        Ok(word) => Redirect::to(&format!("/orgs/{org}?done={word}")).into_response(),
        Err(ServiceError::NotFound) => {
            org_page(
                s,
                signed_in,
                &org,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(format!("there is no user {login}")),
            )
            .await
        }
        Err(ServiceError::Invalid(i)) => {
            org_page(
                s,
                signed_in,
                &org,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(i.message),
            )
            .await
        }
        Err(ServiceError::Forbidden(m)) => {
            org_page(s, signed_in, &org, StatusCode::FORBIDDEN, None, Some(m)).await
        }
        Err(e) => failed(&e),
    }
}

/// `GET /admin`.
pub(super) async fn admin(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Done>,
) -> Response {
    let Some(signed_in) = session(&s, &headers).await else {
        return to_sign_in("/admin");
    };
    admin_page(
        &s,
        &signed_in,
        StatusCode::OK,
        said(q.done.as_deref()),
        None,
        None,
    )
    .await
}

async fn admin_page(
    s: &AppState,
    signed_in: &SignedIn,
    status: StatusCode,
    done: Option<&'static str>,
    error: Option<String>,
    made: Option<(String, String)>,
) -> Response {
    let users = match s.berth.accounts().list_users(&signed_in.principal).await {
        Ok(u) => u,
        Err(ServiceError::Forbidden(_) | ServiceError::NotFound) => return missing(),
        Err(e) => return failed(&e),
    };
    html(
        status,
        &AdminPage {
            page: page_of(signed_in),
            users: users
                .iter()
                .map(|a| (a.login.to_string(), a.site_admin, timestamp(a.created_at)))
                .collect(),
            done,
            error,
            made,
        },
    )
}

/// `POST /admin/users` (`login`): creates a user.
pub(super) async fn admin_create(State(s): State<AppState>, posted: Posted) -> Response {
    admin_users(&s, "create", &posted).await
}

/// `POST /admin/users/password` (`login`): a new password, shown once.
pub(super) async fn admin_password(State(s): State<AppState>, posted: Posted) -> Response {
    admin_users(&s, "password", &posted).await
}

async fn admin_users(s: &AppState, action: &str, posted: &Posted) -> Response {
    let signed_in = &posted.signed_in;
    let accounts = s.berth.accounts();
    let p = &signed_in.principal;
    let asked = posted.field("login").trim().to_owned();
    let login = match Login::parse(&asked) {
        Ok(l) => l,
        Err(e) => {
            let e = format!("{asked:?} is not a login: {e}");
            return admin_page(
                s,
                signed_in,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(e),
                None,
            )
            .await;
        }
    };
    let result = match action {
        "create" => accounts.create_user(p, &login).await.map(|_| None),
        "password" => accounts
            .set_password(p, &login, None)
            .await
            .map(|made| made.map(|pw| (login.to_string(), pw.expose_secret().to_owned()))),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match result {
        Ok(None) => Redirect::to("/admin?done=created").into_response(),
        Ok(Some(made)) => admin_page(s, signed_in, StatusCode::OK, None, None, Some(made)).await,
        Err(ServiceError::Invalid(i)) => {
            admin_page(
                s,
                signed_in,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(i.message),
                None,
            )
            .await
        }
        Err(ServiceError::Forbidden(_) | ServiceError::NotFound) => missing(),
        Err(e) => failed(&e),
    }
}
