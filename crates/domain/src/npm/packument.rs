//! The package document ("packument") npm's clients read: every version's manifest with where its
//! tarball is and its digests, the dist-tags, and when each version was published. Two forms, as
//! npm's registry serves them: the full one, and the abbreviated one installers ask for
//! (`Accept: application/vnd.npm.install-v1+json`) with only what resolving and installing need.

use serde_json::{Map, Value, json};

use super::{DistTag, NpmPackageName, NpmVersion};

/// One published version as the registry keeps it.
#[derive(Debug, Clone)]
pub struct StoredVersion<'a> {
    pub version: &'a NpmVersion,
    /// The manifest as published (its `dist` is replaced by the registry's).
    pub manifest: &'a Map<String, Value>,
    pub integrity: &'a str,
    pub shasum: &'a str,
    /// Where its tarball is served.
    pub tarball: String,
    /// When it was published (RFC 3339).
    pub published: &'a str,
    /// Its deprecation message, if it is deprecated.
    pub deprecated: Option<&'a str>,
}

/// The fields of a version the abbreviated form keeps (npm's registry's list).
const ABBREVIATED: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "engines",
    "os",
    "cpu",
    "funding",
    "license",
    "_hasShrinkwrap",
    "hasInstallScript",
];

/// The packument of `name`: its `versions` (oldest first), `tags`, and the times the package
/// was `created` and last `modified` (RFC 3339); `abbreviated` for the installers' form.
pub fn packument(
    name: &NpmPackageName,
    versions: &[StoredVersion<'_>],
    tags: &[(DistTag, NpmVersion)],
    (created, modified): (&str, &str),
    abbreviated: bool,
) -> Value {
    let dist_tags: Map<String, Value> = tags
        .iter()
        .map(|(t, v)| (t.as_str().to_owned(), json!(v.as_str())))
        .collect();
    let mut by_version = Map::new();
    for v in versions {
        let mut manifest = if abbreviated {
            v.manifest
                .iter()
                .filter(|(k, _)| ABBREVIATED.contains(&k.as_str()))
                .map(|(k, value)| (k.clone(), value.clone()))
                .collect()
        } else {
            v.manifest.clone()
        };
        manifest.insert(
            "dist".into(),
            json!({ "integrity": v.integrity, "shasum": v.shasum, "tarball": v.tarball }),
        );
        match v.deprecated {
            Some(message) => manifest.insert("deprecated".into(), json!(message)),
            None => manifest.remove("deprecated"),
        };
        by_version.insert(v.version.as_str().to_owned(), Value::Object(manifest));
    }
    if abbreviated {
        return json!({
            "name": name.to_string(),
            "modified": modified,
            "dist-tags": dist_tags,
            "versions": by_version,
        });
    }
    let mut time = Map::new();
    time.insert("created".into(), json!(created));
    time.insert("modified".into(), json!(modified));
    for v in versions {
        time.insert(v.version.as_str().to_owned(), json!(v.published));
    }
    // What npm shows of the package (`npm view`) comes from the version `latest` names.
    let latest = tags
        .iter()
        .find(|(t, _)| t.as_str() == "latest")
        .and_then(|(_, v)| versions.iter().find(|s| s.version == v));
    let about = |field: &str| {
        latest
            .and_then(|v| v.manifest.get(field))
            .cloned()
            .unwrap_or(Value::Null)
    };
    json!({
        "_id": name.to_string(),
        "name": name.to_string(),
        "description": about("description"),
        "dist-tags": dist_tags,
        "versions": by_version,
        "time": time,
        "license": about("license"),
        "readme": about("readme"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_and_abbreviated_forms_carry_each_version_with_the_registrys_dist() {
        let name = NpmPackageName::parse("@acme/lib").unwrap();
        let v1 = NpmVersion::parse("1.0.0").unwrap();
        let v2 = NpmVersion::parse("2.0.0-beta.1").unwrap();
        let manifest = |version: &str| {
            json!({
                "name": "@acme/lib", "version": version, "description": format!("lib {version}"),
                "dependencies": { "left-pad": "^1.3.0" }, "scripts": { "test": "true" },
                "dist": { "tarball": "http://client-side/x.tgz", "integrity": "sha512-client" },
                "deprecated": "stale from the client",
            })
            .as_object()
            .unwrap()
            .clone()
        };
        let (m1, m2) = (manifest("1.0.0"), manifest("2.0.0-beta.1"));
        let versions = [
            StoredVersion {
                version: &v1,
                manifest: &m1,
                integrity: "sha512-one",
                shasum: "11",
                tarball: "http://berth/npm/@acme/lib/-/lib-1.0.0.tgz".into(),
                published: "2026-01-01T00:00:00Z",
                deprecated: Some("use 2"),
            },
            StoredVersion {
                version: &v2,
                manifest: &m2,
                integrity: "sha512-two",
                shasum: "22",
                tarball: "http://berth/npm/@acme/lib/-/lib-2.0.0-beta.1.tgz".into(),
                published: "2026-02-01T00:00:00Z",
                deprecated: None,
            },
        ];
        let tags = [
            (DistTag::parse("latest").unwrap(), v1.clone()),
            (DistTag::parse("next").unwrap(), v2.clone()),
        ];
        let times = ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");

        let full = packument(&name, &versions, &tags, times, false);
        assert_eq!(full["name"], "@acme/lib");
        assert_eq!(
            full["description"], "lib 1.0.0",
            "from the version latest names"
        );
        assert_eq!(
            full["dist-tags"],
            json!({ "latest": "1.0.0", "next": "2.0.0-beta.1" })
        );
        let one = &full["versions"]["1.0.0"];
        assert_eq!(
            one["dist"],
            json!({ "integrity": "sha512-one", "shasum": "11", "tarball": "http://berth/npm/@acme/lib/-/lib-1.0.0.tgz" })
        );
        assert_eq!(
            one["deprecated"], "use 2",
            "the registry's word, not the client's"
        );
        assert_eq!(one["scripts"]["test"], "true");
        assert!(full["versions"]["2.0.0-beta.1"].get("deprecated").is_none());
        assert_eq!(full["time"]["2.0.0-beta.1"], "2026-02-01T00:00:00Z");
        assert_eq!(full["time"]["created"], "2026-01-01T00:00:00Z");

        let short = packument(&name, &versions, &tags, times, true);
        assert_eq!(short["modified"], "2026-02-01T00:00:00Z");
        assert!(short.get("time").is_none() && short.get("readme").is_none());
        let one = &short["versions"]["1.0.0"];
        assert_eq!(one["dependencies"]["left-pad"], "^1.3.0");
        assert_eq!(
            one["dist"]["tarball"],
            "http://berth/npm/@acme/lib/-/lib-1.0.0.tgz"
        );
        assert_eq!(one["deprecated"], "use 2");
        assert!(one.get("scripts").is_none() && one.get("description").is_none());
    }
}
