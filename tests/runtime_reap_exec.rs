//! `bramble runtime reap-exec`, which a `kubectl exec -t` into a runc container runs
//! through: runc hands a terminal over only to a detached exec (`exec -d --pid-file F`),
//! whose process is then no child of the kubelet's. Like containerd's shim, the helper is
//! the child subreaper of the runtime's call, waits for the detached process and exits with
//! its code (`128 + signal` when it is killed), so the exec is one process that ends when
//! the user's command does. `sh` plays the runtime here: it starts the command in the
//! background, writes its pid file and exits while the command still runs.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use crate::support::eventually;

const BRAMBLE: &str = env!("CARGO_BIN_EXE_bramble");

/// A running `bramble runtime reap-exec`, killed if the test ends before it does.
struct ReapExec(Child);

impl ReapExec {
    /// Runs the helper over `runtime`, a shell script that writes the pid file `pid` in `dir`.
    fn start(dir: &Path, runtime: &str) -> ReapExec {
        let child = Command::new(BRAMBLE)
            .args(["runtime", "reap-exec", "--pid-file"])
            .arg(dir.join("pid"))
            .args(["--", "sh", "-c", runtime])
            .current_dir(dir)
            .env("BRAMBLE_LOG", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting bramble runtime reap-exec");
        ReapExec(child)
    }

    /// Runs the helper over a runtime that starts `command` detached.
    fn detached(dir: &Path, command: &str) -> ReapExec {
        assert!(!command.contains('\''), "the command is quoted with '");
        Self::start(dir, &format!("sh -c '{command}' & echo $! > pid"))
    }

    /// The helper's exit status and what it wrote to stderr.
    fn finish(mut self) -> (ExitStatus, String) {
        let status = eventually("reap-exec to exit", || self.0.try_wait().unwrap());
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        (status, stderr)
    }
}

impl Drop for ReapExec {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The helper exits once the detached process has, with its exit code: 0, another code, or
/// `128 + signal`.
#[test]
fn the_helper_ends_with_the_detached_process_and_takes_its_exit_code() {
    for (end, code) in [("exit 0", 0), ("exit 7", 7), ("kill -TERM $$", 128 + 15)] {
        let dir = tempfile::tempdir().unwrap();
        // The pause keeps the process running after the runtime has exited, so it is
        // reparented to the helper as a detached exec's is; the file marks that it ran to
        // its end before the helper did.
        let command = format!("sleep 0.3; echo ended > ended; {end}");
        let (status, stderr) = ReapExec::detached(dir.path(), &command).finish();
        assert_eq!(status.code(), Some(code), "after {end:?}: {stderr}");
        let ended = std::fs::read_to_string(dir.path().join("ended"));
        assert_eq!(ended.ok().as_deref(), Some("ended\n"), "after {end:?}");
    }
}

/// A runtime that fails to start the exec is reported as the helper's failure, with the
/// runtime's status, and there is nothing to wait for.
#[test]
fn a_failing_runtime_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = ReapExec::start(dir.path(), "exit 4").finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the runtime exited with exit status: 4"),
        "{stderr}"
    );
}
