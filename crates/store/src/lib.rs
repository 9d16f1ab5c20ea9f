//! Berth's metadata store: accounts, organizations, repositories, collaborators and tokens,
//! kept in SQLite (the embedded default) or PostgreSQL (for several replicas).
//!
//! One codebase serves both through sqlx's `Any` driver: every statement is written once with
//! `$N` placeholders, and columns are limited to `BIGINT` and `TEXT` (booleans 0/1, times in Unix
//! seconds) so no value changes type on the way through. The schema's migrations are written once
//! (`migrations/`, in SQLite's dialect; PostgreSQL's differ only in how a table numbers its own
//! ids), run at [`Store::connect`].
//!
//! **Architecture Invariant:** the store knows nothing of HTTP or of who may do what; it stores and
//! returns domain values. Callers pass `now` in, so the store never reads the clock.

mod accounts;
mod binds;
mod codespaces;
mod collect;
mod columns;
mod db;
mod grants;
mod npm;
mod registry;
mod repos;
mod roles;
mod secrets;
mod sessions;
mod ssh_keys;
mod teams;
pub mod testing;
mod tokens;
mod versions;

pub use accounts::Account;
pub use codespaces::{CodespaceRecord, NewCodespace, ReplicaRecord};
pub use collect::{CollectCutoffs, CollectPreview, DoomedBlob};
pub use db::{Backend, CLAIM_CHECK_INTERVAL, Claim, Lead, Store};
pub use grants::{Grants, RepoGrant};
pub use npm::{NewNpmVersion, NpmVersionRecord};
pub use registry::{
    ManifestPut, ManifestRecord, NewManifest, NewPackage, Package, PackageKind, PackageSource,
    Upload,
};
pub use repos::{Collaborator, Repo, RepoAccessFacts, RepoFields};
pub use secrets::{
    Envelope, EnvelopeTable, NewSecret, PutSecret, SecretAuditRecord, SecretKeyRecord,
    SecretRecord, SecretScope,
};
pub use sessions::{SignInFailures, WebSession};
pub use ssh_keys::{NewSshKey, SshKeyRecord};
pub use teams::{Team, TeamFields};
pub use tokens::{EnvironmentTokenRecord, NewToken, TokenKind, TokenRecord};
pub use versions::VersionRecord;

/// A window of a listing: `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: i64,
    pub offset: i64,
}

/// One page of a listing and the total number of rows it was cut from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub total: i64,
}

impl<T> Listing<T> {
    /// Cuts the window out of a whole list (for listings filtered or gathered in memory).
    pub fn page(all: Vec<T>, w: Window) -> Self {
        let total = all.len() as i64;
        let items = all
            .into_iter()
            .skip(usize::try_from(w.offset).unwrap_or(0))
            .take(usize::try_from(w.limit).unwrap_or(0))
            .collect();
        Listing { items, total }
    }
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. a login or repository name already taken).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A stored value no longer parses; the database was changed behind Berth's back.
    #[error("stored {what} is not valid: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("cannot open the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::ColumnDecode { index, source } => StoreError::Corrupt {
                what: index.trim_matches('"').to_owned(),
                detail: source.to_string(),
            },
            e => StoreError::Db(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Maps a unique-constraint violation to [`StoreError::Conflict`] naming `what`.
pub(crate) fn conflict_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Db(e),
    }
}

pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what: what.to_owned(),
        detail: detail.to_string(),
    }
}
