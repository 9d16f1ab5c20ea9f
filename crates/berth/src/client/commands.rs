//! One function per command: the API calls it makes and what it prints.

use std::io::BufRead;

use anyhow::{Context, bail};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::http::Client;
use super::{config, output};
use crate::cli::{
    AdminCommand, CollaboratorCommand, Command, MemberCommand, OrgCommand, PackageCommand,
    RepoCommand, TeamCommand, TeamMemberCommand, TokenCommand, UserCommand,
};

/// `berth login`: reads the token from standard input, checks it, and saves both.
pub async fn login(server: &str) -> anyhow::Result<()> {
    let server = &super::http::with_scheme(server)?;
    let mut token = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut token)
        .context("cannot read the token from standard input")?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!(
            "no token on standard input; pipe one in, e.g. `berth login --server URL < admin-token`"
        );
    }
    let token = SecretString::from(token);
    let client = Client::new(server, Some(token.clone()))?;
    let me = client.get("/user").await?;
    let path = config::save(&config::Saved {
        server: server.trim_end_matches('/').to_owned(),
        token,
    })?;
    println!(
        "logged in to {server} as {} (saved in {})",
        output::field(&me, &["login"]),
        path.display()
    );
    Ok(())
}

fn split_full_name(full_name: &str) -> anyhow::Result<(&str, &str)> {
    match full_name.split_once('/') {
        Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => Ok((o, n)),
        _ => bail!("{full_name:?} is not OWNER/NAME"),
    }
}

fn show(as_json: bool, value: &Value, header: &[&str], row: Vec<String>) {
    if as_json {
        output::json(value);
    } else {
        output::table(header, &[row]);
    }
}

const ACCOUNT_HEADER: &[&str] = &["LOGIN", "TYPE", "ID", "SITE ADMIN"];
fn account_row(v: &Value) -> Vec<String> {
    output::fields(v, &["login", "type", "id", "site_admin"])
}

const REPO_HEADER: &[&str] = &["REPOSITORY", "VISIBILITY", "PERMISSION", "CLONE URL"];
fn repo_row(v: &Value) -> Vec<String> {
    output::fields(v, &["full_name", "visibility", "role_name", "clone_url"])
}

