//! `cargo bench --bench services`: what the Service data path and cluster DNS cost.
//!
//! 1. Data path: connections per second and connect latency through a ClusterIP programmed
//!    by the proxy's real ruleset among 1,000 other Services, against the same connections
//!    straight to the endpoint.
//! 2. Ready to traffic: from a pod's Ready condition turning True to the first connection
//!    through its ClusterIP that reaches it, on a real `bramble server` of this build with
//!    its kubelet.
//! 3. DNS: queries per second with 64 UDP queries outstanding, for a cluster name and a cached
//!    external name, from Bramble's DNS module and from dnsmasq.
//! 4. Memory: the resident memory the proxy and DNS add to an idle node (`bramble server`
//!    with and without `--disable-kube-proxy --disable-cluster-dns`).
//!
//! Every phase runs in network namespaces the bench makes and deletes (named
//! `bsvc<pid>-…`), so nothing it programs or binds touches this machine's own network. Needs
//! root and the Debian packages iproute2, procps, dnsmasq-base, docker-registry, skopeo,
//! umoci and busybox-static, plus kubectl. State lives in a scratch directory under
//! `target/bench`; the report is written to `target/bench/services-report.md` and printed.
//! Every phase is bounded by a count and a time limit. It is not part of the test suite:
//! without cargo's `--bench` flag (as under `cargo test --all-targets`) it exits at once.

// Shared with benches/pods, which uses the parts this bench does not.
#[allow(dead_code)]
#[path = "../pods/board.rs"]
mod board;
// Shared with benches/api, which uses the parts this bench does not.
#[allow(dead_code)]
#[path = "../api/bramble_server.rs"]
mod bramble_server;
mod cluster_records;
mod datapath;
mod dns_load;
mod idle_memory;
#[allow(dead_code)]
#[path = "../api/load.rs"]
mod load;
#[allow(dead_code)]
#[path = "../api/machine.rs"]
mod machine;
mod netns;
// Shared with benches/pods, which reads the event fields this bench does not.
#[allow(dead_code)]
#[path = "../pods/pod_watch.rs"]
mod pod_watch;
#[allow(dead_code)]
#[path = "../pods/pods.rs"]
mod pods;
mod ready;
// Shared with benches/api, whose async runner this bench does not use.
#[allow(dead_code)]
#[path = "../api/runner.rs"]
mod runner;
// Shared with the end-to-end tests, which use the parts this bench does not.
#[allow(dead_code)]
#[path = "../../tests/support/registry.rs"]
mod registry;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::report::Report;

/// Programs the bench drives.
const TOOLS: [&str; 7] = [
    "ip",
    "sysctl",
    "dnsmasq",
    "docker-registry",
    "skopeo",
    "umoci",
    "kubectl",
];

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "services benchmark skipped: run it with `{}`",
            report::COMMAND
        );
        return ExitCode::SUCCESS;
    }
    runner::report_outcome(preflight().and_then(|()| run()))
}

/// Root and the programs the bench runs, checked before anything starts.
fn preflight() -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the services benchmark needs root (network namespaces, nftables): run `sudo -E {}`",
            report::COMMAND
        );
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in TOOLS {
        if !std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()) {
            bail!(
                "`{tool}` is not on PATH: apt-get install iproute2 procps dnsmasq-base \
                 docker-registry skopeo umoci busybox-static (kubectl v1.32 separately)"
            );
        }
    }
    if !Path::new("/bin/busybox").is_file() {
        bail!("/bin/busybox is missing: apt-get install busybox-static");
    }
    Ok(())
}

/// Runs every phase, then prints the report and writes it to
/// `target/bench/services-report.md`.
fn run() -> anyhow::Result<PathBuf> {
    let runner::RunStart {
        load_before,
        started,
        date,
        out_dir,
        scratch,
    } = runner::begin("services-")?;

    eprintln!("services: data path through a ClusterIP");
    let datapath = datapath::measure();
    eprintln!("services: cluster DNS against dnsmasq");
    let dns = dns_load::measure();
    eprintln!("services: ready to traffic");
    let ready = ready::measure(&scratch.path().join("ready"));
    eprintln!("services: memory of an idle node with and without the proxy and DNS");
    let memory = idle_memory::measure(&scratch.path().join("memory"));

    let report = Report {
        date,
        machine: machine::describe(),
        load_before,
        datapath,
        ready,
        dns,
        memory,
        duration: started.elapsed(),
    };
    let text = report.render();
    print!("{text}");
    let path = out_dir.join("services-report.md");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
