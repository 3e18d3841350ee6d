//! Reading and replacing the checkpoint file. A write goes to a temporary file in the same
//! directory (mode 0600: the file holds Secrets), is synced, renamed over the old file, and
//! the directory is synced, so a power cut leaves either the old or the new checkpoint. A
//! file that cannot be read or parsed is logged and treated as absent.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::content::{Content, VERSION};

/// The checkpoint's file name under the kubelet's data directory.
pub const FILE_NAME: &str = "kubelet-checkpoint.json";

/// The checkpoint file under `data_dir`.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The checkpoint at `path`; empty when there is none or it is unreadable (logged).
pub fn load(path: &Path) -> Content {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Content::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the kubelet checkpoint; starting without it");
            return Content::default();
        }
    };
    match serde_json::from_slice::<Content>(&bytes) {
        Ok(c) if c.version == VERSION => c,
        Ok(c) => {
            tracing::warn!(path = %path.display(), version = c.version, "kubelet checkpoint of another version ignored");
            Content::default()
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "kubelet checkpoint is corrupt or truncated; starting without it");
            Content::default()
        }
    }
}

/// The bytes written for `content` (compact JSON).
pub fn encode(content: &Content) -> Vec<u8> {
    // serializing a struct of maps and JSON values cannot fail
    serde_json::to_vec(content).unwrap_or_default()
}

/// Replaces the file at `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(FILE_NAME)
    ));
    // a temporary file left by a power cut is replaced, not reopened with its old mode
    let _ = fs::remove_file(&tmp);
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}
