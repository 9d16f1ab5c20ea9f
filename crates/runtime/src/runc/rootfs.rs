//! An environment's root file system under runc: an overlay whose lower layers are idmapped
//! mounts of the shared layer store (see [`crate::idmap`]) and whose upper layer is the
//! environment's own, written with its own host ids.
//!
//! runc sets an environment up as the environment's root (a host id of its range), so every
//! path it reads must be one that id can reach, whatever the permissions of the data directory
//! and its parents. Those paths are therefore all in the environment's secret directory on the
//! tmpfs (whose parents Berth makes passable, 0711), which the environment's root group may
//! enter (0710):
//! ```text
//! <secret dir>/rootfs    the overlay, mounted while the environment runs
//!             /mnt/<i>   bind mounts of what is mounted from the disk (the workspace)
//! <state dir>/           0700 root, on disk: nothing of it is reached by runc
//!   upper/ work/         the writable layer, kept across stop and start
//!   lower/0 … lower/n    idmapped mounts of the image's layers (bottom first)
//!   ids                  the id range upper/ was written with
//! ```

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use berth_domain::isolation::IdRange;

use crate::idmap::{UserNamespace, idmapped_bind, shift_tree};
use crate::{Mount, RunSpec, RuntimeError};

pub(super) fn rootfs(spec: &RunSpec) -> PathBuf {
    spec.secret_dir.join("rootfs")
}

fn staged(spec: &RunSpec) -> PathBuf {
    spec.secret_dir.join("mnt")
}

fn lower(spec: &RunSpec) -> PathBuf {
    spec.state_dir.join("lower")
}

/// Lets an environment's root (host gid `gid`) pass through `dir` on its way to its own files,
/// and nobody else: mode 0710, owned by root with the environment's group.
pub(super) fn grant_passage(dir: &Path, gid: u32) -> Result<(), RuntimeError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o710)
        .create(dir)
        .map_err(RuntimeError::io(format!("cannot create {}", dir.display())))?;
    std::os::unix::fs::chown(dir, Some(0), Some(gid))
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710)))
        .map_err(RuntimeError::io(format!(
            "cannot open {} to the environment",
            dir.display()
        )))
}

/// Undoes [`mount`] and [`stage`]: every mount under the environment's secret and state
/// directories, deepest first, detached at once (so a later removal of those directories can
/// never reach into the workspace).
pub(super) fn unmount_all(spec: &RunSpec) {
    crate::unmount_under(&spec.secret_dir);
    crate::unmount_under(&lower(spec));
    let _ = std::fs::remove_dir_all(lower(spec));
}

/// The writable layer's owners follow the environment's id range: files written before it had
/// one (host ids) or under another range are shifted once, and the range recorded.
fn adopt(spec: &RunSpec, upper: &Path) -> Result<(), RuntimeError> {
    let range = spec.isolation.ids;
    let record = spec.state_dir.join("ids");
    let recorded: Option<IdRange> = std::fs::read_to_string(&record).ok().and_then(|t| {
        let (base, size) = t.trim().split_once(' ')?;
        Some(IdRange {
            base: base.parse().ok()?,
            size: size.parse().ok()?,
        })
    });
    if recorded == Some(range) {
        return Ok(());
    }
    let what = "cannot hand the environment's files to its id range";
    shift_tree(upper, recorded, range).map_err(RuntimeError::io(what))?;
    for m in spec.mounts.iter().filter(|m| m.persistent) {
        shift_tree(&m.source, recorded, range).map_err(RuntimeError::io(what))?;
    }
    std::fs::write(&record, format!("{} {}\n", range.base, range.size))
        .map_err(RuntimeError::io("cannot record the environment's id range"))
}

/// Mounts the environment's root file system: `layers` (the shared store's directories, bottom
/// first) idmapped to its range, under its own writable layer.
pub(super) async fn mount(spec: &RunSpec, layers: &[PathBuf]) -> Result<(), RuntimeError> {
    let range = spec.isolation.ids;
    if range.size == 0 {
        return Err(RuntimeError::Engine(
            "the environment has no id range; start it again".into(),
        ));
    }
    let state = spec.state_dir.clone();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&state)
        .map_err(RuntimeError::io(
            "cannot create the environment's directory",
        ))?;
    let (upper, work) = (state.join("upper"), state.join("work"));
    grant_passage(&spec.secret_dir, range.base)?;
    let target = rootfs(spec);
    for d in [&upper, &work, &target] {
        std::fs::create_dir_all(d)
            .map_err(RuntimeError::io(format!("cannot create {}", d.display())))?;
    }
    adopt(spec, &upper)?;
    for d in [&upper, &work] {
        std::os::unix::fs::chown(d, Some(range.base), Some(range.base)).map_err(
            RuntimeError::io("cannot hand the writable layer to the environment"),
        )?;
    }
    unmount_all(spec);
    let lower_root = lower(spec);
    let layers = layers.to_vec();
    let mapped: Vec<PathBuf> =
        tokio::task::spawn_blocking(move || -> Result<Vec<PathBuf>, RuntimeError> {
            let ns = UserNamespace::new(range).map_err(|e| {
                RuntimeError::Engine(format!(
                    "cannot make a user namespace for the environment's ids {range}: {e}; environments need user namespaces (Linux 5.19 or later, running as root)"
                ))
            })?;
            let mut mapped = Vec::with_capacity(layers.len());
            for (i, layer) in layers.iter().enumerate() {
                let at = lower_root.join(i.to_string());
                std::fs::create_dir_all(&at)
                    .map_err(RuntimeError::io(format!("cannot create {}", at.display())))?;
                idmapped_bind(layer, &at, &ns).map_err(|e| RuntimeError::Engine(e.to_string()))?;
                mapped.push(at);
            }
            Ok(mapped)
        })
        .await
        .map_err(|e| RuntimeError::Engine(format!("mounting the layers failed: {e}")))??;
    // overlayfs lists lower layers top first.
    let lower: Vec<String> = mapped
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    let options = std::ffi::CString::new(options)
        .map_err(|_| RuntimeError::Engine("a layer path holds a NUL byte".into()))?;
    rustix::mount::mount(
        "overlay",
        &target,
        "overlay",
        rustix::mount::MountFlags::empty(),
        Some(options.as_c_str()),
    )
    .map_err(|e| {
        unmount_all(spec);
        RuntimeError::Engine(format!(
            "cannot mount the environment's root filesystem (overlay of {} layers): {e}",
            mapped.len()
        ))
    })
}

/// The environment's mounts with every source runc could not reach from the disk (the
/// workspace) bound first under the secret directory, which it can.
pub(super) fn stage(spec: &RunSpec) -> Result<Vec<Mount>, RuntimeError> {
    let dir = staged(spec);
    let mut out = Vec::with_capacity(spec.mounts.len());
    for (i, m) in spec.mounts.iter().enumerate() {
        if m.source.starts_with(&spec.secret_dir) {
            out.push(m.clone());
            continue;
        }
        let at = dir.join(i.to_string());
        std::fs::create_dir_all(&at)
            .map_err(RuntimeError::io(format!("cannot create {}", at.display())))?;
        rustix::mount::mount_bind_recursive(&m.source, &at).map_err(|e| {
            RuntimeError::Engine(format!(
                "cannot prepare {} for the environment: {e}",
                m.source.display()
            ))
        })?;
        out.push(Mount {
            source: at,
            ..m.clone()
        });
    }
    Ok(out)
}
