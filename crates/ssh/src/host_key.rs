//! The gateway's host key: made once (Ed25519) into the data directory, readable by its owner
//! only, and the same at every start so clients' `known_hosts` stay true.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;

/// The host key's file in the data directory.
pub const FILE: &str = "ssh_host_ed25519_key";

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("cannot read the SSH host key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the SSH host key {path} is not an OpenSSH private key ({detail}); move it away to make a new one"
    )]
    Damaged { path: String, detail: String },
    #[error("cannot write the SSH host key {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The host key's public half as a `known_hosts` line carries it (`ssh-ed25519 AAAA…`), and its
/// `SHA256:` fingerprint.
pub fn public(key: &PrivateKey) -> (String, String) {
    let public = russh::keys::PublicKey::new(key.public_key().key_data().clone(), "");
    let line = public
        .to_openssh()
        .unwrap_or_default()
        .trim_end()
        .to_owned();
    let fingerprint = public.fingerprint(russh::keys::HashAlg::Sha256).to_string();
    (line, fingerprint)
}

/// Makes a new host key in `data_dir`, keeping the one it replaces as `FILE.old`.
pub(crate) fn rotate(data_dir: &Path) -> Result<PrivateKey, HostKeyError> {
    let path = data_dir.join(FILE);
    let old = data_dir.join(format!("{FILE}.old"));
    if path.exists() {
        std::fs::rename(&path, &old).map_err(|source| HostKeyError::Write {
            path: old.display().to_string(),
            source,
        })?;
    }
    load_or_create(data_dir)
}

/// The host key in `data_dir`, made on first use.
pub fn load_or_create(data_dir: &Path) -> Result<PrivateKey, HostKeyError> {
    let path = data_dir.join(FILE);
    let shown = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => PrivateKey::from_openssh(&text).map_err(|e| HostKeyError::Damaged {
            path: shown,
            detail: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed = zeroize::Zeroizing::new(rand::random::<[u8; 32]>());
            let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
            let text = key
                .to_openssh(LineEnding::LF)
                .map_err(|e| HostKeyError::Damaged {
                    path: shown.clone(),
                    detail: e.to_string(),
                })?;
            let write = |source| HostKeyError::Write {
                path: shown.clone(),
                source,
            };
            // Created 0600 and whole: a partial key is never left for the next start.
            let partial = data_dir.join(format!(".{FILE}.partial"));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&partial)
                .map_err(write)?;
            f.write_all(text.as_bytes()).map_err(write)?;
            f.sync_all().map_err(write)?;
            std::fs::rename(&partial, &path).map_err(write)?;
            Ok(key)
        }
        Err(source) => Err(HostKeyError::Read {
            path: shown,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_key_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(super::FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = super::load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        let rotated = super::rotate(dir.path()).unwrap();
        assert_ne!(rotated.public_key(), first.public_key());
        let old = std::fs::read_to_string(dir.path().join(format!("{}.old", super::FILE))).unwrap();
        assert_eq!(
            russh::keys::PrivateKey::from_openssh(&old)
                .unwrap()
                .public_key(),
            first.public_key(),
            "the old key is kept"
        );
        std::fs::write(dir.path().join(super::FILE), "garbage").unwrap();
        let err = super::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("move it away"), "{err}");
    }
}
