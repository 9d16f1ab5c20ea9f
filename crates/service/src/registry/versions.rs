//! Package versions through the API: list, get, delete (softly) and restore.

use berth_domain::Login;
use berth_domain::package::PackageAction;
use berth_store::VersionRecord;

use super::Registry;
use crate::error::found;
use crate::{Principal, Result, ServiceError};

impl Registry {
    /// A package's versions, newest first. Deleted ones (`deleted`) only for those who may delete.
    pub async fn package_versions(
        &self,
        p: &Principal,
        owner: &Login,
        name: &str,
        deleted: bool,
    ) -> Result<Vec<VersionRecord>> {
        let action = if deleted {
            PackageAction::Delete
        } else {
            PackageAction::Read
        };
        let (_, package) = self.package_for(p, owner, name, action).await?;
        Ok(self.store.versions(package.id, deleted).await?)
    }

    pub async fn package_version(
        &self,
        p: &Principal,
        owner: &Login,
        name: &str,
        id: i64,
    ) -> Result<VersionRecord> {
        let (_, package) = self
            .package_for(p, owner, name, PackageAction::Read)
            .await?;
        self.store
            .version(package.id, id)
            .await?
            .filter(|v| v.deleted_at.is_none())
            .ok_or(ServiceError::NotFound)
    }

    /// Deletes a version (`deleted`): its manifest is no longer served and its tags are removed
    /// (blobs it alone referenced are then unreferenced, for collection); or restores a deleted
    /// one with the tags it had (unless they point elsewhere now). Admins, with
    /// `delete:packages`, as GitHub's.
    pub async fn set_version_deleted(
        &self,
        p: &Principal,
        owner: &Login,
        name: &str,
        id: i64,
        deleted: bool,
    ) -> Result<()> {
        let (_, package) = self
            .package_for(p, owner, name, PackageAction::Delete)
            .await?;
        let now = self.now();
        found(if deleted {
            self.store.soft_delete_version(package.id, id, now).await?
        } else {
            self.store.restore_version(package.id, id, now).await?
        })
    }
}
