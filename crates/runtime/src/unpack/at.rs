//! The filesystem side of unpacking: a layer directory opened once, and every operation done
//! relative to a directory descriptor that the kernel resolved inside it (`openat2` with
//! `RESOLVE_IN_ROOT`), on a single final component that is never followed. No path of a layer
//! is ever handed to a path-based call, so no `..` or symlink in a layer can reach the host.

use std::ffi::OsStr;
use std::io::{self, Read as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{
    AtFlags, Dev, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

/// How every path of a layer is resolved: inside the root, and never through `/proc` links.
const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);
const DIR: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);
/// Symlinks followed in one path before giving up, as the kernel's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;
/// Mode of directories created because an entry needs them (Docker's).
const IMPLICIT_DIR_MODE: u32 = 0o755;
pub(super) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// An entry's metadata as applied: permission bits (setuid, setgid, sticky included), owner
/// and modification time (also used as the access time).
#[derive(Debug, Clone, Copy)]
pub(super) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Timespec,
}

impl Meta {
    fn times(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }

    fn owner(&self) -> (Option<Uid>, Option<Gid>) {
        // -1 means "leave as it is" to chown: never let a tar say that.
        let uid = (self.uid != u32::MAX).then(|| Uid::from_raw(self.uid));
        let gid = (self.gid != u32::MAX).then(|| Gid::from_raw(self.gid));
        (uid, gid)
    }
}

/// A layer directory being unpacked, with the directory of the last entry kept open (tar
/// entries come grouped by directory).
pub(super) struct Root {
    fd: Rc<OwnedFd>,
    /// The last parent opened, by its cleaned path; forgotten whenever anything is removed, as
    /// a removal can change what a path resolves to.
    cached: Option<(Vec<u8>, Rc<OwnedFd>)>,
}

fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

/// `openat2` in the root, again on `EAGAIN` (which `RESOLVE_IN_ROOT` returns when a rename
/// raced the lookup).
fn open_in(root: BorrowedFd<'_>, path: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
    let mut attempts = 0;
    loop {
        match rustix::fs::openat2(root, os(path), flags, Mode::empty(), RESOLVE) {
            Err(Errno::AGAIN) if attempts < 8 => attempts += 1,
            result => return result.map_err(io::Error::from),
        }
    }
}

fn is_whiteout(stat: &rustix::fs::Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice && stat.st_rdev == 0
}

impl Root {
    pub fn open(dir: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(dir, DIR, Mode::empty())?;
        Ok(Self {
            fd: Rc::new(fd),
            cached: None,
        })
    }

