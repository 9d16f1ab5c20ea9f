//! npm's names, versions and dist-tags as Berth's npm registry takes them (issue 17), after
//! GitHub Packages' npm registry: every package is scoped to its owner, `@OWNER/name`, the scope
//! being a user's or an organization's login in lower case; versions are strict SemVer 2.0 (what
//! npm's client sends after cleaning what the user typed); a dist-tag is a word that cannot be
//! read as a version range (npm's own rule, so that `npm install @acme/lib@TAG` is never
//! ambiguous).
//!
//! Pure: parsing and the words of each refusal, table-tested below, and what `npm publish` sends
//! checked in `publish.rs`. The registry that stores and serves packages builds on these.

mod packument;
mod publish;

use std::fmt;

use crate::names::{Login, NameError};

pub use packument::{StoredVersion, packument};
pub use publish::{Publication, PublishError, parse_publication};

/// Why an npm package name, version or dist-tag is refused; each says the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NpmNameError {
    #[error(
        "npm packages here are scoped to their owner: name it @OWNER/NAME, OWNER being a user or organization (found {0:?})"
    )]
    Unscoped(String),
    #[error("the scope of {name:?} is not a user or organization login: {why}")]
    Scope { name: String, why: NameError },
    #[error("the scope of {0:?} must be in lower case (npm scopes are)")]
    ScopeCase(String),
    #[error("{0:?} has an empty package name after its scope")]
    EmptyName(String),
    #[error("{0:?} is longer than {max} characters (npm's limit, scope included)", max = NpmPackageName::MAX_LEN)]
    TooLong(String),
    #[error("{0:?}: a package name must be in lower case")]
    Uppercase(String),
    #[error("{0:?}: a package name must not start with '.' or '_'")]
    LeadingDotOrUnderscore(String),
    #[error(
        "{name:?}: a package name may only contain lower-case letters, digits and - . _ ~ ! * ' ( ); found {found:?}"
    )]
    Character { name: String, found: char },
    #[error("{0:?} is not a SemVer 2.0 version (like 1.2.3 or 2.0.0-beta.1)")]
    Version(String),
    #[error(
        "{0:?} cannot be a dist-tag: a tag is a non-empty word of letters, digits and - . _ ~ of at most 64 characters"
    )]
    TagCharacters(String),
    #[error(
        "{0:?} cannot be a dist-tag: it reads as a version range, which npm would install instead"
    )]
    TagIsRange(String),
}

/// A scoped npm package name, `@scope/name`: the scope is its owner's login in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NpmPackageName {
    scope: Login,
    name: String,
}

impl NpmPackageName {
    /// npm's limit on a whole name, scope included.
    pub const MAX_LEN: usize = 214;

    pub fn parse(s: &str) -> Result<Self, NpmNameError> {
        let unscoped = || NpmNameError::Unscoped(s.to_owned());
        let (scope, name) = s
            .strip_prefix('@')
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(unscoped)?;
        if scope.is_empty() {
            return Err(unscoped());
        }
        let login = Login::parse(scope).map_err(|why| NpmNameError::Scope {
            name: s.to_owned(),
            why,
        })?;
        if scope.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(NpmNameError::ScopeCase(s.to_owned()));
        }
        if name.is_empty() {
            return Err(NpmNameError::EmptyName(s.to_owned()));
        }
        if s.len() > Self::MAX_LEN {
            return Err(NpmNameError::TooLong(s.to_owned()));
        }
        if name.starts_with(['.', '_']) {
            return Err(NpmNameError::LeadingDotOrUnderscore(s.to_owned()));
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(NpmNameError::Uppercase(s.to_owned()));
        }
        // What `encodeURIComponent` leaves as it is (npm's "URL-friendly" rule), in lower case.
        if let Some(found) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~!*'()".contains(*c)))
        {
            return Err(NpmNameError::Character {
                name: s.to_owned(),
                found,
            });
        }
        Ok(Self {
            scope: login,
            name: name.to_owned(),
        })
    }

    /// The owner's login the scope names.
    pub fn scope(&self) -> &Login {
        &self.scope
    }

    /// The name within the scope.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file name npm gives a version's tarball: `name-1.2.3.tgz`.
    pub fn tarball(&self, version: &NpmVersion) -> String {
        format!("{}-{version}.tgz", self.name)
    }
}

