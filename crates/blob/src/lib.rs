//! Blob storage drivers: dumb stores of byte objects under `/`-separated relative paths.
//!
//! A driver knows nothing of digests, repositories or uploads; all registry meaning lives above
//! it (the `distribution` design). Every driver runs the same suite ([`testing::run_suite`]).
//!
//! **Architecture Invariant:** an object becomes visible under its final path only through
//! [`BlobDriver::commit`], which is atomic: a reader sees the whole object or none of it.
//! **Architecture Invariant:** data streams through; no driver call holds a whole object in memory.

mod fs;
mod s3;
pub mod testing;

use std::fmt::Debug;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

pub use fs::FsDriver;
pub use s3::{DEFAULT_PART_SIZE, S3Driver, S3Location, S3Settings};

/// A stream of chunks, as bodies arrive and are served.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no object at {0}")]
    NotFound(String),
    #[error("invalid object path {0:?}")]
    BadPath(String),
    #[error("storage I/O on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The incoming stream failed (e.g. the client went away); nothing was committed.
    #[error("reading the incoming data failed: {0}")]
    Incoming(std::io::Error),
}

pub type Result<T, E = BlobError> = std::result::Result<T, E>;

/// A path-keyed object store.
#[async_trait::async_trait]
pub trait BlobDriver: Send + Sync + Debug {
    /// Appends `data` to the object at `path`, creating it when missing, and returns its new
    /// size. Used for uploads in progress, which are never read by clients.
    async fn append(&self, path: &str, data: ByteStream) -> Result<u64>;

    /// The size of the object, or `None` when there is none.
    async fn size(&self, path: &str) -> Result<Option<u64>>;

    /// Streams `len` bytes (to the end when `None`) from `offset`.
    async fn read(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream>;

    /// Makes the object at `from` durable and moves it to `to` atomically. When `to` already
    /// exists it is kept (paths are content-addressed, so it holds the same bytes) and `from`
    /// is removed. A missing `from` is [`BlobError::NotFound`].
    async fn commit(&self, from: &str, to: &str) -> Result<()>;

    /// Removes the object; removing a missing object succeeds.
    async fn delete(&self, path: &str) -> Result<()>;

    /// The paths under `prefix` (a folder: `uploads`) last written more than `older_than` ago,
    /// including what a driver keeps for an object being appended to (S3's parts, named below
    /// the object's path): what collection looks through for leftovers no record names.
    async fn list_older(&self, prefix: &str, older_than: Duration) -> Result<Vec<String>>;

    /// A URL that reads the whole object without credentials for a while, when the driver is set
    /// to hand them out (S3's pre-signed URLs, `--blob-redirect`); `None` otherwise, and the
    /// caller serves the bytes itself.
    async fn presigned_read(&self, _path: &str) -> Result<Option<String>> {
        Ok(None)
    }

    /// Removes what writes left unfinished in the store's own bookkeeping and older than
    /// `older_than` (S3's incomplete multipart uploads, invisible but kept and billed until
    /// aborted: a server killed in the middle of a write leaves one); how many. With `dry_run`,
    /// only counts them. Nothing, for stores that keep no such thing.
    async fn abort_unfinished(&self, _older_than: Duration, _dry_run: bool) -> Result<u64> {
        Ok(0)
    }
}

/// Refuses paths that could leave the store's root: empty, absolute, or with `.`/`..` segments.
pub fn check_path(path: &str) -> Result<()> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.contains('\0'));
    if ok {
        Ok(())
    } else {
        Err(BlobError::BadPath(path.to_owned()))
    }
}
