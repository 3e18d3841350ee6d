//! The built-in OCI runtime: youki's `libcontainer`, driven with runc's command shape.
//!
//! These functions are what `bramble runtime create|start|state|kill|delete|exec` run. They
//! fork and clone, so they must only be called from that short-lived single-threaded helper
//! process, never from the tokio server (fork in a multi-threaded process is unsafe).
//!
//! On cgroup v2 hosts libcontainer (built without libbpf) applies no device rules, so
//! `create` attaches the device program (`device_filter`) to the container's cgroup once
//! libcontainer has made it and put the waiting init in it, before any user code runs.

use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitStatus};
use oci_spec::runtime::Spec;

use super::cgroup::{self, CgroupMode};
use super::device_filter;
use super::seccomp_executor::{prepare_bundle, prepare_process, SeccompExecutor};
use super::{Result, RuntimeError};

/// The error with its causes (libcontainer's top level alone says only "io error").
fn lc<E: std::error::Error>(e: E) -> RuntimeError {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    RuntimeError::Libcontainer(text)
}

fn load(root: &Path, id: &str) -> Result<Container> {
    let dir = root.join(id);
    if !dir.exists() {
        return Err(RuntimeError::NotFound(id.to_string()));
    }
    Container::load(dir).map_err(lc)
}

/// `create --bundle B --pid-file P [--console-socket S] ID`: sets the container up and
/// leaves its init waiting for `start`. The init inherits this process's stdio, or with
/// `terminal: true` gets a pty whose master goes to the console socket.
pub fn create(
    root: &Path,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    id: &str,
) -> Result<()> {
    std::fs::create_dir_all(root)
        .map_err(|e| RuntimeError::io(format!("creating {}", root.display()), e))?;
    prepare_bundle(bundle)?;
    ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(SeccompExecutor::for_bundle(bundle)?)
        .with_pid_file(pid_file.map(PathBuf::from))
        .map_err(lc)?
        .with_root_path(root)
        .map_err(lc)?
        .with_console_socket(console_socket)
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(lc)?;
    if cgroup::mode() == CgroupMode::V2 {
        if let Err(e) = confine_devices(bundle, id) {
            // Never leave a container that could be started without its device rules.
            if let Err(d) = delete(root, id, true) {
                tracing::warn!(id, "deleting unconfined container: {d}");
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Attaches the program enforcing the bundle's `linux.resources.devices` to the
/// container's cgroup.
fn confine_devices(bundle: &Path, id: &str) -> Result<()> {
    let config = bundle.join("config.json");
    let spec = Spec::load(&config)
        .map_err(|e| RuntimeError::Spec(format!("{}: {e}", config.display())))?;
    device_filter::confine_container(&spec, Path::new(cgroup::CGROUP_ROOT)).map_err(|source| {
        RuntimeError::DeviceFilter {
            id: id.to_string(),
            source,
        }
    })?;
    Ok(())
}

/// `start ID`: runs the user process of a created container.
pub fn start(root: &Path, id: &str) -> Result<()> {
    load(root, id)?.start().map_err(lc)
}

/// `state ID`: the OCI state as JSON (`id`, `status`, `pid`, `bundle`), as `runc state` prints.
pub fn state(root: &Path, id: &str) -> Result<serde_json::Value> {
    let container = load(root, id)?;
    let status = match container.status() {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    };
    Ok(serde_json::json!({
        "ociVersion": "1.0.2",
        "id": id,
        "status": status,
        "pid": container.pid().map(|p| p.as_raw()).unwrap_or(0),
        "bundle": container.bundle(),
    }))
}

/// `kill ID SIGNAL`: signals the init (or, with `all`, every process of the container).
pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<()> {
    let signal = nix::sys::signal::Signal::try_from(signal).map_err(lc)?;
    load(root, id)?.kill(signal, all).map_err(lc)
}

/// `delete [-f] ID`: removes the container and its cgroup (killing it first with `force`).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    load(root, id)?.delete(force).map_err(lc)
}

/// `exec [--console-socket S] --process P ID`: runs the process described by the OCI
/// `process` JSON in the container and waits for it; returns its exit code (`128 + signal`
/// when killed). With `terminal: true` in the process, libcontainer opens the pty in the
/// container and sends its master to the console socket (it accepts a socket only for a
/// "detached" tenant, a flag it uses for nothing else: the process is still waited for here).
pub fn exec(root: &Path, id: &str, process: &Path, console_socket: Option<&Path>) -> Result<i32> {
    let executor = SeccompExecutor::for_bundle(load(root, id)?.bundle())?;
    prepare_process(process, executor.has_filter())?;
    let pid = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(executor)
        .with_root_path(root)
        .map_err(lc)?
        .with_console_socket(console_socket)
        .as_tenant()
        .with_process(Some(process))
        .with_detach(console_socket.is_some())
        .build()
        .map_err(lc)?;
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(lc(e)),
        }
    }
}
