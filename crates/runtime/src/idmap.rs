//! User namespaces for environments, and idmapped mounts that let one shared, root-owned layer
//! appear owned by an environment's own host id range without copying or chowning it.
//!
//! An environment's root is host uid `base` (its [`IdRange`]); files of the shared layer store
//! belong to host root. An idmapped bind mount of a layer directory (`mount_setattr` with
//! `MOUNT_ATTR_IDMAP`, kernel ≥ 5.12; overlayfs over idmapped layers, ≥ 5.19) shows each file's
//! uid `u` as `base + u`, so inside the environment's user namespace the image's files belong to
//! the users the image names, while the bytes on disk stay shared by every environment.
//!
//! The mapping of an idmapped mount is taken from a user namespace; one is made per range by a
//! short-lived `unshare --user` child whose maps Berth writes, and held open by its descriptor
//! (the child is gone once the descriptor is open).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_domain::isolation::IdRange;
use rustix::mount::{MoveMountFlags, OpenTreeFlags, move_mount, open_tree};

/// A user namespace whose ids 0.. map to a host range, held by its descriptor.
#[derive(Debug)]
pub struct UserNamespace {
    fd: OwnedFd,
}

impl UserNamespace {
    /// A user namespace mapping uids and gids `0..range.size` to `range.base..`.
    pub fn new(range: IdRange) -> io::Result<Self> {
        let own = std::fs::read_link("/proc/self/ns/user")?;
        let mut child = Command::new("unshare")
            .args(["--user", "--", "sleep", "30"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot run unshare (util-linux) to make a user namespace: {e}"),
                )
            })?;
        let result = Self::map(child.id(), &own, range);
        let _ = child.kill();
        let _ = child.wait();
        result
    }

    fn map(pid: u32, own: &Path, range: IdRange) -> io::Result<Self> {
        let proc = format!("/proc/{pid}");
        // The child unshares, then execs sleep: wait until its namespace is no longer ours.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match std::fs::read_link(format!("{proc}/ns/user")) {
                Ok(ns) if ns != own => break,
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(_) => {
                    return Err(io::Error::other(
                        "unshare --user did not make a user namespace (are user namespaces enabled?)",
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        let line = format!("0 {} {}\n", range.base, range.size);
        for map in ["uid_map", "gid_map"] {
            std::fs::write(format!("{proc}/{map}"), &line).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot write the user namespace's {map} for ids {range}: {e}"),
                )
            })?;
        }
        let fd = File::open(format!("{proc}/ns/user"))?.into();
        Ok(Self { fd })
    }
}

/// Mounts `source` at `target` (an existing directory) with every id shifted by `userns`'s map.
/// The mount is read-write only as far as `source` is: layers are mounted as lower layers of an
/// overlay, which never writes to them.
pub fn idmapped_bind(source: &Path, target: &Path, userns: &UserNamespace) -> io::Result<()> {
    let tree = open_tree(
        rustix::fs::CWD,
        source,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    composefs_ioctls::mount::mount_setattr_idmap(tree.as_fd(), userns.fd.as_fd()).map_err(
        |e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot make an idmapped mount of {} (the kernel needs idmapped mounts, Linux 5.19 or later, on this file system): {e}",
                    source.display()
                ),
            )
        },
    )?;
    move_mount(
        tree.as_fd(),
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

/// Shifts the owners of everything under `root` from one range to another (`from: None`: from
/// host ids, as files written before environments had user namespaces). Ids outside `from` are
/// left alone. Used only on an environment's own files (its writable layer, its workspace),
/// never on the shared layer store.
pub fn shift_tree(root: &Path, from: Option<IdRange>, to: IdRange) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let from = from.unwrap_or(IdRange {
        base: 0,
        size: to.size,
    });
    let shift = |id: u32| {
        id.checked_sub(from.base)
            .filter(|inside| *inside < from.size)
            .and_then(|inside| to.host_id(inside))
    };
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let (uid, gid) = (shift(meta.uid()), shift(meta.gid()));
        if uid.is_some() || gid.is_some() {
            // chown clears setuid bits: put the mode back as it was.
            std::os::unix::fs::lchown(&path, uid, gid)?;
            if !meta.file_type().is_symlink() && meta.mode() & 0o6000 != 0 {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(
                    &path,
                    std::fs::Permissions::from_mode(meta.mode() & 0o7777),
                )?;
            }
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    // Both need root, as the environments' tests do (scripts/test runs as root).
    #[test]
    fn an_idmapped_mount_shows_shifted_owners_and_leaves_the_source_alone() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("layer");
        let target = dir.path().join("mapped");
        std::fs::create_dir_all(&source).unwrap();
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(source.join("root-file"), b"x").unwrap();
        std::fs::write(source.join("user-file"), b"y").unwrap();
        std::os::unix::fs::lchown(source.join("user-file"), Some(1000), Some(1000)).unwrap();
        let range = IdRange {
            base: 1 << 28,
            size: 65_536,
        };
        let ns = UserNamespace::new(range).unwrap();
        idmapped_bind(&source, &target, &ns).unwrap();
        let owner = |p: &Path| {
            let m = std::fs::metadata(p).unwrap();
            (m.uid(), m.gid())
        };
        let mapped = (
            owner(&target.join("root-file")),
            owner(&target.join("user-file")),
        );
        let _ = rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH);
        assert_eq!(
            mapped,
            ((1 << 28, 1 << 28), ((1 << 28) + 1000, (1 << 28) + 1000))
        );
        assert_eq!(owner(&source.join("user-file")), (1000, 1000), "unchanged");
    }

    #[test]
    fn shifting_moves_ids_between_ranges_and_keeps_setuid() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("upper");
        std::fs::create_dir_all(root.join("home")).unwrap();
        std::fs::write(root.join("home/f"), b"").unwrap();
        std::os::unix::fs::lchown(root.join("home/f"), Some(1000), Some(1000)).unwrap();
        std::fs::write(root.join("sudo"), b"").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(root.join("sudo"), std::fs::Permissions::from_mode(0o4755))
            .unwrap();
        let to = IdRange {
            base: 1 << 28,
            size: 65_536,
        };
        shift_tree(&root, None, to).unwrap();
        let meta = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
        assert_eq!(meta("home/f").uid(), (1 << 28) + 1000);
        assert_eq!(meta("home").uid(), 1 << 28);
        assert_eq!(meta("sudo").mode() & 0o7777, 0o4755, "setuid kept");
        let next = IdRange {
            base: 1 << 29,
            size: 65_536,
        };
        shift_tree(&root, Some(to), next).unwrap();
        assert_eq!(meta("home/f").gid(), (1 << 29) + 1000);
    }
}
