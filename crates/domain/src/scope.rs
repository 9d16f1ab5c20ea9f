//! Personal access token scopes (GitHub's classic scopes, the subset Berth uses) and the
//! implications between them.

use std::fmt;

/// One scope a personal access token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Repo,
    ReadPackages,
    WritePackages,
    DeletePackages,
    Codespace,
    CodespaceSecrets,
    AdminOrg,
    SiteAdmin,
    ReadPublicKey,
    WritePublicKey,
    AdminPublicKey,
}

impl Scope {
    pub const ALL: [Scope; 11] = [
        Scope::Repo,
        Scope::ReadPackages,
        Scope::WritePackages,
        Scope::DeletePackages,
        Scope::Codespace,
        Scope::CodespaceSecrets,
        Scope::AdminOrg,
        Scope::SiteAdmin,
        Scope::ReadPublicKey,
        Scope::WritePublicKey,
        Scope::AdminPublicKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Repo => "repo",
            Self::ReadPackages => "read:packages",
            Self::WritePackages => "write:packages",
            Self::DeletePackages => "delete:packages",
            Self::Codespace => "codespace",
            Self::CodespaceSecrets => "codespace:secrets",
            Self::AdminOrg => "admin:org",
            Self::SiteAdmin => "site_admin",
            Self::ReadPublicKey => "read:public_key",
            Self::WritePublicKey => "write:public_key",
            Self::AdminPublicKey => "admin:public_key",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The scopes a granted scope implies besides itself (as GitHub's do).
    fn implied(self) -> &'static [Scope] {
        match self {
            Self::WritePackages => &[Scope::ReadPackages],
            Self::Codespace => &[Scope::CodespaceSecrets],
            Self::WritePublicKey => &[Scope::ReadPublicKey],
            Self::AdminPublicKey => &[Scope::WritePublicKey, Scope::ReadPublicKey],
            _ => &[],
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes as granted: [`Scopes::has`] answers with implications applied, while
/// [`Scopes::iter`] yields only what was granted (what `X-OAuth-Scopes` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Scopes {
    granted: u16,
    effective: u16,
}

impl Scopes {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn all() -> Self {
        Self::from_iter(Scope::ALL)
    }

    /// Parses scope words; the error carries the first unknown word.
    pub fn parse<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        words
            .into_iter()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(|w| Scope::parse(w).ok_or_else(|| w.to_owned()))
            .collect()
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.effective & scope.bit() != 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        Scope::ALL
            .into_iter()
            .filter(|s| self.granted & s.bit() != 0)
    }

    /// The granted scopes as GitHub writes them in `X-OAuth-Scopes`: comma and space separated.
    pub fn header_value(&self) -> String {
        self.iter()
            .map(Scope::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The granted scopes as stored: space separated.
    pub fn to_words(&self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut s = Scopes::none();
        for scope in iter {
            s.granted |= scope.bit();
            s.effective |= scope.bit();
            for implied in scope.implied() {
                s.effective |= implied.bit();
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips_through_its_word() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn implications() {
        let s = Scopes::parse(["write:packages", "codespace"]).unwrap();
        assert!(s.has(Scope::ReadPackages));
        assert!(s.has(Scope::CodespaceSecrets));
        assert!(!s.has(Scope::DeletePackages));
        assert_eq!(
            s.header_value(),
            "write:packages, codespace",
            "implied scopes are not listed"
        );
        let r = Scopes::parse(["read:packages"]).unwrap();
        assert!(!r.has(Scope::WritePackages), "read does not imply write");
    }

    #[test]
    fn unknown_words_are_named() {
        assert_eq!(Scopes::parse(["repo", "gist"]).unwrap_err(), "gist");
    }
}