const TOKEN_HEADER: &[&str] = &["ID", "NOTE", "SCOPES", "LAST EIGHT", "EXPIRES"];
fn token_row(v: &Value) -> Vec<String> {
    let scopes = v["scopes"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    vec![
        output::field(v, &["id"]),
        output::field(v, &["note"]),
        scopes,
        output::field(v, &["token_last_eight"]),
        output::field(v, &["expires_at"]),
    ]
}

pub async fn run(c: &Client, as_json: bool, command: Command) -> anyhow::Result<()> {
    match command {
        Command::User(UserCommand::Create { login }) => {
            let v = c
                .post("/admin/users", Some(json!({ "login": login })))
                .await?;
            show(as_json, &v, ACCOUNT_HEADER, account_row(&v));
        }
        Command::User(UserCommand::Password { login, stdin }) => {
            let body = if stdin {
                let mut password = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut password)?;
                json!({ "password": password.trim_end_matches(['\r', '\n']) })
            } else {
                json!({})
            };
            let v = c
                .put(&format!("/admin/users/{login}/password"), Some(body))
                .await?;
            match v["password"].as_str() {
                Some(made) if as_json => output::json(&json!({ "login": login, "password": made })),
                Some(made) => println!("{made}"),
                None => eprintln!("the password of {login} is set"),
            }
        }
        Command::User(UserCommand::Show { login }) => {
            let path = login.map_or_else(|| "/user".to_owned(), |l| format!("/users/{l}"));
            let v = c.get(&path).await?;
            show(as_json, &v, ACCOUNT_HEADER, account_row(&v));
        }
        Command::Org(OrgCommand::Create { login, admin }) => {
            let v = c
                .post(
                    "/admin/organizations",
                    Some(json!({ "login": login, "admin": admin })),
                )
                .await?;
            show(as_json, &v, ACCOUNT_HEADER, account_row(&v));
        }
        Command::Org(OrgCommand::Member(m)) => member(c, as_json, m).await?,
        Command::Org(OrgCommand::Team(t)) => team(c, as_json, t).await?,
        Command::Repo(r) => repo(c, as_json, r).await?,
        Command::Token(t) => token(c, as_json, t).await?,
        Command::Package { kind, command } => package(c, as_json, &kind, command).await?,
        Command::Admin(AdminCommand::Gc {
            version_retention,
            grace,
            upload_ttl,
            untagged_after,
            dry_run,
        }) => {
            let v = c
                .post(
                    "/admin/registry/collect",
                    Some(json!({
                        "version_retention_seconds": version_retention,
                        "grace_seconds": grace,
                        "upload_ttl_seconds": upload_ttl,
                        "untagged_after_seconds": untagged_after,
                        "dry_run": dry_run,
                    })),
                )
                .await?;
            let fields = [
                "untagged_deleted",
                "versions_purged",
                "links_removed",
                "blobs_deleted",
                "bytes_freed",
                "blobs_revived",
                "uploads_expired",
            ];
            let header: Vec<String> = fields.iter().map(|f| f.to_uppercase()).collect();
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let row = fields.iter().map(|f| v[*f].to_string()).collect();
            if dry_run && !as_json {
                println!("dry run: a collection now would remove this; nothing was removed");
            }
            show(as_json, &v, &header, row);
            let caches = &v["caches"];
            if !as_json && caches.is_object() {
                println!(
                    "this server's image caches: {} layers ({} bytes) and {} pulled blobs ({} bytes) {}; {} layers in use kept; {} + {} bytes held",
                    caches["layers_removed"],
                    caches["layer_bytes_freed"],
                    caches["blobs_removed"],
                    caches["blob_bytes_freed"],
                    if dry_run {
                        "would be removed"
                    } else {
                        "removed"
                    },
                    caches["layers_in_use"],
                    caches["layer_bytes_held"],
                    caches["blob_bytes_held"],
                );
            }
        }
        Command::Admin(AdminCommand::RotateSshHostKey) => {
            let v = c.post("/admin/ssh/rotate-host-key", None).await?;
            output::either(
                as_json,
                &v,
                &format!(
                    "the SSH gateway's host key is now {}",
                    output::field(&v, &["fingerprint"])
                ),
            );
        }
        Command::Admin(AdminCommand::RotateMasterKey) => {
            let v = c.post("/admin/secrets/rotate-master-key", None).await?;
            let row = vec![
                output::field(&v, &["master_key_id"]),
                output::field(&v, &["generated"]),
                output::field(&v, &["rewrapped"]),
                output::field(&v, &["retired"]),
            ];
            show(
                as_json,
                &v,
                &["MASTER KEY", "GENERATED", "REWRAPPED", "RETIRED"],
                row,
            );
        }
        Command::Admin(AdminCommand::SecretAudit { limit }) => {
            let items = c
                .first_items("/admin/secrets/audit", usize::try_from(limit).unwrap_or(0))
                .await?;
            output::many(
                as_json,
                &items,
                &["AT", "ACTOR", "ACTION", "SCOPE", "SCOPE ID", "NAME"],
                |r| {
                    ["at", "actor", "action", "scope", "scope_id", "name"]
                        .iter()
                        .map(|f| output::field(r, &[f]))
                        .collect()
                },
            );
        }
        Command::Serve(_)
        | Command::Login { .. }
        | Command::Logout
        | Command::Secret(_)
        | Command::Key(_)
        | Command::Registry(_)
        | Command::Codespace(_) => {
            unreachable!("handled by the caller")
        }
    }
    Ok(())
}

/// GitHub's membership word (`admin`) as the CLI says it (`owner`, as `--role` takes it).
fn berth_role(github: String) -> String {
    if github == "admin" {
        "owner".into()
    } else {
        github
    }
}

