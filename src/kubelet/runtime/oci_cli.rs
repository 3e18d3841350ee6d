//! [`ContainerRuntime`] over an OCI runtime command line with runc's shape.
//!
//! Both runtimes are driven the same way: `runc --root DIR …` for an installed runc, and
//! `bramble runtime --root DIR …` for the built-in libcontainer helper. Only short-lived
//! commands run from the server; `create` goes through the per-container supervisor
//! (`bramble runtime shim`), which owns the container from then on. All state lives on disk
//! under the runtime's root, so a restarted server sees the same containers.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::process::Command;

use super::attach;
use super::console::{self, ConsoleSocket};
use super::record::{records_root, ContainerMeta, RecordDir};
use super::status::{exited, wait_for_exit, EXIT_RECORD_WAIT};
use super::{
    cgroup, ContainerRuntime, ContainerState, ContainerStats, ContainerStatus, ExecSession,
    ExecSpec, LogConfig, Result, RuntimeError,
};

/// The runtime used unless configured: the built-in one where it exists (64-bit targets),
/// runc on 32-bit boards.
pub const DEFAULT_RUNTIME: &str = if cfg!(target_pointer_width = "64") {
    "builtin"
} else {
    "runc"
};

/// Which OCI runtime runs containers (config `runtime = "builtin" | "runc"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// youki's libcontainer inside the `bramble runtime` helper.
    Builtin,
    /// An installed `runc` binary.
    Runc,
}

impl RuntimeKind {
    /// The config value naming this runtime.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Builtin => "builtin",
            RuntimeKind::Runc => "runc",
        }
    }
}

impl std::str::FromStr for RuntimeKind {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "builtin" => Ok(RuntimeKind::Builtin),
            "runc" => Ok(RuntimeKind::Runc),
            other => Err(RuntimeError::Spec(format!(
                "unknown runtime {other:?}: use \"builtin\" or \"runc\""
            ))),
        }
    }
}

/// A container runtime driven through runc's command line.
#[derive(Debug, Clone)]
pub struct OciCliRuntime {
    kind: RuntimeKind,
    root: PathBuf,
    bramble: PathBuf,
    command: Vec<OsString>,
}

impl OciCliRuntime {
    /// A runtime keeping its state under `runtime_dir/<kind>` (`DATA/runtime/<kind>`);
    /// `bramble` is the bramble executable, re-executed for the helper and the supervisor.
    pub fn new(kind: RuntimeKind, runtime_dir: &Path, bramble: PathBuf) -> Self {
        let root = runtime_dir.join(kind.name());
        let state_root = root.join("state").into_os_string();
        let command = match kind {
            RuntimeKind::Builtin => vec![
                bramble.clone().into_os_string(),
                "runtime".into(),
                "--root".into(),
                state_root,
            ],
            RuntimeKind::Runc => vec!["runc".into(), "--root".into(), state_root],
        };
        OciCliRuntime {
            kind,
            root,
            bramble,
            command,
        }
    }

    /// Which runtime this is.
    pub fn kind(&self) -> RuntimeKind {
        self.kind
    }

    /// The directory holding this runtime's state and container records.
    pub fn root(&self) -> &Path {
        &self.root
    }

    async fn run(&self, id: &str, args: &[&std::ffi::OsStr]) -> Result<String> {
        let output = Command::new(&self.command[0])
            .args(&self.command[1..])
            .args(args)
            .env("BRAMBLE_LOG", "off")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| {
                RuntimeError::io(format!("running {}", self.command[0].to_string_lossy()), e)
            })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if message.contains("does not exist") || message.contains("not found") {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Err(RuntimeError::Command {
            command: args
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default(),
            id: id.to_string(),
            message,
        })
    }

