//! Reading and deleting blobs: GET and HEAD with `Range`, DELETE.

use berth_blob::ByteStream;
use berth_domain::oci::{Digest, RepositoryName};
use berth_domain::package::PackageAction;

use super::Registry;
use super::{RegistryCaller, RegistryError, RegistryResult, blob_path};

/// A `Range: bytes=…` request, as parsed by the edge (one range; RFC 9110 §14.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=START-`
    From(u64),
    /// `bytes=START-END` (inclusive)
    FromTo(u64, u64),
    /// `bytes=-N`: the last N bytes
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive byte span to serve from a blob of `size` bytes, or `None` when the range
    /// cannot be satisfied.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        if size == 0 {
            return None;
        }
        match self {
            Self::From(s) if s < size => Some((s, size - 1)),
            Self::FromTo(s, e) if s <= e && s < size => Some((s, e.min(size - 1))),
            Self::Suffix(n) if n > 0 => Some((size - n.min(size), size - 1)),
            _ => None,
        }
    }
}

/// A blob on its way out.
pub struct BlobBody {
    pub digest: Digest,
    /// The whole blob's size.
    pub size: u64,
    /// The inclusive span served, when a range was asked for.
    pub span: Option<(u64, u64)>,
    /// The bytes; `None` for HEAD, or when the client is sent to `redirect`.
    pub body: Option<ByteStream>,
    /// A pre-signed URL of blob storage that serves the whole blob (`--blob-redirect`): a
    /// credential for a while, so it is never logged or shown by `Debug`.
    pub redirect: Option<String>,
}

impl std::fmt::Debug for BlobBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobBody")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// GET/HEAD `/v2/<name>/blobs/<digest>`.
    pub async fn get_blob(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        digest: &str,
        range: Option<ByteRange>,
        head: bool,
    ) -> RegistryResult<BlobBody> {
        let digest =
            Digest::parse(digest).map_err(|e| RegistryError::DigestInvalid(e.to_string()))?;
        let target = self
            .authorize_package(caller, name, PackageAction::Read)
            .await?;
        let package = target.package()?;
        let size = self
            .store
            .package_blob_size(package.id, &digest)
            .await?
            .ok_or(RegistryError::BlobUnknown)?;
        let span = match range {
            Some(r) => Some(
                r.resolve(size)
                    .ok_or(RegistryError::RangeNotSatisfiable { size })?,
            ),
            None => None,
        };
        // A whole blob may be read from blob storage directly (a ranged read, a resume, is served
        // here: few, and small).
        if !head
            && range.is_none()
            && let Some(url) = self.blobs.presigned_read(&blob_path(&digest)).await?
        {
            return Ok(BlobBody {
                digest,
                size,
                span: None,
                body: None,
                redirect: Some(url),
            });
        }
        let body = if head {
            None
        } else {
            let (offset, len) = span.map_or((0, None), |(s, e)| (s, Some(e - s + 1)));
            Some(self.blobs.read(&blob_path(&digest), offset, len).await?)
        };
        Ok(BlobBody {
            digest,
            size,
            span,
            body,
            redirect: None,
        })
    }

    /// DELETE `/v2/<name>/blobs/<digest>`: unlinks the blob from the repository. The bytes stay
    /// while other repositories link them.
    pub async fn delete_blob(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        digest: &str,
    ) -> RegistryResult<()> {
        let digest =
            Digest::parse(digest).map_err(|e| RegistryError::DigestInvalid(e.to_string()))?;
        let target = self
            .authorize_package(caller, name, PackageAction::Delete)
            .await?;
        if !self
            .store
            .unlink_blob(target.package()?.id, &digest)
            .await?
        {
            return Err(RegistryError::BlobUnknown);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange::*;

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(From(0).resolve(10), Some((0, 9)));
        assert_eq!(From(9).resolve(10), Some((9, 9)));
        assert_eq!(From(10).resolve(10), None);
        assert_eq!(FromTo(2, 4).resolve(10), Some((2, 4)));
        assert_eq!(
            FromTo(2, 400).resolve(10),
            Some((2, 9)),
            "an end past the blob is cut"
        );
        assert_eq!(FromTo(5, 4).resolve(10), None);
        assert_eq!(FromTo(10, 12).resolve(10), None);
        assert_eq!(Suffix(3).resolve(10), Some((7, 9)));
        assert_eq!(Suffix(30).resolve(10), Some((0, 9)));
        assert_eq!(Suffix(0).resolve(10), None);
        assert_eq!(
            From(0).resolve(0),
            None,
            "nothing in an empty blob can be served as a range"
        );
    }
}