impl fmt::Display for NpmPackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}/{}", self.scope.as_str(), self.name)
    }
}

/// A package version: strict SemVer 2.0, kept as written (build metadata included).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NpmVersion(String);

impl NpmVersion {
    pub fn parse(s: &str) -> Result<Self, NpmNameError> {
        semver::Version::parse(s)
            .map(|_| Self(s.to_owned()))
            .map_err(|_| NpmNameError::Version(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a pre-release (`1.0.0-beta.1`), which `latest` does not move to by itself.
    pub fn is_prerelease(&self) -> bool {
        semver::Version::parse(&self.0).is_ok_and(|v| !v.pre.is_empty())
    }
}

impl fmt::Display for NpmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A dist-tag (`latest`, `next`, `beta`): a short word that does not read as a version range.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DistTag(String);

impl DistTag {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Self, NpmNameError> {
        // npm reads ranges loosely: a leading `v` or `=` is ignored (`v1` is the range `1`).
        let bare = s.trim_start_matches(['v', '=']);
        if !bare.trim().is_empty() && semver::VersionReq::parse(bare).is_ok() {
            return Err(NpmNameError::TagIsRange(s.to_owned()));
        }
        let word = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
        if !word {
            return Err(NpmNameError::TagCharacters(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `OWNER/REPO` a version manifest's `repository` field names: a string or `{url}`, as a
/// URL (`git+https://host/OWNER/REPO.git`), an scp-like `git@host:OWNER/REPO.git`, a
/// `github:OWNER/REPO` shortcut, or `OWNER/REPO` itself.
pub fn repository_of(
    manifest: &serde_json::Map<String, serde_json::Value>,
) -> Option<(Login, crate::RepoName)> {
    let field = manifest.get("repository")?;
    let value = field
        .as_str()
        .or_else(|| field.get("url").and_then(serde_json::Value::as_str))?;
    let value = value.strip_prefix("git+").unwrap_or(value);
    let value = match value.split_once(':') {
        // `github:OWNER/REPO`, `git@host:OWNER/REPO`: what follows the colon is the path.
        Some((_, rest)) if !value.contains("://") => rest,
        _ => value,
    };
    crate::manifest::parse_source(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_field_names_owner_and_repo_in_every_form_npm_accepts() {
        for (field, expected) in [
            (serde_json::json!("acme/lib"), Some(("acme", "lib"))),
            (serde_json::json!("github:acme/lib"), Some(("acme", "lib"))),
            (
                serde_json::json!({ "type": "git", "url": "git+https://berth.example/acme/lib.git" }),
                Some(("acme", "lib")),
            ),
            (
                serde_json::json!("https://host:8080/acme/lib/"),
                Some(("acme", "lib")),
            ),
            (
                serde_json::json!("git@host:acme/lib.git"),
                Some(("acme", "lib")),
            ),
            (
                serde_json::json!("ssh://git@host:22/acme/lib"),
                Some(("acme", "lib")),
            ),
            (serde_json::json!("lib"), None),
            (serde_json::json!({ "type": "git" }), None),
            (serde_json::json!(7), None),
        ] {
            let mut manifest = serde_json::Map::new();
            manifest.insert("repository".into(), field.clone());
            let got = repository_of(&manifest);
            let got = got.as_ref().map(|(o, r)| (o.as_str(), r.as_str()));
            assert_eq!(got, expected, "{field}");
        }
        assert_eq!(repository_of(&serde_json::Map::new()), None);
    }

    #[test]
    fn package_names_are_scoped_to_a_lower_case_login_and_url_friendly() {
        use NpmNameError as E;
        let long = format!("@acme/{}", "a".repeat(NpmPackageName::MAX_LEN));
        // Each row: the name, and its scope and name, or words of its refusal.
        type Row<'a> = (&'a str, Result<(&'a str, &'a str), &'a str>);
        let table: &[Row] = &[
            ("@acme/lib", Ok(("acme", "lib"))),
            ("@octo-org/my.lib_2", Ok(("octo-org", "my.lib_2"))),
            ("@a/x~y!z*'(1)", Ok(("a", "x~y!z*'(1)"))),
            ("lib", Err("scoped to their owner")),
            ("@acme", Err("scoped to their owner")),
            ("@/lib", Err("scoped to their owner")),
            ("@-acme/lib", Err("not a user or organization login")),
            ("@Acme/lib", Err("lower case (npm scopes are)")),
            ("@acme/", Err("empty package name")),
            ("@acme/Lib", Err("must be in lower case")),
            ("@acme/.lib", Err("must not start with '.' or '_'")),
            ("@acme/_lib", Err("must not start with '.' or '_'")),
            ("@acme/my lib", Err("found ' '")),
            ("@acme/a/b", Err("found '/'")),
            ("@acme/café", Err("found 'é'")),
            (&long, Err("longer than 214")),
        ];
        for (input, expected) in table {
            match (NpmPackageName::parse(input), expected) {
                (Ok(n), Ok((scope, name))) => {
                    assert_eq!((n.scope().as_str(), n.name()), (*scope, *name), "{input}");
                    assert_eq!(n.to_string(), *input);
                }
                (Err(e), Err(words)) => assert!(e.to_string().contains(words), "{input}: {e}"),
                (got, _) => panic!("{input}: {got:?}"),
            }
        }
        // The variants a caller matches on.
        assert!(matches!(NpmPackageName::parse("lib"), Err(E::Unscoped(_))));
    }

    #[test]
    fn versions_are_strict_semver_and_tags_are_words_that_are_not_ranges() {
        for (input, ok, prerelease) in [
            ("1.2.3", true, false),
            ("0.0.0", true, false),
            ("2.0.0-beta.1", true, true),
            ("1.0.0+build.5", true, false),
            ("v1.2.3", false, false),
            ("1.2", false, false),
            ("01.2.3", false, false),
            ("", false, false),
        ] {
            let parsed = NpmVersion::parse(input);
            assert_eq!(parsed.is_ok(), ok, "{input}");
            if let Ok(v) = parsed {
                assert_eq!(v.is_prerelease(), prerelease, "{input}");
                assert_eq!(v.as_str(), input);
            }
        }
        let name = NpmPackageName::parse("@acme/lib").unwrap();
        let v = NpmVersion::parse("1.2.3").unwrap();
        assert_eq!(name.tarball(&v), "lib-1.2.3.tgz");

        for (input, said) in [
            ("latest", None),
            ("next", None),
            ("beta-2", None),
            ("release_candidate.1", None),
            ("1.x", Some("reads as a version range")),
            ("^2", Some("reads as a version range")),
            ("1.2.3", Some("reads as a version range")),
            ("*", Some("reads as a version range")),
            ("~1.2", Some("reads as a version range")),
            ("x", Some("reads as a version range")),
            ("v1", Some("reads as a version range")),
            ("vnext", None),
            ("a/b", Some("non-empty word")),
            ("", Some("non-empty word")),
            ("my tag", Some("non-empty word")),
        ] {
            match (DistTag::parse(input), said) {
                (Ok(t), None) => assert_eq!(t.as_str(), input),
                (Err(e), Some(words)) => assert!(e.to_string().contains(words), "{input}: {e}"),
                (got, _) => panic!("{input}: {got:?}"),
            }
        }
        assert!(DistTag::parse(&"t".repeat(DistTag::MAX_LEN + 1)).is_err());
    }
}
