//! GitHub's JSON shapes for Berth's objects. Field names and formats follow GitHub's REST API
//! (`github/rest-api-description`), keeping the fields a client is likely to read.

use berth_domain::{OrgRole, Permission, Visibility};
use berth_service::repos::RepoView;
use berth_store::{Account, Collaborator, TokenRecord};
use serde_json::{Value, json};

/// Unix seconds as GitHub writes times: `2011-01-26T19:01:12Z`.
pub use berth_service::clock::rfc3339 as timestamp;

fn opt_timestamp(secs: Option<i64>) -> Value {
    secs.map_or(Value::Null, |s| Value::String(timestamp(s)))
}

/// A user or organization in GitHub's "simple user" shape.
pub fn account(base: &str, a: &Account) -> Value {
    let api = format!("{base}/api/v3");
    let path = match a.kind {
        berth_domain::AccountKind::User => "users",
        berth_domain::AccountKind::Organization => "orgs",
    };
    json!({
        "login": a.login,
        "id": a.id,
        "node_id": format!("A_{}", a.id),
        "type": a.kind.as_str(),
        "site_admin": a.site_admin,
        "name": a.name,
        "url": format!("{api}/{path}/{}", a.login),
        "html_url": format!("{base}/{}", a.login),
        "repos_url": format!("{api}/{path}/{}/repos", a.login),
        "created_at": timestamp(a.created_at),
        "updated_at": timestamp(a.updated_at),
    })
}

fn permissions(p: Permission) -> Value {
    json!({
        "admin": p >= Permission::Admin,
        "maintain": p >= Permission::Admin,
        "push": p >= Permission::Write,
        "triage": p >= Permission::Write,
        "pull": true,
    })
}

/// A repository as the caller sees it, with their `permissions`.
pub fn repo(base: &str, view: &RepoView) -> Value {
    let r = &view.repo;
    let full_name = r.full_name();
    let owner = json!({
        "login": r.owner_login,
        "id": r.owner_id,
        "type": r.owner_kind.as_str(),
        "url": format!("{base}/api/v3/{}/{}", if r.owner_kind == berth_domain::AccountKind::User { "users" } else { "orgs" }, r.owner_login),
    });
    json!({
        "id": r.id,
        "node_id": format!("R_{}", r.id),
        "name": r.name,
        "full_name": full_name,
        "owner": owner,
        "private": r.visibility != Visibility::Public,
        "visibility": r.visibility.as_str(),
        "description": r.description,
        "url": format!("{base}/api/v3/repos/{full_name}"),
        "html_url": format!("{base}/{full_name}"),
        // Never with the credentials it may hold.
        "clone_url": r.clone_url.as_deref().map(berth_service::repos::shown_clone_url),
        "default_branch": r.default_branch,
        "permissions": permissions(view.permission),
        "role_name": view.permission.as_str(),
        "created_at": timestamp(r.created_at),
        "updated_at": timestamp(r.updated_at),
    })
}

/// A collaborator: the user with their permissions, as GitHub lists them.
pub fn collaborator(base: &str, c: &Collaborator) -> Value {
    let mut v = account(base, &c.account);
    v["permissions"] = permissions(c.permission);
    v["role_name"] = json!(c.permission.as_str());
    v
}

/// An organization membership in GitHub's shape (`role` is `admin` for owners).
pub fn membership(base: &str, org: &Account, user: &Account, role: OrgRole) -> Value {
    json!({
        "url": format!("{base}/api/v3/orgs/{}/memberships/{}", org.login, user.login),
        "state": "active",
        "role": role.github_word(),
        "organization_url": format!("{base}/api/v3/orgs/{}", org.login),
        "organization": account(base, org),
        "user": account(base, user),
    })
}

/// A team in GitHub's shape.
pub fn team(base: &str, org: &Account, t: &berth_store::Team) -> Value {
    let url = format!("{base}/api/v3/orgs/{}/teams/{}", org.login, t.slug);
    json!({
        "id": t.id,
        "node_id": format!("T_{}", t.id),
        "url": url,
        "html_url": format!("{base}/orgs/{}/teams/{}", org.login, t.slug),
        "name": t.name,
        "slug": t.slug.as_str(),
        "description": t.description,
        "privacy": t.privacy.as_str(),
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": format!("{url}/members{{/member}}"),
        "repositories_url": format!("{url}/repos"),
        "parent": Value::Null,
        "organization": account(base, org),
        "created_at": timestamp(t.created_at),
        "updated_at": timestamp(t.updated_at),
    })
}

/// A personal token in the shape of GitHub's authorization object; `token` is the value only at
/// creation, and empty afterwards (as GitHub returns it).
pub fn token(base: &str, t: &TokenRecord, value: Option<&str>) -> Value {
    json!({
        "id": t.id,
        "url": format!("{base}/api/v3/user/tokens/{}", t.id),
        "scopes": t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "token": value.unwrap_or(""),
        "token_last_eight": t.last_eight,
        "hashed_token": Value::Null,
        "note": t.note,
        "note_url": Value::Null,
        "app": { "name": "Berth", "url": base, "client_id": "berth" },
        "fingerprint": Value::Null,
        "created_at": timestamp(t.created_at),
        "updated_at": timestamp(t.created_at),
        "expires_at": opt_timestamp(t.expires_at),
    })
}

/// A repository token: acts as `repository`.
pub fn repo_token(t: &TokenRecord, full_name: &str, value: Option<&str>) -> Value {
    json!({
        "id": t.id,
        "token": value.unwrap_or(""),
        "token_last_eight": t.last_eight,
        "repository": full_name,
        "note": t.note,
        "created_at": timestamp(t.created_at),
        "expires_at": opt_timestamp(t.expires_at),
    })
}
