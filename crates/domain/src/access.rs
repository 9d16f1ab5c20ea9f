//! Who may do what to a repository: one pure function, [`repo_permission`].
//!
//! The rules (SPEC §1, with GitHub's behaviour where the spec is silent):
//! - public repositories are readable by everyone, anonymous included;
//! - internal repositories (organization-owned only) are readable by every member of the org;
//! - the owner of a user-owned repository and the owners of the owning org are `admin`;
//! - collaborators have the role they were given;
//! - org members have **no** base permission on private repositories (Berth's default; GitHub's
//!   "base permission" setting is not modelled);
//! - a site admin acting with the `site_admin` scope is `admin` everywhere;
//! - a personal token without the `repo` scope reaches public repositories only, read-only
//!   (classic GitHub tokens behave so);
//! - a repository token writes its own repository and reads public ones.
//!
//! The strongest applicable role wins; `None` means "cannot see it", which the API renders as
//! 404 so a private repository cannot be told from a missing one.

use crate::scope::{Scope, Scopes};

/// A repository's visibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    Public,
    Private,
    Internal,
}

impl Visibility {
    pub const ALL: [Visibility; 3] = [
        Visibility::Public,
        Visibility::Private,
        Visibility::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A role on a repository, ordered: `Read < Write < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Read,
    Write,
    Admin,
}

impl Permission {
    pub const ALL: [Permission; 3] = [Permission::Read, Permission::Write, Permission::Admin];

    /// Berth's word for the role (`read`, `write`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// Accepts Berth's words and GitHub's (`pull`, `push`, `admin`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" | "pull" => Some(Self::Read),
            "write" | "push" => Some(Self::Write),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A member's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgRole {
    Member,
    Owner,
}

impl OrgRole {
    /// GitHub's word for the role in membership objects (`admin` is an owner).
    pub fn github_word(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Owner => "admin",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Owner => "owner",
        }
    }

    /// Accepts GitHub's words (`member`, `admin`) and Berth's (`owner`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(Self::Member),
            "owner" | "admin" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// What the decision needs to know about the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoFacts {
    pub visibility: Visibility,
}

/// Who is asking, with their relationship to the repository already looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Anonymous,
    User {
        /// The repository is owned by this user.
        is_owner: bool,
        /// The user's role in the owning organization, if the owner is an org they belong to.
        org_role: Option<OrgRole>,
        /// The user's collaborator role on the repository.
        collaborator: Option<Permission>,
        site_admin: bool,
        /// The scopes of the token the user authenticated with.
        scopes: Scopes,
    },
    /// A repository token; `same_repo` is whether it was issued for this repository.
    RepoToken {
        same_repo: bool,
    },
}

/// The effective permission of `actor` on a repository; `None` when it cannot see it.
pub fn repo_permission(actor: &Actor, repo: RepoFacts) -> Option<Permission> {
    let public_read = (repo.visibility == Visibility::Public).then_some(Permission::Read);
    match *actor {
        Actor::Anonymous => public_read,
        Actor::RepoToken { same_repo: true } => Some(Permission::Write),
        Actor::RepoToken { same_repo: false } => public_read,
        Actor::User {
            is_owner,
            org_role,
            collaborator,
            site_admin,
            scopes,
        } => {
            if site_admin && scopes.has(Scope::SiteAdmin) {
                return Some(Permission::Admin);
            }
            if !scopes.has(Scope::Repo) {
                return public_read;
            }
            let owner_role =
                (is_owner || org_role == Some(OrgRole::Owner)).then_some(Permission::Admin);
            let internal_member = (repo.visibility == Visibility::Internal && org_role.is_some())
                .then_some(Permission::Read);
            [owner_role, collaborator, internal_member, public_read]
                .into_iter()
                .flatten()
                .max()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(words: &[&str]) -> Scopes {
        Scopes::parse(words.iter().copied()).unwrap()
    }

    /// The rules once more, phrased as "what lets you in" per role, so that the function and this
    /// oracle must agree over every combination.
    fn oracle(
        vis: Visibility,
        is_owner: bool,
        org_role: Option<OrgRole>,
        collab: Option<Permission>,
        site_admin: bool,
        sc: Scopes,
    ) -> Option<Permission> {
        let public = vis == Visibility::Public;
        if site_admin && sc.has(Scope::SiteAdmin) {
            return Some(Permission::Admin);
        }
        let full_token = sc.has(Scope::Repo);
        let admin = full_token
            && (is_owner || org_role == Some(OrgRole::Owner) || collab == Some(Permission::Admin));
        let write = admin || (full_token && collab == Some(Permission::Write));
        let read = write
            || public
            || (full_token && collab.is_some())
            || (full_token && vis == Visibility::Internal && org_role.is_some());
        if admin {
            Some(Permission::Admin)
        } else if write {
            Some(Permission::Write)
        } else if read {
            Some(Permission::Read)
        } else {
            None
        }
    }

    #[test]
    fn user_table_over_visibility_membership_collaborator_and_scopes() {
        let roles = [None, Some(OrgRole::Member), Some(OrgRole::Owner)];
        let collabs = [
            None,
            Some(Permission::Read),
            Some(Permission::Write),
            Some(Permission::Admin),
        ];
        let scope_sets = [
            scopes(&[]),
            scopes(&["repo"]),
            scopes(&["read:packages"]),
            scopes(&["site_admin"]),
            scopes(&["repo", "site_admin"]),
        ];
        let mut rows = 0;
        for vis in Visibility::ALL {
            for is_owner in [false, true] {
                for org_role in roles {
                    for collab in collabs {
                        for site_admin in [false, true] {
                            for sc in scope_sets {
                                let actor = Actor::User {
                                    is_owner,
                                    org_role,
                                    collaborator: collab,
                                    site_admin,
                                    scopes: sc,
                                };
                                let got = repo_permission(&actor, RepoFacts { visibility: vis });
                                let want = oracle(vis, is_owner, org_role, collab, site_admin, sc);
                                assert_eq!(
                                    got, want,
                                    "{vis:?} owner={is_owner} org={org_role:?} collab={collab:?} site_admin={site_admin} scopes={sc:?}"
                                );
                                rows += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(rows, 3 * 2 * 3 * 4 * 2 * 5);
    }

    #[test]
    fn required_rows() {
        let repo = scopes(&["repo"]);
        let user = |org_role, collaborator| Actor::User {
            is_owner: false,
            org_role,
            collaborator,
            site_admin: false,
            scopes: repo,
        };
        let facts = |visibility| RepoFacts { visibility };
        use Permission::*;
        use Visibility::*;
        let rows: &[(Actor, Visibility, Option<Permission>, &str)] = &[
            (Actor::Anonymous, Public, Some(Read), "anyone reads public"),
            (
                Actor::Anonymous,
                Private,
                None,
                "anonymous cannot see private",
            ),
            (
                Actor::Anonymous,
                Internal,
                None,
                "anonymous cannot see internal",
            ),
            (
                user(Some(OrgRole::Member), None),
                Internal,
                Some(Read),
                "members read internal",
            ),
            (
                user(Some(OrgRole::Member), None),
                Private,
                None,
                "members have no base permission",
            ),
            (
                user(Some(OrgRole::Owner), None),
                Private,
                Some(Admin),
                "org owners are admin",
            ),
            (
                user(None, Some(Write)),
                Private,
                Some(Write),
                "collaborator role applies",
            ),
            (
                user(Some(OrgRole::Member), Some(Admin)),
                Internal,
                Some(Admin),
                "the stronger role wins",
            ),
            (
                user(None, None),
                Internal,
                None,
                "outsiders cannot see internal",
            ),
            (
                Actor::User {
                    is_owner: true,
                    org_role: None,
                    collaborator: None,
                    site_admin: false,
                    scopes: scopes(&["read:packages"]),
                },
                Private,
                None,
                "no repo scope, no private repo",
            ),
            (
                Actor::User {
                    is_owner: true,
                    org_role: None,
                    collaborator: None,
                    site_admin: false,
                    scopes: scopes(&[]),
                },
                Public,
                Some(Read),
                "no repo scope reads public only",
            ),
            (
                Actor::User {
                    is_owner: false,
                    org_role: None,
                    collaborator: None,
                    site_admin: true,
                    scopes: scopes(&["site_admin"]),
                },
                Private,
                Some(Admin),
                "site admin with its scope",
            ),
            (
                Actor::User {
                    is_owner: false,
                    org_role: None,
                    collaborator: None,
                    site_admin: true,
                    scopes: repo,
                },
                Private,
                None,
                "site admin without its scope is a user",
            ),
            (
                Actor::RepoToken { same_repo: true },
                Private,
                Some(Write),
                "repo token writes its repo",
            ),
            (
                Actor::RepoToken { same_repo: false },
                Private,
                None,
                "repo token cannot see others' private",
            ),
            (
                Actor::RepoToken { same_repo: false },
                Internal,
                None,
                "repo token cannot see internal",
            ),
            (
                Actor::RepoToken { same_repo: false },
                Public,
                Some(Read),
                "repo token reads public",
            ),
        ];
        for (actor, vis, want, why) in rows {
            assert_eq!(repo_permission(actor, facts(*vis)), *want, "{why}");
        }
    }

    #[test]
    fn words() {
        assert_eq!(Permission::parse("push"), Some(Permission::Write));
        assert_eq!(Permission::parse("maintain"), None);
        assert_eq!(OrgRole::parse("admin"), Some(OrgRole::Owner));
        assert_eq!(OrgRole::Owner.github_word(), "admin");
        assert!(Permission::Read < Permission::Admin);
    }
}