    async fn create_impl(&self, id: &str, bundle: &Path, log: &LogConfig) -> Result<()> {
        let record = RecordDir::new(&self.root, id);
        if record.exists() {
            return Err(RuntimeError::Command {
                command: "create".into(),
                id: id.into(),
                message: "a container with this id already exists; delete it first".into(),
            });
        }
        let bundle = std::path::absolute(bundle)
            .map_err(|e| RuntimeError::io(format!("resolving {}", bundle.display()), e))?;
        let config = read_config(&bundle)?;
        let cgroups_path = config["linux"]["cgroupsPath"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        record.set_meta(&ContainerMeta {
            bundle: bundle.clone(),
            log_path: log.path.clone(),
            cgroups_path: cgroups_path.clone(),
        })?;
        let output = Command::new(&self.bramble)
            .arg("runtime")
            .arg("shim")
            .arg("--id")
            .arg(id)
            .arg("--bundle")
            .arg(&bundle)
            .arg("--record-dir")
            .arg(record.path())
            .arg("--log")
            .arg(&log.path)
            .arg("--log-max-size")
            .arg(log.max_size.to_string())
            .arg("--log-max-files")
            .arg(log.max_files.to_string())
            .arg("--cgroups-path")
            .arg(&cgroups_path)
            .arg("--attach-socket")
            .arg(attach::socket_path(&self.root, id))
            .arg("--")
            .args(&self.command)
            .env("BRAMBLE_LOG", "off")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| RuntimeError::io("starting the container supervisor", e))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if stdout.starts_with("ok ") {
            return Ok(());
        }
        let _ = self
            .run(id, &["delete".as_ref(), "-f".as_ref(), id.as_ref()])
            .await;
        let _ = std::fs::remove_dir_all(record.path());
        Err(RuntimeError::Command {
            command: "create".into(),
            id: id.into(),
            message: format!(
                "{}{}",
                // the supervisor reports the same error type: do not repeat its prefix
                stdout
                    .trim()
                    .trim_start_matches("error: ")
                    .trim_start_matches(&format!("create failed for container {id:?}: ")),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }

    async fn state_impl(&self, id: &str) -> Result<Option<ContainerStatus>> {
        let record = RecordDir::new(&self.root, id);
        if !record.exists() {
            return Ok(None);
        }
        let started_at = record.started_at()?;
        if let Some(status) = exited(&record, started_at)? {
            return Ok(Some(status));
        }
        if let Some(status) = running_by_record(&record, id, started_at) {
            return Ok(Some(status));
        }
        let (status, pid) = match self.run(id, &["state".as_ref(), id.as_ref()]).await {
            Ok(json) => {
                let value: serde_json::Value =
                    serde_json::from_str(&json).map_err(|e| RuntimeError::Command {
                        command: "state".into(),
                        id: id.into(),
                        message: format!("unreadable state {json:?}: {e}"),
                    })?;
                let status = value["status"].as_str().unwrap_or("stopped").to_string();
                (status, value["pid"].as_i64().map(|p| p as i32))
            }
            Err(RuntimeError::NotFound(_)) => ("stopped".to_string(), None),
            Err(e) => return Err(e),
        };
        let state = match status.as_str() {
            "creating" | "created" => ContainerState::Created,
            "running" | "paused" => ContainerState::Running,
            _ => return Ok(Some(wait_for_exit(&record, started_at).await?)),
        };
        Ok(Some(ContainerStatus {
            state,
            pid: pid.filter(|p| *p > 0),
            exit_code: None,
            signal: None,
            started_at,
            finished_at: None,
            oom_killed: false,
        }))
    }

    async fn delete_impl(&self, id: &str) -> Result<()> {
        let record = RecordDir::new(&self.root, id);
        match self
            .run(id, &["delete".as_ref(), "-f".as_ref(), id.as_ref()])
            .await
        {
            Ok(_) | Err(RuntimeError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        if let Ok(Some(pid)) = record.shim_pid() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let deadline = Instant::now() + EXIT_RECORD_WAIT;
            while nix::sys::signal::kill(pid, None).is_ok() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if record.exit()?.is_none() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        // The supervisor removes its attach socket when it ends; not when it was killed.
        let _ = std::fs::remove_file(attach::socket_path(&self.root, id));
        match std::fs::remove_dir_all(record.path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RuntimeError::io(
                format!("removing {}", record.path().display()),
                e,
            )),
        }
    }

    async fn exec_impl(&self, id: &str, spec: &ExecSpec) -> Result<ExecSession> {
        let record = RecordDir::new(&self.root, id);
        let meta = record
            .meta()?
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        let config = read_config(&meta.bundle)?;
        let process = exec_process(&config["process"], spec);
        let name = format!("exec-{}", uuid::Uuid::new_v4().simple());
        let process_file = record.path().join(format!("{name}.json"));
        record.write(&format!("{name}.json"), process.to_string().as_bytes())?;
        let console = if spec.tty {
            Some(ConsoleSocket::bind()?)
        } else {
            None
        };
        let mut command = match (&console, self.kind) {
            (None, _) => self.exec_command(&process_file, id, &[]),
            (Some(socket), RuntimeKind::Builtin) => {
                let flag = [OsString::from("--console-socket"), socket.path().into()];
                self.exec_command(&process_file, id, &flag)
            }
            (Some(socket), RuntimeKind::Runc) => {
                // runc hands the terminal over only when detached; the helper waits for the
                // detached process as its subreaper (see `exec_reaper`).
                let pid_file = process_file.with_extension("pid");
                let flags = [
                    OsString::from("-d"),
                    "--console-socket".into(),
                    socket.path().into(),
                    "--pid-file".into(),
                    pid_file.clone().into(),
                ];
                let mut c = Command::new(&self.bramble);
                c.arg("runtime")
                    .arg("reap-exec")
                    .arg("--pid-file")
                    .arg(&pid_file)
                    .arg("--")
                    .args(&self.command)
                    .arg("exec")
                    .args(flags)
                    .arg("--process")
                    .arg(&process_file)
                    .arg(id);
                c
            }
        };
        command.env("BRAMBLE_LOG", "off").stderr(Stdio::piped());
        if console.is_some() {
            command.stdin(Stdio::null()).stdout(Stdio::null());
        } else {
            command.stdin(Stdio::piped()).stdout(Stdio::piped());
        }
        let mut child = command
            .spawn()
            .map_err(|e| RuntimeError::io("starting exec", e))?;
        let mut session = ExecSession {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            console: None,
            child,
            process_file,
        };
        if let Some(socket) = console {
            session.console = Some(receive_console(&socket, &mut session, id).await?);
        }
        Ok(session)
    }

    /// `<runtime> exec <flags> --process P ID`.
    fn exec_command(&self, process_file: &Path, id: &str, flags: &[OsString]) -> Command {
        let mut c = Command::new(&self.command[0]);
        c.args(&self.command[1..])
            .arg("exec")
            .args(flags)
            .arg("--process")
            .arg(process_file)
            .arg(id);
        c
    }
}

/// The terminal the runtime sends on `socket`, or why it sent none: the exec command
/// ended first (its stderr says why) or took longer than [`console::RECEIVE_TIMEOUT`].
async fn receive_console(
    socket: &ConsoleSocket,
    session: &mut ExecSession,
    id: &str,
) -> Result<console::Console> {
    let failed = |message: String| RuntimeError::Command {
        command: "exec".into(),
        id: id.into(),
        message,
    };
    tokio::select! {
        received = socket.receive() => received,
        status = session.child.wait() => {
            let mut text = String::new();
            if let Some(mut e) = session.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = e.read_to_string(&mut text).await;
            }
            let status = status.map_err(|e| RuntimeError::io("waiting for exec", e))?;
            Err(failed(format!("exited with {status} before handing over a terminal: {}", text.trim())))
        }
        _ = tokio::time::sleep(console::RECEIVE_TIMEOUT) => {
            let _ = session.child.start_kill();
            Err(failed("no terminal was handed over in time".into()))
        }
    }
}

/// The container's `process` with the exec's args, extra env and cwd: an exec runs as the
/// container's user with its capabilities, as `runc exec` without `--process` does.
fn exec_process(base: &serde_json::Value, spec: &ExecSpec) -> serde_json::Value {
    let mut process = base.clone();
    process["terminal"] = spec.tty.into();
    process["args"] = spec.args.clone().into();
    let mut env: Vec<serde_json::Value> = process["env"].as_array().cloned().unwrap_or_default();
    // containerd's CRI exec gives a terminal TERM=xterm unless the container sets TERM.
    let has_term = env
        .iter()
        .any(|e| e.as_str().is_some_and(|e| e.starts_with("TERM=")));
    if spec.tty && !has_term {
        env.push("TERM=xterm".into());
    }
    env.extend(spec.env.iter().map(|e| serde_json::Value::from(e.as_str())));
    process["env"] = env.into();
    if let Some(cwd) = &spec.cwd {
        process["cwd"] = cwd.as_str().into();
    }
    process
}

fn read_config(bundle: &Path) -> Result<serde_json::Value> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path)
        .map_err(|e| RuntimeError::io(format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Record {
        path,
        message: e.to_string(),
    })
}

impl ContainerRuntime for OciCliRuntime {
    fn create<'a>(
        &'a self,
        id: &'a str,
        bundle: &'a Path,
        log: &'a LogConfig,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.create_impl(id, bundle, log))
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.run(id, &["start".as_ref(), id.as_ref()]).await?;
            RecordDir::new(&self.root, id).set_started_now()
        })
    }

    fn state<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ContainerStatus>>> {
        Box::pin(self.state_impl(id))
    }

    fn kill<'a>(&'a self, id: &'a str, signal: i32) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let signal = signal.to_string();
            self.run(id, &["kill".as_ref(), id.as_ref(), signal.as_ref()])
                .await
                .map(drop)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.delete_impl(id))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move {
            let dir = records_root(&self.root);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(RuntimeError::io(format!("listing {}", dir.display()), e)),
            };
            let mut ids: Vec<String> = entries
                .flatten()
                .filter(|e| e.path().join("meta.json").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            ids.sort();
            Ok(ids)
        })
    }

    fn exec<'a>(&'a self, id: &'a str, spec: &'a ExecSpec) -> BoxFuture<'a, Result<ExecSession>> {
        Box::pin(self.exec_impl(id, spec))
    }

    fn attach<'a>(
        &'a self,
        id: &'a str,
        stdin: bool,
    ) -> BoxFuture<'a, Result<tokio::net::UnixStream>> {
        Box::pin(attach::connect(&self.root, id, stdin))
    }

    fn stats<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ContainerStats>> {
        Box::pin(async move {
            let meta = RecordDir::new(&self.root, id)
                .meta()?
                .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
            cgroup::stats(&meta.cgroups_path).ok_or_else(|| RuntimeError::NotFound(id.to_string()))
        })
    }
}

