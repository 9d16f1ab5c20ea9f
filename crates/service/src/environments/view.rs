//! Environments as callers see them: with their owner and repository, reached only by those
//! who may.

use std::collections::HashMap;

use berth_domain::Scope;
use berth_domain::codespace::CodespaceState;
use berth_domain::isolation::MachineType;
use berth_store::{Account, CodespaceRecord, Repo};

use super::Environments;
use crate::authz::Access;
use crate::{Principal, Result, ServiceError};

/// An environment with its owner and repository, for rendering.
#[derive(Debug, Clone)]
pub struct CodespaceView {
    pub record: CodespaceRecord,
    pub owner: Account,
    pub repo: Repo,
    /// Its machine type, when the server still offers it.
    pub machine: Option<MachineType>,
}

impl Environments {
    pub(super) async fn view(&self, record: CodespaceRecord) -> Result<CodespaceView> {
        let owner = self
            .store
            .account_by_id(record.owner_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.view_of(record, owner, &mut HashMap::new()).await
    }

    /// `record` as a view, its owner given, its repository looked up once per `repos` (a
    /// listing shares one among all its environments).
    pub(super) async fn view_of(
        &self,
        record: CodespaceRecord,
        owner: Account,
        repos: &mut HashMap<i64, Repo>,
    ) -> Result<CodespaceView> {
        let repo = match repos.get(&record.repo_id) {
            Some(repo) => repo.clone(),
            None => {
                let (repo, _) = self
                    .store
                    .repo_by_id(record.repo_id, Some(owner.id))
                    .await?
                    .ok_or(ServiceError::NotFound)?;
                repos.insert(record.repo_id, repo.clone());
                repo
            }
        };
        let machine = self
            .state
            .as_ref()
            .and_then(|e| e.config.machine(Some(&record.machine)).cloned());
        Ok(CodespaceView {
            record,
            owner,
            repo,
            machine,
        })
    }

    /// The environment `name`, if the caller may reach it.
    pub(super) async fn codespace_for(&self, p: &Principal, name: &str) -> Result<CodespaceView> {
        self.authz.check(p, Access::Scope(Scope::Codespace)).await?;
        let record = self
            .store
            .codespace_by_name(name)
            .await?
            .filter(|c| c.state != CodespaceState::Deleted)
            .ok_or(ServiceError::NotFound)?;
        self.authz
            .check(
                p,
                Access::CodespaceOwner {
                    owner_id: record.owner_id,
                },
            )
            .await?;
        self.view(record).await
    }
}
