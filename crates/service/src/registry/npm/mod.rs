//! The npm registry (GitHub Packages' npm, SPEC §10) as services: packuments, tarballs, publish,
//! dist-tags, deprecation and unpublishing. Access is the container registry's: the package
//! `@OWNER/NAME` is the npm package `NAME` of the account `OWNER`, and every call goes through
//! [`Registry::npm_package`], which asks the domain's one `authorize` with the facts
//! [`Registry::package_principal`] gathers for containers too.
//!
//! A version's tarball is a blob (`blobs/<algorithm>/…`, shared with container layers) linked to
//! its package, so the storage backends and the collector cover it.

mod publish;
mod tarball;

use berth_blob::ByteStream;
use berth_domain::Login;
use berth_domain::npm::{DistTag, NpmPackageName, NpmVersion, StoredVersion, packument};
use berth_domain::package::{PackageAction, authorize};
use berth_store::{Account, Package, PackageKind};
use serde_json::{Map, Value};
use sha2::Digest as _;

use super::{Registry, RegistryError, blob_path};
use crate::clock::rfc3339;
use crate::{Principal, Result, ServiceError};

/// A packument ready to send, with its entity tag (a quoted hash of the bytes).
#[derive(Debug, Clone)]
pub struct NpmDocument {
    pub json: Vec<u8>,
    pub etag: String,
}

/// A version's tarball on its way out.
pub struct NpmTarball {
    pub size: u64,
    pub body: ByteStream,
}

impl std::fmt::Debug for NpmTarball {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpmTarball")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

fn store_error(e: RegistryError) -> ServiceError {
    match e {
        RegistryError::Store(s) => ServiceError::Store(s),
        RegistryError::Storage(s) => ServiceError::Storage(s),
        other => ServiceError::Internal(other.to_string()),
    }
}

fn verb(action: PackageAction) -> &'static str {
    match action {
        PackageAction::Read => "read",
        PackageAction::Write => "publish to",
        PackageAction::Delete => "unpublish",
        PackageAction::Admin => "administer",
    }
}

impl Registry {
    /// The npm package `name`, when `p` may do `action` to it; `None` only for `Write` where no
    /// package exists yet (publishing creates it). A package the caller may not read answers as a
    /// missing one (`NotFound`); an anonymous caller who needs credentials is `Unauthenticated`;
    /// a reader who may not act is `Forbidden`, told what they lack.
    pub(crate) async fn npm_package(
        &self,
        p: &Principal,
        name: &NpmPackageName,
        action: PackageAction,
    ) -> Result<(Account, Option<Package>)> {
        let owner = self.store.account_by_login(name.scope()).await?;
        let Some(owner) = owner else {
            return Err(match action {
                PackageAction::Read => ServiceError::NotFound,
                _ => ServiceError::Forbidden(format!(
                    "no user or organization is named {}: an npm package's scope is its owner's login",
                    name.scope()
                )),
            });
        };
        let package = self
            .store
            .package(owner.id, PackageKind::Npm, name.name())
            .await?;
        let (principal, facts) = self
            .package_principal(p, &owner, package.as_ref())
            .await
            .map_err(store_error)?;
        let exists = package.is_some();
        if authorize(&principal, facts, action) && (exists || action == PackageAction::Write) {
            return Ok((owner, package));
        }
        if matches!(p, Principal::Anonymous) && action != PackageAction::Read {
            return Err(ServiceError::Unauthenticated);
        }
        let readable = exists && authorize(&principal, facts, PackageAction::Read);
        if !readable && (exists || action == PackageAction::Read) {
            return Err(ServiceError::NotFound);
        }
        let need = match (exists, action) {
            (false, _) => format!(
                "packages in the @{scope} scope are published by {scope}, members of the organization {scope}, or tokens of its repositories",
                scope = name.scope()
            ),
            (true, PackageAction::Write) => {
                "you need the write role on it and a token with write:packages".to_owned()
            }
            (true, _) => {
                "you need the admin role on it and a token with delete:packages".to_owned()
            }
        };
        Err(ServiceError::Forbidden(format!(
            "you may not {} {name}: {need}",
            verb(action)
        )))
    }

