//! An organization's teams: names, the slugs their paths use, members' roles, and who sees a
//! team. Pure, like the rest of the domain: the store keeps teams, the service asks here.
//!
//! GitHub's model, as far as Berth has it: a team belongs to one organization and holds members
//! of it, each a `member` or a `maintainer`; org owners and a team's maintainers manage its
//! membership; a `closed` team is visible to every member of the organization, a `secret` one
//! only to its own members and the org's owners. Teams are granted roles on packages (see
//! [`crate::package`]); Berth has no team grants on repositories.

use crate::access::OrgRole;

/// Why a team name or slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamNameError {
    #[error("a team name must not be empty")]
    Empty,
    #[error("a team name is longer than {max} characters")]
    TooLong { max: usize },
    #[error("a team name must not hold control characters")]
    Control,
    #[error("a team name needs at least one letter or digit (its slug is made of them)")]
    NoSlug,
}

/// A team's name as given (`Platform Team`), and the slug made from it (`platform-team`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamName {
    name: String,
    slug: TeamSlug,
}

impl TeamName {
    pub const MAX_LEN: usize = 255;

    pub fn parse(s: &str) -> Result<Self, TeamNameError> {
        let name = s.trim();
        if name.is_empty() {
            return Err(TeamNameError::Empty);
        }
        if name.chars().count() > Self::MAX_LEN {
            return Err(TeamNameError::TooLong { max: Self::MAX_LEN });
        }
        if name.chars().any(char::is_control) {
            return Err(TeamNameError::Control);
        }
        Ok(Self {
            slug: TeamSlug::from_name(name).ok_or(TeamNameError::NoSlug)?,
            name: name.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn slug(&self) -> &TeamSlug {
        &self.slug
    }
}

/// A team's slug: lowercase ASCII letters and digits in runs joined by single `-` — what a
/// team's paths (`/orgs/{org}/teams/{team_slug}`) name it by, unique within its organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TeamSlug(String);

impl TeamSlug {
    /// GitHub's slugging: lowercase, every run of other characters becomes one `-`, none at
    /// either end. `None` when nothing is left.
    fn from_name(name: &str) -> Option<Self> {
        let mut slug = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-').to_owned();
        (!slug.is_empty()).then_some(Self(slug))
    }

    /// A slug from a path: exactly the form [`TeamSlug::from_name`] makes (any other names no
    /// team).
    pub fn parse(s: &str) -> Option<Self> {
        Self::from_name(s).filter(|made| made.0 == s)
    }
}

text_name!(TeamSlug);

/// A member's role in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TeamRole {
    Member,
    Maintainer,
}

impl TeamRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Maintainer => "maintainer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(Self::Member),
            "maintainer" => Some(Self::Maintainer),
            _ => None,
        }
    }
}

/// Who sees a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TeamPrivacy {
    /// Every member of the organization.
    Closed,
    /// Its own members and the organization's owners.
    Secret,
}

impl TeamPrivacy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Secret => "secret",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "closed" => Some(Self::Closed),
            "secret" => Some(Self::Secret),
            _ => None,
        }
    }
}

/// Whether someone with `org_role` in the team's organization (and `team_role` in the team)
/// sees the team.
pub fn sees_team(
    privacy: TeamPrivacy,
    org_role: Option<OrgRole>,
    team_role: Option<TeamRole>,
) -> bool {
    match (org_role, privacy) {
        (None, _) => false,
        (Some(OrgRole::Owner), _) | (Some(_), TeamPrivacy::Closed) => true,
        (Some(OrgRole::Member), TeamPrivacy::Secret) => team_role.is_some(),
    }
}

/// Whether someone manages the team's membership (and its settings): the organization's owners
/// and the team's maintainers who are still members of the organization.
pub fn manages_team(org_role: Option<OrgRole>, team_role: Option<TeamRole>) -> bool {
    match org_role {
        Some(OrgRole::Owner) => true,
        Some(OrgRole::Member) => team_role == Some(TeamRole::Maintainer),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_made_as_github_makes_them() {
        for (name, slug) in [
            ("Platform", "platform"),
            ("Platform Team", "platform-team"),
            ("  Dev   Ops!! ", "dev-ops"),
            ("a_b.c", "a-b-c"),
            ("Équipe 2", "quipe-2"),
            ("--x--", "x"),
        ] {
            assert_eq!(
                TeamName::parse(name).unwrap().slug().as_str(),
                slug,
                "{name}"
            );
        }
        for (name, err) in [
            ("", TeamNameError::Empty),
            ("   ", TeamNameError::Empty),
            ("!!!", TeamNameError::NoSlug),
            ("a\nb", TeamNameError::Control),
        ] {
            assert_eq!(TeamName::parse(name).unwrap_err(), err, "{name:?}");
        }
        assert!(TeamName::parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn a_path_names_a_team_only_by_its_exact_slug() {
        assert!(TeamSlug::parse("platform-team").is_some());
        for bad in ["Platform", "a--b", "-a", "a-", "", "a b", "../x"] {
            assert!(TeamSlug::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn who_sees_and_manages_a_team() {
        use TeamPrivacy::*;
        let (member, owner) = (Some(OrgRole::Member), Some(OrgRole::Owner));
        let (in_team, maintainer) = (Some(TeamRole::Member), Some(TeamRole::Maintainer));
        let rows = [
            // privacy, org role, team role, sees, manages
            (Closed, None, None, false, false),
            (Closed, None, maintainer, false, false),
            (Closed, member, None, true, false),
            (Closed, member, in_team, true, false),
            (Closed, member, maintainer, true, true),
            (Closed, owner, None, true, true),
            (Secret, member, None, false, false),
            (Secret, member, in_team, true, false),
            (Secret, member, maintainer, true, true),
            (Secret, owner, None, true, true),
        ];
        for (privacy, org, team, sees, manages) in rows {
            assert_eq!(
                sees_team(privacy, org, team),
                sees,
                "{privacy:?} {org:?} {team:?}"
            );
            assert_eq!(manages_team(org, team), manages, "{org:?} {team:?}");
        }
    }
}
