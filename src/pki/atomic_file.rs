//! Crash-safe file replacement for keys, certificates and kubeconfigs.
//!
//! A power cut on a Raspberry Pi is routine, so a half-written `ca.key` or kubeconfig must
//! never be observable: the bytes go to a temporary file in the same directory (created with
//! its final permissions, so a private key is never world-readable even for a moment), are
//! fsynced, renamed over the target, and the directory entry is fsynced too.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Permission bits for private keys and credential files: owner read/write only.
pub const PRIVATE_MODE: u32 = 0o600;
/// Permission bits for public material such as certificates.
pub const PUBLIC_MODE: u32 = 0o644;

/// Replaces `path` with `contents` atomically, creating the file with `mode`.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{:016x}", rand::random::<u64>()));
    let tmp_path = dir.join(tmp_name);

    let result = write_and_sync(&tmp_path, contents, mode)
        .and_then(|()| fs::rename(&tmp_path, path))
        .and_then(|()| File::open(dir)?.sync_all());
    if result.is_err() {
        // The rename did not happen (or the directory sync failed after it); a stray temporary
        // file must not be left behind to be mistaken for real state.
        let _ = fs::remove_file(&tmp_path);
    }
    result
}

fn write_and_sync(tmp_path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp_path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_file_with_requested_mode_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        fs::write(&path, b"old").unwrap();
        write_atomic(&path, b"new contents", PRIVATE_MODE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "temporary file left behind");
    }
}
