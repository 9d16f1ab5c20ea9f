//! Who may read, write, delete and administer a package in the built-in registries (container
//! now, npm later): one pure function, [`authorize`]. The model is GitHub Packages'
//! (SPEC §4):
//!
//! - **Roles** on a package are `read`, `write`, `admin` ([`Permission`]). The owning user, the
//!   owning organization's owners and the publisher are admins.
//! - **Visibility**: public packages are readable by everyone, anonymous included; internal ones by
//!   every member of the owning organization.
//! - **Inheritance**: a package linked to a source repository R and inheriting from it gives each
//!   user their role on R, lets R's repository tokens write and R's environments read.
//!   Explicit user grants do not apply while inheriting (switching replaces them). While it
//!   inherits from a *public* R, everyone reads it, anonymous callers included (GitHub: "if the
//!   repository is public, the image is also public"); its own visibility setting is unchanged.
//! - **Explicit grants**: to users, with a role; to teams of the owning organization, with a role
//!   each of the team's members holds (a user in several teams, or granted directly too, holds the
//!   strongest); to repositories, separately for environments (read) and for repository tokens
//!   (a role). User and team grants alike do not apply while the package inherits.
//! - **Environments** of R read (and only read) what is public, linked to and inheriting from R,
//!   granted to R, or internal to R's organization unless R is public.
//! - **Scopes** bound what a personal token does: `read:packages` to read, `write:packages` to write
//!   or administer, `delete:packages` (with the admin role) to delete. Reading a public package needs
//!   no scope. A site administrator acting with `site_admin` may do everything.
//! - **Creating** a package (writing where none exists) is open to the owning user, members of the
//!   owning organization, and repository tokens of repositories with the same owner; they may also
//!   read where nothing exists yet (a client asks for pull and push together before its first push).

use crate::access::{OrgRole, Permission, Visibility};
use crate::scope::{Scope, Scopes};

/// What a caller wants to do to a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageAction {
    Read,
    Write,
    Delete,
    Admin,
}

impl PackageAction {
    pub const ALL: [PackageAction; 4] = [Self::Read, Self::Write, Self::Delete, Self::Admin];

    /// The Docker token-spec word (`pull`, `push`, `delete`); `Admin` has none.
    pub fn docker_word(self) -> Option<&'static str> {
        match self {
            Self::Read => Some("pull"),
            Self::Write => Some("push"),
            Self::Delete => Some("delete"),
            Self::Admin => None,
        }
    }

    /// Parses a Docker token-spec action word.
    pub fn from_docker_word(s: &str) -> Option<Self> {
        match s {
            "pull" => Some(Self::Read),
            "push" => Some(Self::Write),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }

    fn scope(self) -> Scope {
        match self {
            Self::Read => Scope::ReadPackages,
            Self::Write | Self::Admin => Scope::WritePackages,
            Self::Delete => Scope::DeletePackages,
        }
    }

    /// The role the action needs on an existing package.
    fn needs(self) -> Permission {
        match self {
            Self::Read => Permission::Read,
            Self::Write => Permission::Write,
            Self::Delete | Self::Admin => Permission::Admin,
        }
    }
}

/// What the decision needs to know about the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageFacts {
    /// `None` when no package exists at that name yet.
    pub visibility: Option<Visibility>,
    /// Whether the package is linked to a source repository.
    pub linked: bool,
    /// Whether it inherits access from that repository.
    pub inherit: bool,
    /// Whether the linked repository is public.
    pub linked_public: bool,
}

/// A user's standing towards a package (and its owner, and its linked repository).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserStanding {
    /// The package's owner is this user.
    pub is_owner: bool,
    /// The user's role in the owning organization.
    pub org_role: Option<OrgRole>,
    pub is_publisher: bool,
    pub site_admin: bool,
    /// An explicit grant to this user.
    pub grant: Option<Permission>,
    /// The strongest grant to a team (of the owning organization) this user is in.
    pub team_grant: Option<Permission>,
    /// The user's permission on the linked repository (used while inheriting).
    pub linked_repo_role: Option<Permission>,
}

