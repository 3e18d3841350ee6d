//! Errors from preparing, mounting and tearing down pod volumes.
//!
//! Messages that users see in pod events copy upstream's wording (hostPath type checks,
//! missing ConfigMap keys, subPath escapes) so they read the same as on a stock kubelet.

use std::io;
use std::path::{Path, PathBuf};

/// Why a volume could not be set up, mounted or torn down.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A hostPath did not have the required `type` (upstream `checkType`).
    #[error("hostPath type check failed: {path} is not a {expected}")]
    HostPathType {
        /// The host path.
        path: String,
        /// `directory`, `file`, `socket file`, `character device` or `block device`.
        expected: &'static str,
    },
    /// `hostPath.type` is not one upstream knows.
    #[error("{0} is an invalid volume type")]
    InvalidHostPathType(String),
    /// The node's hostPath policy refuses this path.
    #[error("hostPath volume \"{volume}\" path \"{path}\" is not allowed on this node: {denied}")]
    HostPathNotAllowed {
        /// The volume name.
        volume: String,
        /// The host path.
        path: String,
        /// The rule that refused it.
        denied: crate::host_path_policy::HostPathDenied,
    },
    /// Opening the host path met a symlink (or left the allowed prefix): what a container
    /// that can write above the path plants to redirect the mount.
    #[error("hostPath volume \"{volume}\" path \"{path}\" was refused at mount time: it is or passes through a symlink below {root}, or leaves it")]
    HostPathUnsafe {
        /// The volume name.
        volume: String,
        /// The host path.
        path: String,
        /// The allowed prefix the path was opened below.
        root: String,
    },
    /// A referenced ConfigMap or Secret does not exist and the volume is not `optional`.
    #[error("{resource} \"{name}\" not found")]
    SourceNotFound {
        /// `configmaps` or `secrets`.
        resource: &'static str,
        /// Object name.
        name: String,
    },
    /// `items[].key` names a key the ConfigMap/Secret does not have (upstream `MakePayload`).
    #[error("{0}")]
    MissingKey(String),
    /// A projected file path is unsafe (upstream `validatePath` in the atomic writer).
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// A `subPath` is absolute, contains `..` or resolves outside its volume.
    #[error("{0}")]
    SubPath(String),
    /// A `volumeMounts[].name` names no volume of the pod.
    #[error("cannot find volume \"{volume}\" to mount into container \"{container}\"")]
    UnknownVolume {
        /// Volume name from the mount.
        volume: String,
        /// Container name.
        container: String,
    },
    /// `mountPropagation` is not allowed or not known.
    #[error("{0}")]
    Propagation(String),
    /// `emptyDir.sizeLimit` is not a quantity.
    #[error("volume \"{volume}\": invalid sizeLimit {value:?}: {source}")]
    SizeLimit {
        /// Volume name.
        volume: String,
        /// The text given.
        value: String,
        /// Parse error.
        source: crate::resources::quantity::QuantityError,
    },
    /// A `persistentVolumeClaim` volume whose claim was not resolved before setup.
    #[error("PVC {namespace}/{claim} is not bound to a volume on this node yet")]
    ClaimNotResolved {
        /// The pod's namespace.
        namespace: String,
        /// The claim name.
        claim: String,
    },
    /// A gitRepo volume could not be cloned (upstream's `MountVolume.SetUp failed` wording).
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
    GitRepo {
        /// Volume name.
        volume: String,
        /// What failed, with git's output.
        message: String,
    },
    /// A `downwardAPI` item names a field or resource the downward API does not offer.
    #[error("{0}")]
    DownwardApi(#[from] crate::kubelet::downward_api::DownwardApiError),
    /// The token of a projected `serviceAccountToken` source could not be had (upstream's
    /// wording: the token manager's message inside the mount failure).
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
    TokenFetch {
        /// Volume name.
        volume: String,
        /// Why there is no token (`failed to fetch token: ...`).
        message: String,
    },
    /// A projected volume has a `clusterTrustBundle` source, which this node does not serve.
    #[error("volume \"{0}\": clusterTrustBundle projections are not supported on this node")]
    ClusterTrustBundle(String),
    /// The volume uses a source this node does not implement.
    #[error("volume \"{0}\": unsupported volume source (this node supports emptyDir, hostPath, configMap, secret, downwardAPI, projected, gitRepo and persistentVolumeClaim)")]
    Unsupported(String),
    /// `emptyDir.medium` is neither `""` nor `Memory`.
    #[error("unknown storage medium \"{0}\"")]
    UnknownMedium(String),
    /// A pod uid or volume name that cannot be used as one path component.
    #[error("{what} {name:?} cannot be used as a directory name")]
    BadName {
        /// `pod uid` or `volume name`.
        what: &'static str,
        /// The offending name.
        name: String,
    },
    /// Mounts under the pod directory survived unmounting, so its files were kept.
    #[error("pod volume directory {dir} still has mounts ({mounts}); unmount them and retry")]
    StillMounted {
        /// The pod's volume directory.
        dir: PathBuf,
        /// The remaining mount points, comma-separated.
        mounts: String,
    },
    /// A filesystem or mount syscall failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`mount tmpfs at`, `create directory`, ...).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl VolumeError {
    /// Wraps an OS error with the action and path it came from.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> VolumeError {
        let path = path.to_path_buf();
        move |source| VolumeError::Io {
            action,
            path,
            source,
        }
    }
}
