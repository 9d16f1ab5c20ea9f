//! Unpacking one OCI image layer into a directory of its own, the way overlayfs wants it: the
//! layer's files as they are, its whiteouts as the character devices 0/0 overlayfs hides lower
//! files with, and its opaque markers as the `trusted.overlay.opaque` attribute. Environments
//! later mount the unpacked layers as overlay lower directories, top first.
//!
//! Every path of the tar is resolved inside the layer directory by the kernel (see [`at`]):
//! absolute names are relative to the layer root, a name whose `..` climbs above the root fails
//! the whole layer (Docker's "breakout" rule), symlinks are created as they are and resolved
//! inside the root whenever a later entry goes through them, and a hard link can only link to a
//! file of the same layer.
//!
//! Written over the `tar` crate's entry iterator (which does PAX and GNU long names, sizes and
//! ids) rather than its `unpack`, because that one resolves paths in user space against the
//! host and knows nothing of whiteouts.
//!
//! Not done: extended attributes of entries (`SCHILY.xattr.*`) are skipped, file capabilities
//! included; sparse files are written out in full.

mod at;
#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use std::io::{self, BufReader, Read, Write as _};
use std::path::Path;

use rustix::fs::{FileType, Timespec};
use tar::EntryType;

use at::{Meta, Root};

/// Why a layer could not be unpacked. Every variant names the layer (its digest) and, where
/// there is one, the entry at fault.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error(
        "layer {layer}: the media type {media_type:?} is not a layer Berth can unpack \
         (it unpacks tar layers, uncompressed, gzip or zstd)"
    )]
    MediaType { layer: String, media_type: String },
    #[error("layer {layer}: the entry {entry:?} points outside the layer (breakout)")]
    Breakout { layer: String, entry: String },
    #[error(
        "layer {layer}: the hard link {entry:?} points to {target:?}, which is not in the layer"
    )]
    LinkOutsideLayer {
        layer: String,
        entry: String,
        target: String,
    },
    #[error("layer {layer}: the entry {entry:?} is not valid: {reason}")]
    Invalid {
        layer: String,
        entry: String,
        reason: &'static str,
    },
    #[error("layer {layer}: the entry {entry:?}: {source}")]
    Entry {
        layer: String,
        entry: String,
        #[source]
        source: io::Error,
    },
    /// Over one of [`UnpackLimits`].
    #[error(
        "layer {layer}: {what}, more than this server allows ({limit}; a site administrator \
         raises it with [environments] {setting} in the config file)"
    )]
    TooLarge {
        layer: String,
        what: String,
        limit: String,
        setting: &'static str,
    },
    #[error("layer {layer}: {what}: {source}")]
    Io {
        layer: String,
        what: String,
        #[source]
        source: io::Error,
    },
}

/// What one unpack wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar entries applied, of every kind.
    pub entries: u64,
    /// Regular files written.
    pub files: u64,
    /// Bytes of regular files written.
    pub bytes: u64,
    /// Whiteouts and opaque markers.
    pub whiteouts: u64,
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression a layer media type names; `None` for anything that is not a tar layer.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Some(Self::Plain),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Self::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The compression of a blob judged by its first bytes (at least 512 for a plain tar):
    /// gzip's or zstd's magic number, or a tar header's `ustar` magic. `None`: not a layer by
    /// its looks (an image config, say).
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Self::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Self::Zstd)
        } else if head.get(257..262) == Some(b"ustar") {
            Some(Self::Plain)
        } else {
            None
        }
    }
}

/// What one layer may hold: its tar stream decompressed, the logical size of its files (a
/// sparse file counts at its full size) and its entries. A layer over them fails, named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    pub bytes: u64,
    pub entries: u64,
}

impl Default for UnpackLimits {
    /// 16 GiB and two million entries: far above any development image's layer (a full
    /// distribution with compilers is a few GiB and a few hundred thousand files).
    fn default() -> Self {
        Self {
            bytes: 16 << 30,
            entries: 2_000_000,
        }
    }
}

/// A reader that fails once more than `limit` bytes have gone through it.
struct Capped<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "the decompressed layer is too large",
            ));
        }
        Ok(n)
    }
}

