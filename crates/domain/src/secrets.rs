//! Environment secrets: their names, their limits, and the one rule that decides which secrets an
//! environment of repository R started by user U receives ([`environment_secrets`]).
//!
//! The resolution is generic over the value type: the domain never sees plaintext, only whatever
//! the caller carries along (a sealed value, or nothing at all for a preview).

use serde::Serialize;
use std::collections::BTreeMap;

use crate::Visibility;

/// The largest secret value, in bytes (GitHub's limit).
pub const MAX_VALUE_BYTES: usize = 48 * 1024;
/// The most secrets one scope (a user, a repository, an organization) may hold.
pub const MAX_PER_SCOPE: usize = 100;
/// The longest secret name.
pub const MAX_NAME_LEN: usize = 255;

/// Why a secret name was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretNameError {
    #[error("secret names must not be empty")]
    Empty,
    #[error("secret names are at most {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("secret names may only contain letters, digits and '_'; found {0:?}")]
    BadCharacter(char),
    #[error("secret names must not start with a digit")]
    LeadingDigit,
    #[error("secret names must not start with {0} (reserved)")]
    Reserved(&'static str),
}

/// A secret name: `[A-Za-z0-9_]`, not starting with a digit, `GITHUB_` or `BERTH_`; compared
/// case-insensitively, so it is kept upper-case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SecretName(String);

impl SecretName {
    pub const RESERVED_PREFIXES: [&'static str; 2] = ["GITHUB_", "BERTH_"];

    pub fn parse(s: &str) -> Result<Self, SecretNameError> {
        if s.is_empty() {
            return Err(SecretNameError::Empty);
        }
        if s.len() > MAX_NAME_LEN {
            return Err(SecretNameError::TooLong);
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return Err(SecretNameError::BadCharacter(c));
        }
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(SecretNameError::LeadingDigit);
        }
        let upper = s.to_ascii_uppercase();
        if let Some(p) = Self::RESERVED_PREFIXES
            .iter()
            .find(|p| upper.starts_with(*p))
        {
            return Err(SecretNameError::Reserved(p));
        }
        Ok(Self(upper))
    }
}

text_name!(SecretName);

/// Where a secret is kept. The order is the precedence: a user secret beats a repository secret
/// of the same name, which beats an organization secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretLevel {
    User,
    Repository,
    Organization,
}

impl SecretLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretLevel::User => "user",
            SecretLevel::Repository => "repository",
            SecretLevel::Organization => "organization",
        }
    }
}

/// Which repositories an organization secret reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgSecretVisibility {
    /// Every repository of the organization.
    All,
    /// Its private and internal repositories.
    Private,
    /// The repositories selected for it.
    Selected,
}

impl OrgSecretVisibility {
    pub const ALL: [OrgSecretVisibility; 3] = [Self::All, Self::Private, Self::Selected];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all" => Some(Self::All),
            "private" => Some(Self::Private),
            "selected" => Some(Self::Selected),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Private => "private",
            Self::Selected => "selected",
        }
    }

    /// Whether a secret with this visibility reaches a repository that is `visibility` and is
    /// (`selected`) or is not among the secret's selected repositories.
    pub fn admits(self, visibility: Visibility, selected: bool) -> bool {
        match self {
            Self::All => true,
            Self::Private => visibility != Visibility::Public,
            Self::Selected => selected,
        }
    }
}

/// A user secret, and whether R is among its selected repositories.
#[derive(Debug, Clone)]
pub struct UserSecret<V> {
    pub name: SecretName,
    pub selected_for_repo: bool,
    pub value: V,
}

/// A repository secret of R.
#[derive(Debug, Clone)]
pub struct RepoSecret<V> {
    pub name: SecretName,
    pub value: V,
}

/// A secret of R's owning organization.
#[derive(Debug, Clone)]
pub struct OrgSecret<V> {
    pub name: SecretName,
    pub visibility: OrgSecretVisibility,
    pub selected_for_repo: bool,
    pub value: V,
}

/// Everything the resolution needs about U, R and the three levels.
#[derive(Debug, Clone)]
pub struct SecretFacts<V> {
    /// Whether U has write access (or more) to R.
    pub user_can_write: bool,
    pub repo_visibility: Visibility,
    pub user: Vec<UserSecret<V>>,
    pub repository: Vec<RepoSecret<V>>,
    /// Empty when R is owned by a user.
    pub organization: Vec<OrgSecret<V>>,
}

