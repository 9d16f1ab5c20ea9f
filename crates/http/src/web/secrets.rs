//! Codespaces secrets in the web UI, as GitHub's settings pages: yours (`/settings/secrets`), a
//! repository's (`/repositories/{owner}/{repo}/secrets`) and an organization's
//! (`/orgs/{org}/secrets`). Values are sealed in the browser (`assets/secrets.js`, libsodium's
//! sealed box to the scope's public key): the page posts only the sealed box, through the same
//! service call as the API's `PUT …/secrets/{name}`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use berth_domain::{Login, RepoName};
use berth_service::ServiceError;
use berth_service::accounts::sessions::SignedIn;
use berth_service::secrets::{SecretOwner, SetSecret};

use super::{Done, Page, Posted, asset, failed, html, page_of, session, to_sign_in};
use crate::AppState;
use crate::render::timestamp;

/// Whose secrets a page shows, as its path says.
enum Whose {
    User,
    Repository(Login, RepoName),
    Organization(Login),
}

impl Whose {
    fn owner(&self) -> SecretOwner<'_> {
        match self {
            Whose::User => SecretOwner::User,
            Whose::Repository(owner, name) => SecretOwner::Repository { owner, name },
            Whose::Organization(org) => SecretOwner::Organization(org),
        }
    }

    fn base(&self) -> String {
        match self {
            Whose::User => "/settings/secrets".into(),
            Whose::Repository(o, n) => format!("/repositories/{o}/{n}/secrets"),
            Whose::Organization(org) => format!("/orgs/{org}/secrets"),
        }
    }
}

#[derive(Template)]
#[template(path = "secrets.html")]
struct SecretsPage {
    page: Page,
    heading: String,
    about: &'static str,
    base: String,
    done: Option<&'static str>,
    error: Option<String>,
    secrets: Vec<SecretRow>,
    key: String,
    key_id: String,
    org: bool,
    pick_repos: bool,
    repos: Vec<RepoChoice>,
    /// (name, where it comes from), for a repository's page.
    preview: Vec<(String, &'static str)>,
    sodium_js: &'static str,
    sodium_wrappers_js: &'static str,
    secrets_js: &'static str,
}

struct SecretRow {
    name: String,
    updated: String,
    access: String,
}

struct RepoChoice {
    id: i64,
    full_name: String,
    /// Whether the user administers it (and so may open its secrets page).
    admin: bool,
}

fn said(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "saved" => "The secret is saved.",
        "deleted" => "The secret is deleted.",
        _ => return None,
    })
}

pub(super) async fn user_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Done>,
) -> Response {
    show(&s, &headers, Whose::User, q).await
}

