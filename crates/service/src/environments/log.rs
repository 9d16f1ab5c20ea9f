//! An environment's creation log: one timestamped line per step of each start, appended to a
//! file in the environment's directory, read (and followed) through the API. Each line written
//! is an event that followers of the log wake to.
//!
//! Lines name steps, hosts, prefixes and digests; callers never pass a secret value here.
//!
//! Following is the service's: [`Environments::follow_codespace_log`] sends what is in the file, then
//! each new piece as its event arrives, and ends when the environment settles (a change of state
//! is an event too) or the follower goes away. The HTTP layer only frames what it receives.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::Environments;
use crate::{Principal, Result};

/// Appends lines to one environment's log. Writing is best effort: a log that cannot be written
/// is reported in the server's log and does not fail the environment.
#[derive(Debug, Clone)]
pub struct CreationLog {
    path: PathBuf,
    events: Arc<tokio::sync::watch::Sender<u64>>,
}

impl CreationLog {
    pub(super) fn new(path: PathBuf, events: Arc<tokio::sync::watch::Sender<u64>>) -> Self {
        Self { path, events }
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
        self.events.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Environments {
    /// The creation log as it is now.
    pub async fn codespace_log(&self, p: &Principal, name: &str) -> Result<String> {
        self.codespace_for(p, name).await?;
        let path = self.state()?.paths(name).log();
        Ok(tokio::fs::read_to_string(&path).await.unwrap_or_default())
    }

    /// The creation log, then each piece written to it, until the environment settles (is no
    /// longer busy) or the receiver is dropped.
    pub async fn follow_codespace_log(
        &self,
        p: &Principal,
        name: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<Vec<u8>>> {
        self.codespace_for(p, name).await?;
        let envs = self.state()?.clone();
        let mut events = envs.events(name).subscribe();
        let path = envs.paths(name).log();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let (berth, name) = (self.clone(), name.to_owned());
        tokio::spawn(async move {
            let mut offset = 0u64;
            loop {
                // Seen before the state and the file are read: anything after wakes us again.
                events.borrow_and_update();
                let settled = !matches!(
                    berth.store.codespace_by_name(&name).await,
                    Ok(Some(c)) if c.state.is_busy()
                );
                let piece = read_from(&path, offset).await;
                if !piece.is_empty() {
                    offset += piece.len() as u64;
                    if tx.send(piece).await.is_err() {
                        return;
                    }
                }
                if settled {
                    return;
                }
                tokio::select! {
                    changed = events.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                }
            }
        });
        Ok(rx)
    }
}

/// What the file holds from `offset` on (nothing when it cannot be read).
async fn read_from(path: &std::path::Path, offset: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Ok(mut f) = tokio::fs::File::open(path).await
        && f.seek(std::io::SeekFrom::Start(offset)).await.is_ok()
    {
        let _ = f.read_to_end(&mut buf).await;
    }
    buf
}
