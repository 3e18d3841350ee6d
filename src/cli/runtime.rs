//! `bramble runtime …`: the built-in OCI runtime and the container supervisor, as commands.
//!
//! The server never forks: it re-executes this binary as `bramble runtime --root DIR
//! create|start|state|kill|delete|exec` (runc's command shape, so one client drives runc and
//! bramble alike) and as `bramble runtime shim` (one supervisor per container). These run in a
//! plain single-threaded process, without a tokio runtime, because libcontainer forks and
//! clones.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::kubelet::runtime::shim::{self, ShimConfig};
use crate::kubelet::runtime::{builtin, exec_reaper, LogConfig, RuntimeError};

/// Arguments of `bramble runtime`.
#[derive(Debug, Args)]
pub struct RuntimeArgs {
    /// Directory holding the containers' runtime state.
    #[arg(long, default_value = "/run/bramble/runtime")]
    pub root: PathBuf,
    /// The operation.
    #[command(subcommand)]
    pub command: RuntimeCommand,
}

/// `bramble runtime` operations.
#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Create a container from a bundle; its init waits for `start`.
    Create {
        /// The bundle directory (holding config.json).
        #[arg(long, short)]
        bundle: PathBuf,
        /// File to write the init's pid to.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// AF_UNIX socket receiving the terminal's master (with `terminal: true`).
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Container id.
        id: String,
    },
    /// Start a created container.
    Start {
        /// Container id.
        id: String,
    },
    /// Print the container's OCI state as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal to the container.
    Kill {
        /// Signal every process of the container, not just its init.
        #[arg(long, short)]
        all: bool,
        /// Container id.
        id: String,
        /// Signal number or name.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container.
    Delete {
        /// Kill it first if it is running.
        #[arg(long, short)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Run a process (an OCI `process` JSON file) in a running container and wait for it.
    Exec {
        /// The process JSON.
        #[arg(long, short)]
        process: PathBuf,
        /// AF_UNIX socket receiving the terminal's master (with `terminal: true`).
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Container id.
        id: String,
    },
    /// Run a runtime's detached exec (writing `--pid-file`) as the child subreaper and wait
    /// for the process it started, exiting with its code.
    ReapExec {
        /// The pid file the runtime command writes.
        #[arg(long)]
        pid_file: PathBuf,
        /// The runtime command, e.g. `runc --root DIR exec -d --pid-file F …`.
        #[arg(last = true, required = true)]
        command: Vec<OsString>,
    },
    /// Supervise one container: create it with the given runtime command, log its output,
    /// reap it and record its exit.
    Shim(ShimArgs),
}

/// Arguments of `bramble runtime shim`.
#[derive(Debug, Args)]
pub struct ShimArgs {
    /// Container id.
    #[arg(long)]
    pub id: String,
    /// Bundle directory.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The container's record directory.
    #[arg(long)]
    pub record_dir: PathBuf,
    /// CRI log file.
    #[arg(long)]
    pub log: PathBuf,
    /// Rotate the log past this many bytes.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub log_max_size: u64,
    /// Keep at most this many log files.
    #[arg(long, default_value_t = 5)]
    pub log_max_files: usize,
    /// The container's cgroup path.
    #[arg(long, default_value = "")]
    pub cgroups_path: String,
    /// Where clients attach to the container's stdio.
    #[arg(long)]
    pub attach_socket: PathBuf,
    /// The OCI runtime command, e.g. `runc --root DIR`.
    #[arg(last = true, required = true)]
    pub runtime_command: Vec<OsString>,
}

fn parse_signal(text: &str) -> Result<i32, RuntimeError> {
    if let Ok(n) = text.parse::<i32>() {
        return Ok(n);
    }
    let name = text.to_ascii_uppercase();
    let name = if name.starts_with("SIG") {
        name
    } else {
        format!("SIG{name}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| RuntimeError::Spec(format!("unknown signal {text:?}")))
}

fn fail(e: RuntimeError) -> ExitCode {
    let message = match &e {
        // runc's wording, which the runtime client recognises.
        RuntimeError::NotFound(id) => format!("container {id:?} does not exist"),
        other => other.to_string(),
    };
    let _ = writeln!(std::io::stderr(), "error: {message}");
    ExitCode::FAILURE
}

/// Runs `bramble runtime …` in this (single-threaded) process.
pub fn main(args: RuntimeArgs) -> ExitCode {
    let root = args.root;
    let result = match args.command {
        RuntimeCommand::Create {
            bundle,
            pid_file,
            console_socket,
            id,
        } => builtin::create(
            &root,
            &bundle,
            pid_file.as_deref(),
            console_socket.as_deref(),
            &id,
        ),
        RuntimeCommand::Start { id } => builtin::start(&root, &id),
        RuntimeCommand::State { id } => builtin::state(&root, &id).map(|state| {
            let _ = writeln!(std::io::stdout(), "{state}");
        }),
        RuntimeCommand::Kill { all, id, signal } => {
            parse_signal(&signal).and_then(|s| builtin::kill(&root, &id, s, all))
        }
        RuntimeCommand::Delete { force, id } => builtin::delete(&root, &id, force),
        RuntimeCommand::Exec {
            process,
            console_socket,
            id,
        } => {
            return match builtin::exec(&root, &id, &process, console_socket.as_deref()) {
                Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
                Err(e) => fail(e),
            }
        }
        RuntimeCommand::ReapExec { pid_file, command } => {
            return match exec_reaper::run(&pid_file, &command) {
                Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
                Err(e) => fail(e),
            }
        }
        RuntimeCommand::Shim(a) => {
            let code = shim::run(ShimConfig {
                id: a.id,
                bundle: a.bundle,
                record_dir: a.record_dir,
                log: LogConfig {
                    path: a.log,
                    max_size: a.log_max_size,
                    max_files: a.log_max_files,
                },
                cgroups_path: a.cgroups_path,
                runtime_command: a.runtime_command,
                attach_socket: a.attach_socket,
            });
            return ExitCode::from(code.clamp(0, 255) as u8);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_number_and_name() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("TERM").unwrap(), 15);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert!(parse_signal("NOPE").is_err());
    }
}
