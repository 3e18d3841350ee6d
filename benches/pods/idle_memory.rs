//! What a board costs in memory at rest: the server's resident set with its own node
//! registered and no pods, then with many sleeping pods all Running, each read once the
//! figure has settled. Each container also has a supervisor process (`bramble runtime shim`)
//! outside the server; their memory is summed separately so the per-pod cost is whole. PSS
//! (from `/proc/PID/smaps_rollup`) is given beside RSS because the supervisors share the
//! `bramble` executable's pages: RSS counts those once per process, PSS splits them.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::board::{Board, Images};
use crate::machine;
use crate::pod_watch::PodWatch;

/// Readings this far apart must agree for memory to count as settled.
pub const SETTLE_STEP: Duration = Duration::from_secs(2);
/// Readings within this fraction of each other agree.
pub const SETTLE_TOLERANCE: f64 = 0.05;
/// Give up waiting for memory to settle after this long and take the last reading.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// How long the idle server's writes are counted: past one unchanged node status report
/// (every 5 minutes). `BRAMBLE_BENCH_IDLE_SECS` overrides it.
const IDLE_WINDOW: Duration = Duration::from_secs(330);
/// How long every pod may take to be Running.
const START_LIMIT: Duration = Duration::from_secs(180);

/// One process's (or a group's) memory, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Resident set size (`VmRSS`).
    pub rss_kib: u64,
    /// Proportional set size, if the kernel reports it.
    pub pss_kib: Option<u64>,
}

/// A settled reading of the server.
#[derive(Debug, Clone, Copy)]
pub struct Settled {
    /// The reading.
    pub usage: Usage,
    /// How long it took to settle (or the limit, if it never did).
    pub after: Duration,
    /// Whether two readings agreed before the limit.
    pub settled: bool,
}

/// What the memory phase measured.
#[derive(Debug, Default)]
pub struct IdleMemory {
    /// The runtime the pods ran on.
    pub runtime: String,
    /// Server with its node registered and no pods.
    pub empty: Option<Settled>,
    /// Bytes the idle server wrote to storage, and over how long.
    pub idle_writes: Option<(u64, Duration)>,
    /// Pods asked for.
    pub pods: usize,
    /// Pods seen Running.
    pub running: usize,
    /// Server with every pod Running.
    pub loaded: Option<Settled>,
    /// Supervisor processes found with every pod Running.
    pub supervisors: usize,
    /// Their memory, summed.
    pub supervisor_usage: Usage,
    /// Why the phase stopped early, if it did.
    pub error: Option<String>,
    /// What the board left behind after shutting down.
    pub leftovers: Vec<String>,
}

/// Starts a board in `dir`, reads its idle memory, runs `pods` pods and reads it again.
pub async fn measure(dir: &Path, runtime: &str, images: &Images, pods: usize) -> IdleMemory {
    let mut result = IdleMemory {
        runtime: runtime.to_string(),
        pods,
        ..IdleMemory::default()
    };
    let mut board = match Board::start(dir, runtime, images).await {
        Ok(b) => b,
        Err(e) => {
            result.error = Some(format!("starting the server: {e:#}"));
            return result;
        }
    };
    if let Err(e) = run(&mut board, &mut result).await {
        result.error = Some(e);
    }
    result.leftovers = board.shut_down().await;
    result
}

async fn run(board: &mut Board, result: &mut IdleMemory) -> Result<(), String> {
    let pid = board.server_pid();
    result.empty = Some(settle(pid).await?);
    result.idle_writes = Some(idle_writes(pid).await?);

    let mut watch = PodWatch::open(&board.client, crate::pods::NAMESPACE)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let names: Vec<String> = (0..result.pods).map(|i| format!("idle-{i}")).collect();
    for name in &names {
        board.create(name).await?;
    }
    let mut running = std::collections::HashSet::new();
    let deadline = Instant::now() + START_LIMIT;
    while running.len() < names.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(event) = watch.until(left, |e| e.running).await else {
            break;
        };
        running.insert(event.name);
    }
    result.running = running.len();
    if running.len() < names.len() {
        return Err(format!(
            "{} of {} pods Running within {START_LIMIT:?}",
            running.len(),
            names.len()
        ));
    }
    result.loaded = Some(settle(pid).await?);
    let supervisors = board.supervisors();
    result.supervisors = supervisors.len();
    for pid in supervisors {
        let usage = usage(pid).unwrap_or_default();
        result.supervisor_usage.rss_kib += usage.rss_kib;
        if let Some(pss) = usage.pss_kib {
            *result.supervisor_usage.pss_kib.get_or_insert(0) += pss;
        }
    }
    Ok(())
}

/// Reads `pid` every [`SETTLE_STEP`] until two readings agree, or [`SETTLE_LIMIT`] passes.
async fn settle(pid: u32) -> Result<Settled, String> {
    let start = Instant::now();
    let read = || usage(pid).ok_or_else(|| format!("process {pid} is gone"));
    let mut last = read()?;
    loop {
        tokio::time::sleep(SETTLE_STEP).await;
        let now = read()?;
        let change = now.rss_kib.abs_diff(last.rss_kib) as f64 / last.rss_kib.max(1) as f64;
        let settled = change < SETTLE_TOLERANCE;
        if settled || start.elapsed() > SETTLE_LIMIT {
            return Ok(Settled {
                usage: now,
                after: start.elapsed(),
                settled,
            });
        }
        last = now;
    }
}

/// What `pid` writes to storage (`write_bytes` of `/proc/PID/io`: its own writes and the
/// syncs it waits for) while nothing happens.
async fn idle_writes(pid: u32) -> Result<(u64, Duration), String> {
    let window = std::env::var("BRAMBLE_BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(IDLE_WINDOW, Duration::from_secs);
    let read = || machine::write_bytes_of(pid).ok_or_else(|| format!("cannot read /proc/{pid}/io"));
    let before = read()?;
    tokio::time::sleep(window).await;
    Ok((read()?.saturating_sub(before), window))
}

/// RSS from `/proc/PID/status` and PSS from `/proc/PID/smaps_rollup`.
fn usage(pid: u32) -> Option<Usage> {
    let rss_kib = machine::memory(pid)?.rss_kib;
    let pss_kib = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
    Some(Usage { rss_kib, pss_kib })
}
