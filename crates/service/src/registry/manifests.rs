//! Manifests (PUT, GET, HEAD, DELETE by tag or digest), the tag list, and the referrers API.

use base64::Engine;
use berth_domain::manifest::{Descriptor, ManifestKind, parse_manifest, source_from_config};
use berth_domain::oci::{Algorithm, Digest, Reference, RepositoryName, Tag};
use berth_domain::package::PackageAction;
use bytes::Bytes;
use sha2::{Digest as _, Sha256, Sha512};

use super::Registry;
use super::{RegistryCaller, RegistryError, RegistryResult, Target};

/// The largest manifest accepted (distribution's limit).
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;
/// The most tags one page lists when the client does not say.
const DEFAULT_TAG_PAGE: i64 = 1000;

fn hash(algorithm: Algorithm, bytes: &[u8]) -> Digest {
    match algorithm {
        Algorithm::Sha256 => Digest::from_hash(algorithm, &Sha256::digest(bytes)),
        Algorithm::Sha512 => Digest::from_hash(algorithm, &Sha512::digest(bytes)),
    }
}

/// A manifest push as received.
#[derive(Debug, Clone)]
pub struct PutManifest<'a> {
    pub reference: &'a str,
    /// Extra tags to point at the manifest (the `?tag=` parameter of OCI v1.1).
    pub tags: Vec<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: Bytes,
}

/// What a manifest push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    pub digest: Digest,
    pub subject: Option<Digest>,
    /// Every tag now pointing at the manifest by this push.
    pub tags: Vec<String>,
}

/// A manifest on its way out.
#[derive(Debug, Clone)]
pub struct ManifestBody {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// The exact bytes pushed; `None` for HEAD.
    pub body: Option<Bytes>,
}

/// One page of tags, and the `last` for the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPage {
    pub tags: Vec<String>,
    pub next: Option<String>,
}

/// A manifest whose `subject` is the digest asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct Referrer {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    pub artifact_type: Option<String>,
    pub annotations: Option<serde_json::Value>,
}

fn parse_reference(s: &str) -> RegistryResult<Reference> {
    Reference::parse(s).map_err(|e| {
        if s.contains(':') {
            RegistryError::DigestInvalid(e.to_string())
        } else {
            RegistryError::ManifestInvalid(format!("{s:?} is not a valid tag"))
        }
    })
}

/// Embedded `data` must be the bytes the descriptor describes.
fn check_data(d: &Descriptor) -> RegistryResult<()> {
    let Some(data) = &d.data else { return Ok(()) };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| {
            RegistryError::ManifestInvalid(format!("the data of {} is not base64", d.digest))
        })?;
    if bytes.len() as u64 != d.size || hash(d.digest.algorithm(), &bytes) != d.digest {
        return Err(RegistryError::ManifestInvalid(format!(
            "the data of {} does not match its digest and size",
            d.digest
        )));
    }
    Ok(())
}

