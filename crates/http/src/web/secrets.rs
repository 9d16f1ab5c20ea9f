//! Codespaces secrets in the web UI, as GitHub's settings pages: yours (`/settings/secrets`), a
//! repository's (`/repositories/{owner}/{repo}/secrets`) and an organization's
//! (`/orgs/{org}/secrets`). Values are sealed in the browser (`assets/secrets.js`, libsodium's
//! sealed box to the scope's public key): the page posts only the sealed box, through the same
//! service call as the API's `PUT …/secrets/{name}`.

use askama::Template;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use berth_domain::{Login, RepoName};
use berth_service::ServiceError;
use berth_service::accounts::sessions::SignedIn;
use berth_service::secrets::{SecretOwner, SetSecret};

use super::{
    Done, FromPath, Notice, Page, Posted, Subject, Viewer, again, asset, failed, html, page_of,
};
use crate::AppState;
use crate::render::timestamp;

/// Whose secrets a page shows, as its path says: `{owner}` and `{repo}` a repository's, `{org}`
/// an organization's, neither the user's own. A path naming none that can exist is missing.
pub(super) enum Whose {
    User,
    Repository(Login, RepoName),
    Organization(Login),
}

impl FromPath for Whose {
    fn from_path(path: &HashMap<String, String>) -> Option<Self> {
        match (path.get("owner"), path.get("repo"), path.get("org")) {
            (Some(owner), Some(repo), _) => Login::parse(owner)
                .ok()
                .zip(RepoName::parse(repo).ok())
                .map(|(o, r)| Whose::Repository(o, r)),
            (_, _, Some(org)) => Login::parse(org).ok().map(Whose::Organization),
            _ => Some(Whose::User),
        }
    }

    fn missing() -> Response {
        not_found()
    }
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
    notice: Notice,
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

/// `GET <base>`: the page.
pub(super) async fn page(
    Viewer(s, signed_in): Viewer,
    Subject(whose): Subject<Whose>,
    Query(q): Query<Done>,
) -> Response {
    let notice = Notice::shown(said(q.done.as_deref()));
    render(&s, &signed_in, &whose, notice).await
}

async fn render(s: &AppState, signed_in: &SignedIn, whose: &Whose, notice: Notice) -> Response {
    let p = &signed_in.principal;
    let secrets = s.secrets();
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
    let accounts = s.accounts();
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
        notice.status,
        &SecretsPage {
            page: page_of(signed_in),
            heading,
            about,
            base: whose.base(),
            notice,
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

/// `POST <base>`: `name`, `encrypted_value` (the sealed box), `key_id`, and for user and
/// organization secrets `repository` (repeated ids) and `visibility`.
pub(super) async fn save(
    State(s): State<AppState>,
    Subject(whose): Subject<Whose>,
    posted: Posted,
) -> Response {
    let (s, posted) = (&s, &posted);
    let signed_in = &posted.signed_in;
    if posted.field("encrypted_value").is_empty() {
        let e = "the value was not sealed: this page needs JavaScript to seal it (or use berth secret set)";
        let notice = Notice::refused(StatusCode::UNPROCESSABLE_ENTITY, e);
        return render(s, signed_in, &whose, notice).await;
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
        .secrets()
        .put_secret(posted.principal(), whose.owner(), name, request)
        .await;
    match saved {
        Ok(_) => Redirect::to(&format!("{}?done=saved", whose.base())).into_response(),
        Err(e) => again(e, not_found, |n| render(s, signed_in, &whose, n)).await,
    }
}

/// `POST <base>/{name}/delete`.
pub(super) async fn delete(
    State(s): State<AppState>,
    Subject(whose): Subject<Whose>,
    Path(path): Path<HashMap<String, String>>,
    posted: Posted,
) -> Response {
    let name = path.get("name").map_or("", String::as_str);
    let deleted = s
        .secrets()
        .delete_secret(posted.principal(), whose.owner(), name)
        .await;
    match deleted {
        Ok(()) => Redirect::to(&format!("{}?done=deleted", whose.base())).into_response(),
        Err(ServiceError::NotFound) => not_found(),
        Err(e) => failed(&e),
    }
}
