//! Names that identify accounts and repositories. Each type validates once at its constructor,
//! so a value of the type is always well formed.

use serde::{Deserialize, Serialize};

/// Why a name was refused. The message names the rule that was broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} is longer than {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} may only contain {allowed}; found {found:?}")]
    BadCharacter {
        what: &'static str,
        allowed: &'static str,
        found: char,
    },
    #[error("{what} must not start or end with '-'")]
    EdgeHyphen { what: &'static str },
    #[error("{what} must not be '.' or '..'")]
    Dots { what: &'static str },
}

/// A user or organization login: `[A-Za-z0-9-]`, 1–39 characters, no leading or trailing `-`.
/// Users and organizations share one namespace; comparison is case-insensitive (see [`Login::key`])
/// while the login is kept as it was given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Login(String);

/// The checks both name types share: non-empty, at most `max` characters, all `allowed`.
fn check_chars(
    s: &str,
    what: &'static str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { what });
    }
    if s.chars().count() > max {
        return Err(NameError::TooLong { what, max });
    }
    match s.chars().find(|c| !ok(*c)) {
        Some(found) => Err(NameError::BadCharacter {
            what,
            allowed,
            found,
        }),
        None => Ok(()),
    }
}

impl Login {
    pub const MAX_LEN: usize = 39;

    pub fn parse(s: &str) -> Result<Self, NameError> {
        const WHAT: &str = "login";
        check_chars(s, WHAT, Self::MAX_LEN, "letters, digits and '-'", |c| {
            c.is_ascii_alphanumeric() || c == '-'
        })?;
        if s.starts_with('-') || s.ends_with('-') {
            return Err(NameError::EdgeHyphen { what: WHAT });
        }
        Ok(Self(s.to_owned()))
    }
}

text_name!(Login, parsed with NameError);

/// Whether an account is a person or an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    User,
    Organization,
}

impl AccountKind {
    /// GitHub's `type` word for the account.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Organization => "Organization",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "User" => Some(Self::User),
            "Organization" => Some(Self::Organization),
            _ => None,
        }
    }
}

/// A repository name within its owner: `[A-Za-z0-9._-]`, 1–100 characters, not `.` or `..`
/// (GitHub's rule). Unique per owner, case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct RepoName(String);

impl RepoName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(s: &str) -> Result<Self, NameError> {
        const WHAT: &str = "repository name";
        check_chars(
            s,
            WHAT,
            Self::MAX_LEN,
            "letters, digits, '-', '_' and '.'",
            |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
        )?;
        if s == "." || s == ".." {
            return Err(NameError::Dots { what: WHAT });
        }
        Ok(Self(s.to_owned()))
    }
}

text_name!(RepoName, parsed with NameError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins() {
        let good = ["a", "octo-cat", "A1", &"x".repeat(39), "a-b-c", "9lives"];
        for s in good {
            assert_eq!(Login::parse(s).unwrap().as_str(), s, "{s}");
        }
        let bad = [
            ("", "must not be empty"),
            (&"x".repeat(40), "longer than 39"),
            ("-abc", "start or end"),
            ("abc-", "start or end"),
            ("a_b", "'_'"),
            ("a b", "' '"),
            ("ü", "'ü'"),
            ("a/b", "'/'"),
        ];
        for (s, msg) in bad {
            let err = Login::parse(s).unwrap_err().to_string();
            assert!(err.contains(msg), "{s:?}: {err}");
        }
    }

    #[test]
    fn login_key_folds_case_but_keeps_the_given_spelling() {
        let l = Login::parse("OctoCat").unwrap();
        assert_eq!(l.as_str(), "OctoCat");
        assert_eq!(l.key(), "octocat");
    }

    #[test]
    fn repo_names() {
        for s in ["berth", "my.repo", "a_b-c", ".github", &"r".repeat(100)] {
            assert!(RepoName::parse(s).is_ok(), "{s}");
        }
        for s in ["", ".", "..", "a/b", "a b", &"r".repeat(101)] {
            assert!(RepoName::parse(s).is_err(), "{s:?}");
        }
    }
}
