//! Node-local persistent storage: the two built-in provisioners (`bramble.io/local-path`, a
//! directory per volume, and `bramble.io/local-disk`, a size-enforced ext4 filesystem per
//! volume) and the kubelet task that provisions, expands and reclaims their volumes.
//!
//! The contract with the control plane is ADR 004: the kubelet of the node named in a claim's
//! `volume.kubernetes.io/selected-node` annotation provisions it and creates PV
//! `pvc-<claim uid>`; on Delete reclaim of a Released PV it provisioned, it removes the data
//! and then the PV. Free space per provisioner is published on the Node as annotations.

pub mod claims;
mod command;
pub mod local_disk;
pub mod local_path;
mod node_facts;
pub mod provisioner;
mod reclaim;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

pub use local_disk::{Expansion, LocalDisk};
pub use local_path::LocalPath;

/// Provisioner name of the directory-per-volume class.
pub const LOCAL_PATH_PROVISIONER: &str = "bramble.io/local-path";
/// Provisioner name of the size-enforced class.
pub const LOCAL_DISK_PROVISIONER: &str = "bramble.io/local-disk";
/// Claim annotation naming the node that provisions it (upstream's
/// `volume.kubernetes.io/selected-node`).
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";
/// PV annotation naming the provisioner that made it (upstream's).
pub const PROVISIONED_BY_ANNOTATION: &str = "pv.kubernetes.io/provisioned-by";
/// Node annotation: bytes free for new local-path volumes.
pub const LOCAL_PATH_FREE_ANNOTATION: &str = "storage.bramble.io/local-path-free-bytes";
/// Node annotation: bytes free for new local-disk volumes.
pub const LOCAL_DISK_FREE_ANNOTATION: &str = "storage.bramble.io/local-disk-free-bytes";
/// The node label local PVs are pinned with.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// Where this node keeps its provisioned volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// Root of local-path volumes (one directory each).
    pub local_path_root: PathBuf,
    /// Root of local-disk image files and their mount points.
    pub local_disk_root: PathBuf,
    /// Whole block devices or partitions the administrator gave to local-disk volumes.
    pub local_disk_devices: Vec<PathBuf>,
}

impl StorageConfig {
    /// The defaults under the node's data directory: `DATA/storage/local-{path,disk}`.
    pub fn under(data_dir: &Path) -> Self {
        Self {
            local_path_root: data_dir.join("storage").join("local-path"),
            local_disk_root: data_dir.join("storage").join("local-disk"),
            local_disk_devices: Vec::new(),
        }
    }
}

/// Why a volume could not be provisioned, expanded or removed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem or mount syscall failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// An external tool (`mkfs.ext4`, `resize2fs`, `losetup`, `mount`) failed.
    #[error("{tool} failed: {message}")]
    Tool {
        /// The program.
        tool: &'static str,
        /// Its stderr, or why it could not run.
        message: String,
    },
    /// Not enough space on the node for the requested size.
    #[error("insufficient space on node: requested {requested} bytes, {free} bytes free")]
    NoSpace {
        /// Bytes asked for.
        requested: u64,
        /// Bytes free.
        free: u64,
    },
    /// A volume name that cannot be used as one path component.
    #[error("volume name {0:?} cannot be used as a directory name")]
    BadName(String),
    /// A listed block device cannot be used.
    #[error("device {device}: {reason}")]
    Device {
        /// The device path.
        device: PathBuf,
        /// Why.
        reason: String,
    },
    /// The provisioner is not one of this node's.
    #[error("unknown provisioner {0:?}")]
    UnknownProvisioner(String),
}

impl StorageError {
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StorageError {
        let path = path.to_path_buf();
        move |source| StorageError::Io {
            action,
            path,
            source,
        }
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), StorageError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(StorageError::BadName(name.to_string()));
    }
    Ok(())
}

/// Both provisioners of one node.
#[derive(Debug, Clone)]
pub struct NodeStorage {
    /// Directory volumes.
    pub local_path: LocalPath,
    /// Size-enforced volumes.
    pub local_disk: LocalDisk,
}

impl NodeStorage {
    /// The provisioners for `cfg`.
    pub fn new(cfg: &StorageConfig) -> Self {
        Self {
            local_path: LocalPath::new(&cfg.local_path_root),
            local_disk: LocalDisk::new(&cfg.local_disk_root, cfg.local_disk_devices.clone()),
        }
    }

    /// Whether `provisioner` is one this node implements.
    pub fn handles(provisioner: &str) -> bool {
        provisioner == LOCAL_PATH_PROVISIONER || provisioner == LOCAL_DISK_PROVISIONER
    }

    /// Creates volume `name` of `bytes` for `provisioner`; returns the directory pods mount.
    /// Idempotent: an existing volume is reused.
    pub fn provision(
        &self,
        provisioner: &str,
        name: &str,
        bytes: u64,
    ) -> Result<PathBuf, StorageError> {
        match provisioner {
            LOCAL_PATH_PROVISIONER => self.local_path.provision(name),
            LOCAL_DISK_PROVISIONER => self.local_disk.provision(name, bytes),
            other => Err(StorageError::UnknownProvisioner(other.to_string())),
        }
    }

    /// Grows volume `name` to `bytes` (local-path volumes have no size to grow);
    /// `unused` says no pod on the node uses it.
    pub fn expand(
        &self,
        provisioner: &str,
        name: &str,
        bytes: u64,
        unused: bool,
    ) -> Result<Expansion, StorageError> {
        match provisioner {
            LOCAL_PATH_PROVISIONER => Ok(Expansion::Done),
            LOCAL_DISK_PROVISIONER => self.local_disk.expand(name, bytes, unused),
            other => Err(StorageError::UnknownProvisioner(other.to_string())),
        }
    }

    /// Removes volume `name` and its data. Idempotent.
    pub fn delete(&self, provisioner: &str, name: &str) -> Result<(), StorageError> {
        match provisioner {
            LOCAL_PATH_PROVISIONER => self.local_path.delete(name),
            LOCAL_DISK_PROVISIONER => self.local_disk.delete(name),
            other => Err(StorageError::UnknownProvisioner(other.to_string())),
        }
    }

    /// The free-space node annotations (ADR 004), decimal bytes.
    pub fn free_annotations(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(free) = self.local_path.free_bytes() {
            out.insert(LOCAL_PATH_FREE_ANNOTATION.to_string(), free.to_string());
        }
        if let Some(free) = self.local_disk.free_bytes() {
            out.insert(LOCAL_DISK_FREE_ANNOTATION.to_string(), free.to_string());
        }
        out
    }
}
