//! `cargo bench --bench edge`: what the edge and HA features cost and how fast they act.
//!
//! 1. Failover: a three-member etcd and three `bramble server`s on it (the second and third
//!    with a copy of the first's `pki`, no kubelets, one hand-made Ready node). The server
//!    leading the scheduler is stopped — SIGKILL, as a board losing power, and SIGTERM, as
//!    systemd stops it — and a pod is created through a survivor at once: the time from the
//!    stop to the pod being bound is the failover time. Each kind is measured three times,
//!    the stopped server started again in between.
//! 2. An idle agent's writes: a server and an agent joined from a network namespace, three
//!    idle pods on the agent; the agent is restarted as a board runs it (default log level,
//!    log discarded) and, once its pods run again, what it writes to storage (`write_bytes`
//!    of `/proc/<pid>/io`, its checkpoint included) is measured over five minutes
//!    (`BRAMBLE_BENCH_IDLE_SECS` to change) and given per hour.
//!
//! Needs root, kubectl and the test suite's packages (etcd-server, docker-registry, skopeo,
//! umoci, busybox-static, runc, iproute2, nftables). The report is written to
//! `target/bench/edge-report.md` and printed. Without cargo's `--bench` flag (as under
//! `cargo test --all-targets`) it exits at once.

mod failover;
mod idle_agent;
#[allow(dead_code)]
#[path = "../api/machine.rs"]
mod machine;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

/// The command that produces the report.
const COMMAND: &str = "sudo -E cargo bench --bench edge";

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("edge benchmark skipped: run it with `{COMMAND}`");
        return ExitCode::SUCCESS;
    }
    let load_before = machine::load_average();
    let started = Instant::now();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();

    eprintln!("edge: failover");
    let failover = failover::run();
    eprintln!("edge: an idle agent's writes");
    let idle = idle_agent::run();

    let mut out = machine::report_opening(
        "Bramble edge and HA benchmark",
        &date,
        &machine::describe(),
        load_before,
    );
    let _ = writeln!(
        out,
        "- Command: `{COMMAND}` (took {:.0} s)\n",
        started.elapsed().as_secs_f64()
    );
    failover.render(&mut out);
    idle.render(&mut out);
    print!("{out}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/edge-report.md");
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&path, out) {
        Ok(()) => {
            eprintln!("report written to {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: writing {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
