//! `volumeMounts[].subPath`: resolve a path inside a volume without escaping it, and pin the
//! result with a bind mount so it cannot be swapped between the check and the mount.
//!
//! Upstream (`pkg/volume/util/subpath/subpath_linux.go`) opens the subPath component by
//! component, then bind-mounts `/proc/<kubelet pid>/fd/<fd>` onto
//! `pods/<uid>/volume-subpaths/<volume>/<container>/<mount index>` and hands that path to
//! the runtime. Here the open is one openat2(2) with `RESOLVE_BENEATH` (symlinks inside the
//! volume are followed, anything leaving it fails with EXDEV); on kernels without openat2 the
//! walk is done with `O_NOFOLLOW` and every symlink is refused.

use std::ffi::CString;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::{mounts, VolumeError};

/// The kernel's `struct open_how` (linux/openat2.h); libc's copy cannot be built outside it.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Rejects absolute subPaths and `..` components, with upstream's `makeMounts` messages.
pub fn validate_sub_path(sub_path: &str) -> Result<(), VolumeError> {
    if sub_path.starts_with('/') {
        return Err(VolumeError::SubPath(format!(
            "error SubPath `{sub_path}` must not be an absolute path"
        )));
    }
    if Path::new(sub_path)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(VolumeError::SubPath(format!(
            "unable to provision SubPath `{sub_path}`: must not contain '..'"
        )));
    }
    Ok(())
}

fn escape_error(sub_path: &str, volume: &Path) -> VolumeError {
    VolumeError::SubPath(format!(
        "subpath {:?} not within volume path {:?}",
        volume.join(sub_path).display().to_string(),
        volume.display().to_string()
    ))
}

fn c_str(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is NUL-terminated and outlives the call; the result is checked below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// openat2(dir, path, O_PATH, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS).
fn openat2_beneath(dir: &OwnedFd, path: &str) -> io::Result<OwnedFd> {
    let c = c_str(path)?;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: the pointers are valid for the call and `how` has the kernel's layout and size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// openat(dir, name, O_PATH | O_NOFOLLOW), refusing symlinks (ELOOP).
fn openat_nofollow(dir: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    let c = c_str(name)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if fd_metadata(&owned)?.file_type().is_symlink() {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    Ok(owned)
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn fd_metadata(fd: &OwnedFd) -> io::Result<fs::Metadata> {
    fs::symlink_metadata(fd_path(fd)).and_then(|m| {
        if m.file_type().is_symlink() {
            // /proc/self/fd/N is itself a magic link: stat through it to the object.
            fs::metadata(fd_path(fd))
        } else {
            Ok(m)
        }
    })
}

fn mkdirat(dir: &OwnedFd, name: &str, mode: u32) -> io::Result<()> {
    let c = c_str(name)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::AlreadyExists {
        Ok(())
    } else {
        Err(e)
    }
}

/// Opens `sub_path` inside `volume` (creating missing directories with `create_mode` when
/// given, like upstream's `SafeMakeDir`); the returned `O_PATH` descriptor pins the object.
/// `use_openat2 = false` forces the component walk used on kernels without openat2.
pub fn open_beneath(
    volume: &Path,
    sub_path: &str,
    create_mode: Option<u32>,
    use_openat2: bool,
) -> Result<OwnedFd, VolumeError> {
    validate_sub_path(sub_path)?;
    let root = open_dir(volume).map_err(VolumeError::io("open volume", volume))?;
    let fail = |e: io::Error| match e.raw_os_error() {
        Some(libc::EXDEV) | Some(libc::ELOOP) => escape_error(sub_path, volume),
        _ => VolumeError::Io {
            action: "open subPath in",
            path: volume.join(sub_path),
            source: e,
        },
    };
    let mut use_openat2 = use_openat2;
    if use_openat2 {
        match openat2_beneath(&root, sub_path) {
            Ok(fd) => return Ok(fd),
            // kernels before 5.6 (and qemu-user) lack openat2: walk with openat instead
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => use_openat2 = false,
            Err(e) if e.kind() == io::ErrorKind::NotFound && create_mode.is_some() => {}
            Err(e) => return Err(fail(e)),
        }
    }
    // Component walk: each step stays inside its parent, so no step can leave the volume.
    let mut current = root;
    for comp in sub_path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let step = |dir: &OwnedFd| {
            if use_openat2 {
                openat2_beneath(dir, comp)
            } else {
                openat_nofollow(dir, comp)
            }
        };
        current = match step(&current) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let Some(mode) = create_mode else {
                    return Err(fail(e));
                };
                mkdirat(&current, comp, mode).map_err(fail)?;
                step(&current).map_err(fail)?
            }
            Err(e) => return Err(fail(e)),
        };
    }
    Ok(current)
}

/// Bind-mounts the object behind `fd` onto `target` (created as an empty directory or file to
/// match it), then checks the mount shows that very object.
pub(crate) fn bind_pinned(fd: &OwnedFd, target: &Path) -> Result<(), VolumeError> {
    let source_meta = fd_metadata(fd).map_err(VolumeError::io("stat subPath for", target))?;
    if mounts::is_mount_point(target).map_err(VolumeError::io("read mountinfo for", target))? {
        mounts::unmount(target).map_err(VolumeError::io("unmount stale subPath", target))?;
    }
    if let Some(parent) = target.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)
            .map_err(VolumeError::io("create directory", parent))?;
    }
    let made = if source_meta.is_dir() {
        DirBuilder::new().mode(0o750).create(target)
    } else {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(target)
            .map(|_| ())
    };
    match made {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(VolumeError::io("create subPath mount point", target)(e));
        }
        _ => {}
    }
    mounts::bind_mount(&fd_path(fd), target)
        .map_err(VolumeError::io("bind-mount subPath onto", target))?;
    let mounted = fs::metadata(target).map_err(VolumeError::io("stat", target))?;
    if mounted.dev() != source_meta.dev() || mounted.ino() != source_meta.ino() {
        let _ = mounts::unmount(target);
        return Err(VolumeError::SubPath(format!(
            "subPath mount at {} does not show the opened path",
            target.display()
        )));
    }
    Ok(())
}

