//! Opening a path below a trusted directory as one `O_PATH` descriptor, and bind-mounting
//! that descriptor: what the kubelet mounts is exactly the object it checked, whatever a
//! container does to the path's names afterwards.
//!
//! Follows upstream's `pkg/volume/util/subpath/subpath_linux.go` (`doSafeOpen` walks the
//! path with `openat(O_PATH|O_NOFOLLOW)` and bind-mounts `/proc/<pid>/fd/<fd>`), with
//! openat2(2) as runc's `securejoin` uses it where the kernel has it: one call with
//! `RESOLVE_BENEATH` (and `RESOLVE_NO_SYMLINKS` for host paths). Kernels before 5.6 and
//! qemu-user lack openat2 (ENOSYS); there the component walk refuses every symlink.

use std::ffi::CString;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::mounts;

/// The kernel's `struct open_how` (linux/openat2.h); libc's copy cannot be built outside it.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// How symlinks below the trusted directory are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Symlinks {
    /// Followed while they stay below the directory (subPaths inside a volume).
    StayBeneath,
    /// Refused anywhere in the path (host paths: a symlink is what a container can plant).
    Refuse,
}

impl Symlinks {
    fn resolve_flags(self) -> u64 {
        match self {
            Symlinks::StayBeneath => libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
            Symlinks::Refuse => libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
        }
    }
}

fn c_str(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor returned by the kernel and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the trusted directory `path` itself (`O_PATH`; symlinks in it are the
/// administrator's and are followed).
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = c_str(path.as_os_str().as_bytes())?;
    // SAFETY: `c` is NUL-terminated and outlives the call; the result is checked by `owned`.
    owned(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })
}

/// openat2(dir, path, O_PATH, RESOLVE_BENEATH | ...).
fn openat2(dir: &OwnedFd, path: &str, symlinks: Symlinks) -> io::Result<OwnedFd> {
    let c = c_str(path.as_bytes())?;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: symlinks.resolve_flags(),
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
    owned(libc::c_int::try_from(fd).unwrap_or(-1))
}

