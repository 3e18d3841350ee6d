//! The one error type of the image service, mapped to the container waiting reasons the
//! kubelet shows (`ErrImagePull`, `ErrImageNeverPull`, `InvalidImageName`).

use std::path::PathBuf;

use super::client::RegistryError;
use super::reference::ReferenceError;
use super::registries::ConfigError;
use super::rootfs::RootfsError;
use super::store::StoreError;
use super::unpack::UnpackError;

/// Why an image could not be made available. For `ErrImagePull` the kubelet shows
/// `Failed to pull image "<image>": <this error>`, as upstream wraps the runtime's error.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The image name does not parse (the kubelet's `InspectFailed` wording).
    #[error("Failed to apply default image tag {image:?}: {0}", image = .0.image)]
    InvalidImageName(#[from] ReferenceError),
    /// `imagePullPolicy: Never` and the image is not stored (kubelet's wording).
    #[error("Container image {image:?} is not present with pull policy of Never")]
    NeverPull {
        /// The image as written in the pod.
        image: String,
    },
    /// The registry refused or could not be reached.
    #[error("failed to pull and unpack image {image:?}: {source}")]
    Registry {
        /// Normalised reference.
        image: String,
        /// The registry's answer.
        source: RegistryError,
    },
    /// A multi-arch image has no entry this node can run.
    #[error("failed to pull image {image:?}: no match for platform {platform} in manifest {digest}: not found")]
    NoMatchingPlatform {
        /// Normalised reference.
        image: String,
        /// This node's platform.
        platform: String,
        /// The index digest.
        digest: String,
    },
    /// A manifest or config that cannot be used.
    #[error("image {image:?}: {reason}")]
    InvalidImage {
        /// Normalised reference.
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// The store failed (disk full, digest mismatch…).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A layer could not be unpacked.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// Pull secrets or registry configuration are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The rootfs could not be mounted.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// An OCI archive could not be imported.
    #[error("importing OCI archive {path}: {reason}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A blocking task panicked or was cancelled.
    #[error("image service task failed: {0}")]
    Task(String),
}

impl PullError {
    /// The container waiting reason the kubelet reports for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            PullError::InvalidImageName(_) => "InvalidImageName",
            PullError::NeverPull { .. } => "ErrImageNeverPull",
            _ => "ErrImagePull",
        }
    }
}
