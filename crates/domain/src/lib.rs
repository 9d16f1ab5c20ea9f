//! Berth's domain: the vocabulary every other crate speaks, and the decisions that need no I/O.
//!
//! **Architecture Invariant:** this crate does no I/O (no files, no network, no clock, no
//! randomness) and depends on no other Berth crate. Everything here is a value type that cannot
//! hold a bad value ("parse, don't validate") or a pure function over such values, table-tested.

/// What every validated name of text has: `as_str` and `Display`; with `parsed with E`, also
/// `key` (the case-folded form under which such names are unique) and the `String` conversions
/// serde uses (`TryFrom<String>` through the type's own `parse`).
macro_rules! text_name {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
    ($name:ident, parsed with $error:ty) => {
        text_name!($name);

        impl $name {
            /// The case-folded form under which these names are unique.
            pub fn key(&self) -> String {
                self.0.to_ascii_lowercase()
            }
        }

        impl TryFrom<String> for $name {
            type Error = $error;
            fn try_from(s: String) -> Result<Self, $error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }
    };
}

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
