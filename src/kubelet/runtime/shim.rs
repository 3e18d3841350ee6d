//! The per-container supervisor: `bramble runtime shim`, one small process per container.
//!
//! Like containerd's shim, it outlives whoever asked for the container: it forks once (the
//! caller only waits for the short-lived parent), calls `setsid` and becomes a child
//! subreaper (`PR_SET_CHILD_SUBREAPER`), so the container's init, started by `runc create` or
//! by bramble's libcontainer helper and orphaned when that command exits, is re-parented to
//! it and reaped by it. It holds the read ends of the container's stdout/stderr pipes and
//! copies them into the CRI log file, and when the init exits it records the exit code,
//! signal, time and whether the OOM killer fired in `exit.json`. A container with a terminal
//! (`process.terminal`) is created with a console socket and the shim holds the terminal's
//! master instead of the pipes; one with `stdin` gets a pipe whose writing end the shim
//! keeps; either way clients attach through the shim's socket ([`super::attach`]). It runs
//! single-threaded: it is only ever started in its own process.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, setsid, ForkResult, Pid};

use super::attach::{Input, ShimAttachments};
use super::console::receive_fd;
use super::cri_log::{CriLogWriter, Stream};
use super::record::{read_pid_file, ExitRecord, RecordDir};
use super::spec::{STDIN_ANNOTATION, STDIN_ONCE_ANNOTATION};
use super::{cgroup, LogConfig, Result, RuntimeError};

/// How long to keep draining the pipes after the init exited (its descendants die with its
/// pid namespace, so EOF normally follows at once).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Everything the supervisor needs, passed on its command line.
#[derive(Debug, Clone)]
pub struct ShimConfig {
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// The container's record directory.
    pub record_dir: PathBuf,
    /// Log file and rotation.
    pub log: LogConfig,
    /// The container's cgroup (for the OOM-kill counter).
    pub cgroups_path: String,
    /// The OCI runtime command without its subcommand, e.g. `runc --root DIR`.
    pub runtime_command: Vec<OsString>,
    /// Where clients attach to the container's stdio ([`attach`]).
    pub attach_socket: PathBuf,
}

/// The container's stdio as its bundle describes it: `process.terminal` and the stdin
/// annotations the kubelet writes.
#[derive(Debug, Clone, Copy, Default)]
struct BundleStdio {
    terminal: bool,
    stdin: bool,
    stdin_once: bool,
}

fn bundle_stdio(bundle: &std::path::Path) -> Result<BundleStdio> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path)
        .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
    let config: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Record {
            path,
            message: e.to_string(),
        })?;
    let annotation = |key: &str| config["annotations"][key] == "true";
    Ok(BundleStdio {
        terminal: config["process"]["terminal"] == true,
        stdin: annotation(STDIN_ANNOTATION),
        stdin_once: annotation(STDIN_ONCE_ANNOTATION),
    })
}

/// A console socket for `create`, bound in the temporary directory (socket paths are short)
/// and removed when dropped.
struct CreateConsole {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
}

impl CreateConsole {
    fn bind() -> Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "bramble-console-{}.sock",
            uuid::Uuid::new_v4().simple()
        ));
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .map_err(|e| RuntimeError::io(format!("binding {}", path.display()), e))?;
        Ok(CreateConsole { listener, path })
    }

    /// The master the runtime sent while creating the container (already queued on the
    /// socket by the time `create` has returned).
    fn take(&self) -> Result<OwnedFd> {
        let io_err = |e| RuntimeError::io("receiving the container's terminal", e);
        self.listener.set_nonblocking(true).map_err(io_err)?;
        let (stream, _) = self.listener.accept().map_err(io_err)?;
        stream.set_nonblocking(false).map_err(io_err)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io_err)?;
        receive_fd(stream.as_raw_fd())
            .map_err(io_err)?
            .ok_or_else(|| RuntimeError::Spec("the runtime sent no terminal".into()))
    }
}

impl Drop for CreateConsole {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Runs the supervisor. The caller's process returns at once with 0; the forked supervisor
/// writes `ok <pid>` or `error: <message>` on stdout, closes it and keeps running until the
/// container's init exits, then exits itself.
pub fn run(config: ShimConfig) -> i32 {
    // SAFETY: `bramble runtime shim` is single-threaded (no tokio runtime), so the child of
    // fork may run arbitrary code.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => 0,
        Ok(ForkResult::Child) => {
            let code = match supervise(&config) {
                Ok(()) => 0,
                Err(e) => {
                    report(&format!("error: {e}"));
                    1
                }
            };
            std::process::exit(code)
        }
        Err(e) => {
            report(&format!("error: forking the supervisor: {e}"));
            1
        }
    }
}

fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn sys<T>(context: &str, r: nix::Result<T>) -> Result<T> {
    r.map_err(|e| RuntimeError::io(context, std::io::Error::from(e)))
}

