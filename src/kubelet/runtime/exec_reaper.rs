//! Waits for a process a runtime started detached. `runc exec -t` needs a terminal of its
//! own unless it runs detached (`-d --console-socket`), and a detached exec's process is
//! no child of anyone who asked for it: its exit code would be lost. containerd's shim
//! solves this by being the child subreaper of its runtime calls; `bramble runtime
//! reap-exec` does the same in a short-lived helper: it marks itself subreaper, runs the
//! runtime's `exec -d --pid-file F`, then waits for the pid in `F` (reparented to it when
//! the runtime exits) and exits with that process's code, so the caller sees the exec as one
//! process, as with an attached `exec`.

use std::ffi::OsString;
use std::path::Path;

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::record::read_pid_file;
use super::{Result, RuntimeError};

/// Runs `command` (a runtime's detached exec writing `pid_file`) and waits for the process
/// it started; returns its exit code (`128 + signal` when killed). Call only from a
/// single-threaded helper process: it reaps every child it is given.
pub fn run(pid_file: &Path, command: &[OsString]) -> Result<i32> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| RuntimeError::Spec("reap-exec needs a runtime command".into()))?;
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| RuntimeError::io("becoming the child subreaper", e.into()))?;
    default_signal_dispositions();
    let status = std::process::Command::new(program)
        .args(args)
        .status()
        .map_err(|e| RuntimeError::io(format!("running {}", program.to_string_lossy()), e))?;
    if !status.success() {
        // The runtime has said why on the inherited stderr.
        return Err(RuntimeError::Command {
            command: "exec".into(),
            id: String::new(),
            message: format!("the runtime exited with {status}"),
        });
    }
    let pid = Pid::from_raw(read_pid_file(pid_file)?);
    loop {
        // Any reparented descendant is reaped here; only the exec's own pid ends the wait.
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(RuntimeError::io("waiting for the exec", e.into())),
        }
    }
}

/// Puts every catchable signal back to its default action. Ignored signals survive `exec`,
/// and runc, unlike libcontainer, hands them on to the container's process: a kubelet
/// started in the background by a shell (which ignores SIGINT and SIGQUIT there) would
/// otherwise give containers a Ctrl-C that does nothing.
pub fn default_signal_dispositions() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing the default action runs no code of this process in a handler.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
}
