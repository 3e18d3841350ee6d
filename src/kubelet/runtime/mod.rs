//! Containers through an OCI runtime behind one small trait.
//!
//! The kubelet writes an OCI bundle (`spec`), then drives the container through
//! [`ContainerRuntime`]: create, start, state, kill, delete, exec, stats. Both implementations
//! speak runc's command shape (`oci_cli`): an installed `runc`, or bramble itself re-executed
//! as `bramble runtime …`, a short-lived single-threaded helper that calls youki's
//! `libcontainer` (`builtin`), so nothing ever forks inside the multi-threaded server.
//! Every container is owned by a supervisor process (`shim`) that reaps its init, writes its
//! stdout/stderr to a CRI log file (`cri_log`) and records how it exited (`record`), so
//! containers and their exit codes outlive a server restart.

pub mod attach;
#[cfg(target_pointer_width = "64")]
pub mod builtin;
#[cfg(not(target_pointer_width = "64"))]
#[path = "builtin_unavailable.rs"]
pub mod builtin;
pub mod capabilities;
pub mod cgroup;
pub mod console;
pub mod cri_log;
pub mod device_filter;
pub mod exec_reaper;
pub mod host_devices;
pub mod oci_cli;
pub mod record;
pub mod seccomp;
#[cfg(target_pointer_width = "64")]
pub mod seccomp_executor;
pub mod shim;
pub mod spec;
pub mod status;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

pub use oci_cli::{OciCliRuntime, RuntimeKind, DEFAULT_RUNTIME};
pub use spec::ContainerSpec;

/// Errors from the container runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The OCI runtime command exited with an error.
    #[error("{command} failed for container {id:?}: {message}")]
    Command {
        /// The runtime subcommand (create, start, …).
        command: String,
        /// The container id.
        id: String,
        /// What the runtime printed.
        message: String,
    },
    /// No container with this id is known to the runtime.
    #[error("container {0:?} not found; it may have been deleted already")]
    NotFound(String),
    /// The container spec cannot be turned into an OCI bundle.
    #[error("invalid container spec: {0}")]
    Spec(String),
    /// A state or record file could not be parsed.
    #[error("corrupt runtime record {path}: {message}; delete the container and recreate it")]
    Record {
        /// The file.
        path: PathBuf,
        /// The parse error.
        message: String,
    },
    /// The built-in runtime (libcontainer) failed.
    #[error("libcontainer: {0}")]
    Libcontainer(String),
    /// The container's device rules could not be enforced on its cgroup v2 cgroup.
    #[error("container {id:?} cannot be confined to its devices, so it is not run: {source}")]
    DeviceFilter {
        /// The container id.
        id: String,
        /// What failed.
        source: device_filter::DeviceFilterError,
    },
}

impl RuntimeError {
    /// An I/O error with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias for runtime operations.
pub type Result<T> = std::result::Result<T, RuntimeError>;

/// The lifecycle state of a container, as CRI's `ContainerState` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Created but not started.
    Created,
    /// Its init process is running.
    Running,
    /// Its init process has exited.
    Exited,
}

/// What the runtime knows about one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    /// Lifecycle state.
    pub state: ContainerState,
    /// Host pid of the container's init (while created or running).
    pub pid: Option<i32>,
    /// Exit code; `128 + signal` when killed by a signal, as containerd reports it.
    pub exit_code: Option<i32>,
    /// The signal that killed the init, if any.
    pub signal: Option<i32>,
    /// When `start` succeeded.
    pub started_at: Option<DateTime<Utc>>,
    /// When the init exited.
    pub finished_at: Option<DateTime<Utc>>,
    /// Whether the kernel OOM killer fired in the container's cgroup.
    pub oom_killed: bool,
}

/// A process to run inside a running container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    /// Command and arguments.
    pub args: Vec<String>,
    /// Extra `KEY=VALUE` variables on top of the container's.
    pub env: Vec<String>,
    /// Working directory; the container's when `None`.
    pub cwd: Option<String>,
    /// Allocate a terminal: the process gets a pty as its controlling terminal and stdio,
    /// handed over as [`ExecSession::console`].
    pub tty: bool,
}

/// Resource usage of one container, read from its cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContainerStats {
    /// Total CPU time consumed, in nanoseconds.
    pub cpu_usage_ns: u64,
    /// Memory usage minus inactive file cache (the kubelet's working set).
    pub memory_working_set_bytes: u64,
}

/// A running exec: its stdio and, through [`ExecSession::wait`], its exit code.
#[derive(Debug)]
pub struct ExecSession {
    /// The process's stdin; drop it to send EOF.
    pub stdin: Option<tokio::process::ChildStdin>,
    /// The process's stdout.
    pub stdout: Option<tokio::process::ChildStdout>,
    /// The process's stderr.
    pub stderr: Option<tokio::process::ChildStderr>,
    /// The master of the process's terminal (with [`ExecSpec::tty`]; no pipes then).
    pub console: Option<console::Console>,
    child: tokio::process::Child,
    process_file: PathBuf,
}

impl ExecSession {
    /// Waits for the process and returns its exit code (`128 + signal` when killed).
    pub async fn wait(mut self) -> Result<i32> {
        let status = self
            .child
            .wait()
            .await
            .map_err(|e| RuntimeError::io("waiting for exec", e))?;
        let _ = std::fs::remove_file(&self.process_file);
        let _ = std::fs::remove_file(self.process_file.with_extension("pid"));
        use std::os::unix::process::ExitStatusExt;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }
}

/// Log file settings for one container (the kubelet's containerLogMaxSize/MaxFiles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The CRI log file, e.g. `DATA/logs/<ns>_<pod>_<uid>/<container>/0.log`.
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes.
    pub max_size: u64,
    /// Keep at most this many files, the live one included.
    pub max_files: usize,
}

impl LogConfig {
    /// Kubelet defaults: 10 MiB, 5 files.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LogConfig {
            path: path.into(),
            max_size: 10 * 1024 * 1024,
            max_files: 5,
        }
    }
}

/// An OCI runtime as the kubelet uses it. Object safe: the kubelet holds an
/// `Arc<dyn ContainerRuntime>` chosen by config.
pub trait ContainerRuntime: Send + Sync {
    /// Creates container `id` from the bundle at `bundle`, its stdio going to `log`.
    fn create<'a>(
        &'a self,
        id: &'a str,
        bundle: &'a Path,
        log: &'a LogConfig,
    ) -> BoxFuture<'a, Result<()>>;
    /// Starts the user process of a created container.
    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;
    /// The container's state, or `None` when no such container exists.
    fn state<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ContainerStatus>>>;
    /// Sends `signal` to the container's init.
    fn kill<'a>(&'a self, id: &'a str, signal: i32) -> BoxFuture<'a, Result<()>>;
    /// Removes the container (killing it if needed), its cgroup and its records.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Ids of every container this runtime has and has not deleted.
    fn list(&self) -> BoxFuture<'_, Result<Vec<String>>>;
    /// Runs a process inside a running container.
    fn exec<'a>(&'a self, id: &'a str, spec: &'a ExecSpec) -> BoxFuture<'a, Result<ExecSession>>;
    /// Attaches to the running container's own stdio through its supervisor (see
    /// [`attach`] for what flows on the connection); `stdin` says whether this client
    /// sends input.
    fn attach<'a>(
        &'a self,
        id: &'a str,
        stdin: bool,
    ) -> BoxFuture<'a, Result<tokio::net::UnixStream>>;
    /// CPU and memory usage from the container's cgroup.
    fn stats<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ContainerStats>>;
}
