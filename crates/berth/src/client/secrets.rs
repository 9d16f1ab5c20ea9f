//! `berth secret …`, after `gh secret set --app codespaces`: values are sealed here, with
//! libsodium's sealed-box construction, to the scope's public key, so the server receives them
//! only in that form. Nothing in this file prints a value.

use std::io::Read;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Method;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::http::Client;
use super::output;
use crate::cli::{SecretCommand, SecretReposCommand, SecretScopeArgs};

/// The API path of the scope's secrets, and whether it is an organization's.
fn base(scope: &SecretScopeArgs) -> anyhow::Result<String> {
    Ok(match (&scope.repo, &scope.org) {
        (Some(repo), _) => {
            let (owner, name) = repo
                .split_once('/')
                .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
                .with_context(|| format!("-R {repo:?} must be OWNER/REPO"))?;
            format!("/repos/{owner}/{name}/codespaces/secrets")
        }
        (None, Some(org)) => format!("/orgs/{org}/codespaces/secrets"),
        (None, None) => "/user/codespaces/secrets".to_owned(),
    })
}

/// Repository ids for `OWNER/REPO` names (a bare `REPO` is taken in `--org`'s organization).
async fn repo_ids(
    c: &Client,
    scope: &SecretScopeArgs,
    names: &[String],
) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let full = match (&scope.org, name.contains('/')) {
            (Some(org), false) => format!("{org}/{name}"),
            (_, true) => name.to_owned(),
            (None, false) => bail!("{name:?} must be OWNER/REPO"),
        };
        let repo = c
            .call(Method::GET, &format!("/repos/{full}"), None)
            .await
            .with_context(|| format!("cannot find the repository {full}"))?
            .unwrap_or_default();
        ids.push(
            repo["id"]
                .as_i64()
                .context("the server answered a repository without an id")?,
        );
    }
    Ok(ids)
}

/// Seals `value` to the scope's current public key: `(encrypted_value, key_id)`.
async fn seal(c: &Client, base: &str, value: &[u8]) -> anyhow::Result<(String, String)> {
    let key = c.get(&format!("{base}/public-key")).await?;
    let (Some(key_id), Some(public)) = (key["key_id"].as_str(), key["key"].as_str()) else {
        bail!("the server answered a public key without key_id and key");
    };
    let public: [u8; 32] = B64
        .decode(public)
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("the server's public key is not 32 bytes of base64")?;
    let sealed = crypto_box::PublicKey::from(public)
        .seal(&mut crypto_box::aead::OsRng, value)
        .map_err(|_| anyhow::anyhow!("sealing the value failed"))?;
    Ok((B64.encode(sealed), key_id.to_owned()))
}

fn secret_row(v: &Value) -> Vec<String> {
    output::fields(v, &["name", "updated_at", "visibility"])
}

pub async fn run(c: &Client, as_json: bool, command: SecretCommand) -> anyhow::Result<()> {
    match command {
        SecretCommand::Set {
            name,
            scope,
            body,
            visibility,
            repos,
        } => {
            let value = Zeroizing::new(match body {
                Some(b) => b,
                None => {
                    let mut v = String::new();
                    std::io::stdin()
                        .read_to_string(&mut v)
                        .context("cannot read the value from standard input")?;
                    v.strip_suffix('\n').map(str::to_owned).unwrap_or(v)
                }
            });
            let base = base(&scope)?;
            let (encrypted_value, key_id) = seal(c, &base, value.as_bytes()).await?;
            let mut req = json!({ "encrypted_value": encrypted_value, "key_id": key_id });
            if scope.org.is_some() {
                req["visibility"] = json!(visibility.as_deref().unwrap_or(if repos.is_some() {
                    "selected"
                } else {
                    "private"
                }));
            } else if visibility.is_some() {
                bail!("--visibility is for organization secrets (--org)");
            }
            if let Some(repos) = &repos {
                if scope.repo.is_some() {
                    bail!("--repos is for user and organization secrets");
                }
                req["selected_repository_ids"] = json!(repo_ids(c, &scope, repos).await?);
            }
            let created = c
                .call(Method::PUT, &format!("{base}/{name}"), Some(req))
                .await?
                .is_some();
            let word = if created { "created" } else { "updated" };
            let upper = name.to_ascii_uppercase();
            output::either(
                as_json,
                &json!({ "name": upper, "result": word }),
                &format!("{word} secret {upper}"),
            );
            warn_if_unselected(c, &scope, &base, &upper).await?;
        }
        SecretCommand::List { scope } => {
            let v = c.get(&format!("{}?per_page=100", base(&scope)?)).await?;
            let items = v["secrets"].as_array().cloned().unwrap_or_default();
            output::many(
                as_json,
                &items,
                &["NAME", "UPDATED", "VISIBILITY"],
                secret_row,
            );
        }
        SecretCommand::Delete { name, scope } => {
            c.delete(&format!("{}/{name}", base(&scope)?)).await?;
            let upper = name.to_ascii_uppercase();
            output::either(
                as_json,
                &json!({ "name": upper, "result": "deleted" }),
                &format!("deleted secret {upper}"),
            );
        }
        SecretCommand::Preview { repo } => {
            let items = c
                .all_counted_pages(
                    &format!("/repos/{repo}/codespaces/environment-secrets"),
                    "secrets",
                )
                .await?;
            output::many(as_json, &items, &["NAME", "FROM"], |s| {
                vec![output::field(s, &["name"]), output::field(s, &["source"])]
            });
        }
        SecretCommand::Repos(r) => repos(c, as_json, r).await?,
    }
    Ok(())
}

