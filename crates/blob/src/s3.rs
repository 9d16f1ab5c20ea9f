//! The S3 driver: objects in a bucket of any S3-compatible store (AWS S3, SeaweedFS, MinIO…),
//! through the `object_store` crate, under an optional key prefix.
//!
//! S3 has no append, so an object being appended to (an upload in progress) is kept as parts:
//! each `append` writes one object `<path>/_parts/<offset>` holding the bytes from that offset
//! (20 zero-padded digits, so names sort as offsets do). Its size is what the parts add up to, and
//! any process that reaches the bucket can continue it. `commit` copies a whole object, or one in a
//! single part (an upload sent in one request), to its final key server-side, and otherwise writes
//! the parts there as one multipart upload; S3 shows either only once complete. Then the source
//! goes. An object written whole (by `commit`) is a plain key.
//!
//! Memory stays bounded: an append sends parts of `part_size` bytes (S3's multipart rules: at
//! least 5 MiB but the last) with at most [`PARTS_IN_FLIGHT`] in flight; reads stream.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpRequestBody, ReqwestConnector,
};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use secrecy::{ExposeSecret, SecretString};
use time::format_description::well_known::Rfc3339;

use crate::{BlobDriver, BlobError, ByteStream, Result, check_path};

/// The default size of the parts an append or a commit sends.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;
/// The smallest part size S3 accepts for any part but the last.
const MIN_PART_SIZE: usize = 5 << 20;
/// Parts uploading at once, per append or commit.
const PARTS_IN_FLIGHT: usize = 2;
/// The largest object S3 copies in one request.
const MAX_COPY: u64 = 5 << 30;
/// The folder under an object's path that holds its parts while it is appended to.
const PARTS: &str = "_parts";

/// How an object is kept.
enum Stored {
    /// One key, of this size.
    Whole(u64),
    /// Parts, in order: each one's key, first byte and size.
    Parts(Vec<(Path, u64, u64)>),
}

impl Stored {
    fn size(&self) -> u64 {
        match self {
            Self::Whole(size) => *size,
            Self::Parts(parts) => parts.last().map_or(0, |(_, offset, size)| offset + size),
        }
    }
}

/// What `write` does with what it received before its incoming data failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnFailure {
    /// Keeps it (an upload's chunk: the client resumes from there).
    Keep,
    /// Drops it (a blob being committed: it is whole or not at all).
    Abort,
}

/// Where a bucket is and how to reach it: `s3://bucket/prefix`, with the endpoint, region and
/// credentials from the usual AWS variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`; path-style
/// requests unless that says otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Key prefix, without leading or trailing `/` (empty: the bucket's root).
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket` or `s3://bucket/prefix`; what is wrong, in words, otherwise.
    pub fn parse(url: &str) -> std::result::Result<Self, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url:?} is not an s3://bucket/prefix address"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{url:?} names no bucket (s3://bucket/prefix)"));
        }
        let prefix = prefix.trim_matches('/').to_owned();
        if !prefix.is_empty() {
            check_path(&prefix).map_err(|_| format!("{url:?} has an invalid prefix {prefix:?}"))?;
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix,
        })
    }
}

/// What the server's config file says of the store, for what the AWS variables do not (they
/// win, as every variable wins over the file).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub virtual_hosted_style: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct S3Driver {
    store: Arc<dyn ObjectStore>,
    /// The bucket as S3's own API reaches it, for what `object_store` has no call for (listing
    /// and aborting incomplete multipart uploads); `None` for stores made without it.
    bucket: Option<Arc<RawBucket>>,
    /// The same store as a client that signs URLs, and how long the URLs it hands out for reads
    /// are valid, when reads are redirected to it.
    signer: Option<(Arc<AmazonS3>, Duration)>,
    prefix: String,
    part_size: usize,
}

