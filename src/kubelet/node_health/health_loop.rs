//! The health task: every [`HOUSEKEEPING`] it reads the signals and the board, publishes the
//! conditions (with a Node event when one changes, as upstream's kubelet records
//! `NodeHasInsufficientMemory` and the like), and while a hard threshold is crossed evicts
//! one pod, then waits for its worker to take the eviction (at most [`CLEANUP_WAIT`], as
//! upstream's `waitForPodsCleanup`) before looking again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::assessment::{Assessor, Readings};
use super::thresholds::Pressure;
use super::{board_files, evictor, signals, ConditionState, NodeHealthConfig};
use crate::client::events::EventType;
use crate::client::Client;
use crate::kubelet::agent::NodeContext;

/// Upstream's eviction monitoring period (`evictionMonitoringPeriod`).
pub const HOUSEKEEPING: Duration = Duration::from_secs(10);
/// How long an evicted pod is given to be taken down before the next eviction.
const CLEANUP_WAIT: Duration = Duration::from_secs(30);

const PROC: &str = "/proc";
const SYS: &str = "/sys";
const CGROUP: &str = "/sys/fs/cgroup";

fn read_all(cfg: &NodeHealthConfig, data_dir: &Path, image_dir: &Path) -> Readings {
    let (proc_root, sys_root) = (Path::new(PROC), Path::new(SYS));
    Readings {
        observations: signals::observe(proc_root, Path::new(CGROUP), data_dir, image_dir),
        millicelsius: board_files::read_millicelsius(&cfg.thermal_zone),
        throttled: board_files::read_throttled(&cfg.throttled),
        storage: board_files::read_storage(proc_root, sys_root),
    }
}

/// The Node event for a condition that changed: upstream's reasons for the pressures, the
/// condition's own reason for the board's (a `Warning` when it turns True).
fn transition_event(c: &ConditionState) -> (EventType, &'static str) {
    match Pressure::ALL.iter().find(|p| p.condition_type() == c.type_) {
        Some(p) => (EventType::Normal, p.event_reason(c.active)),
        None if c.active => (EventType::Warning, c.reason),
        None => (EventType::Normal, c.reason),
    }
}

fn record_transitions<C: Client>(
    ctx: &NodeContext<C>,
    old: &[ConditionState],
    new: &[ConditionState],
) {
    for c in new {
        let Some(was) = old.iter().find(|o| o.type_ == c.type_) else {
            continue;
        };
        if was.active == c.active {
            continue;
        }
        tracing::info!(condition = c.type_, active = c.active, reason = c.reason, message = %c.message, "node condition changed");
        let (kind, reason) = transition_event(c);
        let message = format!("Node {} status is now: {reason}", ctx.node);
        ctx.events.record(
            &evictor::node_ref(&ctx.node),
            kind,
            reason,
            reason,
            &message,
        );
    }
}

/// Runs until `shutdown`.
pub async fn run<C: Client>(
    ctx: Arc<NodeContext<C>>,
    cfg: NodeHealthConfig,
    shutdown: CancellationToken,
) {
    let mut assessor = Assessor::new(&cfg);
    let cfg = Arc::new(cfg);
    let data_dir = ctx.data_dir.clone();
    let image_dir: PathBuf = ctx.images.store().root().to_path_buf();
    let mut previous: Vec<ConditionState> = Vec::new();
    let mut tick = tokio::time::interval(HOUSEKEEPING);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let readings = {
            let (cfg, data_dir, image_dir) = (cfg.clone(), data_dir.clone(), image_dir.clone());
            match tokio::task::spawn_blocking(move || read_all(&cfg, &data_dir, &image_dir)).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the node's health failed");
                    continue;
                }
            }
        };
        let now = Instant::now();
        let assessment = assessor.assess(&readings, now);
        record_transitions(&ctx, &previous, &assessment.conditions);
        previous.clone_from(&assessment.conditions);
        ctx.health.set_conditions(assessment.conditions, now);
        let Some((threshold, observed)) = assessment.reclaim else {
            continue;
        };
        if evictor::evict_one(&ctx, threshold, observed).await {
            wait_taken(&ctx, &shutdown).await;
            // look again a full period after the pod went
            tick.reset();
        }
    }
}

/// Waits until the asked pod's worker took its eviction, or [`CLEANUP_WAIT`].
async fn wait_taken<C: Client>(ctx: &NodeContext<C>, shutdown: &CancellationToken) {
    let deadline = Instant::now() + CLEANUP_WAIT;
    while ctx.health.eviction_pending() && Instant::now() < deadline {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