/// A started container whose supervisor is alive and has written no exit record is running:
/// the supervisor writes that record the moment the init exits. Answering from the record
/// saves starting a runtime process per container on every status poll, which on a board
/// would be most of the kubelet's idle CPU. The supervisor is recognised by its command line
/// (naming the container), so a pid reused after a reboot is not mistaken for it.
fn running_by_record(
    record: &RecordDir,
    id: &str,
    started_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<ContainerStatus> {
    started_at?;
    let shim = record.shim_pid().ok()??;
    let cmdline = std::fs::read(format!("/proc/{shim}/cmdline")).ok()?;
    let names_id = cmdline.split(|b| *b == 0).any(|arg| arg == id.as_bytes());
    if !names_id {
        return None;
    }
    let pid = super::record::read_pid_file(&record.pid_file()).ok()?;
    Some(ContainerStatus {
        state: ContainerState::Running,
        pid: Some(pid),
        exit_code: None,
        signal: None,
        started_at,
        finished_at: None,
        oom_killed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_keeps_the_container_user_and_appends_env() {
        let base = serde_json::json!({
            "user": {"uid": 1000, "gid": 1000}, "args": ["sleep", "1"],
            "env": ["PATH=/bin"], "cwd": "/", "terminal": true
        });
        let spec = ExecSpec {
            args: vec!["echo".into(), "hi".into()],
            env: vec!["A=b".into()],
            cwd: Some("/tmp".into()),
            tty: false,
        };
        let p = exec_process(&base, &spec);
        assert_eq!(p["user"]["uid"], 1000);
        assert_eq!(p["args"], serde_json::json!(["echo", "hi"]));
        assert_eq!(p["env"], serde_json::json!(["PATH=/bin", "A=b"]));
        assert_eq!(p["cwd"], "/tmp");
        assert_eq!(p["terminal"], false);
    }

    #[test]
    fn runtime_kind_parses_config_values() {
        assert_eq!("runc".parse::<RuntimeKind>().unwrap(), RuntimeKind::Runc);
        assert_eq!(
            "builtin".parse::<RuntimeKind>().unwrap(),
            RuntimeKind::Builtin
        );
        assert!("crun".parse::<RuntimeKind>().is_err());
    }
}