async fn team(c: &Client, as_json: bool, command: TeamCommand) -> anyhow::Result<()> {
    const HEADER: &[&str] = &["SLUG", "NAME", "PRIVACY", "DESCRIPTION"];
    let row = |v: &Value| {
        vec![
            output::field(v, &["slug"]),
            output::field(v, &["name"]),
            output::field(v, &["privacy"]),
            output::field(v, &["description"]),
        ]
    };
    match command {
        TeamCommand::Create {
            org,
            name,
            description,
            privacy,
            maintainers,
        } => {
            let v = c
                .post(&format!("/orgs/{org}/teams"), Some(json!({ "name": name, "description": description, "privacy": privacy, "maintainers": maintainers }))).await?;
            show(as_json, &v, HEADER, row(&v));
        }
        TeamCommand::List { org } => {
            let teams = c.all_pages(&format!("/orgs/{org}/teams")).await?;
            output::many(as_json, &teams, HEADER, row);
        }
        TeamCommand::Delete { org, slug } => {
            c.delete(&format!("/orgs/{org}/teams/{slug}")).await?;
            output::done(as_json, &format!("deleted the team {slug} of {org}"));
        }
        TeamCommand::Member(TeamMemberCommand::Add {
            org,
            slug,
            login,
            role,
        }) => {
            let v = c
                .put(
                    &format!("/orgs/{org}/teams/{slug}/memberships/{login}"),
                    Some(json!({ "role": role })),
                )
                .await?;
            show(
                as_json,
                &v,
                &["TEAM", "LOGIN", "ROLE"],
                vec![slug, login, output::field(&v, &["role"])],
            );
        }
        TeamCommand::Member(TeamMemberCommand::Remove { org, slug, login }) => {
            c.delete(&format!("/orgs/{org}/teams/{slug}/memberships/{login}"))
                .await?;
            output::done(
                as_json,
                &format!("removed {login} from the team {slug} of {org}"),
            );
        }
        TeamCommand::Member(TeamMemberCommand::List { org, slug }) => {
            let base = format!("/orgs/{org}/teams/{slug}/members");
            let members = c.all_pages(&base).await?;
            let maintainers = c.all_pages(&format!("{base}?role=maintainer")).await?;
            let role_of = |v: &Value| {
                if maintainers.iter().any(|m| m["id"] == v["id"]) {
                    "maintainer"
                } else {
                    "member"
                }
            };
            if as_json {
                let with_roles: Vec<Value> = members
                    .iter()
                    .map(|m| {
                        let mut m = m.clone();
                        m["role"] = json!(role_of(&m));
                        m
                    })
                    .collect();
                output::json(&Value::Array(with_roles));
            } else {
                let rows: Vec<Vec<String>> = members
                    .iter()
                    .map(|m| vec![output::field(m, &["login"]), role_of(m).to_owned()])
                    .collect();
                output::table(&["LOGIN", "ROLE"], &rows);
            }
        }
    }
    Ok(())
}

async fn member(c: &Client, as_json: bool, command: MemberCommand) -> anyhow::Result<()> {
    match command {
        MemberCommand::Add { org, login, role } => {
            let role = if role == "owner" { "admin" } else { "member" };
            let v = c
                .put(
                    &format!("/orgs/{org}/memberships/{login}"),
                    Some(json!({ "role": role })),
                )
                .await?;
            let row = vec![
                output::field(&v, &["organization", "login"]),
                output::field(&v, &["user", "login"]),
                berth_role(output::field(&v, &["role"])),
            ];
            show(as_json, &v, &["ORG", "LOGIN", "ROLE"], row);
        }
        MemberCommand::Remove { org, login } => {
            c.delete(&format!("/orgs/{org}/memberships/{login}"))
                .await?;
            output::done(as_json, &format!("removed {login} from {org}"));
        }
        MemberCommand::List { org } => {
            let members = c.all_pages(&format!("/orgs/{org}/members")).await?;
            let owners = c
                .all_pages(&format!("/orgs/{org}/members?role=admin"))
                .await?;
            let is_owner = |v: &Value| owners.iter().any(|o| o["id"] == v["id"]);
            if as_json {
                let with_roles: Vec<Value> = members
                    .iter()
                    .map(|m| {
                        let mut m = m.clone();
                        m["role"] = json!(if is_owner(&m) { "owner" } else { "member" });
                        m
                    })
                    .collect();
                output::json(&Value::Array(with_roles));
            } else {
                let rows: Vec<Vec<String>> = members
                    .iter()
                    .map(|m| {
                        vec![
                            output::field(m, &["login"]),
                            (if is_owner(m) { "owner" } else { "member" }).to_owned(),
                        ]
                    })
                    .collect();
                output::table(&["LOGIN", "ROLE"], &rows);
            }
        }
    }
    Ok(())
}

