//! Registry logins made usable: an ECR login's access keys swapped for a registry password, and
//! the `config.json` every client reads.
//!
//! The file is Docker's (`docker/cli` `cli/config/configfile/file.go`): `{"auths": {KEY:
//! {"auth": base64(user:password)}}}`, keyed as `config.json` keys are (Docker Hub as
//! `https://index.docker.io/v1/`). podman, skopeo and buildah read the same shape from
//! `containers/auth.json` (`containers/image` `docs/containers-auth.json.5.md`), so one rendering
//! serves both paths.
//!
//! **Keeping ECR logins fresh.** An ECR password lives 12 hours; an environment may live longer.
//! Berth, not the environment, holds the access keys, and rewrites the files before expiry:
//! [`AuthFiles::next_refresh`] is when the earliest ECR password reaches half its life, and
//! [`AuthFiles::write`] at or after that instant swaps again and replaces each file atomically
//! (a rename), so a client inside never reads a half-written file and never holds the keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use berth_domain::logins::{EcrRegistry, RegistryHost, Scheme};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::auth::Credentials;
use crate::ecr::{AccessKeys, EcrError, EcrSwapper};

/// The username that marks an ECR login's password as a ready registry token.
pub const ECR_TOKEN_USER: &str = "AWS";

/// What a login holds.
#[derive(Debug, Clone)]
pub enum LoginSecret {
    /// A username and password (or token) for the registry's own challenge.
    Password(Credentials),
    /// No credentials: pull what the registry lets anyone pull.
    Anonymous,
    /// Access keys for an ECR registry, swapped on use.
    EcrKeys {
        registry: EcrRegistry,
        keys: AccessKeys,
    },
}

/// A login for one registry, as resolved from a triple (or made by Berth for its own registry).
#[derive(Debug, Clone)]
pub struct RegistryLogin {
    /// The triple's prefix, or a name Berth gives its own logins.
    pub prefix: String,
    pub host: RegistryHost,
    pub scheme: Option<Scheme>,
    pub secret: LoginSecret,
}

impl RegistryLogin {
    /// A login from a triple's values: ECR hosts with a user other than `AWS` hold access keys.
    pub fn from_triple(
        prefix: impl Into<String>,
        host: RegistryHost,
        scheme: Option<Scheme>,
        username: &str,
        password: SecretString,
    ) -> Self {
        let secret = match host.ecr() {
            Some(registry) if username != ECR_TOKEN_USER => LoginSecret::EcrKeys {
                registry,
                keys: AccessKeys {
                    access_key_id: username.to_owned(),
                    secret_access_key: password,
                },
            },
            _ => LoginSecret::Password(Credentials {
                username: username.to_owned(),
                password,
            }),
        };
        Self {
            prefix: prefix.into(),
            host,
            scheme,
            secret,
        }
    }

    /// The credentials to present to the registry now (swapping ECR keys when needed), and for
    /// swapped ones when they need renewing and when they stop working.
    pub async fn credentials(
        &self,
        swapper: &EcrSwapper,
        now: OffsetDateTime,
    ) -> Result<(Option<Credentials>, Option<Lifetime>), EcrError> {
        match &self.secret {
            LoginSecret::Password(c) => Ok((Some(c.clone()), None)),
            LoginSecret::Anonymous => Ok((None, None)),
            LoginSecret::EcrKeys { registry, keys } => {
                let token = swapper.token(registry, keys, now).await?;
                Ok((
                    Some(Credentials {
                        username: ECR_TOKEN_USER.to_owned(),
                        password: token.password.clone(),
                    }),
                    Some(Lifetime {
                        refresh_at: token.refresh_at(),
                        expires_at: token.expires_at,
                    }),
                ))
            }
        }
    }
}

/// When swapped credentials should be renewed, and when they stop working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub refresh_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A login that could not be made usable, by prefix.
#[derive(Debug, Clone, thiserror::Error)]
#[error("registry login {prefix} ({host}): {error}")]
pub struct LoginFailure {
    pub prefix: String,
    pub host: RegistryHost,
    pub error: EcrError,
}

