//! Eviction of a pod whose disk-backed emptyDir outgrew its `sizeLimit`, as upstream's
//! eviction manager does (`localStorageEviction` → `emptyDirLimitEviction`), or that the
//! node's eviction manager (`kubelet/node_health`) chose to reclaim a crossed threshold: a
//! `Warning` event `Evicted`, the containers killed at once, the pod's status set to phase
//! `Failed` with reason `Evicted`, upstream's message and a `DisruptionTarget` condition, and
//! its volumes released. The pod object stays until someone deletes it, as upstream.
//!
//! Usage is measured every [`USAGE_CHECK`] per pod that has such a volume (a bounded walk
//! in `kubelet/volume/usage.rs`), not on every resync: a board's SD card is slow.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::events::{self, PodRef};
use super::{typed, Worker};
use crate::client::Client;
use crate::kubelet::agent::NodeContext;
use crate::kubelet::pod_status::api_time;

/// How often emptyDir usage is measured (upstream's housekeeping interval is 10 s).
pub(super) const USAGE_CHECK: Duration = Duration::from_secs(10);
/// Upstream's `eviction.Reason`.
const REASON: &str = "Evicted";
/// Grace period of an eviction for a local storage limit (upstream
/// `immediateEvictionGracePeriodSeconds`).
const IMMEDIATE_GRACE_SECONDS: u64 = 1;

/// Whether the API already shows the pod as evicted (e.g. before a kubelet restart).
fn already_evicted(p: &Value) -> Option<String> {
    let status = p.get("status")?;
    (status["phase"] == "Failed" && status["reason"] == REASON)
        .then(|| status["message"].as_str().unwrap_or_default().to_string())
}

impl Worker {
    /// Whether the pod is evicted (nothing more may run): carries out an eviction the node's
    /// eviction manager asked for, checks emptyDir usage when a check is due and evicts the
    /// pod when a volume is over its limit.
    pub(super) async fn evicted<C: Client>(&mut self, ctx: &NodeContext<C>, p: &Value) -> bool {
        if self.eviction.is_some() {
            return true;
        }
        if let Some(message) = already_evicted(p) {
            // A restarted kubelet: make sure nothing of the pod is left running.
            self.terminate_within(ctx, p, IMMEDIATE_GRACE_SECONDS).await;
            self.teardown(ctx).await;
            self.eviction = Some(message);
            return true;
        }
        if let Some(message) = ctx.health.take_eviction(&self.uid) {
            self.evict(ctx, p, message).await;
            return true;
        }
        if self.sandbox.is_none() || Instant::now() < self.next_usage_check {
            return false;
        }
        self.next_usage_check = Instant::now() + USAGE_CHECK;
        let Some(pod) = typed(p) else { return false };
        let vm = ctx.volumes.clone();
        let over = tokio::task::spawn_blocking(move || vm.empty_dir_over_limit(&pod))
            .await
            .ok()
            .flatten();
        let Some(over) = over else { return false };
        // Upstream's emptyDirMessageFmt, trailing space included.
        let message = format!(
            "Usage of EmptyDir volume {:?} exceeds the limit {:?}. ",
            over.volume, over.limit
        );
        tracing::warn!(volume = %over.volume, used = over.used, limit = %over.limit, "evicting pod");
        self.evict(ctx, p, message).await;
        true
    }

    /// Ends the pod as evicted with `message`: the event, its containers killed within
    /// upstream's immediate grace period, the evicted status, its resources released.
    async fn evict<C: Client>(&mut self, ctx: &NodeContext<C>, p: &Value, message: String) {
        events::warning(ctx, &PodRef::of_value(p), REASON, &message);
        self.eviction = Some(message);
        self.terminate_within(ctx, p, IMMEDIATE_GRACE_SECONDS).await;
        self.refresh(ctx).await;
        self.report(ctx, p).await;
        self.teardown(ctx).await;
    }
}

/// Turns a computed status into the evicted one: phase `Failed`, reason `Evicted`, the
/// message, and the `DisruptionTarget` condition upstream adds (`TerminationByKubelet`).
pub(super) fn mark_evicted(status: &mut Value, message: &str) {
    status["phase"] = json!("Failed");
    status["reason"] = json!(REASON);
    status["message"] = json!(message);
    let Some(conditions) = status["conditions"].as_array_mut() else {
        return;
    };
    if !conditions.iter().any(|c| c["type"] == "DisruptionTarget") {
        conditions.push(json!({
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "TerminationByKubelet",
            "message": message,
            "lastTransitionTime": api_time(chrono::Utc::now()),
        }));
    }
}