    /// The package's full packument, or (`abbreviated`) the install form npm asks for with
    /// `Accept: application/vnd.npm.install-v1+json`. Tarball URLs start with `registry_url`
    /// (`<base>/npm`).
    pub async fn npm_packument(
        &self,
        p: &Principal,
        name: &NpmPackageName,
        abbreviated: bool,
        registry_url: &str,
    ) -> Result<NpmDocument> {
        let (_, package) = self.npm_package(p, name, PackageAction::Read).await?;
        let package = package.ok_or(ServiceError::NotFound)?;
        let records = self.store.npm_versions(package.id).await?;
        let mut parsed = Vec::with_capacity(records.len());
        for r in &records {
            let version = NpmVersion::parse(&r.version)
                .map_err(|e| ServiceError::Internal(format!("stored npm version: {e}")))?;
            let manifest: Map<String, Value> = serde_json::from_str(&r.manifest)
                .map_err(|e| ServiceError::Internal(format!("stored npm manifest: {e}")))?;
            parsed.push((version, manifest, rfc3339(r.created_at)));
        }
        let stored: Vec<StoredVersion<'_>> = records
            .iter()
            .zip(&parsed)
            .map(|(r, (version, manifest, published))| StoredVersion {
                tarball: format!("{registry_url}/{name}/-/{}", name.tarball(version)),
                version,
                manifest,
                integrity: &r.integrity,
                shasum: &r.shasum,
                published,
                deprecated: r.deprecated.as_deref(),
            })
            .collect();
        let tags: Vec<(DistTag, NpmVersion)> = self
            .store
            .npm_dist_tags(package.id)
            .await?
            .into_iter()
            .filter_map(|(t, v)| Some((DistTag::parse(&t).ok()?, NpmVersion::parse(&v).ok()?)))
            .collect();
        let modified = records
            .iter()
            .map(|r| r.created_at)
            .chain([package.updated_at])
            .max()
            .unwrap_or(package.updated_at);
        let created = rfc3339(package.created_at);
        let modified = rfc3339(modified);
        let mut doc = packument(name, &stored, &tags, (&created, &modified), abbreviated);
        let hash = hex::encode(sha2::Sha256::digest(doc.to_string().as_bytes()));
        if !abbreviated && let Value::Object(fields) = &mut doc {
            // The revision npm's unpublish and deprecate send back; Berth does not check it.
            fields.insert(
                "_rev".into(),
                Value::String(format!("{}-{}", records.len().max(1), &hash[..32])),
            );
        }
        let json = serde_json::to_vec(&doc)
            .map_err(|e| ServiceError::Internal(format!("packument: {e}")))?;
        Ok(NpmDocument {
            json,
            etag: format!("\"{}\"", &hash[..40]),
        })
    }

