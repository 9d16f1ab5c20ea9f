//! Parsing and checking manifests as pushed: OCI image manifests and indexes (image-spec
//! `manifest.md`, `image-index.md`), Docker schema 2 manifests and manifest lists, and artifacts
//! (`artifactType`, `subject`). Only the fields the registry acts on are read; the document is
//! stored and served byte for byte as pushed.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::oci::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Layers that the registry need not hold (their `urls` say where they are).
const NON_DISTRIBUTABLE: [&str; 4] = [
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// Whether a manifest lists blobs (image) or other manifests (index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Image,
    Index,
}

/// A descriptor: what a manifest points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub artifact_type: Option<String>,
    /// Embedded content (base64), when the descriptor carries it.
    pub data: Option<String>,
}

impl Descriptor {
    /// Whether the registry must hold the blob this descriptor names.
    pub fn must_exist(&self) -> bool {
        !NON_DISTRIBUTABLE.contains(&self.media_type.as_str())
    }
}

/// A manifest as the registry understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub kind: ManifestKind,
    /// `artifactType`, or for an image manifest without one, its config's media type (the
    /// referrers API's rule).
    pub artifact_type: Option<String>,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub annotations: BTreeMap<String, String>,
}

/// Why a manifest was refused: always `MANIFEST_INVALID` on the wire, with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ManifestError(pub String);

fn invalid(msg: impl Into<String>) -> ManifestError {
    ManifestError(msg.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: Option<String>,
    size: Option<i64>,
    artifact_type: Option<String>,
    data: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A list of descriptors (`layers`, `manifests`), each named by its place in errors.
fn descriptors(raw: Vec<RawDescriptor>, list: &str) -> Result<Vec<Descriptor>, ManifestError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, d)| descriptor(d, &format!("{list}[{i}]")))
        .collect()
}

fn descriptor(raw: RawDescriptor, at: &str) -> Result<Descriptor, ManifestError> {
    let media_type = raw
        .media_type
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid(format!("{at}: mediaType is missing")))?;
    let digest = raw
        .digest
        .ok_or_else(|| invalid(format!("{at}: digest is missing")))?;
    let digest = Digest::parse(&digest).map_err(|e| invalid(format!("{at}: {e}")))?;
    let size = raw
        .size
        .ok_or_else(|| invalid(format!("{at}: size is missing")))?;
    let size =
        u64::try_from(size).map_err(|_| invalid(format!("{at}: size must not be negative")))?;
    Ok(Descriptor {
        media_type,
        digest,
        size,
        artifact_type: raw.artifact_type,
        data: raw.data,
    })
}

fn kind_of(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
        OCI_INDEX | DOCKER_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

/// Parses a pushed manifest. `content_type` is the request's `Content-Type` (without
/// parameters), if any; when the document names its `mediaType` the two must agree.
pub fn parse_manifest(body: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    let raw: RawManifest = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the manifest is not valid JSON: {e}")))?;
    if raw.schema_version != Some(2) {
        return Err(invalid(
            "schemaVersion must be 2 (schema 1 manifests are not supported)",
        ));
    }
    let content_type = content_type.filter(|c| kind_of(c).is_some());
    let media_type = match (raw.media_type.as_deref(), content_type) {
        (Some(m), Some(c)) if m != c => {
            return Err(invalid(format!(
                "the manifest's mediaType {m} does not match the Content-Type {c}"
            )));
        }
        (Some(m), _) => m.to_owned(),
        (None, Some(c)) => c.to_owned(),
        // No media type anywhere: judge by shape, as the image-spec allows.
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    };
    let kind = kind_of(&media_type)
        .ok_or_else(|| invalid(format!("unsupported manifest media type {media_type}")))?;
    let subject = raw.subject.map(|s| descriptor(s, "subject")).transpose()?;
    let (config, layers, manifests) = match kind {
        ManifestKind::Image => {
            let config = descriptor(
                raw.config
                    .ok_or_else(|| invalid("an image manifest needs a config"))?,
                "config",
            )?;
            let layers = raw
                .layers
                .ok_or_else(|| invalid("an image manifest needs layers"))?;
            (Some(config), descriptors(layers, "layers")?, Vec::new())
        }
        ManifestKind::Index => {
            let manifests = raw
                .manifests
                .ok_or_else(|| invalid("an index needs manifests"))?;
            (None, Vec::new(), descriptors(manifests, "manifests")?)
        }
    };
    let artifact_type = raw
        .artifact_type
        .or_else(|| config.as_ref().map(|c| c.media_type.clone()));
    Ok(Manifest {
        media_type,
        kind,
        artifact_type,
        config,
        layers,
        manifests,
        subject,
        annotations: raw.annotations,
    })
}

impl Manifest {
    /// Blobs that must be in the repository before this manifest is accepted.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config
            .iter()
            .chain(&self.layers)
            .filter(|d| d.must_exist())
    }
}

/// The label that names an image's source repository (image-spec `annotations.md`).
pub const SOURCE_LABEL: &str = "org.opencontainers.image.source";

