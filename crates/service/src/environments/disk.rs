//! An environment's disk: a file system of its machine type's size, in a sparse image file in
//! its directory, holding its workspace and its runtime's state (the writable layer). Writes
//! beyond the size fail inside the environment with "No space left on device", and nothing it
//! writes can fill the server's disk.
//!
//! ```text
//! <environment dir>/disk.img   the image (sparse: it takes only what is written)
//!                  /disk/      where it is mounted (loop, nodev) from the first start to delete
//!                       workspace/  runtime/
//! ```
//! The file system is ext4 made with lazy initialisation, so a new environment's disk is made
//! in milliseconds whatever its size; it stays mounted while the environment is stopped and is
//! mounted again by a start after the host restarted.

use std::path::Path;
use std::process::Stdio;

use super::Paths;

/// Why the environment's disk could not be made or mounted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiskError {
    #[error("cannot {what}: cannot run {program}: {source}{}", advice(program))]
    CannotRun {
        what: &'static str,
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {what}: {program} failed: {stderr}{}", advice(program))]
    Failed {
        what: &'static str,
        program: &'static str,
        stderr: String,
    },
    #[error("cannot {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn advice(program: &str) -> &'static str {
    if program == "mkfs.ext4" {
        "; install e2fsprogs"
    } else {
        ""
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> DiskError {
    move |source| DiskError::Io { what, source }
}

/// Whether something is mounted at `path`.
fn mounted(path: &Path) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.to_string_lossy();
    table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| p == wanted)
}

async fn run(what: &'static str, program: &'static str, args: &[&str]) -> Result<(), DiskError> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| DiskError::CannotRun {
            what,
            program,
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DiskError::Failed {
            what,
            program,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Makes the environment's disk on its first start (of `size` bytes) and mounts it.
pub(super) async fn attach(paths: &Paths, size: u64) -> Result<(), DiskError> {
    if paths.on_server_disk() {
        return Ok(());
    }
    let mount_point = paths.disk();
    if mounted(&mount_point) {
        return Ok(());
    }
    let image = paths.disk_image();
    if !image.exists() {
        // Made under a temporary name and renamed once whole: a crash never leaves an image
        // without a file system.
        let making = image.with_extension("making");
        let file = {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&making)
                .map_err(io("create the environment's disk"))?
        };
        file.set_len(size)
            .map_err(io("size the environment's disk"))?;
        drop(file);
        let path = making.to_string_lossy().into_owned();
        run(
            "make the environment's disk",
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-m",
                "0",
                "-E",
                "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
                &path,
            ],
        )
        .await?;
        std::fs::rename(&making, &image).map_err(io("put the environment's disk in place"))?;
    }
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&mount_point)
            .map_err(io("create the environment's disk mount point"))?;
    }
    run(
        "mount the environment's disk",
        "mount",
        &[
            "-o",
            "loop,nodev",
            &image.to_string_lossy(),
            &mount_point.to_string_lossy(),
        ],
    )
    .await?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&mount_point, std::fs::Permissions::from_mode(0o700))
            .map_err(io("make the environment's disk private"))?;
    }
    Ok(())
}