async fn repos(c: &Client, as_json: bool, command: SecretReposCommand) -> anyhow::Result<()> {
    let (name, scope) = match &command {
        SecretReposCommand::List { name, scope }
        | SecretReposCommand::Add { name, scope, .. }
        | SecretReposCommand::Remove { name, scope, .. }
        | SecretReposCommand::Set { name, scope, .. } => (name, scope),
    };
    if scope.repo.is_some() {
        bail!("repository secrets have no selected repositories; use --user or --org");
    }
    let path = format!("{}/{name}/repositories", base(scope)?);
    match &command {
        SecretReposCommand::List { .. } => {
            let v = c.get(&format!("{path}?per_page=100")).await?;
            let items = v["repositories"].as_array().cloned().unwrap_or_default();
            output::many(as_json, &items, &["REPOSITORY", "ID"], |r| {
                vec![output::field(r, &["full_name"]), output::field(r, &["id"])]
            });
        }
        SecretReposCommand::Set { repos, .. } => {
            let ids = repo_ids(c, scope, repos).await?;
            c.call(
                Method::PUT,
                &path,
                Some(json!({ "selected_repository_ids": ids })),
            )
            .await?;
            show_selection(c, as_json, &path, name).await?;
        }
        SecretReposCommand::Add { repos, .. } | SecretReposCommand::Remove { repos, .. } => {
            let method = if matches!(command, SecretReposCommand::Add { .. }) {
                Method::PUT
            } else {
                Method::DELETE
            };
            for id in repo_ids(c, scope, repos).await? {
                c.call(method.clone(), &format!("{path}/{id}"), None)
                    .await?;
            }
            show_selection(c, as_json, &path, name).await?;
        }
    }
    Ok(())
}

/// After a change to a secret's selected repositories: the selection as it now is.
async fn show_selection(c: &Client, as_json: bool, path: &str, name: &str) -> anyhow::Result<()> {
    let items = c.all_counted_pages(path, "repositories").await?;
    let names: Vec<String> = items
        .iter()
        .map(|r| output::field(r, &["full_name"]))
        .collect();
    let upper = name.to_ascii_uppercase();
    if as_json {
        output::json(&json!({ "name": upper, "selected_repositories": names }));
    } else if names.is_empty() {
        println!("{upper} is selected for no repository now");
    } else {
        println!("{upper} is selected for {}", names.join(", "));
    }
    Ok(())
}

/// A user secret reaches only the repositories selected for it (as on GitHub), and an
/// organization secret with visibility `selected` likewise: one selected for none reaches no
/// environment, which is said rather than left silent.
async fn warn_if_unselected(
    c: &Client,
    scope: &SecretScopeArgs,
    base: &str,
    name: &str,
) -> anyhow::Result<()> {
    if scope.repo.is_some() {
        return Ok(());
    }
    let secret = c.get(&format!("{base}/{name}")).await?;
    if scope.org.is_some() && secret["visibility"] != "selected" {
        return Ok(());
    }
    let selected = c
        .all_counted_pages(&format!("{base}/{name}/repositories"), "repositories")
        .await?;
    if selected.is_empty() {
        let flag = match &scope.org {
            Some(org) => format!(" --org {org}"),
            None => String::new(),
        };
        eprintln!(
            "warning: {name} reaches no environment yet: it is selected for no repository. \
             Select some with `berth secret repos add {name} OWNER/REPO{flag}` (or set it again with --repos)"
        );
    }
    Ok(())
}
