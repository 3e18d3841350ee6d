//! A container's root filesystem: an overlayfs mount whose lower layers are the image's
//! shared, read-only unpacked layers (top layer first in `lowerdir`, as overlayfs wants) and
//! whose upper/work dirs belong to the container, under its directory in `DATA/pods/…`.
//! Blocking (mount(2)): call from `spawn_blocking`.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Directory names inside a container directory.
const UPPER: &str = "upper";
const WORK: &str = "work";
const ROOTFS: &str = "rootfs";
const EMPTY_LOWER: &str = "empty-lower";

/// Why a rootfs could not be mounted or removed.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A filesystem or mount operation failed.
    #[error("container rootfs {path}: {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A layer path that overlayfs options cannot express.
    #[error("container rootfs: layer path {0} contains ',' or ':'; move the data directory to a plain path")]
    BadPath(PathBuf),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RootfsError + 'a {
    move |source| RootfsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The writable layer (overlay upper directory) of the container whose state lives in
/// `container_dir`.
pub fn upper_dir(container_dir: &Path) -> PathBuf {
    container_dir.join(UPPER)
}

/// Mounts the rootfs of a container whose state lives in `container_dir`, from `layers`
/// (bottom first). Returns the mount point `container_dir/rootfs`; mounting an already
/// mounted rootfs returns it unchanged (kubelet restarts keep a container's writable layer).
pub fn mount_rootfs(layers: &[PathBuf], container_dir: &Path) -> Result<PathBuf, RootfsError> {
    let upper = container_dir.join(UPPER);
    let work = container_dir.join(WORK);
    let target = container_dir.join(ROOTFS);
    for d in [&upper, &work, &target] {
        fs::create_dir_all(d).map_err(io_err("create", d))?;
    }
    if is_mount_point(&target)? {
        return Ok(target);
    }
    let mut lowers: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    if lowers.is_empty() {
        let empty = container_dir.join(EMPTY_LOWER);
        fs::create_dir_all(&empty).map_err(io_err("create", &empty))?;
        lowers.push(empty);
    }
    for p in lowers.iter().chain([&upper, &work]) {
        let s = p.as_os_str().as_bytes();
        if s.contains(&b',') || s.contains(&b':') {
            return Err(RootfsError::BadPath(p.clone()));
        }
    }
    let lowerdir = lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let options = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    let c = |s: &[u8]| {
        CString::new(s)
            .map_err(|e| io_err("mount", &target)(io::Error::new(io::ErrorKind::InvalidInput, e)))
    };
    let (src, dst, fstype, data) = (
        c(b"overlay")?,
        c(target.as_os_str().as_bytes())?,
        c(b"overlay")?,
        c(options.as_bytes())?,
    );
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            fstype.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(io_err("mount overlay", &target)(io::Error::last_os_error()));
    }
    Ok(target)
}

/// Unmounts the rootfs of `container_dir` (if mounted) and removes its writable layer.
pub fn unmount_rootfs(container_dir: &Path) -> Result<(), RootfsError> {
    let target = container_dir.join(ROOTFS);
    if target.exists() && is_mount_point(&target)? {
        let dst = CString::new(target.as_os_str().as_bytes()).map_err(|e| {
            io_err("unmount", &target)(io::Error::new(io::ErrorKind::InvalidInput, e))
        })?;
        // SAFETY: `dst` is a valid NUL-terminated path for the duration of the call.
        if unsafe { libc::umount2(dst.as_ptr(), 0) } != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINVAL) {
                return Err(io_err("unmount", &target)(err));
            }
        }
    }
    for name in [ROOTFS, UPPER, WORK, EMPTY_LOWER] {
        let p = container_dir.join(name);
        match fs::remove_dir_all(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err("remove", &p)(e)),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `path` is the root of a mount (device differs from its parent's, or overlay on
/// the same device: checked through /proc/self/mountinfo).
fn is_mount_point(path: &Path) -> Result<bool, RootfsError> {
    let canonical = fs::canonicalize(path).map_err(io_err("resolve", path))?;
    if let Some(parent) = canonical.parent() {
        let (a, b) = (fs::metadata(&canonical), fs::metadata(parent));
        if let (Ok(a), Ok(b)) = (a, b) {
            if a.dev() != b.dev() {
                return Ok(true);
            }
        }
    }
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = canonical.to_string_lossy();
    Ok(info
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_ref())))
}