/// `{"auths": {...}}` for these credentials, keyed as `config.json` keys are.
pub fn render_auth_file<'a>(
    logins: impl IntoIterator<Item = (&'a RegistryHost, &'a Credentials)>,
) -> SecretString {
    let mut auths = BTreeMap::new();
    for (host, c) in logins {
        let raw = format!("{}:{}", c.username, c.password.expose_secret());
        auths.insert(
            host.config_key().to_owned(),
            serde_json::json!({ "auth": base64::engine::general_purpose::STANDARD.encode(raw) }),
        );
    }
    let doc = serde_json::json!({ "auths": auths });
    SecretString::from(serde_json::to_string_pretty(&doc).expect("JSON renders") + "\n")
}

/// Writes `contents` to `path` readable by its owner only, replacing any file there in one
/// rename so no reader ever sees half of it.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_private_file_as(path, contents, None)
}

/// [`write_private_file`], the file owned by `owner` (uid, gid) before it takes its place.
///
/// The directory may belong to someone else (an environment's user owns its `~/.docker`), so
/// nothing here follows a name they could have planted: the temporary file is created new
/// (`O_EXCL`, never through a symlink), owned through its descriptor, and renamed over `path`
/// (which replaces a symlink there rather than writing through it).
pub fn write_private_file_as(
    path: &Path,
    contents: &[u8],
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.berth-{}-{n}", std::process::id()));
    // Whatever is there is not ours: removed (a symlink itself, not its target).
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = (|| {
        f.write_all(contents)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        f.sync_all()
    })();
    drop(f);
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// What one [`AuthFiles::write`] did.
#[derive(Debug, Default)]
pub struct WriteReport {
    /// Hosts written into the files.
    pub written: Vec<RegistryHost>,
    /// Logins whose swap failed, and why. A failed renewal keeps the previous password while
    /// it still works (and the host is in `written`); an expired one is left out.
    pub failures: Vec<LoginFailure>,
}

/// The auth files of one environment (or one client), kept fresh.
#[derive(Debug)]
pub struct AuthFiles {
    paths: Vec<PathBuf>,
    logins: Vec<RegistryLogin>,
    next_refresh: Option<OffsetDateTime>,
    /// Who the files belong to (the environment's user), if not the writer.
    owner: Option<(u32, u32)>,
    /// The last swapped credentials by prefix, kept while they work in case a renewal fails.
    swapped: BTreeMap<String, (Credentials, Lifetime)>,
}

impl AuthFiles {
    /// `paths` all receive the same contents (e.g. `~/.docker/config.json` and
    /// `~/.config/containers/auth.json`).
    pub fn new(paths: Vec<PathBuf>, logins: Vec<RegistryLogin>) -> Self {
        Self {
            paths,
            logins,
            next_refresh: None,
            owner: None,
            swapped: BTreeMap::new(),
        }
    }

    /// Writes the files owned by `uid:gid` from now on.
    pub fn set_owner(&mut self, uid: u32, gid: u32) {
        self.owner = Some((uid, gid));
    }

    /// When the files must be written again; `None` when nothing in them expires.
    pub fn next_refresh(&self) -> Option<OffsetDateTime> {
        self.next_refresh
    }

    /// Makes every login usable (swapping ECR keys whose password is past half its life) and
    /// rewrites the files. A login that fails is left out and reported; the others are written.
    pub async fn write(
        &mut self,
        swapper: &EcrSwapper,
        now: OffsetDateTime,
    ) -> std::io::Result<WriteReport> {
        let mut report = WriteReport::default();
        let mut usable = Vec::new();
        let mut next: Option<OffsetDateTime> = None;
        for login in &self.logins {
            let credentials = match login.credentials(swapper, now).await {
                Ok((credentials, lifetime)) => {
                    if let (Some(c), Some(l)) = (&credentials, lifetime) {
                        next = Some(next.map_or(l.refresh_at, |n| n.min(l.refresh_at)));
                        self.swapped.insert(login.prefix.clone(), (c.clone(), l));
                    }
                    credentials
                }
                Err(error) => {
                    report.failures.push(LoginFailure {
                        prefix: login.prefix.clone(),
                        host: login.host.clone(),
                        error,
                    });
                    self.swapped
                        .get(&login.prefix)
                        .filter(|(_, l)| now < l.expires_at)
                        .map(|(c, _)| c.clone())
                }
            };
            if let Some(credentials) = credentials {
                report.written.push(login.host.clone());
                usable.push((login.host.clone(), credentials));
            }
        }
        let contents = render_auth_file(usable.iter().map(|(h, c)| (h, c)));
        for path in &self.paths {
            write_private_file_as(path, contents.expose_secret().as_bytes(), self.owner)?;
        }
        // A failed swap is tried again in a minute rather than at the next half-life.
        if !report.failures.is_empty() {
            let retry = now + time::Duration::minutes(1);
            next = Some(next.map_or(retry, |n| n.min(retry)));
        }
        self.next_refresh = next;
        Ok(report)
    }

    /// Writes again if the refresh instant has come; `None` if it has not.
    pub async fn refresh_if_due(
        &mut self,
        swapper: &EcrSwapper,
        now: OffsetDateTime,
    ) -> std::io::Result<Option<WriteReport>> {
        match self.next_refresh {
            Some(at) if at <= now => self.write(swapper, now).await.map(Some),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> RegistryHost {
        RegistryHost::parse(s).unwrap().0
    }

    #[test]
    fn the_file_is_dockers_with_docker_hub_under_its_index_key() {
        let hub = host("registry-1.docker.io");
        let local = host("http://127.0.0.1:5000");
        let a = Credentials::new("olga", "pw1");
        let b = Credentials::new("otto", "pw:2");
        let file = render_auth_file([(&hub, &a), (&local, &b)]);
        let v: serde_json::Value = serde_json::from_str(file.expose_secret()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"auths": {
                "https://index.docker.io/v1/": {"auth": "b2xnYTpwdzE="},
                "127.0.0.1:5000": {"auth": "b3R0bzpwdzoy"},
            }})
        );
    }

    #[test]
    fn ecr_hosts_with_keys_swap_and_with_aws_use_the_token() {
        let ecr = host("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
        let keys =
            RegistryLogin::from_triple("E", ecr.clone(), None, "AKIA1", "s".to_owned().into());
        assert!(matches!(keys.secret, LoginSecret::EcrKeys { .. }));
        let token = RegistryLogin::from_triple("E", ecr, None, "AWS", "t".to_owned().into());
        assert!(matches!(token.secret, LoginSecret::Password(_)));
        let other =
            RegistryLogin::from_triple("G", host("ghcr.io"), None, "u", "p".to_owned().into());
        assert!(matches!(other.secret, LoginSecret::Password(_)));
    }

    #[test]
    fn a_symlink_planted_in_the_directory_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        let docker = dir.path().join(".docker");
        std::fs::create_dir(&docker).unwrap();
        // At the final name, and at every temporary name the next writes could pick.
        std::os::unix::fs::symlink(&victim, docker.join("config.json")).unwrap();
        for n in 0..64 {
            let planted = docker.join(format!(".config.json.berth-{}-{n}", std::process::id()));
            std::os::unix::fs::symlink(&victim, planted).unwrap();
        }
        write_private_file(&docker.join("config.json"), b"secret").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        assert_eq!(
            std::fs::read(docker.join("config.json")).unwrap(),
            b"secret"
        );
        assert!(
            !std::fs::symlink_metadata(docker.join("config.json"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn files_are_private_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".docker/config.json");
        write_private_file(&path, b"one").unwrap();
        write_private_file(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["config.json"]);
    }
}
