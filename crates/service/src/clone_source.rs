//! What a repository's `clone_url` points at, as git reads it, and whether the server may
//! fetch from there for users (SPEC §8): local paths (`file://`, `/srv/x.git`, `../x`) only
//! under directories a site administrator lists (`--clone-allow-dir`), or set by a site
//! administrator; network URLs (`https://`, `http://`, `ssh://`, scp-like `host:path`,
//! `git://`) under the egress policy, checked when the clone runs.

use std::path::{Path, PathBuf};

/// Where a clone URL fetches from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloneSource {
    /// A path on the server (a `file://` URL or a plain path).
    Local(PathBuf),
    /// A host on the network, reached with `scheme`.
    Network {
        scheme: NetScheme,
        host: String,
        port: u16,
    },
}

/// Why a clone URL is refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloneUrlError {
    #[error("clone_url must be a git URL without spaces")]
    Spaces,
    #[error("clone_url is not a URL: {0}")]
    NotAUrl(url::ParseError),
    #[error(
        "clone_url uses {0}://, which Berth does not clone from; use https://, http://, ssh:// or git://"
    )]
    Scheme(String),
    #[error("clone_url names no host")]
    NoHost,
    #[error("clone_url uses a git remote helper (`transport::address`), which Berth does not run")]
    RemoteHelper,
    #[error("{LOCAL_RULE}")]
    LocalNotAllowed,
    #[error("{LOCAL_RULE}; {0} does not exist here")]
    LocalMissing(PathBuf),
    #[error("{LOCAL_RULE}; {0} is not under any of them")]
    LocalOutside(PathBuf),
}

const LOCAL_RULE: &str = "a clone_url on this server's own disk (file:// or a path) is allowed only under the directories a site administrator lists (berth serve --clone-allow-dir), or when a site administrator sets it";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetScheme {
    Https,
    Http,
    Ssh,
    Git,
}

impl CloneSource {
    /// Reads `url` as git does; `Err` names what is wrong (e.g. `ext::` commands, other
    /// transports).
    pub fn parse(url: &str) -> Result<Self, CloneUrlError> {
        if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CloneUrlError::Spaces);
        }
        if let Some((scheme, _)) = url.split_once("://") {
            let parsed = url::Url::parse(url).map_err(CloneUrlError::NotAUrl)?;
            let (scheme, default_port) = match scheme.to_ascii_lowercase().as_str() {
                "file" => {
                    return Ok(Self::Local(PathBuf::from(parsed.path())));
                }
                "https" => (NetScheme::Https, 443),
                "http" => (NetScheme::Http, 80),
                "ssh" | "git+ssh" | "ssh+git" => (NetScheme::Ssh, 22),
                "git" => (NetScheme::Git, 9418),
                other => return Err(CloneUrlError::Scheme(other.to_owned())),
            };
            let host = parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or(CloneUrlError::NoHost)?
                .to_owned();
            return Ok(Self::Network {
                scheme,
                host,
                port: parsed.port().unwrap_or(default_port),
            });
        }
        if url.contains("::") {
            return Err(CloneUrlError::RemoteHelper);
        }
        // git's scp-like syntax, `[user@]host:path`: a colon before any slash.
        if let Some((before, _)) = url.split_once(':')
            && !before.contains('/')
            && !before.is_empty()
        {
            let host = before.rsplit_once('@').map_or(before, |(_, h)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(CloneUrlError::NoHost);
            }
            return Ok(Self::Network {
                scheme: NetScheme::Ssh,
                host: host.to_owned(),
                port: 22,
            });
        }
        Ok(Self::Local(PathBuf::from(url)))
    }
}

/// Whether a local `path` lies under one of `allowed` (both resolved, symlinks and `..`
/// included, so no spelling escapes): `Err` says which rule refuses it.
pub fn check_local(path: &Path, allowed: &[PathBuf]) -> Result<(), CloneUrlError> {
    if allowed.is_empty() {
        return Err(CloneUrlError::LocalNotAllowed);
    }
    let resolved = path
        .canonicalize()
        .map_err(|_| CloneUrlError::LocalMissing(path.to_owned()))?;
    let inside = allowed.iter().any(|dir| {
        dir.canonicalize()
            .is_ok_and(|d| resolved.starts_with(&d) && resolved != d)
    });
    if inside {
        Ok(())
    } else {
        Err(CloneUrlError::LocalOutside(path.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_urls_are_read_as_git_reads_them() {
        let net = |scheme, host: &str, port| CloneSource::Network {
            scheme,
            host: host.to_owned(),
            port,
        };
        let table: &[(&str, Result<CloneSource, &str>)] = &[
            (
                "https://git.example/a/b.git",
                Ok(net(NetScheme::Https, "git.example", 443)),
            ),
            (
                "http://u:p@10.0.0.5:8080/r.git",
                Ok(net(NetScheme::Http, "10.0.0.5", 8080)),
            ),
            (
                "ssh://git@host.example:2222/r.git",
                Ok(net(NetScheme::Ssh, "host.example", 2222)),
            ),
            (
                "git@github.com:org/repo.git",
                Ok(net(NetScheme::Ssh, "github.com", 22)),
            ),
            (
                "git://h.example/r",
                Ok(net(NetScheme::Git, "h.example", 9418)),
            ),
            (
                "file:///srv/git/x.git",
                Ok(CloneSource::Local("/srv/git/x.git".into())),
            ),
            ("/etc/.git", Ok(CloneSource::Local("/etc/.git".into()))),
            (
                "../other/repo",
                Ok(CloneSource::Local("../other/repo".into())),
            ),
            ("./a:b", Ok(CloneSource::Local("./a:b".into()))),
            ("ext::sh -c touch% /tmp/x", Err("spaces")),
            ("ext::sh", Err("remote helper")),
            ("fd::17", Err("remote helper")),
            ("rsync://h/r", Err("rsync")),
            ("", Err("spaces")),
        ];
        for (url, want) in table {
            let got = CloneSource::parse(url);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{url}"),
                (Err(w), Err(g)) => assert!(g.to_string().contains(w), "{url}: {g}"),
                _ => panic!("{url}: {got:?}"),
            }
        }
    }

    #[test]
    fn local_paths_must_stay_under_an_allowed_directory() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = dir.path().join("git");
        std::fs::create_dir_all(allowed.join("team/app.git")).unwrap();
        std::fs::create_dir_all(dir.path().join("secret")).unwrap();
        let dirs = [allowed.clone()];
        assert!(check_local(&allowed.join("team/app.git"), &dirs).is_ok());
        assert!(
            check_local(&allowed.join("team/../../secret"), &dirs).is_err(),
            "no escape with .."
        );
        std::os::unix::fs::symlink(dir.path().join("secret"), allowed.join("link")).unwrap();
        assert!(
            check_local(&allowed.join("link"), &dirs).is_err(),
            "no escape through a symlink"
        );
        assert!(
            check_local(&allowed, &dirs).is_err(),
            "not the directory itself"
        );
        assert!(
            check_local(Path::new("/etc"), &[]).is_err(),
            "nothing without a list"
        );
    }
}
