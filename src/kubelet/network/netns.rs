//! Pod network namespaces kept alive by bind mounts, as `ip netns add` does: a fresh thread
//! unshares its network namespace and bind-mounts `/proc/thread-self/ns/net` onto
//! `DIR/<pod-uid>`. Work inside a namespace runs on a dedicated OS thread that `setns`es into
//! it and then ends, because `setns` changes only the calling thread and a pooled (tokio)
//! thread must never be left in a pod's namespace.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::error::{NetworkError, Result};

/// `NSFS_MAGIC` from linux/magic.h: the filesystem type of a namespace file.
const NSFS_MAGIC: u64 = 0x6e73_6673;

fn netns_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> NetworkError + 'a {
    move |source| NetworkError::Netns {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `path` is a mounted namespace file (a live, bind-mounted namespace).
pub fn is_mounted(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        // The field's integer type differs between architectures; the value fits in u64.
        .map(|s| s.filesystem_type().0 as u64 == NSFS_MAGIC)
        .unwrap_or(false)
}

/// Creates the namespace at `path` unless one is already mounted there.
pub fn create(path: &Path) -> Result<()> {
    if is_mounted(path) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(netns_err("create directory for", path))?;
    }
    File::create(path).map_err(netns_err("create mount point for", path))?;
    let target = path.to_path_buf();
    let made = run_on_fresh_thread(move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| netns_err("unshare", &target)(e.into()))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| netns_err("bind-mount", &target)(e.into()))
    });
    if made.is_err() {
        let _ = fs::remove_file(path);
    }
    made
}

/// Unmounts and removes the namespace at `path`; a missing one is not an error.
pub fn remove(path: &Path) -> Result<()> {
    if is_mounted(path) {
        umount2(path, MntFlags::MNT_DETACH).map_err(|e| netns_err("unmount", path)(e.into()))?;
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(netns_err("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Opens the namespace at `path` (for `setns` or to hand a veth end into it).
pub fn open(path: &Path) -> Result<File> {
    if !is_mounted(path) {
        return Err(netns_err("open", path)(io::Error::new(
            io::ErrorKind::NotFound,
            "not a mounted network namespace",
        )));
    }
    File::open(path).map_err(netns_err("open", path))
}

/// Runs `f` on a new OS thread inside the namespace at `path`; the thread ends afterwards.
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let ns = open(path)?;
    let target: PathBuf = path.to_path_buf();
    run_on_fresh_thread(move || {
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| netns_err("enter", &target)(e.into()))?;
        f()
    })
}

fn run_on_fresh_thread<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    std::thread::Builder::new()
        .name("bramble-netns".into())
        .spawn(f)
        .map_err(|e| NetworkError::Worker(e.to_string()))?
        .join()
        .map_err(|_| NetworkError::Worker("panicked".into()))?
}
