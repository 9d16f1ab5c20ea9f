//! Which registry endpoint a `/v2/…` path names. Repository names contain `/`, so routes are
//! recognised from their fixed suffixes rather than by a router pattern.

/// A registry endpoint with its path parameters (unvalidated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Base,
    Blob { name: &'a str, digest: &'a str },
    Uploads { name: &'a str },
    Upload { name: &'a str, id: &'a str },
    Manifest { name: &'a str, reference: &'a str },
    Tags { name: &'a str },
    Referrers { name: &'a str, digest: &'a str },
}

/// `rest` is the path after `/v2/`.
pub fn parse(rest: &str) -> Option<Route<'_>> {
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags { name });
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::Uploads { name });
    }
    let last = |marker: &str| {
        rest.rfind(marker)
            .map(|i| (&rest[..i], &rest[i + marker.len()..]))
            .filter(|(n, tail)| !n.is_empty() && !tail.is_empty() && !tail.contains('/'))
    };
    if let Some((name, id)) = last("/blobs/uploads/") {
        return Some(Route::Upload { name, id });
    }
    if let Some((name, digest)) = last("/blobs/") {
        return Some(Route::Blob { name, digest });
    }
    if let Some((name, reference)) = last("/manifests/") {
        return Some(Route::Manifest { name, reference });
    }
    if let Some((name, digest)) = last("/referrers/") {
        return Some(Route::Referrers { name, digest });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::Route::*;
    use super::*;

    #[test]
    fn routes() {
        let rows = [
            ("", Some(Base)),
            (
                "o/app/blobs/sha256:ab",
                Some(Blob {
                    name: "o/app",
                    digest: "sha256:ab",
                }),
            ),
            ("o/a/b/blobs/uploads/", Some(Uploads { name: "o/a/b" })),
            ("o/a/blobs/uploads", Some(Uploads { name: "o/a" })),
            (
                "o/a/blobs/uploads/1234-ab",
                Some(Upload {
                    name: "o/a",
                    id: "1234-ab",
                }),
            ),
            (
                "o/a/manifests/latest",
                Some(Manifest {
                    name: "o/a",
                    reference: "latest",
                }),
            ),
            (
                "o/blobs/manifests/v1",
                Some(Manifest {
                    name: "o/blobs",
                    reference: "v1",
                }),
            ),
            (
                "o/manifests/blobs/sha256:x",
                Some(Blob {
                    name: "o/manifests",
                    digest: "sha256:x",
                }),
            ),
            ("o/a/tags/list", Some(Tags { name: "o/a" })),
            (
                "o/a/referrers/sha256:ab",
                Some(Referrers {
                    name: "o/a",
                    digest: "sha256:ab",
                }),
            ),
            ("o/a/nothing", None),
            ("o/a/manifests/", None),
            ("/manifests/x", None),
        ];
        for (path, want) in rows {
            assert_eq!(parse(path), want, "{path}");
        }
    }
}