impl Registry {
    /// PUT `/v2/<name>/manifests/<reference>`. Returns the digest and the `subject`, if any.
    pub async fn put_manifest(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        put: PutManifest<'_>,
    ) -> RegistryResult<PutOutcome> {
        let reference = parse_reference(put.reference)?;
        let target = self
            .authorize_package(caller, name, PackageAction::Write)
            .await?;
        if put.body.len() > MAX_MANIFEST {
            return Err(RegistryError::SizeInvalid(format!(
                "the manifest is larger than {MAX_MANIFEST} bytes"
            )));
        }
        let manifest = parse_manifest(&put.body, put.content_type)
            .map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
        let text = std::str::from_utf8(&put.body)
            .map_err(|_| RegistryError::ManifestInvalid("the manifest is not UTF-8".into()))?;
        let digest = match &reference {
            Reference::Digest(want) => {
                let actual = hash(want.algorithm(), &put.body);
                if &actual != want {
                    return Err(RegistryError::DigestInvalid(format!(
                        "the manifest has digest {actual}, not {want}"
                    )));
                }
                actual
            }
            Reference::Tag(_) => hash(Algorithm::Sha256, &put.body),
        };
        for d in manifest
            .config
            .iter()
            .chain(&manifest.layers)
            .chain(&manifest.manifests)
        {
            check_data(d)?;
        }
        let package = self.package_for_push(caller, &target).await?;
        // Its blobs are checked when it is stored, in the same transaction (see
        // `Store::put_manifest`): a collection running meanwhile cannot take one from under it.
        if manifest.kind == ManifestKind::Index {
            for child in &manifest.manifests {
                if self
                    .store
                    .manifest(package.id, &child.digest)
                    .await?
                    .is_none()
                {
                    return Err(RegistryError::ManifestBlobUnknown(child.digest.clone()));
                }
            }
        }
        let annotations = (!manifest.annotations.is_empty())
            .then(|| serde_json::to_string(&manifest.annotations).unwrap_or_default());
        let refs: Vec<&Digest> = manifest
            .config
            .iter()
            .chain(&manifest.layers)
            .chain(&manifest.manifests)
            .map(|d| &d.digest)
            .collect();
        let record = berth_store::NewManifest {
            digest: &digest,
            media_type: &manifest.media_type,
            artifact_type: manifest.artifact_type.as_deref(),
            subject: manifest.subject.as_ref().map(|s| &s.digest),
            annotations: annotations.as_deref(),
            body: text,
            refs,
            blobs: manifest.required_blobs().map(|b| &b.digest).collect(),
        };
        let mut tags: Vec<&str> = Vec::new();
        if let Reference::Tag(t) = &reference {
            tags.push(t.as_str());
        }
        for t in &put.tags {
            if Tag::parse(t).is_none() {
                return Err(RegistryError::ManifestInvalid(format!(
                    "{t:?} is not a valid tag"
                )));
            }
            if !tags.contains(t) {
                tags.push(t);
            }
        }
        let stored = self
            .store
            .put_manifest(package.id, &record, &tags, self.now())
            .await?;
        if let berth_store::ManifestPut::BlobGone(blob) = stored {
            return Err(RegistryError::ManifestBlobUnknown(blob));
        }
        if package.source_repo_id.is_none()
            && let Some(config) = &manifest.config
        {
            self.link_from_label(caller, &target, &package, config)
                .await?;
        }
        Ok(PutOutcome {
            digest,
            subject: manifest.subject.map(|s| s.digest),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        })
    }