impl S3Driver {
    /// A driver for `at`, configured from the environment's AWS variables, and for what they do
    /// not say from `fallback` (the server's config file); parts of `part_size` bytes (at least
    /// 5 MiB).
    pub fn open(
        at: &S3Location,
        part_size: usize,
        redirect: Option<Duration>,
        fallback: &S3Settings,
    ) -> std::result::Result<Self, String> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&at.bucket);
        let unset = |builder: &AmazonS3Builder, key| {
            builder
                .get_config_value(&key)
                .is_none_or(|v: String| v.is_empty())
        };
        let virtual_hosted = fallback.virtual_hosted_style.map(|v| v.to_string());
        let secret = fallback
            .secret_access_key
            .as_ref()
            .map(|k| k.expose_secret().to_owned());
        for (key, value) in [
            (AmazonS3ConfigKey::Region, &fallback.region),
            (AmazonS3ConfigKey::AccessKeyId, &fallback.access_key_id),
            (AmazonS3ConfigKey::SecretAccessKey, &secret),
            (
                AmazonS3ConfigKey::VirtualHostedStyleRequest,
                &virtual_hosted,
            ),
        ] {
            if let Some(value) = value
                && unset(&builder, key)
            {
                builder = builder.with_config(key, value);
            }
        }
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .or_else(|| fallback.endpoint.clone());
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        if unset(&builder, AmazonS3ConfigKey::Region) {
            builder = builder.with_region("us-east-1");
        }
        let config = |key| builder.get_config_value(&key).filter(|v| !v.is_empty());
        let region = config(AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".into());
        let virtual_hosted =
            config(AmazonS3ConfigKey::VirtualHostedStyleRequest).is_some_and(|v| v == "true");
        let url = match config(AmazonS3ConfigKey::Endpoint) {
            // object_store's rule: a virtual-hosted endpoint already names the bucket.
            Some(endpoint) if virtual_hosted => endpoint,
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), at.bucket),
            None => format!("https://{}.s3.{region}.amazonaws.com", at.bucket),
        };
        let http = ReqwestConnector::default()
            .connect(&ClientOptions::new().with_allow_http(url.starts_with("http://")))
            .map_err(|e| format!("cannot use the bucket {}: {e}", at.bucket))?;
        let store = Arc::new(
            builder
                .build()
                .map_err(|e| format!("cannot use the bucket {}: {e}", at.bucket))?,
        );
        let raw = RawBucket {
            s3: store.clone(),
            url,
            region,
            http,
        };
        Ok(Self {
            bucket: Some(Arc::new(raw)),
            ..Self::amazon(store, &at.prefix, part_size, redirect)
        })
    }

    /// A driver over an S3 client; with `redirect`, reads are handed out as pre-signed URLs
    /// valid that long ([`BlobDriver::presigned_read`]).
    pub fn amazon(
        store: Arc<AmazonS3>,
        prefix: &str,
        part_size: usize,
        redirect: Option<Duration>,
    ) -> Self {
        Self {
            signer: redirect.map(|valid_for| (store.clone(), valid_for)),
            ..Self::new(store, prefix, part_size)
        }
    }

    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, part_size: usize) -> Self {
        Self {
            store,
            bucket: None,
            signer: None,
            prefix: prefix.trim_matches('/').to_owned(),
            part_size: part_size.max(MIN_PART_SIZE),
        }
    }

    fn key(&self, path: &str) -> Result<Path> {
        check_path(path)?;
        Ok(if self.prefix.is_empty() {
            Path::from(path)
        } else {
            Path::from(format!("{}/{path}", self.prefix))
        })
    }

    /// The parts of the object at `key`, in order: each one's key, first byte and size. Each write names its part by its offset and
    /// a name of its own (`<offset>-<writer>`), so two writes at one offset (two servers taking
    /// the same chunk of one upload at once) never replace each other's bytes: they show as
    /// parts that overlap, and the object is refused, never read as a mix.
    async fn parts(&self, key: &Path) -> Result<Vec<(Path, u64, u64)>> {
        let folder = key.child(PARTS);
        let mut listed: Vec<_> = self
            .store
            .list(Some(&folder))
            .map_err(|e| store_error(key, e))
            .try_collect::<Vec<_>>()
            .await?;
        listed.sort_by(|a, b| a.location.cmp(&b.location));
        let mut parts: Vec<(Path, u64, u64)> = Vec::new();
        let mut marker = None;
        for meta in listed {
            let offset = meta
                .location
                .filename()
                .and_then(|n| n.split('-').next())
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| BlobError::Io {
                    path: meta.location.to_string(),
                    source: std::io::Error::other("a part whose name is not its offset"),
                })?;
            if meta.size == 0 {
                // An upload's first, empty marker: it holds nothing.
                marker = Some(meta.location);
                continue;
            }
            let end = parts.last().map_or(0, |(_, offset, size)| offset + size);
            if offset != end {
                return Err(BlobError::Io {
                    path: key.to_string(),
                    source: std::io::Error::other(format!(
                        "its parts overlap at byte {offset} (two writes of the same range at \
                         once): it cannot be trusted; start the upload again"
                    )),
                });
            }
            parts.push((meta.location, offset, meta.size));
        }
        match (parts.is_empty(), marker) {
            // Only the empty marker: an upload begun, holding nothing yet.
            (true, Some(marker)) => Ok(vec![(marker, 0, 0)]),
            _ => Ok(parts),
        }
    }

    /// How the object at `key` is kept, or `None` when there is none.
    async fn stored(&self, key: &Path) -> Result<Option<Stored>> {
        match self.store.head(key).await {
            Ok(meta) => return Ok(Some(Stored::Whole(meta.size))),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(key, e)),
        }
        let parts = self.parts(key).await?;
        Ok((!parts.is_empty()).then_some(Stored::Parts(parts)))
    }

    /// Streams bytes `from..to` of an object kept as `stored` at `key`.
    async fn read_stored(
        &self,
        key: &Path,
        stored: Stored,
        from: u64,
        to: u64,
    ) -> Result<ByteStream> {
        let parts = match stored {
            Stored::Whole(_) => return self.read_key(key, GetRange::Bounded(from..to)).await,
            Stored::Parts(parts) => parts,
        };
        // Parts that hold bytes of [from, to), each read from where the range starts in it.
        let mut pieces = Vec::new();
        for (part, start, part_size) in parts {
            let (a, b) = (from.max(start), to.min(start + part_size));
            if a < b {
                pieces.push((part, (a - start)..(b - start)));
            }
        }
        let this = self.clone();
        let stream = futures_util::stream::iter(pieces)
            .then(move |(part, range)| {
                let this = this.clone();
                async move { this.read_key(&part, GetRange::Bounded(range)).await }
            })
            .map_err(std::io::Error::other)
            .try_flatten();
        Ok(Box::pin(stream))
    }

    /// Writes `data` to `key` as a multipart upload, visible only once complete; when `data`
    /// fails, what came before it is kept or dropped as `on_failure` says, and the failure
    /// returned.
    async fn write(&self, key: &Path, mut data: ByteStream, on_failure: OnFailure) -> Result<u64> {
        let upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(|e| store_error(key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let mut written = 0u64;
        let mut failed = None;
        while let Some(chunk) = data.next().await {
            match chunk {
                Ok(chunk) => {
                    if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                        // The store refused a part: nothing of this write stays behind in it.
                        let _ = writer.abort().await;
                        return Err(store_error(key, e));
                    }
                    written += chunk.len() as u64;
                    writer.put(chunk);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            None => {
                writer.finish().await.map_err(|e| store_error(key, e))?;
                Ok(written)
            }
            Some(e) => {
                match on_failure {
                    OnFailure::Keep => writer.finish().await.map(drop),
                    OnFailure::Abort => writer.abort().await,
                }
                .map_err(|e| store_error(key, e))?;
                Err(BlobError::Incoming(e))
            }
        }
    }

    /// Deletes every part kept for `key`: the empty marker, and any that overlap, too.
    async fn delete_parts(&self, key: &Path) -> Result<()> {
        let parts: Vec<_> = self
            .store
            .list(Some(&key.child(PARTS)))
            .map_err(|e| store_error(key, e))
            .try_collect()
            .await?;
        for part in parts {
            self.delete_key(&part.location).await?;
        }
        Ok(())
    }

    async fn delete_key(&self, key: &Path) -> Result<()> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(key, e)),
        }
    }

    /// Streams `range` of one key.
    async fn read_key(&self, key: &Path, range: GetRange) -> Result<ByteStream> {
        let options = GetOptions {
            range: Some(range),
            ..GetOptions::default()
        };
        let got = self
            .store
            .get_opts(key, options)
            .await
            .map_err(|e| store_error(key, e))?;
        Ok(Box::pin(got.into_stream().map_err(std::io::Error::other)))
    }
}

