//! hostPath volumes: the node's policy on which host paths pods may use, and upstream's
//! `hostPath.type` checks with their creation semantics.
//!
//! Mirrors `checkType`/`checkTypeInternal` in upstream's `pkg/volume/hostpath/host_path.go`:
//! `DirectoryOrCreate` makes the directory (and parents) with mode 0755, `FileOrCreate` makes
//! an empty 0644 file but not its parent, the other types only check what `stat` (following
//! symlinks) sees, and `""` checks nothing.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::VolumeError;

/// What `stat` says a host path is, in upstream's `hostutil.FileType` terms.
fn file_kind(path: &Path) -> Option<&'static str> {
    let ft = fs::metadata(path).ok()?.file_type();
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

fn require(path: &str, expected: &'static str) -> Result<(), VolumeError> {
    if file_kind(Path::new(path)) == Some(expected) {
        Ok(())
    } else {
        Err(VolumeError::HostPathType {
            path: path.to_string(),
            expected,
        })
    }
}

/// Applies `hostPath.type` to `path`: checks its kind and creates it for the `*OrCreate` types.
pub fn check_host_path_type(path: &str, host_path_type: Option<&str>) -> Result<(), VolumeError> {
    let p = Path::new(path);
    let exists = fs::metadata(p).is_ok();
    match host_path_type.unwrap_or("") {
        "" => Ok(()),
        "DirectoryOrCreate" if !exists => {
            // Upstream's makeDir: MkdirAll with 0755 (subject to the umask), existing is fine.
            match DirBuilder::new().recursive(true).mode(0o755).create(p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(VolumeError::io("create hostPath directory", p)(e)),
            }
        }
        "DirectoryOrCreate" | "Directory" => require(path, "directory"),
        "FileOrCreate" if !exists => {
            // Upstream's makeFile: O_CREATE with 0644; the parent directory must already exist.
            match OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(p)
            {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(VolumeError::io("create hostPath file", p)(e)),
            }
        }
        "FileOrCreate" | "File" => require(path, "file"),
        "Socket" => require(path, "socket file"),
        "CharDevice" => require(path, "character device"),
        "BlockDevice" => require(path, "block device"),
        other => Err(VolumeError::InvalidHostPathType(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn s(p: &Path) -> String {
        p.display().to_string()
    }

    #[test]
    fn directory_checks_and_creation() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, b"").unwrap();
        check_host_path_type(&s(tmp.path()), Some("Directory")).unwrap();
        let err = check_host_path_type(&s(&file), Some("Directory")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "hostPath type check failed: {} is not a directory",
                s(&file)
            )
        );
        let missing = tmp.path().join("a/b");
        assert!(check_host_path_type(&s(&missing), Some("Directory")).is_err());
        check_host_path_type(&s(&missing), Some("DirectoryOrCreate")).unwrap();
        assert!(missing.is_dir());
        let err = check_host_path_type(&s(&file), Some("DirectoryOrCreate")).unwrap_err();
        assert!(err.to_string().ends_with("is not a directory"), "{err}");
    }

    #[test]
    fn file_or_create_needs_the_parent_and_makes_0644() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("new");
        check_host_path_type(&s(&f), Some("FileOrCreate")).unwrap();
        let mode = fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o022, 0o644 & !0o022);
        assert!(check_host_path_type(&s(&tmp.path().join("no/f")), Some("FileOrCreate")).is_err());
        let err = check_host_path_type(&s(tmp.path()), Some("File")).unwrap_err();
        assert!(err.to_string().ends_with("is not a file"), "{err}");
    }

    #[test]
    fn devices_sockets_and_unknown_types() {
        check_host_path_type("/dev/null", Some("CharDevice")).unwrap();
        let err = check_host_path_type("/dev/null", Some("BlockDevice")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hostPath type check failed: /dev/null is not a block device"
        );
        let err = check_host_path_type("/dev/null", Some("Socket")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hostPath type check failed: /dev/null is not a socket file"
        );
        check_host_path_type("/does/not/exist", Some("")).unwrap();
        let err = check_host_path_type("/tmp", Some("Folder")).unwrap_err();
        assert_eq!(err.to_string(), "Folder is an invalid volume type");
    }
}
