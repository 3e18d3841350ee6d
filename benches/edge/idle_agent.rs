//! What an idle agent writes to storage: its checkpoint, kubelet state and anything else,
//! measured as `write_bytes` of its process over a quiet stretch and given per hour.

use std::fmt::Write as _;
use std::time::Duration;

use crate::machine::{human_bytes, write_bytes_of};
use crate::support::board::IDLE;
use crate::support::joined::{pod_on, TwoBoards, BOARD};
use crate::support::poll_within;

/// Pods left running on the agent.
const PODS: usize = 3;
/// How long the agent settles after its restart before the measurement starts.
const SETTLE: Duration = Duration::from_secs(30);
/// The default measured stretch.
const DEFAULT_SECONDS: u64 = 300;

/// The measurement.
pub struct IdleAgent {
    result: Result<(u64, Duration), String>,
}

fn measured_stretch() -> Duration {
    let secs = std::env::var("BRAMBLE_BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECONDS);
    Duration::from_secs(secs.max(10))
}

/// Polls `f` every 200 ms until it answers or a minute passes.
fn poll<T>(f: impl FnMut() -> Option<T>) -> Option<T> {
    poll_within(Duration::from_secs(60), Duration::from_millis(200), f)
}

/// Sets up the two boards, idles and measures.
pub fn run() -> IdleAgent {
    IdleAgent { result: measure() }
}

fn measure() -> Result<(u64, Duration), String> {
    let mut boards = TwoBoards::start(6, &[("library/busybox", IDLE)], &[]);
    let c = &boards.cluster;
    for i in 0..PODS {
        c.apply(&pod_on(
            &format!("idle-{i}"),
            BOARD,
            "trap 'exit 0' TERM; while true; do sleep 1; done",
        ));
    }
    let running = |c: &crate::support::Cluster| {
        (0..PODS).all(|i| c.pod_jsonpath(&format!("idle-{i}"), "{.status.phase}") == "Running")
    };
    poll(|| running(c).then_some(())).ok_or("the idle pods did not start")?;
    boards.agent.start_quiet(&[]);
    let c = &boards.cluster;
    poll(|| {
        let ready = c.jsonpath(
            &["node", BOARD],
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        );
        (ready == "True" && running(c)).then_some(())
    })
    .ok_or("the restarted agent did not come back Ready with its pods")?;
    std::thread::sleep(SETTLE);
    let pid = boards.agent.pid().ok_or("the agent is not running")?;
    let before = write_bytes_of(pid).ok_or("no I/O accounting for the agent")?;
    let stretch = measured_stretch();
    std::thread::sleep(stretch);
    let after = write_bytes_of(pid).ok_or("the agent stopped during the measurement")?;
    Ok((after.saturating_sub(before), stretch))
}

impl IdleAgent {
    /// The report's section.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## An idle agent's writes\n\nAn agent joined from a network namespace with {PODS} \
             idle pods, restarted as a board runs it (default log level, log discarded): \
             bytes it wrote to storage (`write_bytes`), checkpoint included.\n"
        );
        match &self.result {
            Ok((bytes, stretch)) => {
                let per_hour = (*bytes as f64) * 3600.0 / stretch.as_secs_f64();
                let _ = writeln!(
                    out,
                    "| Measured over | Written | Per hour |\n|---:|---:|---:|\n| {} s | {} | {} |\n",
                    stretch.as_secs(),
                    human_bytes(*bytes),
                    human_bytes(per_hour as u64),
                );
            }
            Err(e) => {
                let _ = writeln!(out, "Not measured: {e}\n");
            }
        }
    }
}