/// Input is read in chunks this big: few syscalls, and the decompressor works on long runs.
const READ_BUFFER: usize = 1 << 20;
/// Decompressed bytes are handed to the tar reader (and file data copied) in chunks this big.
const COPY_BUFFER: usize = 256 << 10;

/// Unpacks a layer blob of `media_type` (see [`Compression::from_media_type`]) into `dir`.
pub fn unpack_blob(
    blob: impl Read,
    media_type: &str,
    dir: &Path,
    layer: &str,
) -> Result<UnpackStats, UnpackError> {
    let compression =
        Compression::from_media_type(media_type).ok_or_else(|| UnpackError::MediaType {
            layer: layer.to_owned(),
            media_type: media_type.to_owned(),
        })?;
    unpack_compressed(blob, compression, dir, layer)
}

/// Unpacks a layer blob compressed with `compression` into `dir`, with the default limits.
pub fn unpack_compressed(
    blob: impl Read,
    compression: Compression,
    dir: &Path,
    layer: &str,
) -> Result<UnpackStats, UnpackError> {
    unpack_compressed_within(blob, compression, dir, layer, UnpackLimits::default())
}

/// Unpacks a layer blob compressed with `compression` into `dir`, within `limits`.
pub fn unpack_compressed_within(
    blob: impl Read,
    compression: Compression,
    dir: &Path,
    layer: &str,
    limits: UnpackLimits,
) -> Result<UnpackStats, UnpackError> {
    let input = BufReader::with_capacity(READ_BUFFER, blob);
    match compression {
        Compression::Plain => unpack_layer_within(input, dir, layer, limits),
        Compression::Gzip => {
            // Multi-member, as Go's gzip reader (and so Docker) reads layers.
            let gzip = flate2::bufread::MultiGzDecoder::new(input);
            unpack_layer_within(
                BufReader::with_capacity(COPY_BUFFER, gzip),
                dir,
                layer,
                limits,
            )
        }
        Compression::Zstd => {
            let zstd = zstd::stream::read::Decoder::with_buffer(input).map_err(|source| {
                UnpackError::Io {
                    layer: layer.to_owned(),
                    what: "starting the zstd decoder".into(),
                    source,
                }
            })?;
            unpack_layer_within(
                BufReader::with_capacity(COPY_BUFFER, zstd),
                dir,
                layer,
                limits,
            )
        }
    }
}

/// Unpacks an uncompressed layer tar into `dir` (an existing, normally empty, directory), with
/// the default limits. `layer` names the layer in errors. On error, `dir` holds part of the
/// layer: callers unpack into a scratch directory and throw it away.
pub fn unpack_layer(tar: impl Read, dir: &Path, layer: &str) -> Result<UnpackStats, UnpackError> {
    unpack_layer_within(tar, dir, layer, UnpackLimits::default())
}

/// [`unpack_layer`] within `limits`.
pub fn unpack_layer_within(
    tar: impl Read,
    dir: &Path,
    layer: &str,
    limits: UnpackLimits,
) -> Result<UnpackStats, UnpackError> {
    let too_large = |what: String, limit: String, setting| UnpackError::TooLarge {
        layer: layer.to_owned(),
        what,
        limit,
        setting,
    };
    let tar = Capped {
        inner: tar,
        read: 0,
        limit: limits.bytes,
    };
    let root = Root::open(dir).map_err(|source| UnpackError::Io {
        layer: layer.to_owned(),
        what: format!("opening {}", dir.display()),
        source,
    })?;
    let mut unpacker = Unpacker {
        root,
        layer,
        stats: UnpackStats::default(),
        buffer: vec![0; COPY_BUFFER],
        dir_times: Vec::new(),
        limits,
    };
    let gib = |b: u64| format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30));
    let read_error = |source: io::Error| {
        if source.kind() == io::ErrorKind::FileTooLarge {
            too_large(
                format!("its tar stream is over {} decompressed", gib(limits.bytes)),
                gib(limits.bytes),
                "max_layer_gb",
            )
        } else {
            UnpackError::Io {
                layer: layer.to_owned(),
                what: "reading the tar stream".into(),
                source,
            }
        }
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        if unpacker.stats.entries >= limits.entries {
            return Err(too_large(
                format!("it has more than {} entries", limits.entries),
                format!("{} entries", limits.entries),
                "max_layer_entries",
            ));
        }
        unpacker.entry(&mut entry).map_err(|e| match e {
            UnpackError::Entry { source, .. } if source.kind() == io::ErrorKind::FileTooLarge => {
                too_large(
                    format!("its files are over {}", gib(limits.bytes)),
                    gib(limits.bytes),
                    "max_layer_gb",
                )
            }
            e => e,
        })?;
    }
    unpacker.root.set_dir_times(&unpacker.dir_times);
    Ok(unpacker.stats)
}

