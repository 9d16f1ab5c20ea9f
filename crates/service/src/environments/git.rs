//! git, run for a user: clones (the workspace, at an environment's first start) and shallow looks
//! at a repository's dev container configurations, with none of the server's identity, under the
//! user's egress policy, with the clone credentials among their secrets.

use std::path::Path;
use std::process::Stdio;

use berth_domain::devcontainer;
use berth_registry_client::egress::{Egress, ResolveError};
use secrecy::{ExposeSecret, SecretString};

use super::workspace::{WorkspaceError, io, shown_url};
use crate::clone_source::{CloneSource, NetScheme};

/// The user secrets that log a clone in to a private upstream (HTTP Basic: a user name and a
/// password or token), so that its credentials need not sit in the `clone_url`.
pub(crate) const CLONE_USERNAME: &str = "GIT_CLONE_USERNAME";
pub(crate) const CLONE_PASSWORD: &str = "GIT_CLONE_PASSWORD";

/// A clone's credentials.
#[derive(Debug)]
pub struct CloneLogin {
    pub username: String,
    pub password: SecretString,
}

/// The clone credentials among an environment's secrets, when both are there.
pub(crate) fn clone_login(
    secrets: &[berth_domain::secrets::ResolvedSecret<SecretString>],
) -> Option<CloneLogin> {
    let find = |name: &str| {
        secrets
            .iter()
            .find(|s| s.name.as_str() == name)
            .map(|s| s.value.clone())
    };
    Some(CloneLogin {
        username: find(CLONE_USERNAME)?.expose_secret().to_owned(),
        password: find(CLONE_PASSWORD)?,
    })
}

/// git, set up to fetch `url` for a user: none of the server's own git configuration,
/// credential helpers, SSH keys or agent may lend it an identity; a network URL is resolved here,
/// under `egress`, and git connects to exactly the addresses that passed (pinned: no DNS
/// rebinding, no redirects to elsewhere); `login` (from the user's secrets) goes to HTTP(S) only,
/// through git's environment.
struct Fetch {
    git: tokio::process::Command,
    /// The URL to give git (a `git://` host replaced by its checked address).
    url: String,
    _home: tempfile::TempDir,
}

