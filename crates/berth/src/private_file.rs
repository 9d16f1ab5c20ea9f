//! Writing files that hold secrets (keys, tokens, saved logins): mode 0600 from the first byte,
//! written to a temporary name and synced before being put in place, so a crash never leaves a
//! half-written file under the real name.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;

/// What to do when the file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Fail: the file must be created exactly once (keys, the bootstrap token).
    Keep,
    /// Replace it atomically (the CLI's saved login).
    Replace,
}

pub fn write(path: &Path, contents: &[u8], existing: Existing) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    let placed = match existing {
        Existing::Keep => std::fs::hard_link(&tmp, path),
        Existing::Replace => std::fs::rename(&tmp, path),
    };
    let _ = std::fs::remove_file(&tmp);
    placed.with_context(|| format!("cannot create {}", path.display()))
}