/// The `OWNER/REPO` an image's config names in its [`SOURCE_LABEL`] label: a URL whose path ends
/// `/OWNER/REPO` (a trailing `.git` or `/` is ignored), or `OWNER/REPO` itself.
pub fn source_from_config(config: &[u8]) -> Option<(crate::Login, crate::RepoName)> {
    #[derive(Deserialize)]
    struct Inner {
        #[serde(rename = "Labels")]
        labels: Option<BTreeMap<String, String>>,
    }
    #[derive(Deserialize)]
    struct Config {
        config: Option<Inner>,
    }
    let parsed: Config = serde_json::from_slice(config).ok()?;
    let value = parsed.config?.labels?.remove(SOURCE_LABEL)?;
    parse_source(&value)
}

/// The `OWNER/REPO` a source URL names (see [`source_from_config`]).
pub fn parse_source(value: &str) -> Option<(crate::Login, crate::RepoName)> {
    let path = match value.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        None => value,
    };
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('/');
    let mut segments = path.rsplit('/');
    let repo = segments.next()?;
    let owner = segments.next()?;
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    Some((
        crate::Login::parse(owner).ok()?,
        crate::RepoName::parse(repo).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: char) -> String {
        format!("sha256:{}", n.to_string().repeat(64))
    }

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":10}}]{extra}}}"#,
            d('a'),
            d('b')
        )
    }

    #[test]
    fn image_manifests() {
        let m = parse_manifest(image("").as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert_eq!(m.required_blobs().count(), 2);
        let with_subject = image(&format!(
            r#","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":5}},"artifactType":"application/x.sig","annotations":{{"k":"v"}}"#,
            d('c')
        ));
        let m = parse_manifest(with_subject.as_bytes(), None).unwrap();
        assert_eq!(
            (
                m.subject.unwrap().digest.to_string(),
                m.artifact_type.as_deref()
            ),
            (d('c'), Some("application/x.sig"))
        );
        assert_eq!(m.annotations["k"], "v");
    }

    #[test]
    fn indexes_and_docker_lists() {
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":7,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            d('e')
        );
        let m = parse_manifest(idx.as_bytes(), None).unwrap();
        assert_eq!(
            (m.kind, m.media_type.as_str(), m.manifests.len()),
            (ManifestKind::Index, OCI_INDEX, 1)
        );
        let list = idx.replacen(
            "{\"schemaVersion\":2,",
            &format!("{{\"schemaVersion\":2,\"mediaType\":\"{DOCKER_LIST}\","),
            1,
        );
        assert_eq!(
            parse_manifest(list.as_bytes(), Some(DOCKER_LIST))
                .unwrap()
                .kind,
            ManifestKind::Index
        );
    }

    #[test]
    fn non_distributable_layers_need_not_exist() {
        let m = image("").replace(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        );
        let m = parse_manifest(m.as_bytes(), None).unwrap();
        assert_eq!(m.required_blobs().count(), 1, "only the config");
    }

    #[test]
    fn source_labels() {
        let rows = [
            ("https://github.com/octo/app", Some(("octo", "app"))),
            (
                "https://berth.example:8443/octo/app.git",
                Some(("octo", "app")),
            ),
            ("http://host/group/octo/app/", Some(("octo", "app"))),
            ("octo/app", Some(("octo", "app"))),
            ("https://host/octo/app?tab=readme#x", Some(("octo", "app"))),
            ("https://host/app", None),
            ("app", None),
            ("https://host/bad_owner!/app", None),
        ];
        for (value, want) in rows {
            let got = super::parse_source(value).map(|(o, r)| (o.to_string(), r.to_string()));
            assert_eq!(
                got,
                want.map(|(o, r)| (o.to_owned(), r.to_owned())),
                "{value}"
            );
        }
        let config = br#"{"architecture":"amd64","config":{"Labels":{"org.opencontainers.image.source":"https://x/octo/app"}}}"#;
        assert_eq!(
            source_from_config(config).map(|(o, r)| format!("{o}/{r}")),
            Some("octo/app".into())
        );
        assert!(source_from_config(br#"{"config":{}}"#).is_none());
        assert!(source_from_config(b"not json").is_none());
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let cases: Vec<(String, Option<&str>, &str)> = vec![
            ("not json".into(), None, "not valid JSON"),
            (
                r#"{"schemaVersion":1}"#.into(),
                None,
                "schemaVersion must be 2",
            ),
            (
                image(""),
                Some(OCI_INDEX),
                "does not match the Content-Type",
            ),
            (
                image("").replace(OCI_MANIFEST, "application/x-other"),
                None,
                "unsupported manifest media type",
            ),
            (image("").replace(&d('b'), "sha256:1234"), None, "layers[0]"),
            (
                image("").replace("\"size\":10", "\"size\":-1"),
                None,
                "negative",
            ),
            (
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#),
                None,
                "needs a config",
            ),
            (
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}"}}"#),
                None,
                "needs manifests",
            ),
        ];
        for (body, ct, msg) in cases {
            let err = parse_manifest(body.as_bytes(), ct).unwrap_err().to_string();
            assert!(err.contains(msg), "{body}: {err}");
        }
    }
}
