//! The workspace: what can go wrong making it (the clone itself is `git.rs`), branch names, and
//! the dev container configuration read from it.

use std::path::Path;

use berth_domain::devcontainer::{self, DevContainer};

use crate::clone_source::CloneUrlError;
use crate::{Result, ServiceError};

/// Why the workspace could not be made or read; each says what to do where there is something.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("cannot clone {}: {error}", shown_url(url))]
    Url { url: String, error: CloneUrlError },
    #[error("cannot clone {url}: {reason}")]
    Refused { url: String, reason: String },
    #[error("cannot clone {url}: {host} does not resolve")]
    Unresolved { url: String, host: String },
    #[error("cannot run git: {0}; install git on the server")]
    NoGit(std::io::Error),
    #[error("cannot {action} {url}{}: {stderr}", at(.branch))]
    Git {
        action: &'static str,
        url: String,
        branch: Option<String>,
        stderr: String,
    },
    #[error("looking at {url} took longer than {} s", super::git::LOOK_TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error(
        "{0}, the dev container configuration chosen at creation, is not in the workspace at this branch; create the codespace with another devcontainer_path or none"
    )]
    ChosenConfigMissing(String),
    /// A configuration that does not parse: the detail names the line.
    #[error("{path}: {detail}")]
    Devcontainer { path: String, detail: String },
    #[error("{0} is not UTF-8")]
    NotUtf8(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn at(branch: &Option<String>) -> String {
    branch
        .as_ref()
        .map(|b| format!(" at {b}"))
        .unwrap_or_default()
}

pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> WorkspaceError {
    let what = what.into();
    move |source| WorkspaceError::Io { what, source }
}

/// Refuses branch names git would read as options or that cannot be refs (`resource` and
/// `field` name where the name was given).
pub(crate) fn check_branch(r: &str, resource: &'static str, field: &'static str) -> Result<()> {
    let bad = r.is_empty()
        || r.starts_with('-')
        || r.contains("..")
        || r.chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    if bad {
        return Err(ServiceError::invalid(
            resource,
            field,
            "invalid",
            format!("{r:?} is not a branch name"),
        ));
    }
    Ok(())
}

/// `url` with any user and password taken out, for messages.
pub(crate) fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The dev container configuration of the workspace, with the path it came from: the one
/// `chosen` at creation (which must be there), or else the first default that is.
pub(crate) fn read_devcontainer(
    workspace: &Path,
    chosen: Option<&str>,
) -> std::result::Result<Option<(String, DevContainer)>, WorkspaceError> {
    let candidates: Vec<&str> = match chosen {
        Some(c) => vec![c],
        None => devcontainer::DEFAULT_PATHS.to_vec(),
    };
    for rel in candidates {
        // The workspace is the user's: its symlinks resolve inside it, never onto the host.
        let bytes = match berth_runtime::unpack::read_in_root(workspace, rel) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && chosen.is_none() => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WorkspaceError::ChosenConfigMissing(rel.to_owned()));
            }
            Err(e) => return Err(io(format!("cannot read {rel}"))(e)),
        };
        let text = String::from_utf8(bytes).map_err(|_| WorkspaceError::NotUtf8(rel.to_owned()))?;
        let parsed = devcontainer::parse(&text).map_err(|e| WorkspaceError::Devcontainer {
            path: rel.to_owned(),
            detail: e.to_string(),
        })?;
        return Ok(Some((rel.to_owned(), parsed)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_that_git_would_misread_are_refused() {
        for ok in ["main", "feature/x", "v1.2"] {
            assert!(check_branch(ok, "Codespace", "ref").is_ok(), "{ok}");
        }
        for bad in ["", "-upload-pack=x", "a..b", "a b", "x:y"] {
            assert!(check_branch(bad, "Codespace", "ref").is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(
            shown_url("https://u:p@git.example/r.git"),
            "https://git.example/r.git"
        );
        assert_eq!(shown_url("file:///srv/r.git"), "file:///srv/r.git");
    }

    #[test]
    fn a_broken_file_names_its_path_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".devcontainer")).unwrap();
        std::fs::write(
            dir.path().join(".devcontainer/devcontainer.json"),
            "{\n  // comment\n  \"image\": \"x\"\n  \"remoteUser\": \"a\"\n}\n",
        )
        .unwrap();
        let err = read_devcontainer(dir.path(), None).unwrap_err().to_string();
        assert!(
            err.starts_with(".devcontainer/devcontainer.json: devcontainer.json line 4"),
            "{err}"
        );
        std::fs::remove_dir_all(dir.path().join(".devcontainer")).unwrap();
        std::fs::write(
            dir.path().join(".devcontainer.json"),
            "{\"image\": \"busybox\",}",
        )
        .unwrap();
        let (rel, dc) = read_devcontainer(dir.path(), None).unwrap().unwrap();
        assert_eq!(
            (rel.as_str(), dc.image.as_deref()),
            (".devcontainer.json", Some("busybox"))
        );
        // A symlink out of the workspace resolves inside it, never onto the host.
        std::fs::remove_file(dir.path().join(".devcontainer.json")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("devcontainer.json"),
            "{\"image\": \"host\"}",
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join(".devcontainer")).unwrap();
        assert_eq!(read_devcontainer(dir.path(), None).unwrap(), None);
        // A configuration chosen at creation must be there; no default stands in for it.
        let err = read_devcontainer(dir.path(), Some(".devcontainer/py/devcontainer.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("chosen at creation"), "{err}");
    }
}
