//! `cargo bench --bench pods`: how fast a pod starts and what a board costs at rest.
//!
//! 1. Start-up: on a fresh `bramble server` of this build with its kubelet (once per
//!    runtime, `builtin` and `runc`), one pod pulls the image, then pods are created one at a
//!    time through the HTTPS API and timed until a watch sees them Running; a few more go
//!    through `kubectl apply`.
//! 2. Baseline: bare `runc create` + `runc start` of an equivalent bundle, for the ratio.
//! 3. Memory: the server's resident memory at rest with no pods and with 30 pods Running,
//!    and the summed memory of the per-container supervisors; what the idle server writes to
//!    storage over five and a half minutes (one unchanged node status report).
//!
//! The image is a busybox-static build pushed to a `docker-registry` on loopback, which the
//! kubelet reaches as a `docker.io` mirror. Needs root (namespaces, mounts, cgroups) and the
//! Debian packages docker-registry, skopeo, umoci, busybox-static, runc, iproute2, nftables,
//! plus kubectl. State lives in a scratch directory under `target/bench` (on the project's
//! disk, where fsync costs what it costs), and the report is written to
//! `target/bench/pods-report.md` and printed. Every phase is bounded by a count and a time
//! limit. It is not part of the test suite: without cargo's `--bench` flag (as under `cargo
//! test --all-targets`) it exits at once.

mod board;
// Shared with benches/api, which uses the parts this bench does not.
#[allow(dead_code)]
#[path = "../api/bramble_server.rs"]
mod bramble_server;
mod idle_memory;
#[allow(dead_code)]
#[path = "../api/load.rs"]
mod load;
#[allow(dead_code)]
#[path = "../api/machine.rs"]
mod machine;
// Shared with benches/services, which reads the Ready condition this bench does not.
#[allow(dead_code)]
mod pod_watch;
mod pods;
// Shared with the end-to-end tests, which use the parts this bench does not.
#[allow(dead_code)]
#[path = "../../tests/support/registry.rs"]
mod registry;
mod report;
mod runc_baseline;
#[path = "../api/runner.rs"]
mod runner;
mod startup;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::board::{Images, BRIDGE};
use crate::report::Report;

/// Pods timed per runtime through the API (after the one that pulls the image).
const API_PODS: usize = 20;
/// Pods timed per runtime through `kubectl apply`.
const KUBECTL_PODS: usize = 5;
/// No new pod is started after this long on one runtime.
const STARTUP_LIMIT: Duration = Duration::from_secs(120);
/// Bare runc starts timed.
const BASELINE_RUNS: usize = 20;
/// Bound on the runc baseline.
const BASELINE_LIMIT: Duration = Duration::from_secs(60);
/// Pods running for the second memory reading.
const MEMORY_PODS: usize = 30;
/// The runtimes compared.
const RUNTIMES: [&str; 2] = ["builtin", "runc"];
/// Programs the bench drives.
const TOOLS: [&str; 7] = [
    "docker-registry",
    "skopeo",
    "umoci",
    "runc",
    "ip",
    "nft",
    "kubectl",
];

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("pods benchmark skipped: run it with `{}`", report::COMMAND);
        return ExitCode::SUCCESS;
    }
    if let Err(e) = preflight() {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    runner::run_to_report(run())
}

/// Root, the programs the bench runs, and a free bridge name, checked before anything
/// starts so a missing piece is one line rather than a failure halfway through.
fn preflight() -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the pods benchmark needs root (namespaces, mounts, cgroups): run `sudo -E {}`",
            report::COMMAND
        );
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in TOOLS {
        if !std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()) {
            bail!(
                "`{tool}` is not on PATH: apt-get install docker-registry skopeo umoci \
                 busybox-static runc iproute2 nftables (kubectl v1.32 separately)"
            );
        }
    }
    if !Path::new("/bin/busybox").is_file() {
        bail!("/bin/busybox is missing: apt-get install busybox-static");
    }
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        bail!("bridge {BRIDGE} exists: another pods benchmark is running, or remove it with `ip link del {BRIDGE}`");
    }
    Ok(())
}

/// Runs every phase, then prints the report and writes it to `target/bench/pods-report.md`.
async fn run() -> anyhow::Result<PathBuf> {
    let runner::RunStart {
        load_before,
        started,
        date,
        out_dir,
        scratch,
    } = runner::begin("pods-")?;

    eprintln!("pods: building the test image and starting a registry");
    let images = Images::prepare(&scratch.path().join("images"))?;

    let mut startups = Vec::new();
    for runtime in RUNTIMES {
        eprintln!("pods: start-up on --runtime {runtime}");
        let plan = startup::Plan {
            api_pods: API_PODS,
            kubectl_pods: KUBECTL_PODS,
            time_limit: STARTUP_LIMIT,
        };
        let dir = scratch.path().join(format!("startup-{runtime}"));
        startups.push(startup::measure(&dir, runtime, &images, plan).await);
    }

    eprintln!("pods: bare runc baseline");
    let baseline_dir = scratch.path().join("runc-baseline");
    // Blocking is fine here: nothing else runs while the baseline does.
    let baseline = runc_baseline::measure(&baseline_dir, &images, BASELINE_RUNS, BASELINE_LIMIT);

    eprintln!("pods: memory at rest, 0 and {MEMORY_PODS} pods");
    let memory_dir = scratch.path().join("memory");
    let memory = idle_memory::measure(&memory_dir, RUNTIMES[0], &images, MEMORY_PODS).await;

    let report = Report {
        date,
        machine: machine::describe(),
        load_before,
        filesystem: machine::filesystem(scratch.path()),
        startups,
        baseline,
        memory,
        duration: started.elapsed(),
    };
    let text = report.render();
    print!("{text}");
    let path = out_dir.join("pods-report.md");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
