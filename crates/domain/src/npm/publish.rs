//! What `npm publish` sends (`PUT /<registry>/@scope%2fname`): one JSON document holding the
//! version's manifest, the dist-tags to point at it, and the tarball itself, base64-encoded, as
//! its one attachment. Checked here before anything is stored: the names agree, there is exactly
//! one version and one tarball, its length is what the client said, and its `sha512` integrity
//! and `sha1` shasum are the ones the client computed (when it sent them; npm's client always
//! does).

use base64::Engine as _;
use serde_json::{Map, Value};
use sha1::Digest as _;

use super::{DistTag, NpmNameError, NpmPackageName, NpmVersion};

/// Why a publish document is refused; each says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("the publish document is not JSON: {0}")]
    NotJson(String),
    #[error("the document publishes {found:?} but was sent to {expected}")]
    NameMismatch { expected: String, found: String },
    #[error("a publish carries exactly one version; this one carries {0}")]
    VersionCount(usize),
    #[error("a publish carries exactly one tarball attachment; this one carries {0}")]
    AttachmentCount(usize),
    #[error(transparent)]
    Name(#[from] NpmNameError),
    #[error("version {key} says its name and version are {name:?} and {version:?}")]
    ManifestMismatch {
        key: String,
        name: String,
        version: String,
    },
    #[error("the tarball attachment is not base64")]
    NotBase64,
    #[error("the tarball is {actual} bytes, not the {said} its attachment says")]
    Length { said: u64, actual: usize },
    #[error("the tarball's {what} is {actual}, not the {said} the client computed")]
    Digest {
        what: &'static str,
        said: String,
        actual: String,
    },
    #[error("dist-tag {tag} must point at the version published ({version}), not {found:?}")]
    TagTarget {
        tag: String,
        version: String,
        found: String,
    },
    #[error("the document misses {0}")]
    Missing(&'static str),
    /// No `_attachments` at all: not a publish, but a package document sent back (npm's
    /// `deprecate` and `unpublish VERSION` do that).
    #[error("the document carries no tarball (_attachments)")]
    NoAttachments,
}

/// A checked publication of one version.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    pub name: NpmPackageName,
    pub version: NpmVersion,
    /// The version's manifest as the client sent it, `dist` included (`dist.tarball` is the
    /// registry's to set when it serves the version).
    pub manifest: Map<String, Value>,
    /// The dist-tags to point at this version (npm sends `latest`, or its `--tag`).
    pub tags: Vec<DistTag>,
    pub tarball: Vec<u8>,
    /// `sha512-<base64>`, as npm writes it.
    pub integrity: String,
    /// The hex SHA-1 of the tarball.
    pub shasum: String,
}

/// The parts of a publish document Berth reads. The attachment's data is borrowed from the body
/// (base64 has nothing to unescape), so a large tarball is not copied before it is decoded.
#[derive(serde::Deserialize)]
struct Document<'a> {
    name: Option<String>,
    versions: Option<Map<String, Value>>,
    #[serde(rename = "_attachments", borrow)]
    attachments: Option<std::collections::BTreeMap<String, Attachment<'a>>>,
    #[serde(rename = "dist-tags")]
    dist_tags: Option<Map<String, Value>>,
}

#[derive(serde::Deserialize)]
struct Attachment<'a> {
    #[serde(borrow)]
    data: Option<std::borrow::Cow<'a, str>>,
    length: Option<u64>,
}

