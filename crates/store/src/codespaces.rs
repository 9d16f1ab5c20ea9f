//! Development environments' records: who made one for which repository, with what, and the
//! state it is in.

use berth_domain::codespace::CodespaceState;

use crate::binds::Bind;
use crate::columns::Column;
use crate::{Listing, Result, Store, Window, conflict_as};

/// A stored environment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodespaceRecord {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    pub repo_id: i64,
    pub display_name: String,
    /// The branch asked for (`None`: the repository's default).
    pub git_ref: Option<String>,
    /// The image asked for at creation, over the dev container's.
    pub image: Option<String>,
    /// The dev container configuration chosen at creation (`None`: the repository's default).
    pub devcontainer_path: Option<String>,
    pub runtime: String,
    #[sqlx(try_from = "Column<CodespaceState>")]
    pub state: CodespaceState,
    /// Why it is `Failed`.
    pub state_reason: Option<String>,
    /// The first start has cloned the workspace and run `postCreateCommand`.
    #[sqlx(try_from = "Column<bool>")]
    pub initialized: bool,
    /// Its machine type's name.
    pub machine: String,
    /// The first host id its user namespace maps to (`None` until one is given).
    #[sqlx(try_from = "Column<Option<u32>>")]
    pub uid_base: Option<u32>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: i64,
    /// The id of the replica that runs it (`""`: one made before replicas were recorded, until
    /// a server takes it).
    pub replica: String,
}

/// Where a replica is reached.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReplicaRecord {
    /// Its base URL (`""`: none given).
    pub address: String,
    /// Its SSH gateway's `host:port` (`""`: none).
    pub ssh_address: String,
}

/// A new environment's record.
#[derive(Debug, Clone)]
pub struct NewCodespace<'a> {
    pub name: &'a str,
    pub owner_id: i64,
    pub repo_id: i64,
    pub display_name: &'a str,
    pub git_ref: Option<&'a str>,
    pub image: Option<&'a str>,
    pub devcontainer_path: Option<&'a str>,
    pub runtime: &'a str,
    pub machine: &'a str,
    pub uid_base: u32,
    /// The replica that runs it.
    pub replica: &'a str,
}

const COLUMNS: &str = "id, name, owner_id, repo_id, display_name, git_ref, image, devcontainer_path, runtime, state, state_reason, initialized, machine, uid_base, created_at, updated_at, last_used_at, replica";

impl Store {
    /// Records a new environment, `Queued`.
    pub async fn insert_codespace(
        &self,
        new: &NewCodespace<'_>,
        now: i64,
    ) -> Result<CodespaceRecord> {
        sqlx::query_as(&format!(
            "INSERT INTO codespaces (name, owner_id, repo_id, display_name, git_ref, image, runtime, state, machine, uid_base, created_at, updated_at, last_used_at, devcontainer_path, replica) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $11, $9, $9, $9, $12, $13) RETURNING {COLUMNS}"
        ))
        .binds((new.name, new.owner_id, new.repo_id, new.display_name, new.git_ref, new.image, new.runtime, CodespaceState::Queued.as_str(), now, new.machine, i64::from(new.uid_base), new.devcontainer_path, new.replica))
        .fetch_one(&self.writer)
        .await
        .map_err(conflict_as("codespace"))
    }

    pub async fn codespace_by_name(&self, name: &str) -> Result<Option<CodespaceRecord>> {
        self.row_where(("codespaces", COLUMNS), "name", name.to_owned())
            .await
    }

