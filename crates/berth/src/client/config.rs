//! Where `berth login` keeps the server and token: `$BERTH_CONFIG_DIR/config.json`, else
//! `<user config dir>/berth/config.json`, written 0600 in a 0700 directory.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::private_file::{self, Existing};

/// The saved login; `Debug` shows no token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Saved {
    pub server: String,
    #[serde(serialize_with = "exposed")]
    pub token: SecretString,
}

/// The token as it is written to the (private) file.
fn exposed<S: serde::Serializer>(token: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(token.expose_secret())
}

pub fn dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("BERTH_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    dirs::config_dir()
        .map(|d| d.join("berth"))
        .context("cannot find a configuration directory; set BERTH_CONFIG_DIR or HOME")
}

pub fn load() -> anyhow::Result<Option<Saved>> {
    let path = dir()?.join("config.json");
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!("{} is damaged; run `berth login` again", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn save(saved: &Saved) -> anyhow::Result<PathBuf> {
    let dir = dir()?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("config.json");
    private_file::write(&path, &serde_json::to_vec_pretty(saved)?, Existing::Replace)?;
    Ok(path)
}

/// Removes the saved login; says where it was, or `None` when nothing was saved.
pub fn forget() -> anyhow::Result<Option<PathBuf>> {
    let path = dir()?.join("config.json");
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}
