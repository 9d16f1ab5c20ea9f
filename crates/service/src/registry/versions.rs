//! Package versions through the API: list, get, delete (softly) and restore. A container
//! version is a manifest; an npm version is a published version number (deleting it is
//! unpublishing it; its number is never used again).

use berth_domain::Login;
use berth_domain::package::PackageAction;
use berth_store::{PackageKind, VersionRecord};

use super::Registry;
use crate::error::found;
use crate::{Principal, Result, ServiceError};

impl Registry {
    /// A package's versions, newest first. Deleted ones (`deleted`) only for those who may delete.
    pub async fn package_versions(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
        deleted: bool,
    ) -> Result<Vec<VersionRecord>> {
        let action = if deleted {
            PackageAction::Delete
        } else {
            PackageAction::Read
        };
        let (_, package) = self.package_for(p, kind, owner, name, action).await?;
        Ok(match kind {
            PackageKind::Container => self.store.versions(package.id, deleted).await?,
            PackageKind::Npm => {
                self.store
                    .npm_version_records(package.id, deleted, None)
                    .await?
            }
        })
    }

    pub async fn package_version(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
        id: i64,
    ) -> Result<VersionRecord> {
        let (_, package) = self
            .package_for(p, kind, owner, name, PackageAction::Read)
            .await?;
        let found = match kind {
            PackageKind::Container => self.store.version(package.id, id).await?,
            PackageKind::Npm => self
                .store
                .npm_version_records(package.id, false, Some(id))
                .await?
                .pop(),
        };
        found
            .filter(|v| v.deleted_at.is_none())
            .ok_or(ServiceError::NotFound)
    }

    /// Deletes a version (`deleted`): a container version's manifest is no longer served and its
    /// tags are removed (blobs it alone referenced are then unreferenced, for collection); an npm
    /// version is unpublished. Or restores a deleted one (a container version with the tags it
    /// had, unless they point elsewhere now). Admins, with `delete:packages`, as GitHub's.
    pub async fn set_version_deleted(
        &self,
        p: &Principal,
        kind: PackageKind,
        owner: &Login,
        name: &str,
        id: i64,
        deleted: bool,
    ) -> Result<()> {
        let (_, package) = self
            .package_for(p, kind, owner, name, PackageAction::Delete)
            .await?;
        let now = self.now();
        found(match (kind, deleted) {
            (PackageKind::Container, true) => {
                self.store.soft_delete_version(package.id, id, now).await?
            }
            (PackageKind::Container, false) => {
                self.store.restore_version(package.id, id, now).await?
            }
            (PackageKind::Npm, true) => {
                let live = self
                    .store
                    .npm_version_records(package.id, false, Some(id))
                    .await?;
                match live.first() {
                    Some(v) => {
                        self.store
                            .unpublish_npm_version(package.id, &v.name, now)
                            .await?
                    }
                    None => false,
                }
            }
            (PackageKind::Npm, false) => self.store.restore_npm_version(package.id, id).await?,
        })
    }
}
