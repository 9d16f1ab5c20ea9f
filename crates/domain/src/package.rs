//! Who may pull, push and delete a package in the built-in registries: one pure function,
//! [`package_allows`].
//!
//! The rules here are the simple ownership model (GitHub Packages without repository links):
//! - public packages are pullable by everyone, anonymous included;
//! - internal packages are pullable by every member of the owning organization;
//! - the owning user, the owning organization's owners and the package's publisher may pull,
//!   push and delete;
//! - a package that does not exist yet may be created (pushed) by the owning user or any member
//!   of the owning organization;
//! - a site administrator acting with `site_admin` may do everything;
//! - each action also needs its token scope: `read:packages` to pull, `write:packages` to push,
//!   `delete:packages` to delete (anonymous pulls of public packages need none);
//! - repository tokens pull public packages only (repository links come with the next model).

use crate::access::{OrgRole, Visibility};
use crate::scope::{Scope, Scopes};

/// What a caller wants to do to a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageAction {
    Pull,
    Push,
    Delete,
}

impl PackageAction {
    pub const ALL: [PackageAction; 3] = [
        PackageAction::Pull,
        PackageAction::Push,
        PackageAction::Delete,
    ];

    /// The Docker token-spec word for the action.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    fn scope(self) -> Scope {
        match self {
            Self::Pull => Scope::ReadPackages,
            Self::Push => Scope::WritePackages,
            Self::Delete => Scope::DeletePackages,
        }
    }
}

/// What the decision needs to know about the package (or the place one would be created).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageFacts {
    /// `None` when no package exists at that name yet.
    pub visibility: Option<Visibility>,
}

/// The caller, with their relationship to the package's owner already looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageActor {
    Anonymous,
    User {
        /// The package's owner is this user.
        is_owner: bool,
        /// The user's role in the owning organization.
        org_role: Option<OrgRole>,
        /// The user published the package.
        is_publisher: bool,
        site_admin: bool,
        scopes: Scopes,
    },
    RepoToken,
}

/// Whether `actor` may do `action` to the package described by `facts`.
pub fn package_allows(actor: &PackageActor, facts: PackageFacts, action: PackageAction) -> bool {
    let public_pull = action == PackageAction::Pull && facts.visibility == Some(Visibility::Public);
    match *actor {
        PackageActor::Anonymous | PackageActor::RepoToken => public_pull,
        PackageActor::User {
            is_owner,
            org_role,
            is_publisher,
            site_admin,
            scopes,
        } => {
            if site_admin && scopes.has(Scope::SiteAdmin) {
                return true;
            }
            if public_pull {
                return true;
            }
            if !scopes.has(action.scope()) {
                return false;
            }
            let admin = is_owner
                || org_role == Some(OrgRole::Owner)
                || (is_publisher && facts.visibility.is_some());
            match (facts.visibility, action) {
                _ if admin => true,
                (None, PackageAction::Push) => org_role.is_some(),
                (Some(Visibility::Internal), PackageAction::Pull) => org_role.is_some(),
                _ => false,
            }
        }
    }
}

