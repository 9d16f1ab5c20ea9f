//! `/settings`: your account — your organizations, personal tokens (made with scopes, shown once, revoked), SSH keys,
//! your password, and the browsers you are signed in on. Each form posts the session's form
//! token; each change goes through the same service call as the API's.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, post};
use berth_domain::{Scope, Scopes};
use berth_service::ServiceError;
use berth_service::accounts::sessions::SignedIn;
use berth_service::accounts::tokens::TokenRequest;
use secrecy::{ExposeSecret, SecretString};

use super::{Done, Notice, Page, Posted, Viewer, again, failed, html, page_of};
use crate::AppState;
use crate::render::timestamp;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    page: Page,
    notice: Notice,
    new_token: Option<String>,
    tokens: Vec<TokenRow>,
    scopes: Vec<&'static str>,
    keys: Vec<KeyRow>,
    sessions: Vec<SessionRow>,
    /// (login, your role)
    organizations: Vec<(String, &'static str)>,
}

struct TokenRow {
    id: i64,
    note: String,
    scopes: String,
    last_eight: String,
    created: String,
    expires: String,
}

struct KeyRow {
    id: i64,
    title: String,
    fingerprint: String,
    added: String,
}

struct SessionRow {
    id: i64,
    created: String,
    last_used: String,
    current: bool,
}

/// What a finished change says on the page it leads back to: fixed words, chosen by a short name
/// in the query (nothing the request says is shown).
fn said(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "password" => "Your password is changed.",
        "revoked" => "The token is revoked.",
        "key" => "The key is added.",
        "key-deleted" => "The key is deleted.",
        "signed-out" => "That browser is signed out.",
        _ => return None,
    })
}

/// `GET /settings`.
pub(super) async fn show(Viewer(s, signed_in): Viewer, Query(q): Query<Done>) -> Response {
    let notice = Notice::shown(said(q.done.as_deref()));
    render(&s, &signed_in, notice, None).await
}