async fn repo(c: &Client, as_json: bool, command: RepoCommand) -> anyhow::Result<()> {
    match command {
        RepoCommand::Create {
            full_name,
            visibility,
            clone_url,
            description,
        } => {
            let (owner, name) = split_full_name(&full_name)?;
            let me = c.get("/user").await?;
            let path = if me["login"]
                .as_str()
                .is_some_and(|l| l.eq_ignore_ascii_case(owner))
            {
                "/user/repos".to_owned()
            } else {
                format!("/orgs/{owner}/repos")
            };
            let body = json!({ "name": name, "visibility": visibility, "clone_url": clone_url, "description": description });
            let v = c.post(&path, Some(body)).await?;
            show(as_json, &v, REPO_HEADER, repo_row(&v));
        }
        RepoCommand::Edit {
            full_name,
            name,
            visibility,
            description,
            clone_url,
            no_clone_url,
            default_branch,
        } => {
            let (owner, repo) = split_full_name(&full_name)?;
            let mut body = serde_json::Map::new();
            let mut set = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    body.insert(k.to_owned(), v);
                }
            };
            set("name", name.map(Value::from));
            set("visibility", visibility.map(Value::from));
            set("description", description.map(Value::from));
            set("default_branch", default_branch.map(Value::from));
            set(
                "clone_url",
                if no_clone_url {
                    Some(Value::Null)
                } else {
                    clone_url.map(Value::from)
                },
            );
            if body.is_empty() {
                return Err(super::usage(
                    "say what to change: --name, --visibility, --description, --clone-url, --no-clone-url or --default-branch",
                ));
            }
            let v = c
                .patch(&format!("/repos/{owner}/{repo}"), Value::Object(body))
                .await?;
            show(as_json, &v, REPO_HEADER, repo_row(&v));
        }
        RepoCommand::Delete { full_name, yes } => {
            let (owner, repo) = split_full_name(&full_name)?;
            if !yes {
                return Err(super::usage(&format!(
                    "deleting {owner}/{repo} removes its secrets, collaborators and tokens for good; add --yes to go ahead"
                )));
            }
            c.delete(&format!("/repos/{owner}/{repo}")).await?;
            output::either(
                as_json,
                &json!({ "deleted": format!("{owner}/{repo}") }),
                &format!("deleted {owner}/{repo}"),
            );
        }
        RepoCommand::Show { full_name } => {
            let (owner, name) = split_full_name(&full_name)?;
            let v = c.get(&format!("/repos/{owner}/{name}")).await?;
            show(as_json, &v, REPO_HEADER, repo_row(&v));
        }
        RepoCommand::List { owner } => {
            let path =
                owner.map_or_else(|| "/user/repos".to_owned(), |o| format!("/users/{o}/repos"));
            let repos = c.all_pages(&path).await?;
            output::many(as_json, &repos, REPO_HEADER, repo_row);
        }
        RepoCommand::Collaborator(CollaboratorCommand::Add {
            full_name,
            login,
            permission,
        }) => {
            let (owner, name) = split_full_name(&full_name)?;
            c.put(
                &format!("/repos/{owner}/{name}/collaborators/{login}"),
                Some(json!({ "permission": permission })),
            )
            .await?;
            output::done(
                as_json,
                &format!("{login} now has {permission} access to {owner}/{name}"),
            );
        }
        RepoCommand::Collaborator(CollaboratorCommand::Remove { full_name, login }) => {
            let (owner, name) = split_full_name(&full_name)?;
            c.delete(&format!("/repos/{owner}/{name}/collaborators/{login}"))
                .await?;
            output::done(as_json, &format!("removed {login} from {owner}/{name}"));
        }
        RepoCommand::Collaborator(CollaboratorCommand::List { full_name }) => {
            let (owner, name) = split_full_name(&full_name)?;
            let collaborators = c
                .all_pages(&format!("/repos/{owner}/{name}/collaborators"))
                .await?;
            output::many(as_json, &collaborators, &["LOGIN", "PERMISSION"], |v| {
                vec![
                    output::field(v, &["login"]),
                    output::field(v, &["role_name"]),
                ]
            });
        }
    }
    Ok(())
}