/// A repository's standing towards a package: for repository tokens and environments of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoStanding {
    /// This repository is the package's linked source repository.
    pub is_linked: bool,
    pub visibility: Visibility,
    /// The repository and the package have the same owner (user or organization).
    pub same_owner: bool,
    /// The repository was granted environments access (read).
    pub environments_access: bool,
    /// The repository was granted repository-token access with this role.
    pub token_access: Option<Permission>,
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackagePrincipal {
    Anonymous,
    /// A user through a personal token with `scopes`.
    User {
        standing: UserStanding,
        scopes: Scopes,
    },
    /// A repository token: acts as the repository.
    RepoToken(RepoStanding),
    /// An environment of a repository (on behalf of its user): reads only.
    Environment(RepoStanding),
}

/// Read for everyone: a public package, or one inheriting from a public repository.
fn public_read(facts: PackageFacts) -> Option<Permission> {
    let inherits_public = facts.linked && facts.inherit && facts.linked_public;
    (facts.visibility == Some(Visibility::Public) || inherits_public).then_some(Permission::Read)
}

fn inherits_from(repo: &RepoStanding, facts: PackageFacts) -> bool {
    repo.is_linked && facts.linked && facts.inherit
}

/// The role a principal has on an existing package (`None`: none at all).
fn role(p: &PackagePrincipal, facts: PackageFacts) -> Option<Permission> {
    match p {
        PackagePrincipal::Anonymous => public_read(facts),
        PackagePrincipal::User { standing: s, .. } => {
            let admin = (s.is_owner || s.org_role == Some(OrgRole::Owner) || s.is_publisher)
                .then_some(Permission::Admin);
            let access_list = if facts.linked && facts.inherit {
                s.linked_repo_role
            } else {
                s.grant.max(s.team_grant)
            };
            let internal = (facts.visibility == Some(Visibility::Internal) && s.org_role.is_some())
                .then_some(Permission::Read);
            [admin, access_list, internal, public_read(facts)]
                .into_iter()
                .flatten()
                .max()
        }
        PackagePrincipal::RepoToken(r) => {
            let inherited = inherits_from(r, facts).then_some(Permission::Write);
            [inherited, r.token_access, public_read(facts)]
                .into_iter()
                .flatten()
                .max()
        }
        PackagePrincipal::Environment(r) => {
            let internal = facts.visibility == Some(Visibility::Internal)
                && r.same_owner
                && r.visibility != Visibility::Public;
            (public_read(facts).is_some()
                || inherits_from(r, facts)
                || r.environments_access
                || internal)
                .then_some(Permission::Read)
        }
    }
}

