//! The OCI distribution vocabulary: digests, repository names, tags and references, each parsed
//! once into a type that cannot hold a bad value (OCI distribution-spec, "Pulling manifests" and
//! image-spec `descriptor.md` for the grammars).

use std::fmt;

/// A digest algorithm Berth verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded hash.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// Why a digest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest {0:?} is not of the form algorithm:hex")]
    Form(String),
    #[error("digest algorithm {0:?} is not supported (use sha256 or sha512)")]
    Algorithm(String),
    #[error("digest {0:?} does not have the length or lower-case hex its algorithm requires")]
    Encoding(String),
}

/// A content digest, `sha256:<64 hex>` or `sha512:<128 hex>`, lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestError::Form(s.to_owned()))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            // The grammar allows other algorithms; a registry may refuse those it cannot verify.
            a if !a.is_empty()
                && a.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c)
                }) =>
            {
                return Err(DigestError::Algorithm(a.to_owned()));
            }
            _ => return Err(DigestError::Form(s.to_owned())),
        };
        if hex.len() != algorithm.hex_len()
            || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(DigestError::Encoding(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// Builds a digest from an algorithm and raw hash bytes.
    pub fn from_hash(algorithm: Algorithm, hash: &[u8]) -> Self {
        let mut s = String::with_capacity(algorithm.as_str().len() + 1 + hash.len() * 2);
        s.push_str(algorithm.as_str());
        s.push(':');
        for b in hash {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }

    pub fn algorithm(&self) -> Algorithm {
        if self.0.starts_with("sha512:") {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        }
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.0[self.algorithm().as_str().len() + 1..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A running hash for one of the digest algorithms Berth verifies (pure computation).
#[derive(Debug, Clone)]
pub enum DigestHasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl DigestHasher {
    pub fn new(algorithm: Algorithm) -> Self {
        use sha2::Digest as _;
        match algorithm {
            Algorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Self::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest as _;
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Digest {
        use sha2::Digest as _;
        match self {
            Self::Sha256(h) => Digest::from_hash(Algorithm::Sha256, &h.finalize()),
            Self::Sha512(h) => Digest::from_hash(Algorithm::Sha512, &h.finalize()),
        }
    }
}

impl Digest {
    /// The digest of `bytes` under `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Self {
        let mut h = DigestHasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A repository name in the registry: lower-case path components joined by `/`, each
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`. Berth needs at least two: the owner's login and the
/// package name (`owner/name[/more]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepositoryName(String);

/// Why a repository name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryNameError {
    #[error(
        "repository name {0:?} must be OWNER/NAME: lower-case letters, digits and separators (., _, __, -)"
    )]
    Invalid(String),
    #[error("repository name {0:?} is longer than 255 characters")]
    TooLong(String),
}

fn valid_component(c: &str) -> bool {
    // alnum runs separated by exactly one of ".", "_", "__" or one or more "-".
    let bytes = c.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !(bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "."
            || sep == "_"
            || sep == "__"
            || (!sep.is_empty() && sep.bytes().all(|b| b == b'-'));
        if !ok {
            return false;
        }
    }
    true
}

impl RepositoryName {
    pub const MAX_LEN: usize = 255;

    pub fn parse(s: &str) -> Result<Self, RepositoryNameError> {
        if s.len() > Self::MAX_LEN {
            return Err(RepositoryNameError::TooLong(s.to_owned()));
        }
        let components: Vec<&str> = s.split('/').collect();
        if components.len() < 2 || !components.iter().all(|c| valid_component(c)) {
            return Err(RepositoryNameError::Invalid(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The first component: the owning account's login (compared case-insensitively).
    pub fn owner(&self) -> &str {
        self.0.split_once('/').map_or(&self.0, |(o, _)| o)
    }

    /// Everything after the owner: the package name.
    pub fn package(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, p)| p)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let first_ok = b
            .first()
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        let rest_ok = b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        (first_ok && rest_ok && b.len() <= 128).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a manifest URL names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// A reference with a `:` is a digest (and must be a valid one); otherwise a tag.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        if s.contains(':') {
            return Digest::parse(s).map(Reference::Digest);
        }
        Tag::parse(s)
            .map(Reference::Tag)
            .ok_or_else(|| DigestError::Form(s.to_owned()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H64: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digests() {
        let d = Digest::parse(&format!("sha256:{H64}")).unwrap();
        assert_eq!((d.algorithm(), d.hex()), (Algorithm::Sha256, H64));
        let h128 = "a".repeat(128);
        assert_eq!(
            Digest::parse(&format!("sha512:{h128}"))
                .unwrap()
                .algorithm(),
            Algorithm::Sha512
        );
        let cases = [
            ("sha256", "algorithm:hex"),
            ("sha256:abc", "length"),
            (&format!("sha256:{}", H64.to_uppercase()), "lower-case"),
            (&format!("sha512:{H64}"), "length"),
            ("md5:abc", "not supported"),
            (":abc", "algorithm:hex"),
            ("SHA256:abc", "algorithm:hex"),
        ];
        for (s, msg) in cases {
            assert!(
                Digest::parse(s).unwrap_err().to_string().contains(msg),
                "{s}"
            );
        }
        assert_eq!(
            Digest::from_hash(Algorithm::Sha256, &[0xab, 0x01]).as_str(),
            "sha256:ab01"
        );
    }

    #[test]
    fn repository_names() {
        for ok in ["a/b", "octo/app", "octo/a.b_c__d--e/f9", "o/x/y/z", "0/1"] {
            let n = RepositoryName::parse(ok).unwrap();
            assert_eq!(n.as_str(), ok);
        }
        let n = RepositoryName::parse("octo/tools/cli").unwrap();
        assert_eq!((n.owner(), n.package()), ("octo", "tools/cli"));
        for bad in [
            "app",
            "Octo/app",
            "octo/",
            "/app",
            "octo//app",
            "octo/-app",
            "octo/app-",
            "octo/a..b",
            "octo/a___b",
            "octo/a b",
            &format!("o/{}", "a".repeat(255)),
        ] {
            assert!(RepositoryName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_and_references() {
        assert!(Tag::parse("latest").is_some());
        assert!(Tag::parse("_v1.0-rc.1").is_some());
        assert!(Tag::parse(&"t".repeat(128)).is_some());
        for bad in ["", ".x", "-x", "a/b", "a:b", &"t".repeat(129)] {
            assert!(Tag::parse(bad).is_none(), "{bad}");
        }
        assert!(matches!(Reference::parse("v1"), Ok(Reference::Tag(_))));
        assert!(matches!(
            Reference::parse(&format!("sha256:{H64}")),
            Ok(Reference::Digest(_))
        ));
        assert!(Reference::parse("sha256:nothex").is_err());
        assert!(Reference::parse("bad tag").is_err());
    }
}
