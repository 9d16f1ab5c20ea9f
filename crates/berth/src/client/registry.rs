//! `berth registry check`: for `--server`, the login flow runs here, on this machine; for `-R`,
//! the server runs it for every login an environment of the repository would get, as the caller.
//! Either way one line per step, and the failure's own exit code.

use std::io::BufRead as _;

use anyhow::Context as _;
use berth_domain::logins::RegistryHost;
use berth_registry_client::check::{COMMAND_LINE, CheckReport, check as run_check};
use berth_registry_client::ecr::EcrSwapper;
use berth_registry_client::logins::{LoginSecret, RegistryLogin};
use serde_json::json;

use super::http::Client;
use super::{Exit, output};
use crate::cli::RegistryCheckArgs;

pub async fn check(
    server: Option<&str>,
    as_json: bool,
    args: RegistryCheckArgs,
) -> anyhow::Result<()> {
    // `--server` is the global flag every command takes: with -R it names the Berth server, as
    // for every other command; without, the registry to check (by default, Berth's own).
    let (problems, reports): (Vec<String>, Vec<CheckReport>) = match (&args.repo, &args.server) {
        (None, given) => {
            // Without --server, Berth's own registry; and there, unless -u says otherwise, as the
            // saved login (or BERTH_TOKEN).
            let berth = Client::from_env(None).ok();
            let registry = match (given, &berth) {
                (Some(r), _) => r.clone(),
                (None, Some(b)) => b.server().to_owned(),
                (None, None) => anyhow::bail!(
                    "no registry to check: give one with --server, a repository with -R, or run `berth login` to check Berth's own"
                ),
            };
            let own = berth.filter(|b| {
                args.username.is_none() && b.token().is_some() && same_host(&registry, b.server())
            });
            let me = match own {
                Some(b) => {
                    let me = b.get("/user").await?;
                    let token = b.token().cloned().expect("filtered on a token");
                    Some((output::field(&me, &["login"]), token))
                }
                None => None,
            };
            (Vec::new(), vec![check_here(&registry, me, &args).await?])
        }
        (Some(repo), _) => {
            let client = Client::from_env(server)?;
            let body = json!({ "repository": args.repository });
            let v = client
                .post(
                    &format!("/repos/{repo}/codespaces/registry-check"),
                    Some(body),
                )
                .await?;
            let problems = serde_json::from_value(v["problems"].clone()).unwrap_or_default();
            let reports = serde_json::from_value(v["logins"].clone())
                .context("the server's answer has no logins")?;
            (problems, reports)
        }
    };
    if as_json {
        output::json(&json!({ "problems": problems, "logins": reports }));
    } else {
        for problem in &problems {
            eprintln!("warning: {problem}");
        }
        if reports.is_empty() && args.repo.is_some() {
            println!(
                "no registry logins: an environment of this repository gets no complete _CONTAINER_REGISTRY_SERVER/_USER/_PASSWORD triple"
            );
        }
        for report in &reports {
            print_report(report);
        }
    }
    match reports.iter().find_map(|r| r.failure.as_ref()) {
        Some(f) => Err(Exit(f.exit_code).into()),
        None => Ok(()),
    }
}

/// Whether two server spellings name one registry (`http://127.0.0.1:8080` and `127.0.0.1:8080`).
fn same_host(a: &str, b: &str) -> bool {
    match (RegistryHost::parse(a), RegistryHost::parse(b)) {
        (Ok((a, _)), Ok((b, _))) => a.config_key() == b.config_key(),
        _ => false,
    }
}

/// The flow for `--server` (or Berth's own registry, as `saved`: a login and its token), run
/// from this machine.
async fn check_here(
    registry: &str,
    saved: Option<(String, secrecy::SecretString)>,
    args: &RegistryCheckArgs,
) -> anyhow::Result<CheckReport> {
    let (host, scheme) =
        RegistryHost::parse(registry).map_err(|e| anyhow::anyhow!("--server: {e}"))?;
    let login = match &args.username {
        None if saved.is_some() => {
            let (user, token) = saved.expect("checked");
            RegistryLogin::from_triple(COMMAND_LINE, host, scheme, &user, token)
        }
        Some(username) => {
            if !args.password_stdin {
                anyhow::bail!("with --username, pipe the password in and add --password-stdin");
            }
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']).to_owned();
            RegistryLogin::from_triple(COMMAND_LINE, host, scheme, username, password.into())
        }
        None => RegistryLogin {
            prefix: COMMAND_LINE.into(),
            host,
            scheme,
            secret: LoginSecret::Anonymous,
        },
    };
    // From the user's own machine: whatever it can reach (the server's egress policy is for
    // what the server does).
    let egress = berth_registry_client::Egress::unrestricted();
    let swapper = EcrSwapper::from_env(egress.client().clone());
    Ok(run_check(
        &egress,
        &swapper,
        &login,
        args.repository.as_deref(),
        time::OffsetDateTime::now_utc(),
    )
    .await)
}

fn print_report(report: &CheckReport) {
    let who = if report.prefix == COMMAND_LINE {
        report.server.clone()
    } else {
        format!("{} ({})", report.prefix, report.server)
    };
    println!("{who}");
    for step in &report.steps {
        println!(
            "  {:<4}  {:<8}  {}",
            if step.ok { "ok" } else { "FAIL" },
            step.step,
            step.detail
        );
    }
    if report.failure.is_none() {
        println!("  all steps passed");
    }
}