/// One secret an environment gets, and the level it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSecret<V> {
    pub name: SecretName,
    pub value: V,
    pub source: SecretLevel,
}

/// The secrets an environment of R started by U gets, by name:
/// 1. U's user secrets whose selected repositories include R;
/// 2. R's repository secrets, only when U has write access to R;
/// 3. the organization's secrets whose visibility admits R, only when U has write access to R.
///
/// The same name at several levels: user beats repository beats organization.
pub fn environment_secrets<V>(facts: SecretFacts<V>) -> Vec<ResolvedSecret<V>> {
    let SecretFacts {
        user_can_write,
        repo_visibility,
        user,
        repository,
        organization,
    } = facts;
    let mut chosen: BTreeMap<SecretName, ResolvedSecret<V>> = BTreeMap::new();
    let mut offer = |name: SecretName, value: V, source: SecretLevel| {
        let better = chosen.get(&name).is_none_or(|c| source < c.source);
        if better {
            chosen.insert(
                name.clone(),
                ResolvedSecret {
                    name,
                    value,
                    source,
                },
            );
        }
    };
    for s in user.into_iter().filter(|s| s.selected_for_repo) {
        offer(s.name, s.value, SecretLevel::User);
    }
    if user_can_write {
        for s in repository {
            offer(s.name, s.value, SecretLevel::Repository);
        }
        for s in organization
            .into_iter()
            .filter(|s| s.visibility.admits(repo_visibility, s.selected_for_repo))
        {
            offer(s.name, s.value, SecretLevel::Organization);
        }
    }
    chosen.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> SecretName {
        SecretName::parse(s).unwrap()
    }

    #[test]
    fn names_follow_the_rules_and_are_kept_upper_case() {
        assert_eq!(name("npm_token").as_str(), "NPM_TOKEN");
        assert_eq!(name("_x1").as_str(), "_X1");
        for (bad, err) in [
            ("", SecretNameError::Empty),
            ("1ABC", SecretNameError::LeadingDigit),
            ("A-B", SecretNameError::BadCharacter('-')),
            ("A B", SecretNameError::BadCharacter(' ')),
            ("ÄB", SecretNameError::BadCharacter('Ä')),
            ("github_token", SecretNameError::Reserved("GITHUB_")),
            ("GITHUB_X", SecretNameError::Reserved("GITHUB_")),
            ("Berth_x", SecretNameError::Reserved("BERTH_")),
        ] {
            assert_eq!(SecretName::parse(bad), Err(err.clone()), "{bad:?}");
            assert!(!err.to_string().is_empty());
        }
        assert_eq!(
            SecretName::parse(&"A".repeat(MAX_NAME_LEN + 1)),
            Err(SecretNameError::TooLong)
        );
        assert!(
            SecretName::parse("GITHUB").is_ok(),
            "only the prefix is reserved"
        );
    }

    /// How one candidate secret is placed relative to U and R.
    #[derive(Debug, Clone, Copy)]
    enum Placement {
        User {
            selected: bool,
        },
        Repository,
        Organization {
            visibility: OrgSecretVisibility,
            selected: bool,
        },
    }

    fn placements() -> Vec<Placement> {
        let mut all = vec![
            Placement::User { selected: true },
            Placement::User { selected: false },
            Placement::Repository,
        ];
        for visibility in OrgSecretVisibility::ALL {
            for selected in [true, false] {
                all.push(Placement::Organization {
                    visibility,
                    selected,
                });
            }
        }
        all
    }

    /// The rules, written once more, plainly: does a secret placed so reach the environment?
    fn reaches(p: Placement, can_write: bool, repo: Visibility) -> bool {
        match p {
            Placement::User { selected } => selected,
            Placement::Repository => can_write,
            Placement::Organization {
                visibility,
                selected,
            } => {
                can_write
                    && match visibility {
                        OrgSecretVisibility::All => true,
                        OrgSecretVisibility::Private => {
                            matches!(repo, Visibility::Private | Visibility::Internal)
                        }
                        OrgSecretVisibility::Selected => selected,
                    }
            }
        }
    }

    fn level(p: Placement) -> SecretLevel {
        match p {
            Placement::User { .. } => SecretLevel::User,
            Placement::Repository => SecretLevel::Repository,
            Placement::Organization { .. } => SecretLevel::Organization,
        }
    }

    fn facts(
        secrets: &[(Placement, &str)],
        can_write: bool,
        repo: Visibility,
    ) -> SecretFacts<String> {
        let mut f = SecretFacts {
            user_can_write: can_write,
            repo_visibility: repo,
            user: vec![],
            repository: vec![],
            organization: vec![],
        };
        for (i, (p, n)) in secrets.iter().enumerate() {
            let value = format!("value {i}");
            match *p {
                Placement::User { selected } => f.user.push(UserSecret {
                    name: name(n),
                    selected_for_repo: selected,
                    value,
                }),
                Placement::Repository => f.repository.push(RepoSecret {
                    name: name(n),
                    value,
                }),
                Placement::Organization {
                    visibility,
                    selected,
                } => f.organization.push(OrgSecret {
                    name: name(n),
                    visibility,
                    selected_for_repo: selected,
                    value,
                }),
            }
        }
        f
    }

    #[test]
    fn every_level_policy_and_access_case_on_its_own() {
        for p in placements() {
            for can_write in [true, false] {
                for repo in Visibility::ALL {
                    let got = environment_secrets(facts(&[(p, "S")], can_write, repo));
                    let expected = reaches(p, can_write, repo).then(|| ResolvedSecret {
                        name: name("S"),
                        value: "value 0".to_owned(),
                        source: level(p),
                    });
                    assert_eq!(
                        got.into_iter().next(),
                        expected,
                        "{p:?}, write access {can_write}, {repo:?} repository"
                    );
                }
            }
        }
    }

    #[test]
    fn every_pair_of_levels_sharing_a_name() {
        // Two secrets named alike: the one that reaches the environment from the higher level
        // wins; if only one reaches, it is the one.
        for a in placements() {
            for b in placements() {
                for can_write in [true, false] {
                    for repo in Visibility::ALL {
                        let got = environment_secrets(facts(
                            &[(a, "SAME"), (b, "same")],
                            can_write,
                            repo,
                        ));
                        let candidates = [(a, "value 0"), (b, "value 1")];
                        let expected = candidates
                            .iter()
                            .filter(|(p, _)| reaches(*p, can_write, repo))
                            .min_by_key(|(p, _)| level(*p))
                            .map(|(p, v)| (level(*p), (*v).to_owned()));
                        let got: Vec<_> = got.into_iter().map(|r| (r.source, r.value)).collect();
                        // Equal levels: either value may win, but exactly one is given.
                        match expected {
                            None => assert!(got.is_empty(), "{a:?} {b:?} {can_write} {repo:?}"),
                            Some((lvl, v)) => {
                                assert_eq!(got.len(), 1, "{a:?} {b:?} {can_write} {repo:?}");
                                assert_eq!(got[0].0, lvl, "{a:?} {b:?} {can_write} {repo:?}");
                                if level(a) != level(b) {
                                    assert_eq!(got[0].1, v, "{a:?} {b:?} {can_write} {repo:?}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_spec_examples() {
        let user = Placement::User { selected: true };
        let org_private = Placement::Organization {
            visibility: OrgSecretVisibility::Private,
            selected: false,
        };
        let f = facts(
            &[
                (user, "TOKEN"),
                (Placement::Repository, "TOKEN"),
                (Placement::Repository, "DB_URL"),
                (org_private, "DB_URL"),
                (org_private, "ORG_ONLY"),
            ],
            true,
            Visibility::Internal,
        );
        let got: Vec<_> = environment_secrets(f)
            .into_iter()
            .map(|r| (r.name.to_string(), r.source))
            .collect();
        assert_eq!(
            got,
            [
                ("DB_URL".to_owned(), SecretLevel::Repository),
                ("ORG_ONLY".to_owned(), SecretLevel::Organization),
                ("TOKEN".to_owned(), SecretLevel::User),
            ]
        );
        let reader = facts(
            &[(user, "MINE"), (Placement::Repository, "THEIRS")],
            false,
            Visibility::Private,
        );
        let names: Vec<_> = environment_secrets(reader)
            .into_iter()
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(names, ["MINE"], "without write access only user secrets");
    }
}
