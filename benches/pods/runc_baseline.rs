//! The floor a pod start is compared with: bare `runc create` + `runc start` of an equivalent
//! bundle on the same machine. The bundle is the bench image unpacked by umoci, with a
//! `config.json` written by the kubelet's own spec builder for the same command, so mounts,
//! masked paths, capabilities and namespaces (new pid, mount, cgroup, network, IPC and UTS)
//! match a pod's container; what it leaves out is everything around the runtime call.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bramble::kubelet::runtime::spec::{write_bundle, ContainerSpec};

use crate::board::Images;
use crate::pods;

/// Parent cgroup of the baseline's containers, removed afterwards.
const CGROUP_PARENT: &str = "bramble-bench";

/// What the baseline measured.
#[derive(Debug, Default)]
pub struct Baseline {
    /// `runc --version`, first line.
    pub version: String,
    /// `runc create` + `runc start`, sorted.
    pub runs: Vec<Duration>,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// Unpacks the image into `dir` and times `runs` container starts (bounded by `time_limit`).
pub fn measure(dir: &Path, images: &Images, runs: usize, time_limit: Duration) -> Baseline {
    let mut result = Baseline {
        version: version().unwrap_or_else(|| "runc (version unknown)".into()),
        ..Baseline::default()
    };
    if let Err(e) = run(dir, images, runs, time_limit, &mut result) {
        result.error = Some(e);
    }
    remove_cgroup_parent();
    result.runs.sort_unstable();
    result
}

fn run(
    dir: &Path,
    images: &Images,
    runs: usize,
    time_limit: Duration,
    result: &mut Baseline,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let bundle = dir.join("bundle");
    let root = dir.join("runc-state");
    let stderr_log = dir.join("runc.stderr");
    command(
        Command::new("umoci")
            .args(["unpack", "--image", &images.oci_reference()])
            .arg(&bundle)
            .current_dir(&images.work),
        &stderr_log,
    )?;
    let start = Instant::now();
    for i in 0..runs {
        if start.elapsed() > time_limit {
            break;
        }
        let id = format!("bench-{}-{i}", std::process::id());
        write_bundle(&bundle, &spec(&bundle, &id)).map_err(|e| e.to_string())?;
        let sent = Instant::now();
        let started = command(
            runc(&root)
                .args(["create", "--bundle"])
                .arg(&bundle)
                .arg(&id),
            &stderr_log,
        )
        .and_then(|()| command(runc(&root).args(["start", &id]), &stderr_log));
        let took = sent.elapsed();
        let removed = command(runc(&root).args(["delete", "-f", &id]), &stderr_log);
        started?;
        removed?;
        result.runs.push(took);
    }
    Ok(())
}

/// The container a bench pod runs, as the kubelet describes it, in fresh namespaces.
fn spec(bundle: &Path, id: &str) -> ContainerSpec {
    ContainerSpec {
        args: pods::COMMAND.iter().map(|s| s.to_string()).collect(),
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        cwd: "/".into(),
        rootfs: bundle.join("rootfs"),
        hostname: Some(id.into()),
        cgroups_path: format!("/{CGROUP_PARENT}/{id}"),
        ..ContainerSpec::default()
    }
}

fn runc(root: &Path) -> Command {
    let mut cmd = Command::new("runc");
    cmd.arg("--root").arg(root);
    cmd
}

/// Runs `cmd` to completion. Its output goes to files, not pipes: a container started by
/// `runc create` inherits them and would hold a pipe open for as long as it lives.
fn command(cmd: &mut Command, stderr_log: &Path) -> Result<(), String> {
    let stderr = File::create(stderr_log).map_err(|e| format!("{}: {e}", stderr_log.display()))?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()
        .map_err(|e| format!("running {cmd:?}: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let why = std::fs::read_to_string(stderr_log).unwrap_or_default();
    Err(format!("{cmd:?} failed with {status}: {}", why.trim()))
}

fn version() -> Option<String> {
    let out = Command::new("runc").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().next()?.trim().to_string())
}

/// `runc delete` removes each container's cgroup but not the parent made for them.
fn remove_cgroup_parent() {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for h in hierarchies.flatten() {
        let _ = std::fs::remove_dir(h.path().join(CGROUP_PARENT));
    }
}
