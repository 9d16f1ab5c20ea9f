//! Which npm endpoint a `/npm/…` path names. npm's clients write a scoped name `@scope/name` as
//! one segment (`@scope%2fname`, `%2F`, or `@scope/name` unescaped, depending on the client), so
//! the path is percent-decoded first and routes are recognised by their fixed words.

use std::borrow::Cow;

/// An npm endpoint with its path parameters (unvalidated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ping,
    Whoami,
    /// `-/user/org.couchdb.user:NAME`: the legacy login.
    Login {
        user: String,
    },
    /// `-/npm/v1/security/…`: the audit endpoints.
    Audit,
    DistTags {
        package: String,
    },
    DistTag {
        package: String,
        tag: String,
    },
    /// The package document; `rev` when the path ends `/-rev/REV` (npm's unpublish forms).
    Package {
        package: String,
        rev: bool,
    },
    Tarball {
        package: String,
        file: String,
        rev: bool,
    },
}

/// `rest` is the raw path after `/npm/`.
pub fn parse(rest: &str) -> Option<Route> {
    let decoded: Cow<'_, str> = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .ok()?;
    let path = decoded.trim_end_matches('/');
    if let Some(meta) = path.strip_prefix("-/") {
        return meta_route(meta);
    }
    let (path, rev) = match path.rsplit_once("/-rev/") {
        Some((before, _)) => (before, true),
        None => (path, false),
    };
    // npm's `unpublish VERSION` computes the tarball's path against the default registry, so
    // behind a scoped registry at `<base>/npm/` it asks for `<base>/npm/npm/@scope/…`.
    let path = path.strip_prefix("npm/").unwrap_or(path);
    if let Some((package, file)) = path.split_once("/-/") {
        return (!file.contains('/')).then(|| Route::Tarball {
            package: package.to_owned(),
            file: file.to_owned(),
            rev,
        });
    }
    (!path.is_empty()).then(|| Route::Package {
        package: path.to_owned(),
        rev,
    })
}

fn meta_route(meta: &str) -> Option<Route> {
    match meta {
        "ping" => return Some(Route::Ping),
        "whoami" => return Some(Route::Whoami),
        _ => {}
    }
    if meta.starts_with("npm/v1/security/") {
        return Some(Route::Audit);
    }
    if let Some(user) = meta.strip_prefix("user/org.couchdb.user:") {
        let user = user.split_once("/-rev/").map_or(user, |(u, _)| u);
        return Some(Route::Login {
            user: user.to_owned(),
        });
    }
    let tags = meta.strip_prefix("package/")?;
    if let Some(package) = tags.strip_suffix("/dist-tags") {
        return Some(Route::DistTags {
            package: package.to_owned(),
        });
    }
    let (package, tag) = tags.rsplit_once("/dist-tags/")?;
    Some(Route::DistTag {
        package: package.to_owned(),
        tag: tag.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(p: &str, rev: bool) -> Option<Route> {
        Some(Route::Package {
            package: p.into(),
            rev,
        })
    }

    fn tarball(p: &str, f: &str, rev: bool) -> Option<Route> {
        Some(Route::Tarball {
            package: p.into(),
            file: f.into(),
            rev,
        })
    }

    #[test]
    fn every_form_npm_pnpm_and_yarn_write_is_recognised() {
        for (path, expected) in [
            ("@acme%2flib", package("@acme/lib", false)),
            ("@acme%2Flib", package("@acme/lib", false)),
            ("%40acme%2flib", package("@acme/lib", false)),
            ("@acme/lib", package("@acme/lib", false)),
            ("@acme%2flib/-rev/3-abc", package("@acme/lib", true)),
            ("lodash", package("lodash", false)),
            (
                "@acme/lib/-/lib-1.0.0.tgz",
                tarball("@acme/lib", "lib-1.0.0.tgz", false),
            ),
            (
                "@acme%2flib/-/lib-1.0.0.tgz",
                tarball("@acme/lib", "lib-1.0.0.tgz", false),
            ),
            (
                "npm/@acme/lib/-/lib-1.0.0.tgz/-rev/4-x",
                tarball("@acme/lib", "lib-1.0.0.tgz", true),
            ),
            ("@acme/lib/-/a/b.tgz", None),
            ("-/ping", Some(Route::Ping)),
            ("-/whoami", Some(Route::Whoami)),
            (
                "-/user/org.couchdb.user:mona",
                Some(Route::Login {
                    user: "mona".into(),
                }),
            ),
            ("-/npm/v1/security/advisories/bulk", Some(Route::Audit)),
            ("-/npm/v1/security/audits/quick", Some(Route::Audit)),
            (
                "-/package/@acme%2flib/dist-tags",
                Some(Route::DistTags {
                    package: "@acme/lib".into(),
                }),
            ),
            (
                "-/package/@acme%2flib/dist-tags/next",
                Some(Route::DistTag {
                    package: "@acme/lib".into(),
                    tag: "next".into(),
                }),
            ),
            ("-/nothing", None),
            ("", None),
            ("%ff", None),
        ] {
            assert_eq!(parse(path), expected, "{path}");
        }
    }
}