    /// A version's tarball by its file name (`NAME-VERSION.tgz`), streamed from storage.
    pub async fn npm_tarball(
        &self,
        p: &Principal,
        name: &NpmPackageName,
        file: &str,
    ) -> Result<NpmTarball> {
        let (_, package) = self.npm_package(p, name, PackageAction::Read).await?;
        let package = package.ok_or(ServiceError::NotFound)?;
        let version = file
            .strip_prefix(name.name())
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(".tgz"))
            .ok_or(ServiceError::NotFound)?;
        let record = self
            .store
            .npm_version(package.id, version)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let body = self
            .blobs
            .read(&blob_path(&record.tarball), 0, None)
            .await?;
        Ok(NpmTarball {
            size: record.size as u64,
            body,
        })
    }

    /// The package's dist-tags and the versions they name.
    pub async fn npm_dist_tags(
        &self,
        p: &Principal,
        name: &NpmPackageName,
    ) -> Result<Vec<(String, String)>> {
        let package = self.existing_npm(p, name, PackageAction::Read).await?;
        Ok(self.store.npm_dist_tags(package.id).await?)
    }

    /// Points `tag` at a published `version` (writers).
    pub async fn npm_set_dist_tag(
        &self,
        p: &Principal,
        name: &NpmPackageName,
        tag: &str,
        version: &str,
    ) -> Result<()> {
        let package = self.existing_npm(p, name, PackageAction::Write).await?;
        let invalid = |e: &dyn std::fmt::Display| {
            ServiceError::invalid("DistTag", "tag", "invalid", e.to_string())
        };
        let tag = DistTag::parse(tag).map_err(|e| invalid(&e))?;
        let version = NpmVersion::parse(version).map_err(|e| invalid(&e))?;
        if !self
            .store
            .set_npm_dist_tag(package.id, tag.as_str(), version.as_str(), self.now())
            .await?
        {
            return Err(ServiceError::invalid(
                "DistTag",
                "version",
                "invalid",
                format!("{name}@{version} is not published; publish it first"),
            ));
        }
        Ok(())
    }

    /// Removes a dist-tag (writers); `latest` stays, as npm's registry keeps it.
    pub async fn npm_remove_dist_tag(
        &self,
        p: &Principal,
        name: &NpmPackageName,
        tag: &str,
    ) -> Result<()> {
        let package = self.existing_npm(p, name, PackageAction::Write).await?;
        if tag == "latest" {
            return Err(ServiceError::invalid(
                "DistTag",
                "tag",
                "invalid",
                "the latest tag cannot be removed; point it at another version with npm dist-tag add",
            ));
        }
        crate::error::found(self.store.remove_npm_dist_tag(package.id, tag).await?)
    }

    /// Applies a packument sent back by npm's `deprecate` and `unpublish VERSION` (a `PUT` with no
    /// attachments): a version's `deprecated` message is set, changed or cleared (writers), and a
    /// published version the document leaves out is unpublished (admins, with `delete:packages`).
    /// Nothing else in the document is taken.
    async fn npm_update(&self, p: &Principal, name: &NpmPackageName, body: &[u8]) -> Result<()> {
        let invalid = |m: String| ServiceError::invalid("Package", "versions", "invalid", m);
        let doc: Map<String, Value> = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("the document is not JSON: {e}")))?;
        let sent = doc
            .get("versions")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("the document has no versions object".into()))?;
        let package = self.existing_npm(p, name, PackageAction::Write).await?;
        let live = self.store.npm_versions(package.id).await?;
        let dropped: Vec<&str> = live
            .iter()
            .map(|v| v.version.as_str())
            .filter(|v| !sent.contains_key(*v))
            .collect();
        if !dropped.is_empty() {
            self.existing_npm(p, name, PackageAction::Delete).await?;
        }
        for v in &live {
            let Some(manifest) = sent.get(&v.version) else {
                continue;
            };
            let message = manifest
                .get("deprecated")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty());
            if message != v.deprecated.as_deref() {
                self.store
                    .deprecate_npm_version(package.id, &v.version, message)
                    .await?;
                tracing::info!(package = %name, version = %v.version, deprecated = message.is_some(), "npm deprecation changed");
            }
        }
        for version in dropped {
            self.store
                .unpublish_npm_version(package.id, version, self.now())
                .await?;
            tracing::info!(package = %name, version, "unpublished npm version");
        }
        self.keep_latest(package.id).await
    }

    /// After an unpublish took the version `latest` named, `latest` names the highest release
    /// left (or the highest prerelease when no release is left), as npm's registry does.
    async fn keep_latest(&self, package_id: i64) -> Result<()> {
        let tags = self.store.npm_dist_tags(package_id).await?;
        if tags.iter().any(|(t, _)| t == "latest") {
            return Ok(());
        }
        let versions = self.store.npm_versions(package_id).await?;
        let best = versions
            .iter()
            .filter_map(|v| semver::Version::parse(&v.version).ok())
            .max_by_key(|v| (v.pre.is_empty(), v.clone()));
        if let Some(best) = best {
            self.store
                .set_npm_dist_tag(package_id, "latest", &best.to_string(), self.now())
                .await?;
        }
        Ok(())
    }

    /// Unpublishes one version by its tarball's file name (the last step of npm's `unpublish
    /// VERSION`, usually after [`Registry::npm_update`] already did it).
    pub async fn npm_unpublish_tarball(
        &self,
        p: &Principal,
        name: &NpmPackageName,
        file: &str,
    ) -> Result<()> {
        let package = self.existing_npm(p, name, PackageAction::Delete).await?;
        let version = file
            .strip_prefix(name.name())
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(".tgz"));
        if let Some(version) = version {
            self.store
                .unpublish_npm_version(package.id, version, self.now())
                .await?;
        }
        self.keep_latest(package.id).await
    }

    /// Unpublishes the whole package (`npm unpublish NAME --force`): admins, with
    /// `delete:packages`, as deleting a container package.
    pub async fn npm_unpublish_package(&self, p: &Principal, name: &NpmPackageName) -> Result<()> {
        let package = self.existing_npm(p, name, PackageAction::Delete).await?;
        self.store.delete_package(package.id).await?;
        tracing::info!(package = %name, "unpublished npm package");
        Ok(())
    }

    /// The owners whose npm packages `p` may read any of, by login: the scopes an environment's
    /// `.npmrc` points at Berth.
    pub async fn npm_readable_scopes(&self, p: &Principal) -> Result<Vec<Login>> {
        let mut scopes: Vec<Login> = Vec::new();
        let mut owner: Option<Account> = None;
        for package in self.store.packages_of_kind(PackageKind::Npm).await? {
            if owner.as_ref().map(|o| o.id) != Some(package.owner_id) {
                owner = self.store.account_by_id(package.owner_id).await?;
            }
            let Some(owner) = &owner else { continue };
            if scopes.contains(&owner.login) {
                continue;
            }
            let (principal, facts) = self
                .package_principal(p, owner, Some(&package))
                .await
                .map_err(store_error)?;
            if authorize(&principal, facts, PackageAction::Read) {
                scopes.push(owner.login.clone());
            }
        }
        Ok(scopes)
    }

    async fn existing_npm(
        &self,
        p: &Principal,
        name: &NpmPackageName,
        action: PackageAction,
    ) -> Result<Package> {
        self.npm_package(p, name, action)
            .await?
            .1
            .ok_or(ServiceError::NotFound)
    }
}
