//! An environment's creation log: one timestamped line per step of each start, appended to a
//! file in the environment's directory, read (and followed) through the API.
//!
//! Lines name steps, hosts, prefixes and digests; callers never pass a secret value here.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Appends lines to one environment's log. Writing is best effort: a log that cannot be written
/// is reported in the server's log and does not fail the environment.
#[derive(Debug, Clone)]
pub struct CreationLog {
    path: PathBuf,
}

impl CreationLog {
    pub fn open(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    pub fn line(&self, text: &str) {
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let stamp = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut entry = String::new();
        for l in text.lines() {
            entry.push_str(&format!("{stamp} {l}\n"));
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(entry.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write an environment's creation log");
        }
    }
}