/// Permission bits of the volume root, used for directories a subPath creates.
pub(crate) fn volume_mode(volume: &Path) -> u32 {
    fs::metadata(volume)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o755)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume_with_escape() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let v = tmp.path().join("vol");
        fs::create_dir_all(v.join("data/inner")).unwrap();
        std::os::unix::fs::symlink("/etc", v.join("out")).unwrap();
        std::os::unix::fs::symlink("../..", v.join("data/up")).unwrap();
        std::os::unix::fs::symlink("inner", v.join("data/in")).unwrap();
        tmp
    }

    #[test]
    fn absolute_and_backstep_paths_are_refused() {
        assert_eq!(
            validate_sub_path("/etc").unwrap_err().to_string(),
            "error SubPath `/etc` must not be an absolute path"
        );
        assert_eq!(
            validate_sub_path("a/../../b").unwrap_err().to_string(),
            "unable to provision SubPath `a/../../b`: must not contain '..'"
        );
        validate_sub_path("a/..b").unwrap();
    }

    #[test]
    fn symlinks_leaving_the_volume_are_refused_both_ways() {
        let tmp = volume_with_escape();
        let v = tmp.path().join("vol");
        for openat2 in [true, false] {
            for bad in ["out", "data/up", "data/up/vol", "out/passwd"] {
                let err = open_beneath(&v, bad, None, openat2).unwrap_err();
                assert!(err.to_string().contains("not within volume path"), "{err}");
            }
            let fd = open_beneath(&v, "data/inner", None, openat2).unwrap();
            assert!(fd_metadata(&fd).unwrap().is_dir());
        }
        // A symlink that stays inside is followed with openat2.
        open_beneath(&v, "data/in", None, true).unwrap();
        assert!(open_beneath(&v, "data/in", None, false).is_err());
    }

    #[test]
    fn missing_directories_are_created_inside_the_volume() {
        let tmp = volume_with_escape();
        let v = tmp.path().join("vol");
        open_beneath(&v, "new/deeper", Some(0o755), true).unwrap();
        assert!(v.join("new/deeper").is_dir());
        assert!(open_beneath(&v, "missing", None, true).is_err());
        let err = open_beneath(&v, "out/newdir", Some(0o755), true).unwrap_err();
        assert!(err.to_string().contains("not within volume path"), "{err}");
        assert!(!Path::new("/etc/newdir").exists());
    }
}
