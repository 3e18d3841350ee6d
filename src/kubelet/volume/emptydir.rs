//! emptyDir volumes: a directory on the node's disk, or a tmpfs for `medium: Memory`.
//!
//! Follows upstream's `pkg/volume/emptydir/empty_dir.go`: the directory ends up mode 0777
//! whatever the umask (`setupDir`), and a memory-backed volume is a tmpfs whose size is
//! `calculateEmptyDirMemorySize`: the node's allocatable memory, lowered to the pod's memory
//! limit when every container has one, lowered again to `sizeLimit` when that is smaller.

use std::fs::{self, DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::{mounts, VolumeError};
use crate::resources::quantity::Quantity;

/// Memory limit of the pod as the pod cgroup would get it (upstream `ResourceConfigForPod`):
/// the sum over app containers, at least the largest init container, and only when every
/// container sets one.
fn pod_memory_limit(pod: &Pod) -> Option<u64> {
    let spec = pod.spec.as_ref()?;
    let limit = |c: &Container| -> Option<u64> {
        let q = c.resources.as_ref()?.limits.as_ref()?.get("memory")?;
        u64::try_from(Quantity::parse(&q.0).ok()?.value()).ok()
    };
    let mut sum = 0u64;
    for c in &spec.containers {
        sum = sum.saturating_add(limit(c)?);
    }
    for c in spec.init_containers.iter().flatten() {
        sum = sum.max(limit(c)?);
    }
    Some(sum)
}

/// Size of a memory-backed emptyDir for `pod`: `node_allocatable` capped by the pod's memory
/// limit and by `size_limit` (bytes), each only when it is positive and smaller.
pub fn memory_volume_size(pod: &Pod, size_limit: Option<u64>, node_allocatable: u64) -> u64 {
    let mut size = node_allocatable;
    for cap in [pod_memory_limit(pod), size_limit].into_iter().flatten() {
        if cap > 0 && cap <= size {
            size = cap;
        }
    }
    size
}

/// Parses `emptyDir.sizeLimit` into bytes.
pub(crate) fn size_limit_bytes(
    volume: &str,
    limit: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
) -> Result<Option<u64>, VolumeError> {
    let Some(q) = limit else { return Ok(None) };
    let parsed = Quantity::parse(&q.0).map_err(|source| VolumeError::SizeLimit {
        volume: volume.to_string(),
        value: q.0.clone(),
        source,
    })?;
    Ok(Some(u64::try_from(parsed.value()).unwrap_or(0)))
}

/// Creates `dir` (and parents) and makes it mode 0777 regardless of the umask.
pub(crate) fn setup_dir(dir: &Path) -> Result<(), VolumeError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o777)
        .create(dir)
        .map_err(VolumeError::io("create volume directory", dir))?;
    fs::set_permissions(dir, Permissions::from_mode(0o777))
        .map_err(VolumeError::io("set permissions on", dir))
}

/// Mounts a tmpfs of `size` bytes at `dir` unless one is already there (a restarted kubelet
/// finds the mounts it made before), then makes the directory 0777.
pub(crate) fn setup_tmpfs(dir: &Path, size: Option<u64>) -> Result<(), VolumeError> {
    setup_dir(dir)?;
    let mounted = mounts::is_mount_point(dir)
        .map_err(VolumeError::io("read /proc/self/mountinfo for", dir))?;
    if !mounted {
        mounts::mount_tmpfs(dir, size).map_err(VolumeError::io("mount tmpfs at", dir))?;
    }
    fs::set_permissions(dir, Permissions::from_mode(0o777))
        .map_err(VolumeError::io("set permissions on", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

    fn container(limit: Option<&str>) -> Container {
        Container {
            name: "c".into(),
            resources: limit.map(|l| ResourceRequirements {
                limits: Some([("memory".to_string(), ApiQuantity(l.into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn size_is_the_smallest_positive_cap() {
        let gib = 1 << 30;
        let no_limits = pod(vec![container(None)]);
        assert_eq!(memory_volume_size(&no_limits, None, gib), gib);
        assert_eq!(memory_volume_size(&no_limits, Some(1 << 20), gib), 1 << 20);
        assert_eq!(memory_volume_size(&no_limits, Some(0), gib), gib);
        assert_eq!(memory_volume_size(&no_limits, Some(2 * gib), gib), gib);
        let limited = pod(vec![container(Some("64Mi")), container(Some("64Mi"))]);
        assert_eq!(memory_volume_size(&limited, None, gib), 128 << 20);
        let partly = pod(vec![container(Some("64Mi")), container(None)]);
        assert_eq!(memory_volume_size(&partly, None, gib), gib);
    }

    #[test]
    fn disk_dir_is_world_writable() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("v/cache");
        setup_dir(&d).unwrap();
        assert_eq!(
            fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o777
        );
    }
}