async fn prepare_fetch(from: &Upstream<'_>) -> std::result::Result<Fetch, WorkspaceError> {
    let Upstream {
        url, egress, login, ..
    } = *from;
    let mut git = tokio::process::Command::new("git");
    git.args(["-c", "credential.helper=", "-c", "core.hooksPath=/dev/null"]);
    let mut ssh = String::from(
        "ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityFile=/dev/null",
    );
    let mut url = url.to_owned();
    let source = CloneSource::parse(&url).map_err(|error| WorkspaceError::Url {
        url: url.clone(),
        error,
    })?;
    if let CloneSource::Network { scheme, host, port } = source {
        let addrs = egress.resolve(&host, port).await.map_err(|e| match e {
            ResolveError::Refused(r) => WorkspaceError::Refused {
                url: shown_url(&url),
                reason: r.to_string(),
            },
            ResolveError::Unknown { .. } => WorkspaceError::Unresolved {
                url: shown_url(&url),
                host: host.clone(),
            },
        })?;
        let ips: Vec<String> = addrs
            .iter()
            .map(|a| match a.ip() {
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                std::net::IpAddr::V4(ip) => ip.to_string(),
            })
            .collect();
        match scheme {
            NetScheme::Https | NetScheme::Http => {
                git.args([
                    "-c",
                    &format!("http.curloptResolve={host}:{port}:{}", ips.join(",")),
                    "-c",
                    "http.followRedirects=false",
                ]);
            }
            NetScheme::Ssh => {
                ssh.push_str(&format!(
                    " -o HostName={} -o HostKeyAlias={host}",
                    ips[0].trim_matches(['[', ']'])
                ));
            }
            NetScheme::Git => {
                // git:// has no host identity to keep: the address itself is used.
                url = url.replacen(&host, &ips[0], 1);
            }
        }
    }
    // A private upstream's credentials: an `Authorization` header given to git through its
    // environment (never its command line, which other users of the host can read).
    let header = login
        .filter(|_| url.starts_with("https://") || url.starts_with("http://"))
        .map(|l| {
            use base64::Engine as _;
            let pair = format!("{}:{}", l.username, l.password.expose_secret());
            SecretString::from(format!(
                "Authorization: Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        });
    let home = tempfile::tempdir().map_err(io("cannot make git's empty home"))?;
    git.env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_ALLOW_PROTOCOL", "https:http:ssh:git:file")
        .env("GIT_SSH_COMMAND", &ssh)
        .env("GIT_TERMINAL_PROMPT", "0")
        .envs(header.iter().flat_map(|h| {
            [
                ("GIT_CONFIG_COUNT", "1".to_owned()),
                ("GIT_CONFIG_KEY_0", "http.extraHeader".to_owned()),
                ("GIT_CONFIG_VALUE_0", h.expose_secret().to_owned()),
            ]
        }))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    Ok(Fetch {
        git,
        url,
        _home: home,
    })
}

/// Runs a prepared fetch; a failure is told with git's own words, the URL without credentials.
async fn run_fetch(
    mut f: Fetch,
    action: &'static str,
    branch: Option<&str>,
) -> std::result::Result<(), WorkspaceError> {
    let out = f.git.output().await.map_err(WorkspaceError::NoGit)?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&f.url, &shown_url(&f.url));
    Err(WorkspaceError::Git {
        action,
        url: shown_url(&f.url),
        branch: branch.map(str::to_owned),
        stderr: stderr.trim().to_owned(),
    })
}

/// Where a repository's code is fetched from, and as whom.
#[derive(Debug, Clone, Copy)]
pub struct Upstream<'a> {
    pub url: &'a str,
    /// The branch (`None`: the upstream's default).
    pub branch: Option<&'a str>,
    /// The user's egress policy, which every address the fetch reaches must pass.
    pub egress: &'a Egress,
    /// The user's clone credentials, when their secrets hold them.
    pub login: Option<&'a CloneLogin>,
}

/// Clones `from` into `into`, which must not exist. The clone is made beside it and renamed into
/// place whole.
pub(crate) async fn clone(
    from: &Upstream<'_>,
    into: &Path,
) -> std::result::Result<(), WorkspaceError> {
    let branch = from.branch;
    let parent = into.parent().unwrap_or(Path::new("."));
    let partial = parent.join(".workspace.partial");
    let _ = std::fs::remove_dir_all(&partial);
    let mut f = prepare_fetch(from).await?;
    f.git.arg("clone").arg("--quiet");
    if let Some(b) = branch {
        f.git.arg("--branch").arg(b);
    }
    f.git.arg("--").arg(&f.url).arg(&partial);
    if let Err(e) = run_fetch(f, "clone", branch).await {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, into).map_err(io("cannot move the clone into place"))
}

/// How long a look at a repository's configurations may take.
pub(super) const LOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The dev container configurations in `from`, defaults first: a shallow clone of trees only
/// (no file contents), looked at and thrown away.
pub(crate) async fn config_paths(
    from: &Upstream<'_>,
) -> std::result::Result<Vec<String>, WorkspaceError> {
    let Upstream { url, branch, .. } = *from;
    let scratch = tempfile::tempdir().map_err(io("cannot make a scratch directory"))?;
    let bare = scratch.path().join("repo.git");
    let mut f = prepare_fetch(from).await?;
    // A local path clones by hard links and ignores --depth; as file:// it is a real fetch.
    let source = if f.url.starts_with('/') {
        format!("file://{}", f.url)
    } else {
        f.url.clone()
    };
    f.git.args([
        "clone",
        "--quiet",
        "--bare",
        "--depth=1",
        "--filter=blob:none",
        "--single-branch",
    ]);
    if let Some(b) = branch {
        f.git.arg("--branch").arg(b);
    }
    f.git.arg("--").arg(&source).arg(&bare);
    tokio::time::timeout(LOOK_TIMEOUT, run_fetch(f, "look at", branch))
        .await
        .map_err(|_| WorkspaceError::Timeout {
            url: shown_url(url),
        })??;
    let out = tokio::process::Command::new("git")
        .arg("--git-dir")
        .arg(&bare)
        .args([
            "ls-tree",
            "-r",
            "-z",
            "--name-only",
            "HEAD",
            "--",
            ".devcontainer.json",
            ".devcontainer",
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        // Listing needs trees only; never fetch a missing blob.
        .env("GIT_NO_LAZY_FETCH", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(WorkspaceError::NoGit)?;
    if !out.status.success() {
        return Err(WorkspaceError::Git {
            action: "list the files of",
            url: shown_url(url),
            branch: branch.map(str::to_owned),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let names = String::from_utf8_lossy(&out.stdout);
    Ok(devcontainer::config_paths(
        names.split('\0').filter(|n| !n.is_empty()),
    ))
}
