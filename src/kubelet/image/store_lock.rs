//! A lock on the image store shared between processes: `bramble ctl image import` runs
//! beside the server's kubelet, so garbage collection (which deletes blobs no record names
//! yet) must not interleave with an import that has written blobs but not its record.
//! `flock(2)` on `DATA/images/lock`: imports hold it shared, collection exclusive; the kernel
//! drops it when the holder exits, so a crash never leaves the store locked.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::store::{io_err, StoreError};

/// Held until dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// Shared (imports) or exclusive (collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once.
    Shared,
    /// One holder, no shared holders.
    Exclusive,
}

impl StoreLock {
    /// Blocks until the lock on the store rooted at `root` is held in `mode`.
    pub fn acquire(root: &Path, mode: LockMode) -> Result<StoreLock, StoreError> {
        let path = root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let op = match mode {
            LockMode::Shared => libc::LOCK_SH,
            LockMode::Exclusive => libc::LOCK_EX,
        };
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is passed.
            let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
            if rc == 0 {
                return Ok(StoreLock { _file: file });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(io_err("lock", &path)(err));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_waits_for_shared_holders() {
        let dir = tempfile::tempdir().unwrap();
        let shared = StoreLock::acquire(dir.path(), LockMode::Shared).unwrap();
        let second = StoreLock::acquire(dir.path(), LockMode::Shared).unwrap();
        let root = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let _l = StoreLock::acquire(&root, LockMode::Exclusive).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop((shared, second));
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("exclusive lock once the shared holders are gone");
        t.join().unwrap();
    }
}