async fn token(c: &Client, as_json: bool, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            scopes,
            note,
            expires_in_days,
            user,
            repo,
        } => {
            if repo.is_some() && !scopes.is_empty() {
                return Err(super::usage(
                    "--scopes does not apply to a repository token (--repo): it always writes its own repository's packages and reads public ones; leave --scopes out",
                ));
            }
            if repo.is_none() && scopes.is_empty() {
                return Err(super::usage(
                    "say what the token may do with --scopes, e.g. --scopes repo,write:packages,codespace (scopes: repo, read:packages, write:packages, delete:packages, codespace, codespace:secrets, admin:org, site_admin, read:public_key, write:public_key, admin:public_key)",
                ));
            }
            let expires_at = expires_in_days.map(|d| {
                let t = time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(d));
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            });
            let body = json!({ "scopes": scopes, "note": note, "expires_at": expires_at });
            let path = match (&user, &repo) {
                (_, Some(full_name)) => {
                    let (owner, name) = split_full_name(full_name)?;
                    format!("/repos/{owner}/{name}/tokens")
                }
                (Some(login), None) => format!("/admin/users/{login}/authorizations"),
                (None, None) => "/user/tokens".to_owned(),
            };
            let v = c.post(&path, Some(body)).await?;
            if as_json {
                output::json(&v);
            } else {
                // The token alone on standard output, so `berth token create … > file` keeps it.
                println!("{}", output::field(&v, &["token"]));
            }
        }
        TokenCommand::List => {
            let tokens = c.all_pages("/user/tokens").await?;
            output::many(as_json, &tokens, TOKEN_HEADER, token_row);
        }
        TokenCommand::Revoke { id } => {
            c.delete(&format!("/user/tokens/{id}")).await?;
            output::done(as_json, &format!("revoked token {id}"));
        }
    }
    Ok(())
}

const PACKAGE_HEADER: &[&str] = &["PACKAGE", "VISIBILITY", "REPOSITORY", "INHERITS"];
fn package_row(v: &Value) -> Vec<String> {
    let full = output::fields(v, &["owner.login", "name"]).join("/");
    let rest = output::fields(v, &["visibility", "repository.full_name", "inherit_access"]);
    [vec![full], rest].concat()
}

/// `OWNER/NAME` (or an npm package's `@OWNER/NAME`) → the API path of the package of `kind`
/// (`/` in NAME encoded, as GitHub wants it).
fn package_path(kind: &str, full: &str) -> anyhow::Result<String> {
    let full = if kind == "npm" {
        full.strip_prefix('@').unwrap_or(full)
    } else {
        full
    };
    match full.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() => Ok(format!(
            "/users/{owner}/packages/{kind}/{}",
            name.replace('/', "%2F")
        )),
        _ => bail!("{full:?} is not OWNER/NAME"),
    }
}

