//! A pod's shared IPC and UTS namespaces, kept alive by bind mounts under
//! `RUN_DIR/pods/<uid>/` so every container of the pod joins the same ones, whichever
//! container starts first or restarts (the job containerd gives the pause container). The
//! namespaces are made on a short-lived OS thread: `unshare` of IPC and UTS affects only the
//! calling thread, and a tokio worker must never be left in a pod's namespace.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// Where pinned pod namespaces live, below the kubelet's run directory.
pub fn sandbox_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("pods")
}

/// A sandbox failure.
#[derive(Debug, thiserror::Error)]
#[error("pod sandbox {path}: {action} failed: {source}")]
pub struct SandboxError {
    /// What was being done.
    pub action: &'static str,
    /// Which file.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

fn err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SandboxError + 'a {
    move |source| SandboxError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The pinned namespaces of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// The IPC namespace file.
    pub ipc: PathBuf,
    /// The UTS namespace file (its hostname is the pod's).
    pub uts: PathBuf,
}

fn is_pinned(path: &Path) -> bool {
    super::network::netns::is_mounted(path)
}

/// Creates (or finds) the pod's IPC and UTS namespaces, with `hostname` set in the UTS one.
pub fn ensure(root: &Path, pod_uid: &str, hostname: &str) -> Result<Sandbox, SandboxError> {
    let dir = root.join(pod_uid);
    let sandbox = Sandbox {
        ipc: dir.join("ipc"),
        uts: dir.join("uts"),
    };
    if is_pinned(&sandbox.ipc) && is_pinned(&sandbox.uts) {
        return Ok(sandbox);
    }
    fs::create_dir_all(&dir).map_err(err("create directory", &dir))?;
    for p in [&sandbox.ipc, &sandbox.uts] {
        if !is_pinned(p) {
            fs::File::create(p).map_err(err("create mount point", p))?;
        }
    }
    let (ipc, uts, name) = (
        sandbox.ipc.clone(),
        sandbox.uts.clone(),
        hostname.to_string(),
    );
    let made = std::thread::Builder::new()
        .name("bramble-sandbox".into())
        .spawn(move || -> Result<(), SandboxError> {
            unshare(CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS)
                .map_err(|e| err("unshare", &ipc)(e.into()))?;
            nix::unistd::sethostname(&name).map_err(|e| err("set hostname in", &uts)(e.into()))?;
            for (src, dst) in [
                ("/proc/thread-self/ns/ipc", &ipc),
                ("/proc/thread-self/ns/uts", &uts),
            ] {
                if !is_pinned(dst) {
                    mount(
                        Some(src),
                        dst.as_path(),
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                    .map_err(|e| err("bind-mount", dst)(e.into()))?;
                }
            }
            Ok(())
        })
        .map_err(err("start a thread for", &dir))?
        .join()
        .map_err(|_| SandboxError {
            action: "pin",
            path: dir.clone(),
            source: io::Error::other("thread panicked"),
        })?;
    made.map(|()| sandbox)
}

/// Unpins and removes the pod's namespaces; missing ones are fine.
pub fn remove(root: &Path, pod_uid: &str) -> Result<(), SandboxError> {
    let dir = root.join(pod_uid);
    for name in ["ipc", "uts"] {
        let p = dir.join(name);
        if is_pinned(&p) {
            umount2(&p, MntFlags::MNT_DETACH).map_err(|e| err("unmount", &p)(e.into()))?;
        }
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(err("remove", &p)(e)),
            _ => {}
        }
    }
    match fs::remove_dir(&dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(err("remove", &dir)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_shared_namespaces_with_the_pod_hostname() {
        if !nix::unistd::Uid::effective().is_root() {
            panic!("this test needs root (namespaces and mounts)");
        }
        let root = tempfile::tempdir().unwrap();
        let sb = ensure(root.path(), "uid-1", "web-0").unwrap();
        assert_eq!(
            ensure(root.path(), "uid-1", "web-0").unwrap(),
            sb,
            "idempotent"
        );
        let own_uts = fs::read_link("/proc/self/ns/uts").unwrap();
        let f = fs::File::open(&sb.uts).unwrap();
        let host = std::thread::spawn(move || {
            nix::sched::setns(&f, CloneFlags::CLONE_NEWUTS).unwrap();
            nix::unistd::gethostname().unwrap().into_string().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(host, "web-0");
        assert_eq!(
            fs::read_link("/proc/self/ns/uts").unwrap(),
            own_uts,
            "the caller's namespace is untouched"
        );
        remove(root.path(), "uid-1").unwrap();
        assert!(!sb.ipc.exists() && !sb.uts.exists());
        remove(root.path(), "uid-1").unwrap();
    }
}
