//! Where an environment's files live (see the module's layout in `mod.rs`).

use std::path::PathBuf;

/// The paths an environment's files live at.
pub(crate) struct Paths {
    pub dir: PathBuf,
    /// In memory: removed at stop.
    pub secrets: PathBuf,
    /// Environments have disks of their own on this server.
    pub disks: bool,
}

impl Paths {
    pub fn log(&self) -> PathBuf {
        self.dir.join("creation.log")
    }
    /// Made before environments had disks of their own: the workspace and the runtime's state
    /// are directly in its directory, on the server's disk.
    pub fn legacy(&self) -> bool {
        self.dir.join("workspace").exists() && !self.disk_image().exists()
    }
    pub fn disk_image(&self) -> PathBuf {
        self.dir.join("disk.img")
    }
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk")
    }
    /// Whether the workspace and the runtime's state are directly on the server's disk: no disks
    /// on this server, or an environment from before them.
    pub fn on_server_disk(&self) -> bool {
        !self.disks || self.legacy()
    }
    /// Where the workspace and the runtime's state are: on the environment's disk.
    fn on_disk(&self) -> PathBuf {
        if self.on_server_disk() {
            self.dir.clone()
        } else {
            self.disk()
        }
    }
    pub fn workspace(&self) -> PathBuf {
        self.on_disk().join("workspace")
    }
    pub fn docker_dir(&self) -> PathBuf {
        self.secrets.join("home/docker")
    }
    pub fn containers_dir(&self) -> PathBuf {
        self.secrets.join("home/containers")
    }
    pub fn npmrc(&self) -> PathBuf {
        self.secrets.join("home/npmrc")
    }
    pub fn runtime(&self) -> PathBuf {
        self.on_disk().join("runtime")
    }
}
