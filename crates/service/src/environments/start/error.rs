//! Why a start failed, as the environment's `Failed` reason: each variant carries what its user
//! needs to act on it (which registry and login, which grant, which line of devcontainer.json).

use berth_registry_client::RegistryError;
use berth_runtime::RuntimeError;

use super::super::disk::DiskError;
use super::super::failure::{PulledWith, pull_failure};
use super::super::workspace::WorkspaceError;
use crate::ServiceError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("the repository no longer exists")]
    RepositoryGone,
    #[error(
        "{user} can no longer read {repository}; ask for access to the repository, or delete the codespace"
    )]
    AccessLost { user: String, repository: String },
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// The clone, or the dev container configuration (its detail names the line).
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(
        "no image: give one with `berth codespace create --image REF`, or add \"image\" to .devcontainer/devcontainer.json"
    )]
    NoImage,
    #[error("image {image}: {detail}")]
    BadImage { image: String, detail: String },
    #[error("workspaceFolder {0:?} must be an absolute path inside the container")]
    WorkspaceFolder(String),
    #[error("the server's URL is not usable for its registry: {0}")]
    ServerUrl(String),
    #[error("cannot pull {image}: the registry login {prefix} is not usable: {detail}")]
    LoginUnusable {
        image: String,
        prefix: String,
        detail: String,
    },
    /// The egress policy refuses the registry's address: nothing was sent there.
    #[error("cannot pull {image}: {reason}")]
    Refused { image: String, reason: String },
    /// The pull failed: which registry, with which login (or the grant that is missing).
    #[error("{}", pull_failure(image, host, with, error))]
    Pull {
        image: String,
        host: String,
        with: PulledWith,
        error: Box<RegistryError>,
    },
    #[error("every id range of the server's pool is in use; delete environments first")]
    NoIdRange,
    #[error("cannot find a free id range for the environment; try again")]
    IdRangeContended,
    #[error("cannot write the environment's {what}: {detail}")]
    Logins { what: &'static str, detail: String },
    #[error(transparent)]
    Runtime(RuntimeError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<berth_store::StoreError> for StartError {
    fn from(e: berth_store::StoreError) -> Self {
        Self::Service(e.into())
    }
}

impl StartError {
    /// What a failure to write `what` (a file of logins) becomes.
    pub(crate) fn logins<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Self {
        move |e| Self::Logins {
            what,
            detail: e.to_string(),
        }
    }

    /// A runtime failure; a failed pull says which registry and login it used.
    pub(crate) fn runtime(e: RuntimeError, image: &str, host: &str, with: &PulledWith) -> Self {
        match e {
            RuntimeError::Pull { source, .. } => Self::Pull {
                image: image.to_owned(),
                host: host.to_owned(),
                with: with.clone(),
                error: Box::new(source),
            },
            other => Self::Runtime(other),
        }
    }
}