    /// Links an unlinked package to the repository its image config names in the
    /// `org.opencontainers.image.source` label, if that repository has the package's owner.
    /// Inheritance starts on only when the publisher is that repository's own token.
    async fn link_from_label(
        &self,
        caller: &RegistryCaller,
        target: &super::Target,
        package: &berth_store::Package,
        config: &Descriptor,
    ) -> RegistryResult<()> {
        const MAX_CONFIG: u64 = 1024 * 1024;
        if config.size > MAX_CONFIG {
            return Ok(());
        }
        let mut bytes = Vec::new();
        let mut stream = self
            .blobs
            .read(&super::blob_path(&config.digest), 0, Some(MAX_CONFIG))
            .await?;
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            bytes.extend_from_slice(&chunk.map_err(|source| berth_blob::BlobError::Io {
                path: config.digest.to_string(),
                source,
            })?);
        }
        let Some((owner, repo)) = source_from_config(&bytes) else {
            return Ok(());
        };
        if owner.key() != target.owner.login.key() {
            tracing::info!(package = %target.name, label_owner = %owner, "the source label names another owner; the package is not linked");
            return Ok(());
        }
        self.link_source(caller.repo_id(), &target.owner, package, &repo)
            .await
    }

    async fn manifest_digest(
        &self,
        package_id: i64,
        reference: &Reference,
    ) -> RegistryResult<Digest> {
        match reference {
            Reference::Digest(d) => Ok(d.clone()),
            Reference::Tag(t) => self
                .store
                .tag(package_id, t.as_str())
                .await?
                .ok_or(RegistryError::ManifestUnknown),
        }
    }

    /// GET/HEAD `/v2/<name>/manifests/<reference>`.
    pub async fn get_manifest(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        reference: &str,
        head: bool,
    ) -> RegistryResult<ManifestBody> {
        let reference = Reference::parse(reference).map_err(|e| {
            if reference.contains(':') {
                RegistryError::DigestInvalid(e.to_string())
            } else {
                RegistryError::ManifestUnknown
            }
        })?;
        let target = self
            .authorize_package(caller, name, PackageAction::Read)
            .await?;
        let package = target.package()?;
        let digest = self.manifest_digest(package.id, &reference).await?;
        let m = self
            .store
            .manifest(package.id, &digest)
            .await?
            .ok_or(RegistryError::ManifestUnknown)?;
        Ok(ManifestBody {
            digest,
            media_type: m.media_type,
            size: m.size as u64,
            body: (!head).then(|| Bytes::from(m.body)),
        })
    }

    /// DELETE `/v2/<name>/manifests/<reference>`: by digest, the manifest and its tags; by tag,
    /// the tag alone.
    pub async fn delete_manifest(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        reference: &str,
    ) -> RegistryResult<()> {
        let reference = parse_reference(reference)?;
        let target = self
            .authorize_package(caller, name, PackageAction::Delete)
            .await?;
        let package = target.package()?;
        let deleted = match &reference {
            Reference::Digest(d) => self.store.delete_manifest(package.id, d).await?,
            Reference::Tag(t) => self.store.delete_tag(package.id, t.as_str()).await?,
        };
        if !deleted {
            return Err(RegistryError::ManifestUnknown);
        }
        Ok(())
    }

    /// GET `/v2/<name>/tags/list?n=&last=`: tags in lexical order after `last`.
    pub async fn list_tags(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        n: Option<i64>,
        last: Option<&str>,
    ) -> RegistryResult<TagPage> {
        let target = self
            .authorize_package(caller, name, PackageAction::Read)
            .await?;
        let package = target.package()?;
        let limit = n.unwrap_or(DEFAULT_TAG_PAGE).max(0);
        if limit == 0 {
            return Ok(TagPage {
                tags: Vec::new(),
                next: None,
            });
        }
        let mut tags = self.store.tags(package.id, last, limit + 1).await?;
        let next = if tags.len() as i64 > limit {
            tags.truncate(limit as usize);
            tags.last().cloned()
        } else {
            None
        };
        Ok(TagPage { tags, next })
    }

    /// GET `/v2/<name>/referrers/<digest>?artifactType=`: the manifests whose subject is
    /// `digest`. An unknown subject, or repository, has no referrers (an empty list, not an
    /// error: the conformance suite asks before anything is pushed).
    pub async fn referrers(
        &self,
        caller: &RegistryCaller,
        name: &RepositoryName,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> RegistryResult<Vec<Referrer>> {
        let digest =
            Digest::parse(digest).map_err(|e| RegistryError::DigestInvalid(e.to_string()))?;
        // A repository the caller cannot read (missing or private alike) has no referrers for
        // them: the spec's answer for an unknown subject, and it tells the two cases apart no
        // more than NAME_UNKNOWN would. Anonymous callers are still asked to authenticate.
        let package = match self
            .authorize_package(caller, name, PackageAction::Read)
            .await
        {
            Ok(Target {
                package: Some(p), ..
            }) => p,
            Ok(_) | Err(RegistryError::NameUnknown) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let rows = self
            .store
            .referrers(package.id, &digest, artifact_type)
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| Referrer {
                media_type: m.media_type,
                digest: m.digest,
                size: m.size,
                artifact_type: m.artifact_type,
                annotations: m.annotations.and_then(|a| serde_json::from_str(&a).ok()),
            })
            .collect())
    }
}
