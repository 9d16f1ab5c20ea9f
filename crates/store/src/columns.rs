//! How a stored column becomes a domain value, once for every table.
//!
//! The schema keeps only `BIGINT` and `TEXT`, so a login, a visibility or a flag is stored as
//! text or a number and parsed on the way out. Each domain type says here which column type it
//! is stored as and how it is read back; record structs then derive `sqlx::FromRow` and name the
//! conversion on their field (`#[sqlx(try_from = "Column<Login>")]`), instead of each table
//! keeping a row struct of raw columns and a hand-written conversion.
//!
//! A value that no longer parses is [`crate::StoreError::Corrupt`], naming the column.

use berth_domain::codespace::CodespaceState;
use berth_domain::oci::Digest;
use berth_domain::secrets::{OrgSecretVisibility, SecretName};
use berth_domain::teams::{TeamPrivacy, TeamRole, TeamSlug};
use berth_domain::{AccountKind, Login, OrgRole, Permission, RepoName, Scopes, Visibility};
use sqlx::any::AnyTypeInfo;

use crate::TokenKind;
use sqlx::error::BoxDynError;
use sqlx::{Any, Decode, Type};

/// A column read as `T`: the type named in `#[sqlx(try_from = "Column<T>")]`.
pub(crate) struct Column<T>(T);

/// A domain type as stored: the column type it is kept as, and how it is read back (`None`: the
/// stored value is not a valid `Self`).
pub(crate) trait Stored: Sized {
    type As;
    fn read(stored: &Self::As) -> Option<Self>;
}

impl<'r, T> Decode<'r, Any> for Column<T>
where
    T: Stored,
    T::As: Decode<'r, Any> + std::fmt::Debug,
{
    fn decode(value: <Any as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let stored = T::As::decode(value)?;
        T::read(&stored).map(Column).ok_or_else(|| {
            let name = std::any::type_name::<T>().trim_end_matches('>');
            let what = name.rsplit("::").next().unwrap_or(name);
            format!("{stored:?} is not a valid {what}").into()
        })
    }
}

impl<T> Type<Any> for Column<T>
where
    T: Stored,
    T::As: Type<Any>,
{
    fn type_info() -> AnyTypeInfo {
        T::As::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        T::As::compatible(ty)
    }
}

/// A nullable column: `None` stays `None`; a value must parse.
fn nullable<T>(stored: &Option<String>, parse: fn(&str) -> Option<T>) -> Option<Option<T>> {
    match stored {
        None => Some(None),
        Some(s) => parse(s).map(Some),
    }
}

/// Declares how each type is stored: `Type: Column = |stored| read`, and the conversion
/// `sqlx`'s derive calls (one per type: the orphan rule allows no blanket one).
macro_rules! stored {
    ($($t:ty: $as:ty = $read:expr;)*) => {$(
        impl Stored for $t {
            type As = $as;
            fn read(stored: &$as) -> Option<Self> {
                let read: fn(&$as) -> Option<$t> = $read;
                read(stored)
            }
        }

        impl From<Column<$t>> for $t {
            fn from(c: Column<$t>) -> Self {
                c.0
            }
        }
    )*};
}

stored! {
    bool: i64 = |n| Some(*n != 0);
    Option<u32>: Option<i64> = |n| n.map(u32::try_from).transpose().ok();
    Login: String = |s| Login::parse(s).ok();
    RepoName: String = |s| RepoName::parse(s).ok();
    SecretName: String = |s| SecretName::parse(s).ok();
    TeamSlug: String = |s| TeamSlug::parse(s);
    Digest: String = |s| Digest::parse(s).ok();
    AccountKind: String = |s| AccountKind::parse(s);
    Visibility: String = |s| Visibility::parse(s);
    TeamPrivacy: String = |s| TeamPrivacy::parse(s);
    CodespaceState: String = |s| CodespaceState::parse(s);
    Scopes: String = |s| Scopes::parse(s.split(' ')).ok();
    TokenKind: String = |s| TokenKind::parse(s);
    Option<OrgSecretVisibility>: Option<String> = |s| nullable(s, OrgSecretVisibility::parse);
    Option<OrgRole>: Option<String> = |s| nullable(s, OrgRole::parse);
    Option<Permission>: Option<String> = |s| nullable(s, Permission::parse);
    Option<TeamRole>: Option<String> = |s| nullable(s, TeamRole::parse);
}