/// Reads the file at `path` (absolute or not) inside `root`, resolving every component, `..`
/// and symlinks included, inside `root` (e.g. `/etc/passwd` of a layer). Only regular files.
pub fn read_in_root(root: &Path, path: &str) -> io::Result<Vec<u8>> {
    at::read_in_root(root, path)
}

struct Unpacker<'a> {
    root: Root,
    layer: &'a str,
    stats: UnpackStats,
    buffer: Vec<u8>,
    /// Directory modification times, set at the end (creating entries in a directory changes
    /// its time).
    dir_times: Vec<(Vec<u8>, Timespec)>,
    limits: UnpackLimits,
}

/// The prefix of a whiteout entry's name, and the name of an opaque-directory marker.
const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let name = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        let Some(rel) = clean(&name) else {
            return Err(UnpackError::Breakout {
                layer: self.layer.to_owned(),
                entry: lossy(&name),
            });
        };
        let (parent, base) = split(&rel);
        let entry_error = |source| UnpackError::Entry {
            layer: self.layer.to_owned(),
            entry: lossy(&name),
            source,
        };
        let invalid = |reason| UnpackError::Invalid {
            layer: self.layer.to_owned(),
            entry: lossy(&name),
            reason,
        };

        if let Some(hidden) = base.strip_prefix(WHITEOUT) {
            self.stats.entries += 1;
            if base == OPAQUE {
                self.stats.whiteouts += 1;
                return self.root.opaque(parent).map_err(entry_error);
            }
            if hidden.starts_with(WHITEOUT) {
                // Other `.wh..wh.` names are AUFS bookkeeping (e.g. `.wh..wh.plnk`).
                return Ok(());
            }
            if matches!(hidden, b"" | b"." | b"..") {
                return Err(invalid("a whiteout must name a file"));
            }
            self.stats.whiteouts += 1;
            return self.root.whiteout(parent, hidden).map_err(entry_error);
        }

        let meta = meta(entry).map_err(entry_error)?;
        // Old tars mark directories as regular files whose names end in `/`.
        let is_dir = kind == EntryType::Directory
            || (kind == EntryType::Regular && name.last() == Some(&b'/'));
        if rel.is_empty() {
            if !is_dir {
                return Err(invalid("only a directory can stand for the layer root"));
            }
            self.stats.entries += 1;
            self.dir_times.push((rel, meta.mtime));
            return self.root.set_root_meta(&meta).map_err(entry_error);
        }
        match kind {
            _ if is_dir => {
                self.root.dir(parent, base, &meta).map_err(entry_error)?;
                self.dir_times.push((rel.clone(), meta.mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut file = self.root.file(parent, base).map_err(entry_error)?;
                // Counted as written, holes of sparse files included (their logical size).
                let budget = self.limits.bytes.saturating_sub(self.stats.bytes);
                let written =
                    copy(entry, &mut file, &mut self.buffer, budget).map_err(entry_error)?;
                at::set_file_meta(&file, &meta).map_err(entry_error)?;
                self.stats.files += 1;
                self.stats.bytes += written;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid("a symlink without a target"))?;
                self.root
                    .symlink(parent, base, &target, &meta)
                    .map_err(entry_error)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| invalid("a hard link without a target"))?
                    .into_owned();
                let outside = || UnpackError::LinkOutsideLayer {
                    layer: self.layer.to_owned(),
                    entry: lossy(&name),
                    target: lossy(&target),
                };
                let target_rel = clean(&target).ok_or_else(outside)?;
                if target_rel.is_empty() {
                    return Err(invalid("a hard link to the layer root"));
                }
                if target_rel == rel {
                    // A link to itself: nothing to do (removing it first would lose it).
                    self.stats.entries += 1;
                    return Ok(());
                }
                let (target_parent, target_base) = split(&target_rel);
                match self
                    .root
                    .hard_link(parent, base, target_parent, target_base)
                {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(outside()),
                    Err(e) => return Err(entry_error(e)),
                }
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (file_type, dev) = match kind {
                    EntryType::Char => (FileType::CharacterDevice, device(entry)),
                    EntryType::Block => (FileType::BlockDevice, device(entry)),
                    _ => (FileType::Fifo, Ok(0)),
                };
                let dev = dev.map_err(entry_error)?;
                self.root
                    .node(parent, base, file_type, dev, &meta)
                    .map_err(entry_error)?;
            }
            other => {
                tracing::debug!(layer = self.layer, entry = %lossy(&name), ?other, "skipping a tar entry of an unsupported type");
                return Ok(());
            }
        }
        self.stats.entries += 1;
        Ok(())
    }
}

