//! Thin wrappers over mount(2)/umount2(2), `/proc/self/mountinfo` parsing and a directory
//! removal that never crosses into another filesystem.
//!
//! Teardown must work after a crash, when nothing in memory says what was mounted, so the
//! kernel's own mount table is the source of truth (upstream's `mount.List` does the same).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Mounts a fresh tmpfs at `target`, `size` bytes large when given (kernel default otherwise).
pub(crate) fn mount_tmpfs(target: &Path, size: Option<u64>) -> io::Result<()> {
    let target_c = c_path(target)?;
    let data = match size {
        Some(bytes) => format!("size={bytes},mode=0777"),
        None => "mode=0777".to_string(),
    };
    let data_c = CString::new(data).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let fstype = c"tmpfs";
    // SAFETY: every pointer is a NUL-terminated string that lives across the call.
    check(unsafe {
        libc::mount(
            fstype.as_ptr(),
            target_c.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data_c.as_ptr().cast(),
        )
    })
}

/// Bind-mounts `source` (which may be a `/proc/self/fd/N` link) onto `target`, with the
/// mounts below it when `recursive`.
pub(crate) fn bind_mount(source: &Path, target: &Path, recursive: bool) -> io::Result<()> {
    let flags = if recursive {
        libc::MS_BIND | libc::MS_REC
    } else {
        libc::MS_BIND
    };
    let source_c = c_path(source)?;
    let target_c = c_path(target)?;
    // SAFETY: both paths are NUL-terminated and outlive the call; fstype/data may be null for
    // MS_BIND.
    check(unsafe {
        libc::mount(
            source_c.as_ptr(),
            target_c.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    })
}

/// Unmounts `target`; a busy mount is detached lazily so teardown always makes progress.
pub(crate) fn unmount(target: &Path) -> io::Result<()> {
    let target_c = c_path(target)?;
    // SAFETY: the path is NUL-terminated and outlives the call.
    match check(unsafe { libc::umount2(target_c.as_ptr(), libc::UMOUNT_NOFOLLOW) }) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            // SAFETY: as above.
            check(unsafe {
                libc::umount2(target_c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW)
            })
        }
        other => other,
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\012` for a newline...).
fn unescape_mountinfo(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(oct, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

/// Mount points from a mountinfo text, in the order the kernel lists them.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .collect()
}

/// Every mount point at or below `dir`, deepest first (the order to unmount them in).
pub fn mount_points_under(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut found: Vec<PathBuf> = parse_mountinfo(&text)
        .into_iter()
        .filter(|m| m.starts_with(dir))
        .collect();
    // Later entries are stacked on earlier ones; unmount in reverse order, deepest paths first.
    found.reverse();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    Ok(found)
}

/// Whether something is mounted exactly at `path`.
pub(crate) fn is_mount_point(path: &Path) -> io::Result<bool> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(parse_mountinfo(&text).iter().any(|m| m == path))
}

/// Removes `path` and everything below it, refusing to descend into a directory on another
/// device: if an unmount silently failed, the files of a bound host directory survive.
pub(crate) fn remove_tree_same_device(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    remove_below(path, meta.dev())
}

fn remove_below(path: &Path, dev: u64) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    if meta.dev() != dev {
        return Err(io::Error::other(format!(
            "{} is on another filesystem (still mounted?)",
            path.display()
        )));
    }
    for entry in std::fs::read_dir(path)? {
        remove_below(&entry?.path(), dev)?;
    }
    std::fs::remove_dir(path)
}

/// Unmounts everything at or below `dir` (deepest first), then removes `dir` without
/// crossing into another filesystem; fails, deleting nothing, when a mount survives.
pub(crate) fn unmount_and_remove(dir: &Path) -> io::Result<()> {
    let mut left = mount_points_under(dir)?;
    // A mount stacked over a deeper one hides it until it is gone: repeat while that helps.
    while !left.is_empty() {
        for mount_point in &left {
            if let Err(e) = unmount(mount_point) {
                tracing::debug!(path = %mount_point.display(), error = %e, "unmount failed");
            }
        }
        let now = mount_points_under(dir)?;
        if now.len() >= left.len() {
            left = now;
            break;
        }
        left = now;
    }
    if let Some(first) = left.first() {
        return Err(io::Error::other(format!(
            "{} is still mounted",
            first.display()
        )));
    }
    remove_tree_same_device(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_mount_points_are_unescaped() {
        let text = "36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 0:5 / /proc rw - proc proc rw\n";
        assert_eq!(
            parse_mountinfo(text),
            vec![PathBuf::from("/mnt/a b"), PathBuf::from("/proc")]
        );
    }

    #[test]
    fn removal_deletes_plain_trees() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("a/link")).unwrap();
        remove_tree_same_device(&root).unwrap();
        assert!(!root.exists());
        assert!(Path::new("/etc").exists());
        remove_tree_same_device(&root).unwrap();
    }

    #[test]
    fn unmount_and_remove_takes_mounts_below_along() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pod");
        let held = dir.path().join("held");
        std::fs::create_dir_all(root.join("containers/c/rootfs")).unwrap();
        std::fs::create_dir_all(&held).unwrap();
        std::fs::write(held.join("keep"), b"x").unwrap();
        bind_mount(&held, &root.join("containers/c/rootfs"), false).unwrap();
        mount_tmpfs(&root.join("containers"), Some(1 << 20)).unwrap();
        unmount_and_remove(&root).unwrap();
        assert!(!root.exists());
        assert!(held.join("keep").exists(), "deleted through a mount");
        unmount_and_remove(&root).unwrap();
    }
}