async fn render(
    s: &AppState,
    signed_in: &SignedIn,
    notice: Notice,
    new_token: Option<String>,
) -> Response {
    let accounts = s.accounts();
    let p = &signed_in.principal;
    let all = berth_store::Window {
        limit: 1000,
        offset: 0,
    };
    let listed = async {
        Ok::<_, ServiceError>((
            accounts.list_personal_tokens(p).await?,
            accounts.list_ssh_keys(p).await?,
            accounts.list_sessions(p).await?,
            accounts.my_organizations(p, all).await?.items,
        ))
    };
    let (tokens, keys, sessions, organizations) = match listed.await {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    let page = SettingsPage {
        page: page_of(signed_in),
        notice,
        new_token,
        tokens: tokens
            .iter()
            .map(|t| TokenRow {
                id: t.id,
                note: t.note.clone(),
                scopes: t
                    .scopes
                    .iter()
                    .map(Scope::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                last_eight: t.last_eight.clone(),
                created: timestamp(t.created_at),
                expires: t.expires_at.map_or_else(|| "never".to_owned(), timestamp),
            })
            .collect(),
        scopes: Scope::ALL
            .iter()
            .filter(|s| **s != Scope::SiteAdmin || page_is_admin(signed_in))
            .map(|s| s.as_str())
            .collect(),
        keys: keys
            .iter()
            .map(|k| KeyRow {
                id: k.id,
                title: k.title.clone(),
                fingerprint: k.fingerprint.clone(),
                added: timestamp(k.created_at),
            })
            .collect(),
        sessions: sessions
            .iter()
            .map(|x| SessionRow {
                id: x.id,
                created: timestamp(x.created_at),
                last_used: timestamp(x.last_used_at),
                current: x.id == signed_in.session.id,
            })
            .collect(),
        organizations: organizations
            .iter()
            .map(|(o, role)| (o.login.to_string(), super::people::role_word(*role)))
            .collect(),
    };
    html(page.notice.status, &page)
}

fn page_is_admin(signed_in: &SignedIn) -> bool {
    signed_in.principal.user().is_some_and(|a| a.site_admin)
}

/// What a refused change says on the page: the service's words for what the user can fix.
async fn refused(s: &AppState, signed_in: &SignedIn, e: ServiceError) -> Response {
    let missing = || StatusCode::NOT_FOUND.into_response();
    again(e, missing, |n| render(s, signed_in, n, None)).await
}

fn back(done: &str) -> Response {
    Redirect::to(&format!("/settings?done={done}")).into_response()
}

/// `POST /settings/password`: `current_password`, `password`.
pub(super) async fn change_password(State(s): State<AppState>, posted: Posted) -> Response {
    let changed = s
        .accounts()
        .change_own_password(
            posted.principal(),
            SecretString::from(posted.field("current_password").to_owned()),
            SecretString::from(posted.field("password").to_owned()),
        )
        .await;
    answer(&s, &posted, changed, "password").await
}

/// Back to the page saying `done`, or the page again with why the change was refused.
async fn answer(
    s: &AppState,
    posted: &Posted,
    result: Result<(), ServiceError>,
    done: &str,
) -> Response {
    match result {
        Ok(()) => back(done),
        Err(e) => refused(s, &posted.signed_in, e).await,
    }
}

/// `POST /settings/tokens`: `note`, `scope` (repeated), `expires` (days, or `never`). The token is
/// shown on the page that answers, and never again.
pub(super) async fn create_token(State(s): State<AppState>, posted: Posted) -> Response {
    let signed_in = &posted.signed_in;
    let scopes = match Scopes::parse(posted.all("scope")) {
        Ok(s) => s,
        Err(e) => {
            return refused(
                &s,
                signed_in,
                ServiceError::invalid("Token", "scopes", "invalid", e),
            )
            .await;
        }
    };
    let expires_at = match posted.field("expires") {
        "never" => None,
        days => match days.parse::<i64>() {
            Ok(d) if (1..=3650).contains(&d) => Some(s.berth.now() + d * 86_400),
            _ => {
                let e = ServiceError::invalid(
                    "Token",
                    "expires_at",
                    "invalid",
                    "choose when the token expires",
                );
                return refused(&s, signed_in, e).await;
            }
        },
    };
    let request = TokenRequest {
        scopes,
        note: posted.field("note").trim().to_owned(),
        expires_at,
    };
    match s
        .accounts()
        .create_personal_token(posted.principal(), None, request)
        .await
    {
        Ok(minted) => {
            let token = minted.token.expose_secret().to_owned();
            let notice = Notice {
                status: StatusCode::CREATED,
                ..Notice::shown(None)
            };
            render(&s, signed_in, notice, Some(token)).await
        }
        Err(e) => refused(&s, signed_in, e).await,
    }
}

/// `POST /settings/keys`: `title` (empty: the key's comment), `key`.
pub(super) async fn add_key(State(s): State<AppState>, posted: Posted) -> Response {
    let title = Some(posted.field("title").trim()).filter(|t| !t.is_empty());
    let added = s
        .accounts()
        .add_ssh_key(posted.principal(), title, posted.field("key"))
        .await;
    answer(&s, &posted, added.map(|_| ()), "key").await
}

/// Something of the account that a form removes, by id.
#[derive(Clone, Copy)]
pub(super) enum Removal {
    /// `POST /settings/tokens/{id}/revoke`.
    Token,
    /// `POST /settings/keys/{id}/delete`.
    Key,
    /// `POST /settings/sessions/{id}/revoke`: signs another browser out.
    Session,
}

/// The handler of the form that removes `what`.
pub(super) fn remove_form(what: Removal) -> MethodRouter<AppState> {
    post(
        move |State(s): State<AppState>, Path(id): Path<i64>, posted: Posted| async move {
            let (accounts, p) = (s.accounts(), posted.principal());
            let (done, word) = match what {
                Removal::Token => (accounts.revoke_personal_token(p, id).await, "revoked"),
                Removal::Key => (accounts.delete_ssh_key(p, id).await, "key-deleted"),
                Removal::Session => (accounts.revoke_session(p, id).await, "signed-out"),
            };
            answer(&s, &posted, done, word).await
        },
    )
}