/// Whether `actor` administers the existing package (settings such as visibility): the owning
/// user, the owning org's owners, the publisher, or a site admin, with `write:packages`.
pub fn package_admin(actor: &PackageActor, facts: PackageFacts) -> bool {
    match *actor {
        PackageActor::Anonymous | PackageActor::RepoToken => false,
        PackageActor::User {
            is_owner,
            org_role,
            is_publisher,
            site_admin,
            scopes,
        } => {
            (site_admin && scopes.has(Scope::SiteAdmin))
                || (facts.visibility.is_some()
                    && scopes.has(Scope::WritePackages)
                    && (is_owner || org_role == Some(OrgRole::Owner) || is_publisher))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(w: &[&str]) -> Scopes {
        Scopes::parse(w.iter().copied()).unwrap()
    }

    #[test]
    fn table() {
        use PackageAction::*;
        let all = scopes(&["write:packages", "delete:packages"]);
        let user = |is_owner, org_role, is_publisher, sc| PackageActor::User {
            is_owner,
            org_role,
            is_publisher,
            site_admin: false,
            scopes: sc,
        };
        let public = PackageFacts {
            visibility: Some(Visibility::Public),
        };
        let private = PackageFacts {
            visibility: Some(Visibility::Private),
        };
        let internal = PackageFacts {
            visibility: Some(Visibility::Internal),
        };
        let missing = PackageFacts { visibility: None };
        let member = Some(OrgRole::Member);
        let rows: &[(PackageActor, PackageFacts, PackageAction, bool, &str)] = &[
            (
                PackageActor::Anonymous,
                public,
                Pull,
                true,
                "anyone pulls public",
            ),
            (
                PackageActor::Anonymous,
                public,
                Push,
                false,
                "anonymous never pushes",
            ),
            (
                PackageActor::Anonymous,
                private,
                Pull,
                false,
                "anonymous cannot pull private",
            ),
            (
                PackageActor::Anonymous,
                missing,
                Pull,
                false,
                "nothing to pull",
            ),
            (
                user(true, None, false, all),
                private,
                Pull,
                true,
                "owner pulls",
            ),
            (
                user(true, None, false, all),
                private,
                Delete,
                true,
                "owner deletes",
            ),
            (
                user(true, None, false, scopes(&["read:packages"])),
                private,
                Push,
                false,
                "read:packages cannot push",
            ),
            (
                user(true, None, false, scopes(&["repo"])),
                private,
                Pull,
                false,
                "no packages scope, no private pull",
            ),
            (
                user(false, None, false, scopes(&[])),
                public,
                Pull,
                true,
                "public needs no scope",
            ),
            (
                user(true, None, false, all),
                missing,
                Push,
                true,
                "owner creates",
            ),
            (
                user(false, member, false, all),
                missing,
                Push,
                true,
                "org members create",
            ),
            (
                user(false, member, false, all),
                private,
                Pull,
                false,
                "members cannot pull others' private packages",
            ),
            (
                user(false, member, true, all),
                private,
                Delete,
                true,
                "the publisher is admin",
            ),
            (
                user(false, member, false, all),
                internal,
                Pull,
                true,
                "members pull internal",
            ),
            (
                user(false, member, false, all),
                internal,
                Push,
                false,
                "members do not push others' internal",
            ),
            (
                user(false, Some(OrgRole::Owner), false, all),
                private,
                Delete,
                true,
                "org owners are admin",
            ),
            (
                user(false, None, false, all),
                missing,
                Push,
                false,
                "outsiders cannot create in another namespace",
            ),
            (
                user(false, None, false, all),
                private,
                Pull,
                false,
                "outsiders cannot pull private",
            ),
            (
                PackageActor::User {
                    is_owner: false,
                    org_role: None,
                    is_publisher: false,
                    site_admin: true,
                    scopes: scopes(&["site_admin"]),
                },
                private,
                Delete,
                true,
                "site admin",
            ),
            (
                PackageActor::RepoToken,
                private,
                Pull,
                false,
                "repository tokens: public only for now",
            ),
            (
                PackageActor::RepoToken,
                public,
                Pull,
                true,
                "repository tokens pull public",
            ),
        ];
        for (actor, facts, action, want, why) in rows {
            assert_eq!(package_allows(actor, *facts, *action), *want, "{why}");
        }
    }

    #[test]
    fn admins() {
        let w = scopes(&["write:packages"]);
        let private = PackageFacts {
            visibility: Some(Visibility::Private),
        };
        let user = |is_owner, org_role, is_publisher, scopes| PackageActor::User {
            is_owner,
            org_role,
            is_publisher,
            site_admin: false,
            scopes,
        };
        assert!(package_admin(&user(true, None, false, w), private));
        assert!(package_admin(
            &user(false, Some(OrgRole::Owner), false, w),
            private
        ));
        assert!(package_admin(
            &user(false, Some(OrgRole::Member), true, w),
            private
        ));
        assert!(!package_admin(
            &user(false, Some(OrgRole::Member), false, w),
            private
        ));
        assert!(
            !package_admin(
                &user(true, None, false, scopes(&["read:packages"])),
                private
            ),
            "needs write:packages"
        );
        assert!(
            !package_admin(
                &user(true, None, false, w),
                PackageFacts { visibility: None }
            ),
            "nothing to administer"
        );
        assert!(!package_admin(&PackageActor::Anonymous, private));
    }

    #[test]
    fn actions_parse_from_token_scope_words() {
        assert_eq!(PackageAction::parse("push"), Some(PackageAction::Push));
        assert_eq!(PackageAction::parse("*"), None);
    }
}
