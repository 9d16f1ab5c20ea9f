//! Image references as Docker reads them (`busybox` is `docker.io/library/busybox:latest`),
//! parsed by oci-spec's `Reference` (a port of `distribution/reference`) and tied to the
//! registry host the logins are keyed by.

use std::fmt;

use berth_domain::logins::RegistryHost;
use berth_domain::oci::Digest;
use oci_spec::distribution::Reference;

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("image reference {reference:?} is not valid: {reason}")]
    Invalid { reference: String, reason: String },
}

/// A parsed image reference: registry, repository, and a tag or a digest (or both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub host: RegistryHost,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let invalid = |reason: String| ReferenceError::Invalid {
            reference: s.to_owned(),
            reason,
        };
        let parsed: Reference = s.parse().map_err(|e| invalid(format!("{e}")))?;
        // The grammar lets an upper-case first component through as a "domain" that is then
        // not one; Docker refuses such names, and so do we.
        if parsed.repository().chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid("repository names must be lower-case".into()));
        }
        let host = RegistryHost::from_reference_domain(parsed.registry())
            .map_err(|e| invalid(e.to_string()))?;
        let digest = parsed
            .digest()
            .map(Digest::parse)
            .transpose()
            .map_err(|e| invalid(e.to_string()))?;
        // A digest pins the content; Docker keeps the tag only for display.
        Ok(Self {
            host,
            repository: parsed.repository().to_owned(),
            tag: parsed.tag().map(str::to_owned),
            digest,
        })
    }

    /// What to ask `/v2/<name>/manifests/` for: the digest if there is one, else the tag.
    pub fn manifest_reference(&self) -> &str {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.as_str(),
            (None, Some(t)) => t,
            (None, None) => "latest",
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_read_as_docker_reads_them() {
        let table: &[(&str, &str, &str, Option<&str>, bool)] = &[
            // (reference, host, repository, tag, has digest)
            (
                "busybox",
                "docker.io",
                "library/busybox",
                Some("latest"),
                false,
            ),
            (
                "busybox:1.36",
                "docker.io",
                "library/busybox",
                Some("1.36"),
                false,
            ),
            ("acme/app", "docker.io", "acme/app", Some("latest"), false),
            (
                "docker.io/library/busybox",
                "docker.io",
                "library/busybox",
                Some("latest"),
                false,
            ),
            (
                "index.docker.io/library/busybox:1",
                "docker.io",
                "library/busybox",
                Some("1"),
                false,
            ),
            (
                "ghcr.io/acme/app:v1",
                "ghcr.io",
                "acme/app",
                Some("v1"),
                false,
            ),
            (
                "localhost:5000/app",
                "localhost:5000",
                "app",
                Some("latest"),
                false,
            ),
            (
                "127.0.0.1:5000/acme/app:v2",
                "127.0.0.1:5000",
                "acme/app",
                Some("v2"),
                false,
            ),
            (
                "Registry.Example.com/a/b/c:t",
                "registry.example.com",
                "a/b/c",
                Some("t"),
                false,
            ),
        ];
        for (s, host, repo, tag, digest) in table {
            let r = ImageRef::parse(s).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.host.as_str(), *host, "{s}");
            assert_eq!(r.repository, *repo, "{s}");
            assert_eq!(r.tag.as_deref(), *tag, "{s}");
            assert_eq!(r.digest.is_some(), *digest, "{s}");
        }
        let pinned = ImageRef::parse(&format!("ghcr.io/acme/app@{D}")).unwrap();
        assert_eq!(pinned.manifest_reference(), D);
        assert_eq!(pinned.tag, None);
        let both = ImageRef::parse(&format!("127.0.0.1:5000/app:v1@{D}")).unwrap();
        assert_eq!(both.manifest_reference(), D, "the digest wins over the tag");
        assert_eq!(both.to_string(), format!("127.0.0.1:5000/app:v1@{D}"));
        for bad in [
            "",
            "UPPER/case",
            "a:b:c",
            "ghcr.io/app@sha256:abc",
            "has space",
        ] {
            let e = ImageRef::parse(bad).unwrap_err();
            assert!(e.to_string().contains("is not valid"), "{bad}: {e}");
        }
    }
}