    /// The directory at `rel` (cleaned, relative; empty for the root) resolved in the root,
    /// created with its missing parents (mode 0755) if it is not there.
    fn dir_fd(&mut self, rel: &[u8]) -> io::Result<Rc<OwnedFd>> {
        if rel.is_empty() {
            return Ok(self.fd.clone());
        }
        if let Some((path, fd)) = &self.cached
            && path == rel
        {
            return Ok(fd.clone());
        }
        let fd = match open_in(self.fd.as_fd(), rel, DIR) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.create_dirs(rel)?,
            Err(e) => return Err(e),
        };
        let fd = Rc::new(fd);
        self.cached = Some((rel.to_vec(), fd.clone()));
        Ok(fd)
    }

    /// Walks `rel` one component at a time as the kernel would (following symlinks, `..`
    /// stopping at the root), creating each missing directory, so that `evil/x` where `evil`
    /// is a symlink to `/somewhere` makes `<root>/somewhere/x`. Only taken when a parent is
    /// missing.
    fn create_dirs(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        // Directories known to exist (never symlinks), from the root down.
        let mut resolved: Vec<Vec<u8>> = Vec::new();
        let mut pending: std::collections::VecDeque<Vec<u8>> =
            rel.split(|b| *b == b'/').map(<[u8]>::to_vec).collect();
        let mut symlinks = 0;
        while let Some(part) = pending.pop_front() {
            match part.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            let parent = self.exact(&resolved)?;
            match rustix::fs::statat(&parent, os(&part), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
                    FileType::Directory => resolved.push(part),
                    FileType::Symlink => {
                        symlinks += 1;
                        if symlinks > MAX_SYMLINKS {
                            return Err(Errno::LOOP.into());
                        }
                        let target = rustix::fs::readlinkat(&parent, os(&part), Vec::new())?;
                        let target = target.as_bytes();
                        if target.first() == Some(&b'/') {
                            resolved.clear();
                        }
                        for component in target.split(|b| *b == b'/').rev() {
                            pending.push_front(component.to_vec());
                        }
                    }
                    _ => return Err(Errno::NOTDIR.into()),
                },
                Err(Errno::NOENT) => {
                    rustix::fs::mkdirat(&parent, os(&part), Mode::from_raw_mode(0o700))?;
                    rustix::fs::chmodat(
                        &parent,
                        os(&part),
                        Mode::from_raw_mode(IMPLICIT_DIR_MODE),
                        AtFlags::empty(),
                    )?;
                    resolved.push(part);
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.exact(&resolved)
    }

    /// The directory at `parts`, which are all directories, not symlinks.
    fn exact(&self, parts: &[Vec<u8>]) -> io::Result<OwnedFd> {
        let path = parts.join(&b'/');
        let path = if path.is_empty() { &b"."[..] } else { &path };
        open_in(self.fd.as_fd(), path, DIR)
    }

    /// Removes whatever is at `name` in `parent` (a whole tree for a directory).
    fn remove(&mut self, parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
        self.cached = None;
        remove_all(parent, os(name))
    }

    /// A regular file at `parent/name`, created empty (mode 0600 until its metadata is set),
    /// replacing what was there; never opened through a symlink.
    pub fn file(&mut self, parent: &[u8], name: &[u8]) -> io::Result<std::fs::File> {
        let dir = self.dir_fd(parent)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o600);
        let fd = match rustix::fs::openat(&*dir, os(name), flags, mode) {
            Err(Errno::EXIST) => {
                self.remove(dir.as_fd(), name)?;
                rustix::fs::openat(&*dir, os(name), flags, mode)?
            }
            result => result?,
        };
        Ok(std::fs::File::from(fd))
    }

    /// A directory at `parent/name`: created (replacing a non-directory), or an existing one
    /// merged, with `meta` applied but for the time (set at the end, see [`set_dir_times`]).
    /// A directory that replaces a whiteout of this layer is made opaque: the whiteout said
    /// the lower directory is gone, and overlayfs would otherwise merge it back in.
    pub fn dir(&mut self, parent: &[u8], name: &[u8], meta: &Meta) -> io::Result<()> {
        let dir = self.dir_fd(parent)?;
        let mut replaced_whiteout = false;
        match rustix::fs::mkdirat(&*dir, os(name), Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let stat = rustix::fs::statat(&*dir, os(name), AtFlags::SYMLINK_NOFOLLOW)?;
                if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
                    replaced_whiteout = is_whiteout(&stat);
                    self.remove(dir.as_fd(), name)?;
                    rustix::fs::mkdirat(&*dir, os(name), Mode::from_raw_mode(0o700))?;
                }
            }
            Err(e) => return Err(e.into()),
        }
        let fd = rustix::fs::openat(&*dir, os(name), DIR | OFlags::NOFOLLOW, Mode::empty())?;
        let (uid, gid) = meta.owner();
        rustix::fs::fchown(&fd, uid, gid)?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(meta.mode))?;
        if replaced_whiteout {
            rustix::fs::fsetxattr(&fd, OPAQUE_XATTR, b"y", XattrFlags::empty())?;
        }
        Ok(())
    }

    /// Metadata of a directory entry that names the root itself (`./`).
    pub fn set_root_meta(&mut self, meta: &Meta) -> io::Result<()> {
        let (uid, gid) = meta.owner();
        rustix::fs::fchown(&*self.fd, uid, gid)?;
        rustix::fs::fchmod(&*self.fd, Mode::from_raw_mode(meta.mode))?;
        Ok(())
    }

    /// A symlink at `parent/name` pointing at `target` exactly as the tar says (it is only ever
    /// followed inside the root).
    pub fn symlink(
        &mut self,
        parent: &[u8],
        name: &[u8],
        target: &[u8],
        meta: &Meta,
    ) -> io::Result<()> {
        let dir = self.dir_fd(parent)?;
        match rustix::fs::symlinkat(os(target), &*dir, os(name)) {
            Err(Errno::EXIST) => {
                self.remove(dir.as_fd(), name)?;
                rustix::fs::symlinkat(os(target), &*dir, os(name))?;
            }
            result => result?,
        }
        let (uid, gid) = meta.owner();
        rustix::fs::chownat(&*dir, os(name), uid, gid, AtFlags::SYMLINK_NOFOLLOW)?;
        rustix::fs::utimensat(&*dir, os(name), &meta.times(), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    /// A hard link at `parent/name` to `target_parent/target_name`, both resolved in the root;
    /// the target's last component is not followed (a link to a symlink links the symlink).
    /// `NotFound` when the target is not in the layer.
    pub fn hard_link(
        &mut self,
        parent: &[u8],
        name: &[u8],
        target_parent: &[u8],
        target_name: &[u8],
    ) -> io::Result<()> {
        // The target's directory must exist already: no directories made for it.
        let target_dir = if target_parent.is_empty() {
            self.fd.clone()
        } else {
            Rc::new(open_in(self.fd.as_fd(), target_parent, DIR)?)
        };
        let dir = self.dir_fd(parent)?;
        let link = |dir: &OwnedFd| {
            rustix::fs::linkat(
                &*target_dir,
                os(target_name),
                dir,
                os(name),
                AtFlags::empty(),
            )
        };
        match link(&dir) {
            Err(Errno::EXIST) => {
                let existing = rustix::fs::statat(&*dir, os(name), AtFlags::SYMLINK_NOFOLLOW)?;
                let target =
                    rustix::fs::statat(&*target_dir, os(target_name), AtFlags::SYMLINK_NOFOLLOW)?;
                if (existing.st_dev, existing.st_ino) == (target.st_dev, target.st_ino) {
                    return Ok(());
                }
                self.remove(dir.as_fd(), name)?;
                link(&dir)?;
            }
            result => result?,
        }
        Ok(())
    }

    /// A device node or fifo at `parent/name`, replacing what was there.
    pub fn node(
        &mut self,
        parent: &[u8],
        name: &[u8],
        file_type: FileType,
        dev: Dev,
        meta: &Meta,
    ) -> io::Result<()> {
        let dir = self.dir_fd(parent)?;
        let make = || rustix::fs::mknodat(&*dir, os(name), file_type, Mode::empty(), dev);
        match make() {
            Err(Errno::EXIST) => {
                self.remove(dir.as_fd(), name)?;
                make()?;
            }
            result => result?,
        }
        let (uid, gid) = meta.owner();
        rustix::fs::chownat(&*dir, os(name), uid, gid, AtFlags::SYMLINK_NOFOLLOW)?;
        // Linux has no fchmodat that refuses a symlink; the name was just made by mknodat in
        // a directory nothing else writes to.
        rustix::fs::chmodat(
            &*dir,
            os(name),
            Mode::from_raw_mode(meta.mode),
            AtFlags::empty(),
        )?;
        rustix::fs::utimensat(&*dir, os(name), &meta.times(), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    /// An overlayfs whiteout (character device 0/0) for `parent/name`. When this layer already
    /// has something there, that entry stays: per the OCI spec a whiteout only applies to
    /// lower layers, which the entry hides already (a directory is made opaque for that).
    pub fn whiteout(&mut self, parent: &[u8], name: &[u8]) -> io::Result<()> {
        let dir = self.dir_fd(parent)?;
        let made = rustix::fs::mknodat(
            &*dir,
            os(name),
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        );
        match made {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let stat = rustix::fs::statat(&*dir, os(name), AtFlags::SYMLINK_NOFOLLOW)?;
                if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
                    let fd =
                        rustix::fs::openat(&*dir, os(name), DIR | OFlags::NOFOLLOW, Mode::empty())?;
                    rustix::fs::fsetxattr(&fd, OPAQUE_XATTR, b"y", XattrFlags::empty())?;
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Marks the directory `rel` opaque (created if missing): overlayfs shows none of the
    /// lower layers' entries in it.
    pub fn opaque(&mut self, rel: &[u8]) -> io::Result<()> {
        let dir = self.dir_fd(rel)?;
        rustix::fs::fsetxattr(&*dir, OPAQUE_XATTR, b"y", XattrFlags::empty())?;
        Ok(())
    }

    /// Sets the modification times of the directories the layer named, in order (a later
    /// entry for the same directory wins). A directory that is gone or was replaced by
    /// something else since is skipped.
    pub fn set_dir_times(&self, times: &[(Vec<u8>, Timespec)]) {
        for (rel, mtime) in times {
            let fd = if rel.is_empty() {
                Ok(self.fd.clone())
            } else {
                open_in(self.fd.as_fd(), rel, DIR | OFlags::NOFOLLOW).map(Rc::new)
            };
            let times = Timestamps {
                last_access: *mtime,
                last_modification: *mtime,
            };
            if let Ok(fd) = fd {
                let _ = rustix::fs::futimens(&*fd, &times);
            }
        }
    }
}

/// Sets a regular file's owner, then its mode (after, as `chown` clears setuid), then times.
pub(super) fn set_file_meta(file: &std::fs::File, meta: &Meta) -> io::Result<()> {
    let (uid, gid) = meta.owner();
    rustix::fs::fchown(file, uid, gid)?;
    rustix::fs::fchmod(file, Mode::from_raw_mode(meta.mode))?;
    rustix::fs::futimens(file, &meta.times())?;
    Ok(())
}

/// Removes `name` in `parent`, a directory with everything in it; symlinks are removed, never
/// followed.
fn remove_all(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let stat = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return Ok(rustix::fs::unlinkat(parent, name, AtFlags::empty())?);
    }
    let dir = rustix::fs::openat(parent, name, DIR | OFlags::NOFOLLOW, Mode::empty())?;
    let mut children = Vec::new();
    for child in rustix::fs::Dir::read_from(&dir)? {
        let child = child?;
        let child = child.file_name().to_bytes();
        if child != b"." && child != b".." {
            children.push(child.to_vec());
        }
    }
    for child in children {
        remove_all(dir.as_fd(), os(&child))?;
    }
    Ok(rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

pub(super) fn read_in_root(root: &Path, path: &str) -> io::Result<Vec<u8>> {
    let root = rustix::fs::open(root, DIR, Mode::empty())?;
    let fd = open_in(
        root.as_fd(),
        path.as_bytes(),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
    )?;
    let stat = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path} is not a regular file"),
        ));
    }
    // Files read this way are small (`/etc/passwd`, `devcontainer.json`); a hostile one is not
    // allowed to fill memory.
    const LIMIT: u64 = 4 << 20;
    if stat.st_size as u64 > LIMIT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path} is larger than {} MiB", LIMIT >> 20),
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(LIMIT)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}
