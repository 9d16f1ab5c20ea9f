//! Berth's domain: the vocabulary every other crate speaks, and the decisions that need no I/O.
//!
//! **Architecture Invariant:** this crate does no I/O (no files, no network, no clock, no
//! randomness) and depends on no other Berth crate. Everything here is a value type that cannot
//! hold a bad value ("parse, don't validate") or a pure function over such values, table-tested.

pub mod access;
pub mod codespace;
pub mod devcontainer;
pub mod isolation;
pub mod logins;
pub mod manifest;
pub mod masking;
pub mod names;
pub mod npm;
pub mod oci;
pub mod package;
pub mod scope;
pub mod secrets;
pub mod ssh_keys;
pub mod teams;

pub use access::{Actor, OrgRole, Permission, RepoFacts, Visibility, repo_permission};
pub use names::{AccountKind, Login, NameError, RepoName};
pub use scope::{Scope, Scopes};
