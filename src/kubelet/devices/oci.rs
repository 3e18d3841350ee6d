//! A container's allocated devices as OCI `linux.devices` entries: each host node's type,
//! numbers, mode and owner read from the host when the container is created (symlinks
//! followed, so `/dev/serial0` gives the node it points at), placed in the container at the
//! declared path, as a device plugin's `DeviceSpec` with equal host and container paths.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxDevice;

use crate::kubelet::runtime::host_devices::device_node;

/// An allocated device that is not a device node on the host now.
#[derive(Debug, thiserror::Error)]
#[error("device {path} allocated to this container is not present on the node: {reason}")]
pub struct DeviceMissing {
    /// The host path.
    pub path: PathBuf,
    /// What was found instead.
    pub reason: String,
}

/// The `linux.devices` entries for host devices `paths`.
pub fn linux_devices(paths: &[PathBuf]) -> Result<Vec<LinuxDevice>, DeviceMissing> {
    paths.iter().map(|p| linux_device(p)).collect()
}

fn linux_device(path: &Path) -> Result<LinuxDevice, DeviceMissing> {
    let missing = |reason: String| DeviceMissing {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| missing(e.to_string()))?;
    device_node(path, &meta).ok_or_else(|| missing("not a character or block device".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceType;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn entries_carry_the_host_nodes_numbers_mode_and_owner() {
        let devices =
            linux_devices(&[PathBuf::from("/dev/null"), PathBuf::from("/dev/zero")]).unwrap();
        let null = &devices[0];
        assert_eq!(null.path(), Path::new("/dev/null"));
        assert_eq!(null.typ(), LinuxDeviceType::C);
        assert_eq!((null.major(), null.minor()), (1, 3));
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert_eq!(null.file_mode(), Some(meta.mode() & 0o7777));
        assert_eq!(
            (null.uid(), null.gid()),
            (Some(meta.uid()), Some(meta.gid()))
        );
        assert_eq!((devices[1].major(), devices[1].minor()), (1, 5));
    }

    #[test]
    fn a_symlink_gives_its_target_at_the_declared_path() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("serial0");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let devices = linux_devices(std::slice::from_ref(&link)).unwrap();
        assert_eq!(devices[0].path(), link.as_path());
        assert_eq!((devices[0].major(), devices[0].minor()), (1, 3));
    }

    #[test]
    fn a_vanished_or_regular_file_is_an_error() {
        let pid = std::process::id();
        let err = linux_devices(&[PathBuf::from(format!("/dev/bramble-gone-{pid}"))]).unwrap_err();
        assert!(err.to_string().contains("not present on the node"), "{err}");
        assert!(linux_devices(&[PathBuf::from("/etc/hostname")]).is_err());
    }
}
