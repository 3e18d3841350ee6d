//! Staging mounts: a host path or PV directory, opened once as a descriptor (see
//! [`super::beneath`]), is bind-mounted from `/proc/self/fd/N` onto a kubelet-owned point
//! under the pod's `volumes/` directory before the pod's first container starts; the runtime
//! bind-mounts only that point. Upstream mounts hostPath and local PVs by name (and pins only
//! subPaths this way, in `subpath_linux.go`); staging the volume root too closes the window
//! between the kubelet's check and the runtime's mount.

use std::os::fd::OwnedFd;
use std::path::Path;

use super::beneath::{self, Symlinks};
use super::{hostpath, mounts, ClaimVolume, HostPathPolicy, VolumeError};

/// Whether a staging mount already exists at `path` (a restarted kubelet keeps the one it
/// checked when the pod started rather than resolving the host path again).
pub(crate) fn staged(path: &Path) -> Result<bool, VolumeError> {
    mounts::is_mount_point(path).map_err(VolumeError::io("read mountinfo for", path))
}

/// Bind-mounts the opened host object `fd` (with the mounts below it, as the runtime's
/// `rbind` would) onto the kubelet-owned staging point `path`, which is all the runtime sees.
pub(crate) fn stage(fd: &OwnedFd, path: &Path) -> Result<(), VolumeError> {
    beneath::bind_fd(fd, path, true)
        .map_err(|e| e.into_volume_error("volume", "the opened host path"))
}

/// Opens a PV's directory for staging. A hostPath PV goes through the node's policy like
/// a hostPath volume. A local PV's path is the administrator's (or a provisioner's under
/// the data directory); where it lies under a prefix pods may mount by hostPath, a pod
/// could plant a symlink in it, so it is walked from that prefix refusing symlinks.
pub(crate) fn open_claim(
    policy: &HostPathPolicy,
    volume: &str,
    claim: &ClaimVolume,
) -> Result<OwnedFd, VolumeError> {
    let path = claim.path.display().to_string();
    if claim.host_path {
        return hostpath::open_host_path(policy, volume, &path, Some("Directory"), true);
    }
    let not_dir = || VolumeError::io("use volume directory", &claim.path);
    let fd = match policy.mount_root(&path) {
        Ok((root, rest)) => {
            let root_fd = beneath::open_dir(&root).map_err(VolumeError::io("open", &root))?;
            beneath::open_below(
                root_fd,
                &rest.to_string_lossy(),
                Symlinks::Refuse,
                None,
                true,
            )
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) | Some(libc::EXDEV) => VolumeError::HostPathUnsafe {
                    volume: volume.to_string(),
                    path: path.clone(),
                    root: root.display().to_string(),
                },
                _ => not_dir()(e),
            })?
        }
        Err(_) => beneath::open_dir(&claim.path).map_err(not_dir())?,
    };
    match beneath::fd_metadata(&fd) {
        Ok(m) if m.is_dir() => Ok(fd),
        _ => Err(not_dir()(std::io::Error::from_raw_os_error(libc::ENOTDIR))),
    }
}