/// openat(dir, name, O_PATH | O_NOFOLLOW), refusing symlinks (ELOOP).
fn openat_nofollow(dir: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    let c = c_str(name.as_bytes())?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let fd = owned(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    if fd_metadata(&fd)?.file_type().is_symlink() {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    Ok(fd)
}

/// `/proc/self/fd/N`: the magic link a bind mount can take as its source.
pub(crate) fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// What the descriptor refers to (an `O_PATH` descriptor of a symlink stats as the link).
pub(crate) fn fd_metadata(fd: &OwnedFd) -> io::Result<fs::Metadata> {
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
    let c = c_str(name.as_bytes())?;
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

/// Creates the regular file `name` in `dir` with `mode` unless something is already there;
/// `O_EXCL` never follows a planted symlink (it counts as already there, and the
/// symlink-refusing open that follows rejects it).
pub(crate) fn create_file_at(dir: &OwnedFd, name: &str, mode: u32) -> io::Result<()> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC;
    let mode = nix::sys::stat::Mode::from_bits_truncate(mode as libc::mode_t);
    match nix::fcntl::openat(Some(dir.as_raw_fd()), name, flags, mode) {
        Ok(fd) => nix::unistd::close(fd).map_err(io::Error::from),
        // Whatever is already there, the type check looks at.
        Err(nix::Error::EEXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Opens `rel` (relative, without `..`) below the directory `root`, creating missing
/// directories with `create_mode` when given. A path that leaves `root` fails with EXDEV
/// (openat2) or ELOOP; with [`Symlinks::Refuse`] any symlink fails with ELOOP. The walk
/// replaces openat2 where the kernel lacks it (`use_openat2 = false` forces it).
pub(crate) fn open_below(
    root: OwnedFd,
    rel: &str,
    symlinks: Symlinks,
    create_mode: Option<u32>,
    use_openat2: bool,
) -> io::Result<OwnedFd> {
    let rel = rel.trim_start_matches('/');
    let mut use_openat2 = use_openat2;
    if use_openat2 && !rel.is_empty() {
        match openat2(&root, rel, symlinks) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => use_openat2 = false,
            Err(e) if e.kind() == io::ErrorKind::NotFound && create_mode.is_some() => {}
            Err(e) => return Err(e),
        }
    }
    // Component walk: each step stays inside its parent, so no step can leave `root`.
    let mut current = root;
    for comp in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if comp == ".." {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        let step = |dir: &OwnedFd| {
            if use_openat2 {
                openat2(dir, comp, symlinks)
            } else {
                openat_nofollow(dir, comp)
            }
        };
        current = match step(&current) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let Some(mode) = create_mode else {
                    return Err(e);
                };
                mkdirat(&current, comp, mode)?;
                step(&current)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(current)
}

/// Why [`bind_fd`] failed.
#[derive(Debug)]
pub(crate) enum BindError {
    /// A syscall failed while doing `action` on `path`.
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The mount does not show the object the descriptor holds.
    Mismatch(PathBuf),
}

impl BindError {
    /// The error a volume reports: `kind` names the mount (`volume`, `subPath`), `object`
    /// what it should have shown.
    pub(crate) fn into_volume_error(self, kind: &str, object: &str) -> super::VolumeError {
        match self {
            BindError::Io {
                action,
                path,
                source,
            } => super::VolumeError::Io {
                action,
                path,
                source,
            },
            BindError::Mismatch(at) => super::VolumeError::SubPath(format!(
                "{kind} mount at {} does not show {object}",
                at.display()
            )),
        }
    }
}

/// Bind-mounts the object behind `fd` onto `target` (created as an empty directory or file to
/// match it; `recursive` takes submounts along, as a runtime's `rbind` does), then checks the
/// mount shows that very object. A mount already at `target` is replaced.
pub(crate) fn bind_fd(fd: &OwnedFd, target: &Path, recursive: bool) -> Result<(), BindError> {
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| BindError::Io {
            action,
            path,
            source,
        }
    };
    let source_meta = fd_metadata(fd).map_err(io_err("stat the source of", target))?;
    if mounts::is_mount_point(target).map_err(io_err("read mountinfo for", target))? {
        mounts::unmount(target).map_err(io_err("unmount stale mount", target))?;
    }
    if let Some(parent) = target.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)
            .map_err(io_err("create directory", parent))?;
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
            return Err(io_err("create mount point", target)(e));
        }
        _ => {}
    }
    mounts::bind_mount(&fd_path(fd), target, recursive)
        .map_err(io_err("bind-mount onto", target))?;
    let mounted = fs::metadata(target).map_err(io_err("stat", target))?;
    if mounted.dev() != source_meta.dev() || mounted.ino() != source_meta.ino() {
        let _ = mounts::unmount(target);
        return Err(BindError::Mismatch(target.to_path_buf()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// `root/{dir/inner,file}`, `root/out -> /etc`, `root/dir/in -> inner`, `root/up -> ..`.
    fn tree() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        fs::create_dir_all(r.join("dir/inner")).unwrap();
        fs::write(r.join("file"), b"x").unwrap();
        symlink("/etc", r.join("out")).unwrap();
        symlink("inner", r.join("dir/in")).unwrap();
        symlink("..", r.join("up")).unwrap();
        tmp
    }

    fn open(
        r: &Path,
        rel: &str,
        s: Symlinks,
        create: Option<u32>,
        o2: bool,
    ) -> io::Result<OwnedFd> {
        open_below(open_dir(r).unwrap(), rel, s, create, o2)
    }

    #[test]
    fn refuse_mode_rejects_every_symlink_both_ways() {
        let tmp = tree();
        let r = tmp.path();
        for o2 in [true, false] {
            for bad in ["out", "out/passwd", "dir/in", "up", "up/x"] {
                let e = open(r, bad, Symlinks::Refuse, None, o2).unwrap_err();
                assert!(
                    matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EXDEV)),
                    "{bad} (openat2 {o2}): {e}"
                );
            }
            let fd = open(r, "dir/inner", Symlinks::Refuse, None, o2).unwrap();
            assert!(fd_metadata(&fd).unwrap().is_dir());
            let fd = open(r, "file", Symlinks::Refuse, None, o2).unwrap();
            assert!(fd_metadata(&fd).unwrap().is_file());
            let e = open(r, "missing", Symlinks::Refuse, None, o2).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
            let e = open(r, "dir/../..", Symlinks::Refuse, None, o2).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EXDEV), "{e}");
        }
        // The root itself opens as the root.
        let fd = open(r, "", Symlinks::Refuse, None, true).unwrap();
        assert_eq!(
            fd_metadata(&fd).unwrap().ino(),
            fs::metadata(r).unwrap().ino()
        );
    }

    #[test]
    fn beneath_mode_follows_only_symlinks_that_stay_inside() {
        let tmp = tree();
        let r = tmp.path();
        let fd = open(r, "dir/in", Symlinks::StayBeneath, None, true).unwrap();
        let inner = fs::metadata(r.join("dir/inner")).unwrap().ino();
        assert_eq!(fd_metadata(&fd).unwrap().ino(), inner);
        assert!(open(r, "out", Symlinks::StayBeneath, None, true).is_err());
        assert!(open(r, "up", Symlinks::StayBeneath, None, true).is_err());
    }

    #[test]
    fn missing_directories_are_created_but_never_through_a_symlink() {
        let tmp = tree();
        let r = tmp.path();
        for (o2, name) in [(true, "a"), (false, "b")] {
            open(
                r,
                &format!("{name}/deeper"),
                Symlinks::Refuse,
                Some(0o755),
                o2,
            )
            .unwrap();
            assert!(r.join(name).join("deeper").is_dir());
            let e = open(
                r,
                "out/bramble-made-this",
                Symlinks::Refuse,
                Some(0o755),
                o2,
            );
            assert!(e.is_err());
            assert!(!Path::new("/etc/bramble-made-this").exists());
        }
    }

    #[test]
    fn files_are_created_without_following_a_planted_symlink() {
        let tmp = tree();
        let r = tmp.path();
        let dir = open_dir(r).unwrap();
        create_file_at(&dir, "new", 0o644).unwrap();
        assert!(r.join("new").is_file());
        create_file_at(&dir, "dir", 0o644).unwrap();
        symlink(r.join("target-of-link"), r.join("planted")).unwrap();
        create_file_at(&dir, "planted", 0o644).unwrap();
        assert!(!r.join("target-of-link").exists());
        assert!(open_below(dir, "planted", Symlinks::Refuse, None, true).is_err());
    }

    #[test]
    fn the_mount_shows_the_opened_object_even_after_a_swap() {
        let tmp = tree();
        let r = tmp.path();
        fs::write(r.join("dir/inner/marker"), b"original").unwrap();
        let fd = open(r, "dir/inner", Symlinks::Refuse, None, true).unwrap();
        // Swap the checked directory for a symlink before mounting the descriptor.
        fs::rename(r.join("dir/inner"), r.join("moved")).unwrap();
        symlink("/etc", r.join("dir/inner")).unwrap();
        let target = r.join("staging/v");
        bind_fd(&fd, &target, true).unwrap();
        assert_eq!(fs::read(target.join("marker")).unwrap(), b"original");
        assert!(!target.join("passwd").exists());
        mounts::unmount(&target).unwrap();
        assert!(!mounts::is_mount_point(&target).unwrap());
    }
}