pub(super) async fn repository_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((owner, name)): Path<(String, String)>,
    Query(q): Query<Done>,
) -> Response {
    match repository(&owner, &name) {
        Some(whose) => show(&s, &headers, whose, q).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(super) async fn organization_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    match Login::parse(&org) {
        Ok(org) => show(&s, &headers, Whose::Organization(org), q).await,
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

fn repository(owner: &str, name: &str) -> Option<Whose> {
    Some(Whose::Repository(
        Login::parse(owner).ok()?,
        RepoName::parse(name).ok()?,
    ))
}

async fn show(s: &AppState, headers: &HeaderMap, whose: Whose, q: Done) -> Response {
    let Some(signed_in) = session(s, headers).await else {
        return to_sign_in(&whose.base());
    };
    render(
        s,
        &signed_in,
        &whose,
        StatusCode::OK,
        said(q.done.as_deref()),
        None,
    )
    .await
}

async fn render(
    s: &AppState,
    signed_in: &SignedIn,
    whose: &Whose,
    status: StatusCode,
    done: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let p = &signed_in.principal;
    let secrets = s.berth.secrets();
    let (list, key) = match tokio::try_join!(
        secrets.list_secrets(p, whose.owner()),
        secrets.secret_public_key(p, whose.owner())
    ) {
        Ok(found) => found,
        Err(ServiceError::NotFound | ServiceError::Forbidden(_)) => return not_found(),
        Err(e) => return failed(&e),
    };
    let all = berth_store::Window {
        limit: 1000,
        offset: 0,
    };
    let accounts = s.berth.accounts();
    let repos = match whose {
        Whose::User => accounts.list_user_repos(p, all).await.map(|l| l.items),
        Whose::Organization(org) => accounts
            .list_owner_repos(p, org, all)
            .await
            .map(|l| l.items),
        Whose::Repository(..) => Ok(Vec::new()),
    };
    let repos = match repos {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    let mut rows = Vec::new();
    for secret in &list {
        let access = match secret.visibility {
            Some(v) if v != berth_domain::secrets::OrgSecretVisibility::Selected => {
                format!("{} repositories", v.as_str())
            }
            _ if matches!(whose, Whose::Repository(..)) => String::new(),
            _ => match secrets
                .secret_repositories(p, whose.owner(), secret.name.as_str())
                .await
            {
                Ok(selected) => selected
                    .iter()
                    .map(|r| r.repo.full_name())
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(e) => return failed(&e),
            },
        };
        rows.push(SecretRow {
            name: secret.name.as_str().to_owned(),
            updated: timestamp(secret.updated_at),
            access,
        });
    }
    let preview = match whose {
        Whose::Repository(owner, name) => {
            match secrets.preview_environment_secrets(p, owner, name).await {
                Ok(list) => list
                    .into_iter()
                    .map(|x| (x.name.as_str().to_owned(), x.source.as_str()))
                    .collect(),
                Err(e) => return failed(&e),
            }
        }
        _ => Vec::new(),
    };
    let (heading, about) = match whose {
        Whose::User => (
            "Your Codespaces secrets".to_owned(),
            "They reach the environments you create for the repositories you select.",
        ),
        Whose::Repository(o, n) => (
            format!("Codespaces secrets of {o}/{n}"),
            "Every environment of this repository gets them; a user's own secret of the same name wins.",
        ),
        Whose::Organization(org) => (
            format!("Codespaces secrets of {org}"),
            "Environments of the organization's repositories get them, as their access says.",
        ),
    };
    html(
        status,
        &SecretsPage {
            page: page_of(signed_in),
            heading,
            about,
            base: whose.base(),
            done,
            error,
            secrets: rows,
            key: key.key,
            key_id: key.key_id,
            org: matches!(whose, Whose::Organization(_)),
            pick_repos: !matches!(whose, Whose::Repository(..)),
            repos: repos
                .iter()
                .map(|r| RepoChoice {
                    id: r.repo.id,
                    full_name: r.repo.full_name(),
                    admin: r.permission == berth_domain::Permission::Admin,
                })
                .collect(),
            preview,
            sodium_js: asset("libsodium.js"),
            sodium_wrappers_js: asset("libsodium-wrappers.js"),
            secrets_js: asset("secrets.js"),
        },
    )
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "No such secrets page for you: you must administer the repository or organization.",
    )
        .into_response()
}

pub(super) async fn save_user(State(s): State<AppState>, posted: Posted) -> Response {
    save(&s, Whose::User, &posted).await
}

pub(super) async fn save_repository(
    State(s): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    match repository(&owner, &name) {
        Some(whose) => save(&s, whose, &posted).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(super) async fn save_organization(
    State(s): State<AppState>,
    Path(org): Path<String>,
    posted: Posted,
) -> Response {
    match Login::parse(&org) {
        Ok(org) => save(&s, Whose::Organization(org), &posted).await,
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `POST <base>`: `name`, `encrypted_value` (the sealed box), `key_id`, and for user and
/// organization secrets `repository` (repeated ids) and `visibility`.
async fn save(s: &AppState, whose: Whose, posted: &Posted) -> Response {
    let signed_in = &posted.signed_in;
    if posted.field("encrypted_value").is_empty() {
        let e = "the value was not sealed: this page needs JavaScript to seal it (or use berth secret set)";
        return render(
            s,
            signed_in,
            &whose,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(e.into()),
        )
        .await;
    }
    let selected: Vec<i64> = posted
        .all("repository")
        .filter_map(|v| v.parse().ok())
        .collect();
    let (visibility, selected_repository_ids) = match &whose {
        Whose::User => (None, Some(selected)),
        Whose::Repository(..) => (None, None),
        Whose::Organization(_) => {
            let v = posted.field("visibility").to_owned();
            let ids = (v == "selected").then_some(selected);
            (Some(v), ids)
        }
    };
    let request = SetSecret {
        encrypted_value: posted.field("encrypted_value").to_owned(),
        key_id: posted.field("key_id").to_owned(),
        visibility,
        selected_repository_ids,
    };
    let name = posted.field("name").trim();
    let saved = s
        .berth
        .secrets()
        .put_secret(posted.principal(), whose.owner(), name, request)
        .await;
    match saved {
        Ok(_) => Redirect::to(&format!("{}?done=saved", whose.base())).into_response(),
        Err(ServiceError::Invalid(i)) => {
            render(
                s,
                signed_in,
                &whose,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(i.message),
            )
            .await
        }
        Err(ServiceError::NotFound) => not_found(),
        Err(e) => failed(&e),
    }
}

pub(super) async fn delete_user(
    State(s): State<AppState>,
    Path(name): Path<String>,
    posted: Posted,
) -> Response {
    delete(&s, Whose::User, &name, &posted).await
}

pub(super) async fn delete_repository(
    State(s): State<AppState>,
    Path((owner, repo, name)): Path<(String, String, String)>,
    posted: Posted,
) -> Response {
    match repository(&owner, &repo) {
        Some(whose) => delete(&s, whose, &name, &posted).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(super) async fn delete_organization(
    State(s): State<AppState>,
    Path((org, name)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    match Login::parse(&org) {
        Ok(org) => delete(&s, Whose::Organization(org), &name, &posted).await,
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete(s: &AppState, whose: Whose, name: &str, posted: &Posted) -> Response {
    let deleted = s
        .berth
        .secrets()
        .delete_secret(posted.principal(), whose.owner(), name)
        .await;
    match deleted {
        Ok(()) => Redirect::to(&format!("{}?done=deleted", whose.base())).into_response(),
        Err(ServiceError::NotFound) => not_found(),
        Err(e) => failed(&e),
    }
}
