//! hostPath volumes: the host path is checked against the node's policy, opened once below
//! its allowed prefix without following any symlink, and upstream's `hostPath.type` checks
//! (with their creation semantics) are made on that open descriptor, which is what the
//! kubelet then mounts.
//!
//! Mirrors `checkType`/`checkTypeInternal` in upstream's `pkg/volume/hostpath/host_path.go`:
//! `DirectoryOrCreate` makes the directory (and parents) with mode 0755, `FileOrCreate` makes
//! an empty 0644 file but not its parent, the other types only check what the path is, and
//! `""` checks nothing (a missing path is made a directory, as containerd's CRI does before
//! its bind mount). Unlike upstream, which stats and mounts by name, every step here works
//! on descriptors: a container that swaps a directory for a symlink between the check and the
//! mount gets the refusal below, never the symlink's target.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use super::beneath::{self, Symlinks};
use super::{HostPathPolicy, VolumeError};

/// What a host path is, in upstream's `hostutil.FileType` terms.
fn file_kind(fd: &OwnedFd) -> Option<&'static str> {
    let ft = beneath::fd_metadata(fd).ok()?.file_type();
    Some(if ft.is_dir() {
        "directory"
    } else if ft.is_file() {
        "file"
    } else if ft.is_socket() {
        "socket file"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else {
        "other"
    })
}

/// The kind a `hostPath.type` requires (`None`: anything) and whether a missing directory is
/// created.
fn expectation(host_path_type: &str) -> Result<(Option<&'static str>, bool), VolumeError> {
    Ok(match host_path_type {
        "" => (None, true),
        "DirectoryOrCreate" => (Some("directory"), true),
        "Directory" => (Some("directory"), false),
        "FileOrCreate" | "File" => (Some("file"), false),
        "Socket" => (Some("socket file"), false),
        "CharDevice" => (Some("character device"), false),
        "BlockDevice" => (Some("block device"), false),
        other => return Err(VolumeError::InvalidHostPathType(other.to_string())),
    })
}