fn supervise(config: &ShimConfig) -> Result<()> {
    sys("setsid", setsid())?;
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(RuntimeError::io(
            "becoming a child subreaper",
            std::io::Error::last_os_error(),
        ));
    }
    let _ = std::env::set_current_dir("/");
    let record = RecordDir::from_path(config.record_dir.clone());
    let mut log = CriLogWriter::open(config.log.clone())?;
    let (out_r, out_w) = sys("pipe", pipe2(nix::fcntl::OFlag::O_CLOEXEC))?;
    let (err_r, err_w) = sys("pipe", pipe2(nix::fcntl::OFlag::O_CLOEXEC))?;
    let stdio = bundle_stdio(&config.bundle)?;
    let console = stdio.terminal.then(CreateConsole::bind).transpose()?;
    let (stdin_r, stdin_w) = if stdio.stdin && !stdio.terminal {
        let (r, w) = sys("pipe", pipe2(nix::fcntl::OFlag::O_CLOEXEC))?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let pid_file = record.pid_file();
    super::exec_reaper::default_signal_dispositions();
    let status = {
        let mut create = Command::new(&config.runtime_command[0]);
        create
            .args(&config.runtime_command[1..])
            .arg("create")
            .arg("--bundle")
            .arg(&config.bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        if let Some(c) = &console {
            create.arg("--console-socket").arg(&c.path);
        }
        create
            .arg(&config.id)
            .env("BRAMBLE_LOG", "off")
            .stdin(stdin_r.map_or_else(Stdio::null, Stdio::from))
            .stdout(Stdio::from(out_w))
            .stderr(Stdio::from(err_w));
        create
            .status()
            .map_err(|e| RuntimeError::io("running the OCI runtime's create", e))?
    };
    if !status.success() {
        let message = read_available(err_r);
        return Err(RuntimeError::Command {
            command: "create".into(),
            id: config.id.clone(),
            message: format!("{status}: {}", message.trim()),
        });
    }
    let init = Pid::from_raw(read_pid_file(&pid_file)?);
    // The container's output: its terminal's master, or the pipes create handed it.
    let (mut streams, input, master) = match &console {
        Some(c) => {
            let master = c.take()?;
            let dup = |fd: &OwnedFd| {
                fd.try_clone()
                    .map_err(|e| RuntimeError::io("duplicating the terminal", e))
            };
            let input = if stdio.stdin {
                Some(Input::Console(File::from(dup(&master)?)))
            } else {
                None
            };
            ([Some(File::from(dup(&master)?)), None], input, Some(master))
        }
        None => (
            [Some(File::from(out_r)), Some(File::from(err_r))],
            stdin_w.map(|w| Input::Pipe(File::from(w))),
            None,
        ),
    };
    drop(console);
    let mut attachments =
        ShimAttachments::bind(&config.attach_socket, input, master, stdio.stdin_once)?;
    record.set_shim_pid(nix::unistd::getpid().as_raw())?;
    report(&format!("ok {init}"));
    detach_stdio();

    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    sys("blocking SIGCHLD", mask.thread_block())?;
    let sfd = sys(
        "signalfd",
        SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK),
    )?;
    let mut exit: Option<(Option<i32>, Option<i32>)> = None;
    let mut exited_at = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if exit.is_none() {
            exit = reap(init);
            if exit.is_some() {
                exited_at = Some(Instant::now());
            }
        }
        let drained = streams.iter().all(Option::is_none);
        match exited_at {
            Some(at) if drained || at.elapsed() > DRAIN_AFTER_EXIT => break,
            _ => {}
        }
        let mut fds: Vec<libc::pollfd> = vec![libc::pollfd {
            fd: sfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        for f in streams.iter().flatten() {
            fds.push(libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        fds.extend(attachments.poll_fds());
        // SAFETY: `fds` is a valid array of pollfd for its length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 500) };
        if n < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            while let Ok(Some(_)) = sfd.read_signal() {}
        }
        attachments.on_ready(&fds[1..]);
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            let Some(file) = streams[i].as_mut() else {
                continue;
            };
            let ready = fds[1..]
                .iter()
                .any(|p| p.fd == file.as_raw_fd() && p.revents != 0);
            if !ready {
                continue;
            }
            match file.read(&mut buf) {
                // A terminal's master is shared with the non-blocking input.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Ok(0) | Err(_) => {
                    let _ = log.finish(stream);
                    streams[i] = None;
                }
                Ok(n) => {
                    let _ = log.write(stream, &buf[..n]);
                    attachments.broadcast(stream, &buf[..n]);
                }
            }
        }
    }
    // Attached clients see the end of the container.
    drop(attachments);
    let _ = log.finish(Stream::Stdout);
    let _ = log.finish(Stream::Stderr);
    let (exit_code, signal) = exit.unwrap_or((None, None));
    record.set_exit(&ExitRecord {
        exit_code,
        signal,
        finished_at: Utc::now(),
        oom_killed: cgroup::oom_kill_count(&config.cgroups_path).unwrap_or(0) > 0,
    })
}

/// Reaps every exited child; returns `(exit code, signal)` once `init` has exited.
fn reap(init: Pid) -> Option<(Option<i32>, Option<i32>)> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => return Some((Some(code), None)),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => {
                let sig = sig as i32;
                return Some((Some(128 + sig), Some(sig)));
            }
            Ok(WaitStatus::StillAlive) => return None,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => {
                // Not our child (the runtime did not orphan it to us): notice it is gone.
                return match nix::sys::signal::kill(init, None) {
                    Err(Errno::ESRCH) => Some((None, None)),
                    _ => None,
                };
            }
        }
    }
}

/// Reads whatever the failed create command wrote, without waiting for more.
fn read_available(fd: OwnedFd) -> String {
    let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap_or(0);
    let _ = nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(
            nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
        ),
    );
    let mut text = Vec::new();
    let _ = File::from(fd).read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

/// Points stdin/stdout/stderr at /dev/null so the caller's pipes close and no later write
/// can fail with EPIPE.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors, which this process owns.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}