fn store_error(key: &Path, e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound(key.to_string()),
        e => BlobError::Io {
            path: key.to_string(),
            source: std::io::Error::other(e),
        },
    }
}

#[async_trait::async_trait]
impl BlobDriver for S3Driver {
    async fn append(&self, path: &str, data: ByteStream) -> Result<u64> {
        let key = self.key(path)?;
        let stored = self.stored(&key).await?;
        let offset = stored.as_ref().map_or(0, Stored::size);
        let part = key
            .child(PARTS)
            .child(format!("{offset:020}-{}", writer_name()));
        let mut data = data.peekable();
        if std::pin::Pin::new(&mut data).peek().await.is_none() {
            // Nothing to add; an empty append still makes the object exist (an upload begun).
            if stored.is_none() {
                self.store
                    .put(&part, PutPayload::new())
                    .await
                    .map_err(|e| store_error(&part, e))?;
            }
            return Ok(offset);
        }
        Ok(offset + self.write(&part, Box::pin(data), OnFailure::Keep).await?)
    }

    async fn size(&self, path: &str) -> Result<Option<u64>> {
        Ok(self.stored(&self.key(path)?).await?.map(|s| s.size()))
    }

    async fn read(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        let key = self.key(path)?;
        let stored = self
            .stored(&key)
            .await?
            .ok_or_else(|| BlobError::NotFound(path.to_owned()))?;
        let end = len.map_or(stored.size(), |len| (offset + len).min(stored.size()));
        if offset >= end {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        self.read_stored(&key, stored, offset, end).await
    }

    async fn commit(&self, from: &str, to: &str) -> Result<()> {
        let (source, target) = (self.key(from)?, self.key(to)?);
        let stored = self
            .stored(&source)
            .await?
            .ok_or_else(|| BlobError::NotFound(from.to_owned()))?;
        if self.store.head(&target).await.is_err() {
            // Whole already, or in one part (an upload sent in one request, as docker and skopeo
            // send a layer): a server-side copy, which shows the target whole or not at all
            // (S3 copies up to 5 GiB in one request; larger objects are written again).
            let copied = match &stored {
                Stored::Whole(size) => Some((&source, *size)),
                Stored::Parts(parts) => match parts.as_slice() {
                    [(part, _, size)] => Some((part, *size)),
                    _ => None,
                },
            };
            match copied.filter(|(_, size)| *size <= MAX_COPY) {
                Some((whole, _)) => self
                    .store
                    .copy(whole, &target)
                    .await
                    .map_err(|e| store_error(whole, e))?,
                None => {
                    let size = stored.size();
                    let data = self.read_stored(&source, stored, 0, size).await?;
                    self.write(&target, data, OnFailure::Abort).await?;
                }
            }
        }
        self.delete_key(&source).await?;
        self.delete_parts(&source).await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let key = self.key(path)?;
        self.delete_key(&key).await?;
        self.delete_parts(&key).await
    }

    async fn presigned_read(&self, path: &str) -> Result<Option<String>> {
        let Some((signer, valid_for)) = &self.signer else {
            return Ok(None);
        };
        let key = self.key(path)?;
        let url = signer
            .signed_url(http::Method::GET, &key, *valid_for)
            .await
            .map_err(|e| store_error(&key, e))?;
        Ok(Some(url.to_string()))
    }

    async fn list_older(&self, prefix: &str, older_than: Duration) -> Result<Vec<String>> {
        let key = self.key(prefix)?;
        let cutoff = time::OffsetDateTime::now_utc() - older_than;
        let own = match self.prefix.as_str() {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let listed: Vec<_> = self
            .store
            .list(Some(&key))
            .map_err(|e| store_error(&key, e))
            .try_collect()
            .await?;
        let mut found: Vec<String> = listed
            .into_iter()
            .filter(|o| o.last_modified.timestamp() < cutoff.unix_timestamp())
            .filter_map(|o| {
                o.location
                    .as_ref()
                    .strip_prefix(own.as_str())
                    .map(str::to_owned)
            })
            .collect();
        found.sort();
        Ok(found)
    }

    async fn abort_unfinished(&self, older_than: Duration, dry_run: bool) -> Result<u64> {
        let Some(bucket) = &self.bucket else {
            return Ok(0);
        };
        let cutoff = time::OffsetDateTime::now_utc() - older_than;
        let prefix = match self.prefix.as_str() {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let mut aborted = 0;
        for (key, id, initiated) in bucket.multipart_uploads(&prefix).await? {
            let started = time::OffsetDateTime::parse(&initiated, &Rfc3339).ok();
            if started.is_some_and(|t| t < cutoff) {
                if !dry_run {
                    bucket.abort_multipart_upload(&key, &id).await?;
                }
                aborted += 1;
            }
        }
        Ok(aborted)
    }
}

/// A name no other write has: this process and a count, and the time (a restarted process
/// reuses its id).
fn writer_name() -> String {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}.{n:x}.{nanos:x}", std::process::id())
}

/// A bucket reached with S3's own API: signed requests (SigV4, `object_store`'s signer and
/// credentials) to its URL.
#[derive(Debug)]
struct RawBucket {
    s3: Arc<AmazonS3>,
    /// `https://endpoint/bucket` (path-style) or the virtual-hosted bucket URL.
    url: String,
    region: String,
    http: HttpClient,
}

impl RawBucket {
    /// Sends `method` to `url`, signed; its body when it succeeds.
    async fn send(&self, method: http::Method, url: &str) -> Result<bytes::Bytes> {
        let io = |what: &str, e: String| BlobError::Io {
            path: url.to_owned(),
            source: std::io::Error::other(format!("{what}: {e}")),
        };
        let credential = self
            .s3
            .credentials()
            .get_credential()
            .await
            .map_err(|e| io("credentials", e.to_string()))?;
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .body(HttpRequestBody::empty())
            .map_err(|e| io("request", e.to_string()))?;
        AwsAuthorizer::new(&credential, "s3", &self.region).authorize(&mut request, None);
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| io("request", e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .bytes()
            .await
            .map_err(|e| io("response", e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body).into_owned();
            return Err(io(&format!("answered {status}"), text));
        }
        Ok(body)
    }

    /// The incomplete multipart uploads of keys under `prefix`: (key, upload id, when begun).
    async fn multipart_uploads(&self, prefix: &str) -> Result<Vec<(String, String, String)>> {
        let mut found = Vec::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let mut url = format!("{}?uploads&prefix={}", self.url, encode(prefix));
            if let Some((key, id)) = &marker {
                url.push_str(&format!(
                    "&key-marker={}&upload-id-marker={}",
                    encode(key),
                    encode(id)
                ));
            }
            let body = self.send(http::Method::GET, &url).await?;
            let xml = String::from_utf8_lossy(&body);
            for upload in xml.split("<Upload>").skip(1) {
                if let (Some(key), Some(id), Some(at)) = (
                    element(upload, "Key"),
                    element(upload, "UploadId"),
                    element(upload, "Initiated"),
                ) {
                    found.push((key, id, at));
                }
            }
            marker = match (
                element(&xml, "IsTruncated").as_deref(),
                element(&xml, "NextKeyMarker"),
                element(&xml, "NextUploadIdMarker"),
            ) {
                (Some("true"), Some(key), Some(id)) => Some((key, id)),
                _ => return Ok(found),
            };
        }
    }

    async fn abort_multipart_upload(&self, key: &str, id: &str) -> Result<()> {
        let path: String = key.split('/').map(encode).collect::<Vec<_>>().join("/");
        let url = format!("{}/{path}?uploadId={}", self.url, encode(id));
        self.send(http::Method::DELETE, &url).await.map(drop)
    }
}

/// The text of the first `<name>` element in `xml`, its entities decoded.
fn element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// `s` percent-encoded as S3 wants it in a query value or a path segment (unreserved characters
/// kept).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    async fn all(mut s: ByteStream) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    #[test]
    fn locations_are_parsed_with_words_for_what_is_wrong() {
        assert_eq!(
            S3Location::parse("s3://berth/blobs/").unwrap(),
            S3Location {
                bucket: "berth".into(),
                prefix: "blobs".into()
            }
        );
        assert_eq!(S3Location::parse("s3://berth").unwrap().prefix, "");
        for (bad, words) in [
            ("http://x", "is not an s3://"),
            ("s3:///x", "names no bucket"),
            ("s3://b/a/../c", "invalid prefix"),
        ] {
            let e = S3Location::parse(bad).unwrap_err();
            assert!(e.contains(words), "{bad}: {e}");
        }
    }

    /// The shared suite against a real S3 server (SeaweedFS, which `scripts/test` starts) at
    /// `BERTH_TEST_S3_ENDPOINT`, in a bucket made for the run. Without one it fails, unless
    /// `BERTH_SKIP_S3=1` says to skip it knowingly (as every test needing a real service).
    #[tokio::test]
    async fn passes_the_suite_on_a_real_s3_server() {
        let endpoint = match std::env::var("BERTH_TEST_S3_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => endpoint,
            _ if std::env::var("BERTH_SKIP_S3").is_ok_and(|v| v == "1") => return,
            _ => panic!(
                "BERTH_TEST_S3_ENDPOINT is not set: run the tests with scripts/test, or set BERTH_SKIP_S3=1 to skip what needs it knowingly"
            ),
        };
        let bucket = format!("berth-suite-{}", std::process::id());
        let store = AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(&bucket)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap();
        make_bucket(&endpoint, &bucket).await;
        let store = Arc::new(store);
        let driver = S3Driver::amazon(
            store,
            "prefix/of/berth",
            MIN_PART_SIZE,
            Some(Duration::from_secs(60)),
        );
        crate::testing::run_suite(&driver).await;
        // A blob larger than a part goes as several, and comes back whole.
        let big: Vec<u8> = (0..(MIN_PART_SIZE * 2 + 12345))
            .map(|i| (i % 251) as u8)
            .collect();
        let chunks: Vec<std::io::Result<Bytes>> = big
            .chunks(1 << 20)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let half = chunks.len() / 2;
        let mut chunks = chunks.into_iter();
        let first: Vec<_> = chunks.by_ref().take(half).collect();
        driver
            .append("up/big", Box::pin(futures_util::stream::iter(first)))
            .await
            .unwrap();
        let rest: Vec<_> = chunks.collect();
        let size = driver
            .append("up/big", Box::pin(futures_util::stream::iter(rest)))
            .await
            .unwrap();
        assert_eq!(size, big.len() as u64);
        let middle = driver
            .read("up/big", 1_000_000, Some(6_000_000))
            .await
            .unwrap();
        assert_eq!(all(middle).await, big[1_000_000..7_000_000]);
        driver.commit("up/big", "blobs/big").await.unwrap();
        let whole = driver.read("blobs/big", 0, None).await.unwrap();
        assert_eq!(all(whole).await, big);
        assert_eq!(
            driver.size("up/big").await.unwrap(),
            None,
            "its parts are gone"
        );
        // A whole object moves by a server-side copy (as garbage collection moves blobs).
        driver.commit("blobs/big", "trash/big").await.unwrap();
        assert_eq!(driver.size("blobs/big").await.unwrap(), None);
        assert_eq!(
            all(driver.read("trash/big", 0, None).await.unwrap()).await,
            big
        );
        // Handed out as a pre-signed URL, it reads without credentials.
        let url = driver.presigned_read("trash/big").await.unwrap().unwrap();
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let got = reqwest::get(&url).await.unwrap();
        assert_eq!(got.status().as_u16(), 200);
        assert!(got.bytes().await.unwrap() == big);
    }

    /// Two writes of the same range at once (two servers taking one chunk of an upload) leave
    /// parts that overlap: the object is refused, never read or committed as a mix.
    #[tokio::test]
    async fn parts_that_overlap_are_refused() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let driver = S3Driver::new(store.clone(), "p", MIN_PART_SIZE);
        let chunk = |b: &'static [u8]| -> ByteStream {
            Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(b))]))
        };
        driver.append("up/x", chunk(b"")).await.unwrap();
        assert_eq!(driver.size("up/x").await.unwrap(), Some(0), "begun, empty");
        driver.append("up/x", chunk(b"abc")).await.unwrap();
        assert_eq!(driver.append("up/x", chunk(b"de")).await.unwrap(), 5);
        // The other server's write of bytes 3.. arrives too.
        let other = Path::from(format!("p/up/x/{PARTS}/{:020}-other", 3));
        store
            .put(&other, PutPayload::from_static(b"XY"))
            .await
            .unwrap();
        let e = driver.size("up/x").await.unwrap_err().to_string();
        assert!(e.contains("overlap at byte 3"), "{e}");
        assert!(driver.commit("up/x", "blobs/x").await.is_err());
        assert_eq!(
            driver.size("blobs/x").await.unwrap(),
            None,
            "nothing committed"
        );
        driver.delete("up/x").await.unwrap();
        assert_eq!(driver.size("up/x").await.unwrap(), None);
    }

    /// Makes `bucket` with a plain S3 `PUT /bucket` (SeaweedFS takes it unsigned).
    async fn make_bucket(endpoint: &str, bucket: &str) {
        let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
        let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        conn.write_all(
            format!("PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
}
