//! The route table of `/api/v3`: one module per resource.

mod admin;
mod codespaces;
mod keys;
mod logins;
mod orgs;
mod packages;
mod ports;
mod repos;
mod secrets;
mod ssh;
mod teams;
pub(crate) mod terminal;
mod tokens;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::{Extension, Router};
use berth_store::PackageKind;

use crate::AppState;

/// The most a JSON request body may hold: a sealed 48 KB secret with its base64 is about
/// 66 KB; nothing else comes near. `exec` (standard input) has its own, larger limit.
pub const BODY_LIMIT: usize = 256 << 10;
/// `exec`'s: 1 MiB of standard input, in base64, in JSON.
const EXEC_BODY_LIMIT: usize = 2 << 20;

pub fn api() -> Router<AppState> {
    routes().layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn routes() -> Router<AppState> {
    secret_routes(package_routes(Router::new()))
        .route("/user", get(users::me))
        .route("/user/orgs", get(users::my_orgs))
        .route(
            "/user/repos",
            get(users::my_repos).post(repos::create_for_user),
        )
        .route("/user/tokens", get(tokens::list).post(tokens::create))
        .route("/user/tokens/{id}", delete(tokens::revoke))
        .route("/user/keys", get(keys::list).post(keys::add))
        .route("/user/keys/{id}", get(keys::get).delete(keys::delete))
        .route(
            "/orgs/{org}/settings/packages",
            get(packages::org_settings).patch(packages::set_org_settings),
        )
        .route("/user/packages", get(packages::list_for_user))
        .route("/users/{login}", get(users::get))
        .route("/users/{login}/repos", get(users::repos))
        .route("/orgs/{org}", get(orgs::get))
        .route(
            "/orgs/{org}/repos",
            get(orgs::repos).post(repos::create_for_org),
        )
        .route("/orgs/{org}/members", get(orgs::members))
        .route("/orgs/{org}/teams", get(teams::list).post(teams::create))
        .route(
            "/orgs/{org}/teams/{team_slug}",
            get(teams::get).patch(teams::update).delete(teams::delete),
        )
        .route("/orgs/{org}/teams/{team_slug}/members", get(teams::members))
        .route(
            "/orgs/{org}/teams/{team_slug}/memberships/{username}",
            get(teams::get_membership)
                .put(teams::set_membership)
                .delete(teams::remove_membership),
        )
        .route(
            "/orgs/{org}/memberships/{login}",
            put(orgs::set_membership)
                .get(orgs::membership)
                .delete(orgs::remove_membership),
        )
        .route(
            "/repos/{owner}/{repo}",
            get(repos::get).patch(repos::update).delete(repos::delete),
        )
        .route(
            "/repos/{owner}/{repo}/collaborators",
            get(repos::collaborators),
        )
        .route(
            "/repos/{owner}/{repo}/collaborators/{login}",
            put(repos::add_collaborator).delete(repos::remove_collaborator),
        )
        .route(
            "/repos/{owner}/{repo}/tokens",
            post(tokens::create_for_repo),
        )
        .route("/repos/{owner}/{repo}/codespaces", post(codespaces::create))
        .route(
            "/repos/{owner}/{repo}/codespaces/machines",
            get(codespaces::machines),
        )
        .route(
            "/repos/{owner}/{repo}/codespaces/new",
            get(codespaces::defaults),
        )
        .route(
            "/repos/{owner}/{repo}/codespaces/devcontainers",
            get(codespaces::devcontainers),
        )
        .route("/repositories/{id}", get(repos::get))
        .route(
            "/repositories/{id}/codespaces/machines",
            get(codespaces::machines),
        )
        .route(
            "/repositories/{id}/codespaces/devcontainers",
            get(codespaces::devcontainers),
        )
        .route(
            "/user/codespaces",
            get(codespaces::list).post(codespaces::create_for_user),
        )
        .route(
            "/user/codespaces/{name}",
            get(codespaces::get).delete(codespaces::delete),
        )
        .route("/user/codespaces/{name}/start", post(codespaces::start))
        .route("/user/codespaces/{name}/stop", post(codespaces::stop))
        .route(
            "/user/codespaces/{name}/exec",
            post(codespaces::exec).layer(DefaultBodyLimit::max(EXEC_BODY_LIMIT)),
        )
        .route("/user/codespaces/{name}/logs", get(codespaces::logs))
        .route("/user/codespaces/{name}/ports", get(ports::list))
        .route("/user/codespaces/{name}/ssh", get(ssh::tunnel))
        .route("/user/codespaces/{name}/terminal", get(terminal::open))
        .route("/meta", get(ssh::meta))
        .route("/admin/ssh/rotate-host-key", post(ssh::rotate_host_key))
        .route(
            "/user/codespaces/{name}/ports/{port}/tunnel",
            get(ports::tunnel),
        )
        .route("/admin/users", post(admin::create_user))
        .route("/admin/users/{login}/password", put(admin::set_password))
        .route("/admin/organizations", post(admin::create_org))
        .route("/admin/registry/collect", post(admin::collect_garbage))
        .route(
            "/admin/secrets/rotate-master-key",
            post(secrets::rotate_master_key),
        )
        .route("/admin/secrets/audit", get(secrets::audit))
        .route(
            "/repos/{owner}/{repo}/codespaces/environment-secrets",
            get(secrets::preview),
        )
        .route(
            "/repos/{owner}/{repo}/codespaces/registry-check",
            post(logins::check),
        )
        .route(
            "/admin/users/{login}/authorizations",
            post(admin::impersonation_token),
        )
}

/// Packages with their settings, grants and versions, under both owner forms (`/users/{login}`
/// and `/orgs/{org}`) and `/user`, one handler each; the same routes for each kind, which the
/// handlers learn from an [`Extension`].
fn package_routes(mut r: Router<AppState>) -> Router<AppState> {
    for owner in ["/users/{login}", "/orgs/{org}"] {
        r = r.route(
            &format!("{owner}/packages"),
            get(packages::list_for_account),
        );
    }
    for kind in [PackageKind::Container, PackageKind::Npm] {
        r = r.merge(package_kind_routes(kind));
    }
    r
}

fn package_kind_routes(kind: PackageKind) -> Router<AppState> {
    let kind_word = kind.as_str();
    let mut r = Router::new()
        .route(
            &format!("/user/packages/{kind_word}/{{name}}"),
            get(packages::get_for_user)
                .patch(packages::update_for_user)
                .delete(packages::delete_for_user),
        )
        .route(
            &format!("/orgs/{{org}}/packages/{kind_word}/{{name}}/access/teams/{{team_slug}}"),
            put(packages::grant)
                .delete(packages::revoke)
                .layer(Extension(packages::Whom::Team)),
        );
    for owner in ["/users/{login}", "/orgs/{org}"] {
        let base = format!("{owner}/packages/{kind_word}/{{name}}");
        r = r
            .route(
                &base,
                get(packages::get_for_account)
                    .patch(packages::update_for_org)
                    .delete(packages::delete_for_account),
            )
            .route(&format!("{base}/access"), get(packages::access))
            .route(
                &format!("{base}/access/users/{{user}}"),
                put(packages::grant)
                    .delete(packages::revoke)
                    .layer(Extension(packages::Whom::User)),
            )
            .route(
                &format!("{base}/access/repositories/{{owner}}/{{repo}}"),
                put(packages::grant_repository).delete(packages::revoke_repository),
            )
            .route(&format!("{base}/versions"), get(packages::versions))
            .route(
                &format!("{base}/versions/{{id}}"),
                get(packages::version).delete(packages::delete_version),
            )
            .route(
                &format!("{base}/versions/{{id}}/restore"),
                post(packages::restore_version),
            );
    }
    r.layer(Extension(kind))
}

/// Codespaces secrets at the three levels, one handler each (the path says the level).
fn secret_routes(mut r: Router<AppState>) -> Router<AppState> {
    for base in [
        "/user/codespaces/secrets",
        "/repos/{owner}/{repo}/codespaces/secrets",
        "/orgs/{org}/codespaces/secrets",
    ] {
        r = r
            .route(base, get(secrets::list))
            .route(&format!("{base}/public-key"), get(secrets::public_key))
            .route(
                &format!("{base}/{{name}}"),
                get(secrets::get).put(secrets::put).delete(secrets::delete),
            )
            .route(
                &format!("{base}/{{name}}/repositories"),
                get(secrets::repositories).put(secrets::set_repositories),
            )
            .route(
                &format!("{base}/{{name}}/repositories/{{repository_id}}"),
                put(secrets::add_repository).delete(secrets::remove_repository),
            );
    }
    r
}