/// `name` as a path relative to the layer root, cleaned as Go's `filepath.Clean` cleans it
/// before Docker's breakout check: `.` and empty components dropped, `..` taken lexically. An
/// absolute name is relative to the root (`..` at the root stays there, as in `/../x`); a
/// relative name whose `..` climbs above the root is refused (`None`). The result resolves
/// inside the root in any case: this only decides which names fail the layer.
fn clean(name: &[u8]) -> Option<Vec<u8>> {
    let absolute = name.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() && !absolute {
                    return None;
                }
            }
            part => parts.push(part),
        }
    }
    Some(parts.join(&b'/'))
}

/// A cleaned, non-empty relative path as (parent, last component); the parent of a top-level
/// name is the empty path (the root).
fn split(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|b| *b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An entry's mode, owner and modification time (PAX `mtime` with its fraction if given; the
/// tar crate already applies PAX `uid`/`gid`).
fn meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let header = entry.header();
    let mode = header.mode()? & 0o7777;
    let uid = u32::try_from(header.uid()?).map_err(|_| invalid_data("uid out of range"))?;
    let gid = u32::try_from(header.gid()?).map_err(|_| invalid_data("gid out of range"))?;
    let seconds = i64::try_from(header.mtime()?).unwrap_or(i64::MAX);
    let mut mtime = Timespec {
        tv_sec: seconds,
        tv_nsec: 0,
    };
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            if extension.key_bytes() == b"mtime"
                && let Some(parsed) = extension.value().ok().and_then(pax_time)
            {
                mtime = parsed;
            }
        }
    }
    Ok(Meta {
        mode,
        uid,
        gid,
        mtime,
    })
}

/// A PAX time, `seconds[.fraction]`, possibly negative.
fn pax_time(value: &str) -> Option<Timespec> {
    let (seconds, fraction) = value.split_once('.').unwrap_or((value, ""));
    let tv_sec: i64 = seconds.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = fraction
        .chars()
        .chain("000000000".chars())
        .take(9)
        .collect();
    let mut tv_nsec: i64 = digits.parse().ok()?;
    let mut tv_sec = tv_sec;
    if value.starts_with('-') && tv_nsec > 0 {
        // -1.25 is 1.25 s before the epoch: -2 s + 0.75 s.
        tv_sec -= 1;
        tv_nsec = 1_000_000_000 - tv_nsec;
    }
    Some(Timespec {
        tv_sec,
        tv_nsec: tv_nsec as _,
    })
}

fn device<R: Read>(entry: &tar::Entry<'_, R>) -> io::Result<rustix::fs::Dev> {
    let header = entry.header();
    let major = header.device_major()?.unwrap_or(0);
    let minor = header.device_minor()?.unwrap_or(0);
    Ok(rustix::fs::makedev(major, minor))
}

fn invalid_data(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Copies an entry's data with one reusable buffer (`io::copy` would use an 8 KiB one).
fn copy(
    from: &mut impl Read,
    to: &mut std::fs::File,
    buffer: &mut [u8],
    budget: u64,
) -> io::Result<u64> {
    let mut written = 0u64;
    loop {
        let n = match from.read(buffer) {
            Ok(0) => return Ok(written),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        written += n as u64;
        if written > budget {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "the layer's files are too large",
            ));
        }
        to.write_all(&buffer[..n])?;
    }
}
