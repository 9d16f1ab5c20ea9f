//! What a published tarball says about itself: the `package.json` npm packs at the top of its
//! one directory (`package/package.json`), read with bounds so a hostile tarball costs little.

use std::io::Read;

use serde_json::{Map, Value};

/// Why a tarball's `package.json` cannot be read (the words npm's user sees).
#[derive(Debug, thiserror::Error)]
pub(super) enum TarballError {
    #[error("the tarball is not a gzipped tar: {0}")]
    NotTar(std::io::Error),
    #[error("a tarball entry has an unreadable path: {0}")]
    Path(std::io::Error),
    #[error("the tarball's package.json is larger than {MAX_MANIFEST} bytes")]
    TooLarge,
    #[error("the tarball's package.json cannot be read: {0}")]
    Unreadable(std::io::Error),
    #[error("the tarball's package.json is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error(
        "the tarball has no package.json in its top directory (npm packs package/package.json)"
    )]
    NoManifest,
}

/// The most of a tarball's uncompressed bytes read looking for `package.json`.
const MAX_SCANNED: u64 = 1 << 30;
/// The largest `package.json` read.
const MAX_MANIFEST: u64 = 4 << 20;

/// The name and version of the tarball's `package.json`, or why it has none that can be read.
pub(super) fn name_and_version(tgz: &[u8]) -> Result<(String, String), TarballError> {
    let gz = flate2::read::GzDecoder::new(tgz);
    let mut archive = tar::Archive::new(gz.take(MAX_SCANNED));
    let entries = archive.entries().map_err(TarballError::NotTar)?;
    for entry in entries {
        let mut entry = entry.map_err(TarballError::NotTar)?;
        let path = entry.path().map_err(TarballError::Path)?.into_owned();
        let mut parts = path.components();
        let (Some(_top), Some(file), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if file.as_os_str() != "package.json" {
            continue;
        }
        if entry.size() > MAX_MANIFEST {
            return Err(TarballError::TooLarge);
        }
        let mut text = Vec::new();
        entry
            .by_ref()
            .take(MAX_MANIFEST)
            .read_to_end(&mut text)
            .map_err(TarballError::Unreadable)?;
        let manifest: Map<String, Value> =
            serde_json::from_slice(&text).map_err(TarballError::NotJson)?;
        let field = |f: &str| {
            manifest
                .get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        return Ok((field("name"), field("version")));
    }
    Err(TarballError::NoManifest)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, *data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn the_top_directorys_package_json_is_read_and_anything_else_refused() {
        let good = tgz(&[
            ("package/index.js", b"module.exports = 1"),
            ("package/lib/package.json", br#"{"name":"inner"}"#),
            (
                "package/package.json",
                br#"{"name":"@acme/lib","version":"1.0.0"}"#,
            ),
        ]);
        assert_eq!(
            name_and_version(&good).unwrap(),
            ("@acme/lib".to_owned(), "1.0.0".to_owned())
        );
        for (tarball, words) in [
            (tgz(&[("package/index.js", b"x")]), "no package.json"),
            (tgz(&[("package/package.json", b"{nope")]), "not JSON"),
            (b"not gzip at all".to_vec(), "not a gzipped tar"),
        ] {
            let e = name_and_version(&tarball).unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        }
    }
}