/// Checks the publish document `body` sent for package `to`.
pub fn parse_publication(to: &NpmPackageName, body: &[u8]) -> Result<Publication, PublishError> {
    let doc: Document<'_> =
        serde_json::from_slice(body).map_err(|e| PublishError::NotJson(e.to_string()))?;
    if doc.attachments.is_none() {
        return Err(PublishError::NoAttachments);
    }
    let name = doc
        .name
        .as_deref()
        .ok_or(PublishError::Missing("\"name\""))?;
    if name != to.to_string() {
        return Err(PublishError::NameMismatch {
            expected: to.to_string(),
            found: name.to_owned(),
        });
    }
    let versions = doc
        .versions
        .as_ref()
        .ok_or(PublishError::Missing("versions"))?;
    let [(key, manifest)] = versions.iter().collect::<Vec<_>>()[..] else {
        return Err(PublishError::VersionCount(versions.len()));
    };
    let version = NpmVersion::parse(key)?;
    let manifest = manifest
        .as_object()
        .ok_or(PublishError::Missing("the version's manifest object"))?;
    let said = |field: &str| manifest.get(field).and_then(Value::as_str).unwrap_or("");
    if said("name") != name || said("version") != key {
        return Err(PublishError::ManifestMismatch {
            key: key.clone(),
            name: said("name").to_owned(),
            version: said("version").to_owned(),
        });
    }
    let attachments = doc
        .attachments
        .as_ref()
        .ok_or(PublishError::NoAttachments)?;
    let [(_, attachment)] = attachments.iter().collect::<Vec<_>>()[..] else {
        return Err(PublishError::AttachmentCount(attachments.len()));
    };
    let tarball = attachment
        .data
        .as_deref()
        .ok_or(PublishError::Missing("the attachment's \"data\""))
        .and_then(|data| {
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| PublishError::NotBase64)
        })?;
    if let Some(said) = attachment.length
        && said != tarball.len() as u64
    {
        return Err(PublishError::Length {
            said,
            actual: tarball.len(),
        });
    }
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tarball))
    );
    let shasum = hex(&sha1::Sha1::digest(&tarball));
    let dist = manifest.get("dist");
    for (what, field, actual) in [
        ("sha512 integrity", "integrity", &integrity),
        ("sha1 shasum", "shasum", &shasum),
    ] {
        if let Some(said) = dist.and_then(|d| d.get(field)).and_then(Value::as_str)
            && said != actual
        {
            return Err(PublishError::Digest {
                what,
                said: said.to_owned(),
                actual: actual.clone(),
            });
        }
    }
    let mut tags = Vec::new();
    for (tag, target) in doc.dist_tags.iter().flatten() {
        let tag = DistTag::parse(tag)?;
        if target.as_str() != Some(key.as_str()) {
            return Err(PublishError::TagTarget {
                tag: tag.as_str().to_owned(),
                version: key.clone(),
                found: target.to_string(),
            });
        }
        tags.push(tag);
    }
    Ok(Publication {
        name: to.clone(),
        version,
        manifest: manifest.clone(),
        tags,
        tarball,
        integrity,
        shasum,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The tarball of these tests: its digests as Python's hashlib computes them.
    const DATA: &str = "YSB0YXJiYWxsLCBpbiBhIHRlc3Q="; // "a tarball, in a test", 20 bytes
    const SHA1: &str = "14a7a25f6432541ca62d955df1a923a08602f6bd";
    const SHA512: &str = "sha512-IpXG2ld77xn9+tDdgEX5RpK41Kz6qnMyzRE1h4kDZWNp8rYcPQXAOQTZ/SJ5fWuwybobXSJTwDac704muSkkxg==";

    /// A document as npm 10 sends it for `@acme/lib@1.0.0`.
    fn document() -> Value {
        json!({
            "_id": "@acme/lib",
            "name": "@acme/lib",
            "dist-tags": { "latest": "1.0.0" },
            "versions": { "1.0.0": {
                "name": "@acme/lib",
                "version": "1.0.0",
                "dependencies": { "left-pad": "^1.3.0" },
                "dist": { "integrity": SHA512, "shasum": SHA1, "tarball": "http://x/npm/@acme/lib/-/@acme/lib-1.0.0.tgz" }
            }},
            "access": null,
            "_attachments": { "@acme/lib-1.0.0.tgz": {
                "content_type": "application/octet-stream", "data": DATA, "length": 20
            }}
        })
    }

    fn publish(doc: &Value) -> Result<Publication, PublishError> {
        let to = NpmPackageName::parse("@acme/lib").unwrap();
        parse_publication(&to, doc.to_string().as_bytes())
    }

    #[test]
    fn a_publication_carries_one_version_its_tags_and_a_tarball_whose_digests_match() {
        let p = publish(&document()).unwrap();
        assert_eq!(p.version.as_str(), "1.0.0");
        assert_eq!(p.tarball, b"a tarball, in a test");
        assert_eq!((p.integrity.as_str(), p.shasum.as_str()), (SHA512, SHA1));
        assert_eq!(
            p.tags.iter().map(DistTag::as_str).collect::<Vec<_>>(),
            ["latest"]
        );
        assert_eq!(p.manifest["dependencies"]["left-pad"], "^1.3.0");
        // Digests the client did not send are computed all the same.
        let mut doc = document();
        doc["versions"]["1.0.0"]["dist"] = json!({});
        assert_eq!(publish(&doc).unwrap().integrity, SHA512);
    }

    #[test]
    fn every_inconsistency_is_refused_naming_it() {
        // Each row: a change to the good document, and words of its refusal.
        type Change = fn(&mut Value);
        let rows: Vec<(Change, &str)> = vec![
            (
                |d| d["name"] = json!("@acme/other"),
                "publishes \"@acme/other\" but was sent to @acme/lib",
            ),
            (
                |d| {
                    d.as_object_mut().unwrap().remove("name");
                },
                "misses \"name\"",
            ),
            (
                |d| d["versions"]["1.0.1"] = json!({}),
                "exactly one version; this one carries 2",
            ),
            (
                |d| d["versions"] = json!({}),
                "exactly one version; this one carries 0",
            ),
            (
                |d| d["versions"] = json!({ "v1": {} }),
                "not a SemVer 2.0 version",
            ),
            (
                |d| d["versions"]["1.0.0"]["version"] = json!("1.0.1"),
                "says its name and version are",
            ),
            (
                |d| d["_attachments"]["x.tgz"] = json!({}),
                "exactly one tarball attachment; this one carries 2",
            ),
            (
                |d| d["_attachments"]["@acme/lib-1.0.0.tgz"]["data"] = json!("%%%"),
                "not base64",
            ),
            (
                |d| d["_attachments"]["@acme/lib-1.0.0.tgz"]["length"] = json!(21),
                "20 bytes, not the 21",
            ),
            (
                |d| d["versions"]["1.0.0"]["dist"]["shasum"] = json!("00"),
                "sha1 shasum is 14a7a25f",
            ),
            (
                |d| d["versions"]["1.0.0"]["dist"]["integrity"] = json!("sha512-AAAA"),
                "sha512 integrity is sha512-IpXG",
            ),
            (
                |d| d["dist-tags"] = json!({ "1.x": "1.0.0" }),
                "reads as a version range",
            ),
            (
                |d| d["dist-tags"] = json!({ "next": "2.0.0" }),
                "must point at the version published",
            ),
        ];
        for (i, (change, words)) in rows.into_iter().enumerate() {
            let mut doc = document();
            change(&mut doc);
            let e = publish(&doc).expect_err(&format!("row {i}"));
            assert!(e.to_string().contains(words), "row {i}: {e}");
        }
        assert!(matches!(
            parse_publication(&NpmPackageName::parse("@acme/lib").unwrap(), b"{"),
            Err(PublishError::NotJson(_))
        ));
        let mut sent_back = document();
        sent_back.as_object_mut().unwrap().remove("_attachments");
        sent_back["versions"]["1.0.1"] = json!({});
        assert_eq!(publish(&sent_back), Err(PublishError::NoAttachments));
    }
}
