//! `bramble.io/local-path`: one directory per volume under a root, as k3s' local-path
//! provisioner does. The size is recorded on the PV but not enforced (use local-disk for
//! that); free space is what the root's filesystem has left.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{check_name, StorageError};
use crate::kubelet::machine::disk_usage;

/// Directory volumes under one root.
#[derive(Debug, Clone)]
pub struct LocalPath {
    root: PathBuf,
}

impl LocalPath {
    /// Volumes under `root` (created on first use).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// The directory of volume `name`.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates the directory of volume `name`, world-writable as k3s' provisioner makes it
    /// so that containers running as any user can write; an existing one is kept.
    pub fn provision(&self, name: &str) -> Result<PathBuf, StorageError> {
        check_name(name)?;
        let dir = self.path_of(name);
        fs::create_dir_all(&dir).map_err(StorageError::io("create volume directory", &dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777))
            .map_err(StorageError::io("chmod volume directory", &dir))?;
        Ok(dir)
    }

    /// Removes volume `name` and everything in it; a missing directory is fine.
    pub fn delete(&self, name: &str) -> Result<(), StorageError> {
        check_name(name)?;
        let dir = self.path_of(name);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io("remove volume directory", &dir)(e)),
        }
    }

    /// Bytes available on the root's filesystem.
    pub fn free_bytes(&self) -> Option<u64> {
        disk_usage(&self.root).map(|(_, free)| free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provision_is_idempotent_and_delete_removes_data() {
        let tmp = tempfile::tempdir().unwrap();
        let lp = LocalPath::new(&tmp.path().join("lp"));
        let dir = lp.provision("pvc-1").unwrap();
        fs::write(dir.join("f"), b"x").unwrap();
        assert_eq!(lp.provision("pvc-1").unwrap(), dir);
        assert!(dir.join("f").exists());
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o777
        );
        lp.delete("pvc-1").unwrap();
        assert!(!dir.exists());
        lp.delete("pvc-1").unwrap();
        assert!(lp.provision("../x").is_err());
        assert!(lp.free_bytes().unwrap() > 0);
    }
}