async fn package(
    c: &Client,
    as_json: bool,
    kind: &str,
    command: PackageCommand,
) -> anyhow::Result<()> {
    let package_path = |full: &str| package_path(kind, full);
    // An organization's package, at the `/orgs/` form its team grants live under.
    let org_package_path =
        |full: &str| Ok::<_, anyhow::Error>(package_path(full)?.replacen("/users/", "/orgs/", 1));
    let show_one = |v: Value| show(as_json, &v, PACKAGE_HEADER, package_row(&v));
    match command {
        PackageCommand::List { owner } => {
            let path = owner.map_or_else(
                || format!("/user/packages?package_type={kind}"),
                |o| format!("/users/{o}/packages?package_type={kind}"),
            );
            let packages = c.all_pages(&path).await?;
            output::many(as_json, &packages, PACKAGE_HEADER, package_row);
        }
        PackageCommand::Show { package } => show_one(c.get(&package_path(&package)?).await?),
        PackageCommand::Visibility {
            package,
            visibility,
        } => {
            show_one(
                c.patch(
                    &package_path(&package)?,
                    json!({ "visibility": visibility }),
                )
                .await?,
            );
        }
        PackageCommand::Link {
            package,
            repository,
            unlink,
        } => {
            let repository = if unlink {
                Value::Null
            } else {
                json!(repository)
            };
            show_one(
                c.patch(
                    &package_path(&package)?,
                    json!({ "repository": repository }),
                )
                .await?,
            );
        }
        PackageCommand::Inherit { package, state } => {
            show_one(
                c.patch(
                    &package_path(&package)?,
                    json!({ "inherit_access": state == "on" }),
                )
                .await?,
            );
        }
        PackageCommand::Grant {
            package,
            user,
            team,
            role,
            repo,
            environments,
            token_role,
        } => {
            let base = package_path(&package)?;
            // A team's role and a user's are one call, each to its own path.
            let role_of = match (&team, &user) {
                (Some(slug), _) => Some((
                    format!("{}/access/teams/{slug}", org_package_path(&package)?),
                    json!({ "team": slug, "role": role }),
                    format!("the members of the team {slug} now have {role} access to {package}"),
                )),
                (None, Some(login)) => Some((
                    format!("{base}/access/users/{login}"),
                    json!({ "login": login, "role": role }),
                    format!("{login} now has {role} access to {package}"),
                )),
                (None, None) => None,
            };
            if let Some((path, result, said)) = role_of {
                c.put(&path, Some(json!({ "role": role }))).await?;
                output::either(as_json, &result, &said);
                return Ok(());
            }
            match repo {
                Some(full) => {
                    let (o, r) = split_full_name(&full)?;
                    // `--repo R` alone is "Manage Codespaces access": R's environments may pull.
                    // What is not asked for stays as it was (grants to one repository combine).
                    let mut body = serde_json::Map::new();
                    if environments || token_role.is_none() {
                        body.insert("environments".into(), json!(true));
                    }
                    if let Some(role) = &token_role {
                        body.insert("token_role".into(), json!(role));
                    }
                    let grant = c
                        .put(
                            &format!("{base}/access/repositories/{o}/{r}"),
                            Some(Value::Object(body)),
                        )
                        .await?;
                    if as_json {
                        output::json(&grant);
                    } else {
                        let envs = if grant["environments"] == json!(true) {
                            "its environments may pull"
                        } else {
                            "its environments may not pull"
                        };
                        let tokens = grant["token_role"]
                            .as_str()
                            .map_or("its tokens have no role".to_owned(), |r| {
                                format!("its tokens have {r} access")
                            });
                        println!("{o}/{r} on {package}: {envs}; {tokens}");
                    }
                }
                None => bail!("say whom to grant: --user LOGIN or --repo OWNER/REPO"),
            }
        }
        PackageCommand::Revoke {
            package,
            user,
            team,
            repo,
        } => {
            let base = package_path(&package)?;
            let (path, whom) = match (user, repo) {
                _ if team.is_some() => {
                    let slug = team.unwrap_or_default();
                    (
                        format!("{}/access/teams/{slug}", org_package_path(&package)?),
                        format!("the team {slug}"),
                    )
                }
                (Some(login), _) => (format!("{base}/access/users/{login}"), login),
                (None, Some(full)) => {
                    let (o, r) = split_full_name(&full)?;
                    (format!("{base}/access/repositories/{o}/{r}"), full.clone())
                }
                (None, None) => {
                    bail!("say whose grant to remove: --user LOGIN or --repo OWNER/REPO")
                }
            };
            c.delete(&path).await?;
            output::either(
                as_json,
                &json!({ "revoked": whom, "package": package }),
                &format!("revoked the grant of {whom} on {package}"),
            );
        }
        PackageCommand::Access { package } => {
            let v = c
                .get(&format!("{}/access", package_path(&package)?))
                .await?;
            if as_json {
                output::json(&v);
            } else {
                let mut rows: Vec<Vec<String>> = v["users"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| {
                        vec![
                            "user".into(),
                            output::field(u, &["login"]),
                            output::field(u, &["role"]),
                            "-".into(),
                        ]
                    })
                    .collect();
                rows.extend(v["teams"].as_array().into_iter().flatten().map(|t| {
                    vec![
                        "team".into(),
                        output::field(t, &["slug"]),
                        output::field(t, &["role"]),
                        "-".into(),
                    ]
                }));
                rows.extend(v["repositories"].as_array().into_iter().flatten().map(|r| {
                    vec![
                        "repository".into(),
                        output::field(r, &["full_name"]),
                        output::field(r, &["token_role"]),
                        output::field(r, &["environments"]),
                    ]
                }));
                output::table(&["KIND", "NAME", "ROLE", "ENVIRONMENTS"], &rows);
            }
        }
    }
    Ok(())
}