/// Whether `p` may do `action` to the package described by `facts`.
pub fn authorize(p: &PackagePrincipal, facts: PackageFacts, action: PackageAction) -> bool {
    if let PackagePrincipal::User { standing, scopes } = p
        && standing.site_admin
        && scopes.has(Scope::SiteAdmin)
    {
        return true;
    }
    if facts.visibility.is_none() {
        // Nothing there yet: whoever may create it may also read it (there is nothing to see, and
        // a client asks for pull and push together before its first push).
        let creator = match p {
            PackagePrincipal::User { standing, .. } => {
                standing.is_owner || standing.org_role.is_some()
            }
            PackagePrincipal::RepoToken(r) => r.same_owner,
            PackagePrincipal::Anonymous | PackagePrincipal::Environment(_) => false,
        };
        let scoped = match p {
            PackagePrincipal::User { scopes, .. } => scopes.has(action.scope()),
            _ => true,
        };
        return creator && scoped && matches!(action, PackageAction::Read | PackageAction::Write);
    }
    if matches!(p, PackagePrincipal::Environment(_)) && action != PackageAction::Read {
        return false;
    }
    let scoped = match p {
        PackagePrincipal::User { scopes, .. } => {
            scopes.has(action.scope())
                || (action == PackageAction::Read && public_read(facts).is_some())
        }
        _ => true,
    };
    scoped && role(p, facts).is_some_and(|r| r >= action.needs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use PackageAction::*;
    use Permission as P;

    fn scopes(w: &[&str]) -> Scopes {
        Scopes::parse(w.iter().copied()).unwrap()
    }

    /// The rules once more, written as "who may", independently of `role`.
    fn oracle(p: &PackagePrincipal, f: PackageFacts, a: PackageAction) -> bool {
        let exists = f.visibility.is_some();
        let inheriting_public = f.linked && f.inherit && f.linked_public;
        let public = exists && (f.visibility == Some(Visibility::Public) || inheriting_public);
        let internal = f.visibility == Some(Visibility::Internal);
        let inheriting = f.linked && f.inherit;
        match *p {
            PackagePrincipal::Anonymous => public && a == Read,
            PackagePrincipal::User {
                standing: s,
                scopes: sc,
            } => {
                if s.site_admin && sc.has(Scope::SiteAdmin) {
                    return true;
                }
                if !exists {
                    let may_create = s.is_owner || s.org_role.is_some();
                    return may_create
                        && ((a == Write && sc.has(Scope::WritePackages))
                            || (a == Read && sc.has(Scope::ReadPackages)));
                }
                let listed = if inheriting {
                    s.linked_repo_role
                } else {
                    [s.grant, s.team_grant].into_iter().flatten().max()
                };
                let is_admin = s.is_owner
                    || s.org_role == Some(OrgRole::Owner)
                    || s.is_publisher
                    || listed == Some(P::Admin);
                let can_write = is_admin || listed == Some(P::Write);
                let can_read =
                    can_write || listed.is_some() || public || (internal && s.org_role.is_some());
                match a {
                    Read => public || (sc.has(Scope::ReadPackages) && can_read),
                    Write => sc.has(Scope::WritePackages) && can_write,
                    Admin => sc.has(Scope::WritePackages) && is_admin,
                    Delete => sc.has(Scope::DeletePackages) && is_admin,
                }
            }
            PackagePrincipal::RepoToken(r) => {
                if !exists {
                    return r.same_owner && (a == Write || a == Read);
                }
                let is_admin = r.token_access == Some(P::Admin);
                let can_write =
                    is_admin || (inheriting && r.is_linked) || r.token_access == Some(P::Write);
                let can_read = can_write || r.token_access.is_some() || public;
                match a {
                    Read => can_read,
                    Write => can_write,
                    Delete | Admin => is_admin,
                }
            }
            PackagePrincipal::Environment(r) => {
                exists
                    && a == Read
                    && (public
                        || (inheriting && r.is_linked)
                        || r.environments_access
                        || (internal && r.same_owner && r.visibility != Visibility::Public))
            }
        }
    }

    fn all_facts() -> Vec<PackageFacts> {
        let mut out = Vec::new();
        for visibility in [
            None,
            Some(Visibility::Public),
            Some(Visibility::Private),
            Some(Visibility::Internal),
        ] {
            for linked in [false, true] {
                for inherit in [false, true] {
                    for linked_public in [false, true] {
                        out.push(PackageFacts {
                            visibility,
                            linked,
                            inherit,
                            linked_public,
                        });
                    }
                }
            }
        }
        out
    }

    fn all_principals() -> Vec<PackagePrincipal> {
        let roles = [None, Some(P::Read), Some(P::Write), Some(P::Admin)];
        let scope_sets = [
            scopes(&[]),
            scopes(&["read:packages"]),
            scopes(&["write:packages"]),
            scopes(&["write:packages", "delete:packages"]),
            scopes(&["read:packages", "delete:packages"]),
            scopes(&["site_admin"]),
            scopes(&["repo"]),
        ];
        let mut out = vec![PackagePrincipal::Anonymous];
        for is_owner in [false, true] {
            for org_role in [None, Some(OrgRole::Member), Some(OrgRole::Owner)] {
                for is_publisher in [false, true] {
                    for site_admin in [false, true] {
                        for grant in roles {
                            for team_grant in roles {
                                for linked_repo_role in roles {
                                    for sc in scope_sets {
                                        let standing = UserStanding {
                                            is_owner,
                                            org_role,
                                            is_publisher,
                                            site_admin,
                                            grant,
                                            team_grant,
                                            linked_repo_role,
                                        };
                                        out.push(PackagePrincipal::User {
                                            standing,
                                            scopes: sc,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for is_linked in [false, true] {
            for visibility in Visibility::ALL {
                for same_owner in [false, true] {
                    for environments_access in [false, true] {
                        for token_access in roles {
                            let r = RepoStanding {
                                is_linked,
                                visibility,
                                same_owner,
                                environments_access,
                                token_access,
                            };
                            out.push(PackagePrincipal::RepoToken(r));
                            out.push(PackagePrincipal::Environment(r));
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_combination_agrees_with_the_rules() {
        let (principals, facts) = (all_principals(), all_facts());
        let mut checked = 0;
        for p in &principals {
            for f in &facts {
                for a in PackageAction::ALL {
                    assert_eq!(authorize(p, *f, a), oracle(p, *f, a), "{p:?} {f:?} {a:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, principals.len() * 32 * 4);
        assert!(checked > 150_000, "{checked}");
    }

    #[test]
    fn required_rows() {
        let private = PackageFacts {
            visibility: Some(Visibility::Private),
            linked: false,
            inherit: false,
            linked_public: false,
        };
        let public = PackageFacts {
            visibility: Some(Visibility::Public),
            ..private
        };
        let internal = PackageFacts {
            visibility: Some(Visibility::Internal),
            ..private
        };
        let missing = PackageFacts {
            visibility: None,
            ..private
        };
        let inheriting = PackageFacts {
            linked: true,
            inherit: true,
            ..private
        };
        let user = |standing: UserStanding, w: &[&str]| PackagePrincipal::User {
            standing,
            scopes: scopes(w),
        };
        let member = UserStanding {
            org_role: Some(OrgRole::Member),
            ..UserStanding::default()
        };
        let repo = |visibility, same_owner| RepoStanding {
            is_linked: false,
            visibility,
            same_owner,
            environments_access: false,
            token_access: None,
        };
        let env =
            |visibility, same_owner| PackagePrincipal::Environment(repo(visibility, same_owner));
        let rw = ["read:packages", "write:packages", "delete:packages"];
        let inheriting_public = PackageFacts {
            linked_public: true,
            ..inheriting
        };
        let rows: Vec<(PackagePrincipal, PackageFacts, PackageAction, bool, &str)> = vec![
            (
                PackagePrincipal::Anonymous,
                public,
                Read,
                true,
                "public packages are pullable anonymously",
            ),
            (
                PackagePrincipal::Anonymous,
                inheriting_public,
                Read,
                true,
                "a private package inheriting from a public repository is read by everyone",
            ),
            (
                user(UserStanding::default(), &["repo"]),
                inheriting_public,
                Read,
                true,
                "by any signed-in user too, whatever their token's scopes",
            ),
            (
                PackagePrincipal::Anonymous,
                inheriting_public,
                Write,
                false,
                "read only",
            ),
            (
                PackagePrincipal::Anonymous,
                PackageFacts {
                    inherit: false,
                    ..inheriting_public
                },
                Read,
                false,
                "linked without inheriting: its own visibility decides",
            ),
            (
                PackagePrincipal::Anonymous,
                private,
                Read,
                false,
                "private ones are not",
            ),
            (
                user(member, &["read:packages"]),
                internal,
                Read,
                true,
                "internal: org members read",
            ),
            (
                user(UserStanding::default(), &rw),
                internal,
                Read,
                false,
                "internal: outsiders do not",
            ),
            (
                env(Visibility::Private, true),
                internal,
                Read,
                true,
                "internal: environments of the org's private repositories read",
            ),
            (
                env(Visibility::Internal, true),
                internal,
                Read,
                true,
                "internal: and of its internal repositories",
            ),
            (
                env(Visibility::Public, true),
                internal,
                Read,
                false,
                "internal: not environments of a public repository",
            ),
            (
                PackagePrincipal::Environment(RepoStanding {
                    environments_access: true,
                    ..repo(Visibility::Public, true)
                }),
                internal,
                Read,
                true,
                "unless that repository is granted",
            ),
            (
                env(Visibility::Private, false),
                internal,
                Read,
                false,
                "nor of another owner's repositories",
            ),
            (
                PackagePrincipal::Environment(RepoStanding {
                    is_linked: true,
                    token_access: Some(P::Admin),
                    environments_access: true,
                    ..repo(Visibility::Private, true)
                }),
                inheriting,
                Write,
                false,
                "environment tokens never write",
            ),
            (
                user(
                    UserStanding {
                        is_owner: true,
                        ..UserStanding::default()
                    },
                    &["read:packages", "delete:packages"],
                ),
                private,
                Write,
                false,
                "a personal token without write:packages never writes",
            ),
            (
                user(
                    UserStanding {
                        linked_repo_role: Some(P::Write),
                        ..UserStanding::default()
                    },
                    &["write:packages"],
                ),
                inheriting,
                Write,
                true,
                "a user with repo write access writes an inheriting package",
            ),
            (
                user(
                    UserStanding {
                        linked_repo_role: Some(P::Write),
                        ..UserStanding::default()
                    },
                    &["write:packages"],
                ),
                private,
                Write,
                false,
                "but not one that does not inherit",
            ),
            (
                user(
                    UserStanding {
                        grant: Some(P::Admin),
                        ..UserStanding::default()
                    },
                    &rw,
                ),
                inheriting,
                Read,
                false,
                "while inheriting, explicit grants do not apply",
            ),
            (
                user(
                    UserStanding {
                        team_grant: Some(P::Write),
                        ..member
                    },
                    &rw,
                ),
                private,
                Write,
                true,
                "a team's grant gives each of its members the role",
            ),
            (
                user(
                    UserStanding {
                        grant: Some(P::Read),
                        team_grant: Some(P::Admin),
                        ..member
                    },
                    &rw,
                ),
                private,
                Delete,
                true,
                "the stronger of a user's own and their team's grants wins",
            ),
            (
                user(
                    UserStanding {
                        team_grant: Some(P::Admin),
                        ..member
                    },
                    &rw,
                ),
                inheriting,
                Read,
                false,
                "while inheriting, team grants do not apply either",
            ),
            (
                PackagePrincipal::RepoToken(RepoStanding {
                    is_linked: true,
                    ..repo(Visibility::Private, true)
                }),
                inheriting,
                Write,
                true,
                "the linked repository's token writes an inheriting package",
            ),
            (
                PackagePrincipal::RepoToken(repo(Visibility::Private, true)),
                missing,
                Write,
                true,
                "a repository token creates in its owner's namespace",
            ),
            (
                PackagePrincipal::RepoToken(repo(Visibility::Private, false)),
                missing,
                Write,
                false,
                "but not in another's",
            ),
            (
                user(
                    UserStanding {
                        is_owner: true,
                        ..UserStanding::default()
                    },
                    &["write:packages"],
                ),
                missing,
                Read,
                true,
                "a would-be creator may read before the first push (regression: docker push failed)",
            ),
            (
                user(UserStanding::default(), &rw),
                missing,
                Read,
                false,
                "others may not",
            ),
            (
                user(
                    UserStanding {
                        is_publisher: true,
                        ..UserStanding::default()
                    },
                    &rw,
                ),
                private,
                Delete,
                true,
                "the publisher is admin",
            ),
            (
                user(
                    UserStanding {
                        org_role: Some(OrgRole::Owner),
                        ..UserStanding::default()
                    },
                    &["write:packages"],
                ),
                private,
                Admin,
                true,
                "org owners are admin",
            ),
            (
                user(
                    UserStanding {
                        is_owner: true,
                        ..UserStanding::default()
                    },
                    &["write:packages"],
                ),
                private,
                Delete,
                false,
                "deleting needs delete:packages",
            ),
        ];
        for (p, f, a, want, why) in rows {
            assert_eq!(authorize(&p, f, a), want, "{why}");
        }
    }

    #[test]
    fn docker_words() {
        assert_eq!(PackageAction::from_docker_word("push"), Some(Write));
        assert_eq!(PackageAction::from_docker_word("*"), None);
        assert_eq!(Read.docker_word(), Some("pull"));
        assert_eq!(Admin.docker_word(), None);
    }
}
