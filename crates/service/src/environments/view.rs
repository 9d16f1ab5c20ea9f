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

    /// The environment `name`, if the caller may reach it, wherever it runs.
    pub(super) async fn visible(&self, p: &Principal, name: &str) -> Result<CodespaceView> {
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

    /// The environment `name`, if the caller may reach it and it runs on this server (what its
    /// runtime, files and log are needed for). One another replica runs is refused, saying so:
    /// the HTTP edge forwards such requests before they get here ([`Environments::placement`]).
    pub(super) async fn codespace_for(&self, p: &Principal, name: &str) -> Result<CodespaceView> {
        let view = self.visible(p, name).await?;
        match self.placement_of(&view.record).await? {
            Placement::Here => Ok(view),
            // The address is the operators' (the forwarding replica logs it), not the caller's.
            Placement::Elsewhere { replica, .. } => Err(ServiceError::Conflict(format!(
                "codespace {name} runs on another server (replica {replica}); reach it through Berth's API, which forwards there (for SSH: `berth codespace ssh {name}`)"
            ))),
        }
    }

    /// Where the environment `name` is answered for, if the caller may reach it: here, or at
    /// the replica that runs it, where the HTTP edge forwards the request.
    pub async fn placement(&self, p: &Principal, name: &str) -> Result<Placement> {
        let view = self.visible(p, name).await?;
        self.placement_of(&view.record).await
    }

    /// Whether requests for `name` are answered here: this server runs it, or no environment
    /// has that name. Where a request goes, not who may make it: it says nothing to a caller
    /// (the HTTP edge uses it to skip the caller's checks on requests it answers anyway).
    pub async fn runs_here(&self, name: &str) -> Result<bool> {
        let Some(envs) = &self.state else {
            return Ok(true);
        };
        Ok(self
            .store
            .codespace_by_name(name)
            .await?
            .is_none_or(|c| c.replica.is_empty() || c.replica == envs.config.replica.id))
    }

    async fn placement_of(&self, record: &CodespaceRecord) -> Result<Placement> {
        let Some(envs) = &self.state else {
            return Ok(Placement::Here);
        };
        // One made before replicas were recorded is this server's until another takes it.
        if record.replica.is_empty() || record.replica == envs.config.replica.id {
            return Ok(Placement::Here);
        }
        match self.store.replica(&record.replica).await? {
            Some(r) if !r.address.is_empty() => Ok(Placement::Elsewhere {
                replica: record.replica.clone(),
                address: r.address,
                ssh_address: Some(r.ssh_address).filter(|a| !a.is_empty()),
            }),
            _ => Err(ServiceError::Conflict(format!(
                "codespace {} runs on replica {}, which gave no address to reach it at; start that server with --replica-address",
                record.name, record.replica
            ))),
        }
    }
}

/// Where an environment's requests are answered (SPEC §6: on the machine that runs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// On this server.
    Here,
    /// On another replica, reached at `address` (a base URL), its SSH gateway at `ssh_address`.
    Elsewhere {
        replica: String,
        address: String,
        ssh_address: Option<String>,
    },
}
