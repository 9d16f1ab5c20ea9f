//! The local filesystem driver: objects are files under a root directory.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;

use crate::{BlobDriver, BlobError, ByteStream, Result, check_path};

/// Chunks read from disk are this large: big enough that per-chunk overhead is noise, small
/// enough to keep memory flat under many concurrent downloads.
const READ_CHUNK: usize = 256 * 1024;
/// Chunks read ahead of the network per download.
const READ_QUEUE: usize = 4;
/// Queue depth between the receiving task and the writing thread.
const WRITE_QUEUE: usize = 16;

#[derive(Debug, Clone)]
pub struct FsDriver {
    root: PathBuf,
    /// fsync objects before they become visible (survives power loss, not just crashes).
    sync: bool,
}

impl FsDriver {
    pub fn new(root: impl Into<PathBuf>, sync: bool) -> Self {
        Self {
            root: root.into(),
            sync,
        }
    }

    fn full(&self, path: &str) -> Result<PathBuf> {
        check_path(path)?;
        Ok(self.root.join(path))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.display().to_string(),
        source,
    }
}

async fn ensure_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(io_err(parent))?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl BlobDriver for FsDriver {
    async fn append(&self, path: &str, mut data: ByteStream) -> Result<u64> {
        let full = self.full(path)?;
        ensure_parent(&full).await?;
        // Writes happen on one blocking thread fed through a bounded queue, so receiving the next
        // chunk from the network overlaps with writing the last one, and memory stays bounded.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
        let target = full.clone();
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&target)?;
            while let Some(chunk) = rx.blocking_recv() {
                f.write_all(&chunk)?;
            }
            f.flush()?;
            f.seek(SeekFrom::End(0))
        });
        let mut incoming_err = None;
        while let Some(chunk) = data.next().await {
            match chunk {
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) => {
                    if tx.send(bytes).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    incoming_err = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let size = writer
            .await
            .map_err(|e| BlobError::Io {
                path: path.into(),
                source: std::io::Error::other(e),
            })?
            .map_err(io_err(&full))?;
        match incoming_err {
            Some(e) => Err(BlobError::Incoming(e)),
            None => Ok(size),
        }
    }

    async fn size(&self, path: &str) -> Result<Option<u64>> {
        let full = self.full(path)?;
        match tokio::fs::metadata(&full).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&full)(e)),
        }
    }

    async fn read(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        let full = self.full(path)?;
        let mut f = match std::fs::File::open(&full) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(path.into()));
            }
            Err(e) => return Err(io_err(&full)(e)),
        };
        // One blocking thread per download reads ahead into a small bounded queue: disk reads
        // overlap with sending, without a blocking-pool hop per chunk, and memory stays bounded.
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(READ_QUEUE);
        tokio::task::spawn_blocking(move || {
            if offset > 0
                && let Err(e) = f.seek(SeekFrom::Start(offset))
            {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            let mut remaining = len.unwrap_or(u64::MAX);
            while remaining > 0 {
                let mut buf =
                    vec![0u8; READ_CHUNK.min(usize::try_from(remaining).unwrap_or(usize::MAX))];
                match f.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        remaining -= n as u64;
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            return; // the client went away
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        )))
    }

    async fn commit(&self, from: &str, to: &str) -> Result<()> {
        let (src, dst) = (self.full(from)?, self.full(to)?);
        ensure_parent(&dst).await?;
        let sync = self.sync;
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if sync {
                std::fs::File::open(&src)?.sync_data()?;
            }
            if dst.exists() {
                return std::fs::remove_file(&src);
            }
            std::fs::rename(&src, &dst)?;
            if sync && let Some(dir) = dst.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| BlobError::Io {
            path: to.into(),
            source: std::io::Error::other(e),
        })?
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => BlobError::NotFound(from.into()),
            _ => BlobError::Io {
                path: to.into(),
                source,
            },
        })
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let full = self.full(path)?;
        match tokio::fs::remove_file(&full).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&full)(e)),
        }
    }

    async fn list_older(&self, prefix: &str, older_than: Duration) -> Result<Vec<String>> {
        let top = self.full(prefix)?;
        let (root, cutoff) = (self.root.clone(), SystemTime::now() - older_than);
        let walk = move || -> std::io::Result<Vec<String>> {
            let mut found = Vec::new();
            let mut dirs = vec![top];
            while let Some(dir) = dirs.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    entries => entries?,
                };
                for entry in entries {
                    let entry = entry?;
                    let meta = entry.metadata()?;
                    if meta.is_dir() {
                        dirs.push(entry.path());
                    } else if meta.modified()? < cutoff
                        && let Ok(path) = entry.path().strip_prefix(&root)
                    {
                        found.push(path.to_string_lossy().into_owned());
                    }
                }
            }
            found.sort();
            Ok(found)
        };
        tokio::task::spawn_blocking(walk)
            .await
            .map_err(|e| io_err(&self.root)(std::io::Error::other(e)))?
            .map_err(io_err(&self.root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_filesystem_driver_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        crate::testing::run_suite(&FsDriver::new(dir.path(), true)).await;
        crate::testing::run_suite(&FsDriver::new(dir.path().join("nosync"), false)).await;
    }
}