    /// A user's environments, newest first, without deleted ones.
    pub async fn list_codespaces(
        &self,
        owner_id: i64,
        w: Window,
    ) -> Result<Listing<CodespaceRecord>> {
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM codespaces WHERE owner_id = $1 AND state <> 'Deleted'",
        )
        .bind(owner_id)
        .fetch_one(&self.pool)
        .await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM codespaces WHERE owner_id = $1 AND state <> 'Deleted' ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        let items = self.rows(&sql, (owner_id, w.limit, w.offset)).await?;
        Ok(Listing { items, total })
    }

    /// The id ranges in use: every environment's first host id.
    pub async fn codespace_uid_bases(&self) -> Result<Vec<u32>> {
        let bases: Vec<i64> = self
            .column(
                "SELECT uid_base FROM codespaces WHERE uid_base IS NOT NULL",
                (),
            )
            .await?;
        Ok(bases
            .into_iter()
            .filter_map(|b| u32::try_from(b).ok())
            .collect())
    }

    /// Gives an environment made before id ranges its range; `Conflict` if another has it.
    pub async fn set_codespace_uid_base(&self, name: &str, base: u32) -> Result<()> {
        sqlx::query("UPDATE codespaces SET uid_base = $2 WHERE name = $1 AND uid_base IS NULL")
            .binds((name, i64::from(base)))
            .execute(&self.writer)
            .await
            .map_err(conflict_as("codespace"))?;
        Ok(())
    }

    /// The names of a repository's environments (whoever owns them), oldest first.
    pub async fn codespaces_of_repo(&self, repo_id: i64) -> Result<Vec<String>> {
        self.column(
            "SELECT name FROM codespaces WHERE repo_id = $1 ORDER BY id",
            (repo_id,),
        )
        .await
    }

    /// The environments `replica` runs, in any state.
    pub async fn codespaces_of_replica(&self, replica: &str) -> Result<Vec<CodespaceRecord>> {
        self.rows(
            &format!("SELECT {COLUMNS} FROM codespaces WHERE replica = $1 ORDER BY id"),
            (replica,),
        )
        .await
    }

    /// The environments `replica` runs that are in one of `states` (at start-up, to settle what
    /// a restart interrupted).
    pub async fn codespaces_in_states(
        &self,
        replica: &str,
        states: &[CodespaceState],
    ) -> Result<Vec<CodespaceRecord>> {
        let all = self.codespaces_of_replica(replica).await?;
        Ok(all
            .into_iter()
            .filter(|c| states.contains(&c.state))
            .collect())
    }

    /// Moves an environment to `state` (with the reason for `Failed`), if it is in one of `from`
    /// (any state when `from` is empty). Returns whether it moved.
    pub async fn set_codespace_state(
        &self,
        name: &str,
        from: &[CodespaceState],
        state: CodespaceState,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let current = match self.codespace_by_name(name).await? {
            Some(c) => c.state,
            None => return Ok(false),
        };
        if !from.is_empty() && !from.contains(&current) {
            return Ok(false);
        }
        const SQL: &str = "UPDATE codespaces SET state = $2, state_reason = $3, updated_at = $4, \
                           last_used_at = $4 WHERE name = $1 AND state = $5";
        self.change(SQL, (name, state.as_str(), reason, now, current.as_str()))
            .await
    }

    pub async fn mark_codespace_initialized(&self, name: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE codespaces SET initialized = 1, updated_at = $2 WHERE name = $1")
            .binds((name, now))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Makes `replica` the one that runs every environment made before replicas were recorded.
    pub async fn adopt_unplaced_codespaces(&self, replica: &str) -> Result<u64> {
        Ok(
            sqlx::query("UPDATE codespaces SET replica = $1 WHERE replica = ''")
                .bind(replica)
                .execute(&self.writer)
                .await?
                .rows_affected(),
        )
    }

    /// Records that `replica` runs here, reached at `address` and its SSH gateway at
    /// `ssh_address` (`""`: nowhere others can forward to).
    pub async fn register_replica(
        &self,
        replica: &str,
        address: &str,
        ssh_address: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO replicas (id, address, ssh_address, seen_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
             ssh_address = excluded.ssh_address, seen_at = excluded.seen_at",
        )
        .binds((replica, address, ssh_address, now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Where `replica` is reached (`None`: no such replica; `""`: it gave no address).
    pub async fn replica(&self, replica: &str) -> Result<Option<ReplicaRecord>> {
        self.row_where(
            ("replicas", "address, ssh_address"),
            "id",
            replica.to_owned(),
        )
        .await
    }

    /// Forgets an environment (after its runtime state and files are gone).
    pub async fn delete_codespace(&self, name: &str) -> Result<bool> {
        self.delete_where("codespaces", "name", name.to_owned())
            .await
    }
}
