//! Pod volumes: emptyDir, hostPath, configMap, secret, downwardAPI, projected (with service
//! account tokens), gitRepo, persistentVolumeClaim, subPath.
//!
//! Before a pod's containers start, the kubelet prepares every volume of the pod on the host
//! under `DATA/pods/<pod-uid>/volumes/<plugin>/<name>` (upstream's layout, with plugin names
//! escaped as `kubernetes.io~empty-dir`), then turns each container's `volumeMounts` into
//! [`BindMount`]s that the OCI bundle writer copies into `config.json`. [`VolumeManager`] is the
//! entry point: [`VolumeManager::setup`], [`PodVolumes::mounts_for`], [`VolumeManager::refresh`]
//! and [`VolumeManager::teardown`]. Every call does blocking filesystem and mount syscalls:
//! run it on `tokio::task::spawn_blocking`.

mod atomic_writer;
mod beneath;
mod downward_api;
mod emptydir;
mod error;
mod git_repo;
mod hostpath;
mod manager;
#[cfg(test)]
mod manager_tests;
mod mounts;
mod projected;
mod projection;
mod staging;
mod subpath;
mod usage;

pub use crate::host_path_policy::HostPathPolicy;
pub use atomic_writer::{AtomicWriter, FileProjection};
pub use emptydir::memory_volume_size;
pub use error::VolumeError;
pub use manager::{PodVolumes, VolumeManager};
pub use mounts::mount_points_under;
pub(crate) use mounts::{is_mount_point, unmount};
pub use projected::{object_names as projected_object_names, token_requests, TokenRequestKey};
pub use projection::{ClaimVolume, PrefetchedSources, SourceLookup};
pub use subpath::{open_beneath, validate_sub_path};
pub use usage::{disk_usage, OverLimit, Usage};

use std::path::PathBuf;

/// How mounts propagate between the host and a container (`volumeMounts[].mountPropagation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountPropagation {
    /// `None` (the default): OCI `rprivate`.
    Private,
    /// `HostToContainer`: host mounts appear in the container; OCI `rslave`.
    HostToContainer,
    /// `Bidirectional`: mounts flow both ways (privileged containers only); OCI `rshared`.
    Bidirectional,
}

impl MountPropagation {
    /// The OCI `mounts[].options` flag for this mode.
    pub fn oci_option(self) -> &'static str {
        match self {
            MountPropagation::Private => "rprivate",
            MountPropagation::HostToContainer => "rslave",
            MountPropagation::Bidirectional => "rshared",
        }
    }
}

/// One bind mount for a container's OCI bundle: `source` on the host at `destination` inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// The volume (or pinned subPath) on the host.
    pub source: PathBuf,
    /// `volumeMounts[].mountPath` inside the container.
    pub destination: PathBuf,
    /// Mount read-only (`volumeMounts[].readOnly`, or a source that is always read-only).
    pub read_only: bool,
    /// Propagation mode from `volumeMounts[].mountPropagation`.
    pub propagation: MountPropagation,
}