/// Opens the host path of volume `volume` for mounting: refused by `policy`, or when a
/// symlink (or anything leaving the allowed prefix) turns up on the way; created and
/// type-checked as `host_path_type` says. `use_openat2 = false` forces the component walk.
pub(crate) fn open_host_path(
    policy: &HostPathPolicy,
    volume: &str,
    path: &str,
    host_path_type: Option<&str>,
    use_openat2: bool,
) -> Result<OwnedFd, VolumeError> {
    let host_path_type = host_path_type.unwrap_or("");
    let (expected, create_dirs) = expectation(host_path_type)?;
    let (root, rest) =
        policy
            .mount_root(path)
            .map_err(|denied| VolumeError::HostPathNotAllowed {
                volume: volume.to_string(),
                path: path.to_string(),
                denied,
            })?;
    let rest_str = rest.to_string_lossy();
    let fail = |e: io::Error| match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::EXDEV) => VolumeError::HostPathUnsafe {
            volume: volume.to_string(),
            path: path.to_string(),
            root: root.display().to_string(),
        },
        _ => match expected {
            Some(expected) if e.kind() == io::ErrorKind::NotFound => VolumeError::HostPathType {
                path: path.to_string(),
                expected,
            },
            _ => VolumeError::io("open hostPath", Path::new(path))(e),
        },
    };
    let open_root = || beneath::open_dir(&root).map_err(VolumeError::io("open", &root));
    let walk = |create: Option<u32>| {
        beneath::open_below(
            open_root()?,
            &rest_str,
            Symlinks::Refuse,
            create,
            use_openat2,
        )
        .map_err(fail)
    };
    let fd = match walk(create_dirs.then_some(0o755)) {
        Err(VolumeError::HostPathType { .. }) if host_path_type == "FileOrCreate" => {
            // Upstream's makeFile: O_CREAT with 0644; the parent directory must already exist.
            let parent = rest.parent().unwrap_or(Path::new(""));
            let name = rest.file_name().map(|n| n.to_string_lossy().into_owned());
            let dir = beneath::open_below(
                open_root()?,
                &parent.to_string_lossy(),
                Symlinks::Refuse,
                None,
                use_openat2,
            )
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => {
                    VolumeError::io("create hostPath file", Path::new(path))(e)
                }
                _ => fail(e),
            })?;
            if let Some(name) = name {
                beneath::create_file_at(&dir, &name, 0o644)
                    .map_err(VolumeError::io("create hostPath file", Path::new(path)))?;
            }
            walk(None)?
        }
        other => other?,
    };
    match expected {
        Some(expected) if file_kind(&fd) != Some(expected) => Err(VolumeError::HostPathType {
            path: path.to_string(),
            expected,
        }),
        _ => Ok(fd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    fn s(p: &Path) -> String {
        p.display().to_string()
    }

    fn open(path: &str, t: Option<&str>) -> Result<OwnedFd, VolumeError> {
        open_host_path(&HostPathPolicy::allow_all(), "v", path, t, true)
    }

    #[test]
    fn directory_checks_and_creation() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, b"").unwrap();
        open(&s(tmp.path()), Some("Directory")).unwrap();
        let err = open(&s(&file), Some("Directory")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "hostPath type check failed: {} is not a directory",
                s(&file)
            )
        );
        let missing = tmp.path().join("a/b");
        assert!(open(&s(&missing), Some("Directory")).is_err());
        open(&s(&missing), Some("DirectoryOrCreate")).unwrap();
        assert!(missing.is_dir());
        let err = open(&s(&file), Some("DirectoryOrCreate")).unwrap_err();
        assert!(err.to_string().ends_with("is not a directory"), "{err}");
        let untyped = tmp.path().join("c/d");
        open(&s(&untyped), None).unwrap();
        assert!(untyped.is_dir());
        open(&s(&file), Some("")).unwrap();
    }

    #[test]
    fn file_or_create_needs_the_parent_and_makes_0644() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("new");
        let fd = open(&s(&f), Some("FileOrCreate")).unwrap();
        assert_eq!(
            beneath::fd_metadata(&fd).unwrap().ino(),
            fs::metadata(&f).unwrap().ino()
        );
        let mode = fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o022, 0o644 & !0o022);
        assert!(open(&s(&tmp.path().join("no/f")), Some("FileOrCreate")).is_err());
        assert!(!tmp.path().join("no").exists());
        let err = open(&s(tmp.path()), Some("File")).unwrap_err();
        assert!(err.to_string().ends_with("is not a file"), "{err}");
    }

    #[test]
    fn devices_sockets_and_unknown_types() {
        open("/dev/null", Some("CharDevice")).unwrap();
        let err = open("/dev/null", Some("BlockDevice")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hostPath type check failed: /dev/null is not a block device"
        );
        let err = open("/dev/null", Some("Socket")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hostPath type check failed: /dev/null is not a socket file"
        );
        let err = open("/tmp", Some("Folder")).unwrap_err();
        assert_eq!(err.to_string(), "Folder is an invalid volume type");
        let tmp = tempfile::tempdir().unwrap();
        let sock = tmp.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        open(&s(&sock), Some("Socket")).unwrap();
    }

    #[test]
    fn symlinks_anywhere_below_the_allowed_prefix_are_refused() {
        let tmp = tempfile::tempdir_in("/tmp").unwrap();
        let outside = tempfile::tempdir_in("/tmp").unwrap();
        // Both directories are allowed: a symlink is refused even when its target would pass.
        let allowed = [s(tmp.path()), s(outside.path())];
        let policy = HostPathPolicy::new(&allowed, Path::new("/var/lib/bramble"));
        fs::create_dir(tmp.path().join("real")).unwrap();
        symlink(outside.path(), tmp.path().join("swapped")).unwrap();
        symlink("real", tmp.path().join("inside")).unwrap();
        for openat2 in [true, false] {
            for (path, t) in [
                ("swapped", None),
                ("swapped/new", Some("DirectoryOrCreate")),
                ("swapped/f", Some("FileOrCreate")),
                ("inside", Some("Directory")),
            ] {
                let full = s(&tmp.path().join(path));
                let err = open_host_path(&policy, "data", &full, t, openat2).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!(
                        "hostPath volume \"data\" path \"{full}\" was refused at mount time: \
                         it is or passes through a symlink below {}, or leaves it",
                        s(tmp.path())
                    )
                );
            }
            open_host_path(&policy, "data", &s(&tmp.path().join("real")), None, openat2).unwrap();
        }
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
        let err = open_host_path(&policy, "e", "/etc", None, true).unwrap_err();
        assert!(
            matches!(err, VolumeError::HostPathNotAllowed { .. }),
            "{err}"
        );
    }
}
