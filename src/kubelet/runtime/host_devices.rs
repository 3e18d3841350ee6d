//! The host's device nodes, given to privileged containers as containerd's `WithPrivileged`
//! does (`WithHostDevices`, runc's `HostDevices`): every character and block device under
//! `/dev`, except the console and what lives in `pts`, `shm`, `fd` and `mqueue`, with its
//! mode and owner. Symlinks are not followed.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceBuilder, LinuxDeviceType};

/// Subdirectories of `/dev` whose nodes are the container's own, not the host's.
const SKIPPED_DIRS: [&str; 7] = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
/// How deep below `/dev` nodes are looked for (e.g. `/dev/dri/by-path/...` is a symlink).
const MAX_DEPTH: usize = 4;

/// The device nodes under `dir` (normally `/dev`); unreadable entries are left out.
pub fn host_devices(dir: &Path) -> Vec<LinuxDevice> {
    let mut out = Vec::new();
    walk(dir, 0, &mut out);
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<LinuxDevice>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let name = entry.file_name();
        let ft = meta.file_type();
        if ft.is_dir() {
            let skipped = SKIPPED_DIRS.iter().any(|s| name == *s);
            if !skipped && depth < MAX_DEPTH {
                walk(&path, depth + 1, out);
            }
            continue;
        }
        if depth == 0 && name == "console" {
            continue;
        }
        if let Some(device) = device_node(&path, &meta) {
            out.push(device);
        }
    }
}

/// The OCI device entry for the node at `path` whose metadata is `meta`: its type, numbers,
/// mode and owner; `None` when it is not a character or block device.
pub fn device_node(path: &Path, meta: &std::fs::Metadata) -> Option<LinuxDevice> {
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return None;
    };
    let rdev = meta.rdev();
    LinuxDeviceBuilder::default()
        .path(path)
        .typ(typ)
        .major(libc::major(rdev) as i64)
        .minor(libc::minor(rdev) as i64)
        .file_mode(meta.permissions().mode() & 0o7777)
        .uid(meta.uid())
        .gid(meta.gid())
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_null_is_found_and_the_console_and_pts_are_not() {
        let devices = host_devices(Path::new("/dev"));
        let null = devices
            .iter()
            .find(|d| d.path() == Path::new("/dev/null"))
            .expect("/dev/null");
        assert_eq!((null.major(), null.minor()), (1, 3));
        assert_eq!(null.typ(), LinuxDeviceType::C);
        assert!(devices
            .iter()
            .all(|d| d.path() != Path::new("/dev/console")));
        assert!(devices.iter().all(|d| !d.path().starts_with("/dev/pts")));
    }
}
