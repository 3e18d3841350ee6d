//! Compaction, as kube-apiserver does it: every interval, etcd is compacted to the revision
//! this server had seen one interval earlier, so watches may resume from anything newer.
//! Several servers compact the same etcd; one finding it already compacted further is fine.
//! The same task lets the hub's watch history age out while no change arrives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

use super::gateway::Gateway;
use super::load::is_compacted;
use crate::store::hub::Hub;

/// How often the watch history's old changes are let go while no change arrives.
const AGE_STEP: Duration = Duration::from_secs(1);

/// Starts compacting every `interval` (never when it is zero), and aging out the watch
/// history between changes as the sled backend's commit thread does.
pub(super) fn start(
    gateway: Arc<Gateway>,
    hub: Arc<Mutex<Hub>>,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen: Option<u64> = None;
        let mut next = tokio::time::Instant::now() + interval;
        let step = if interval.is_zero() {
            AGE_STEP
        } else {
            AGE_STEP.min(interval)
        };
        loop {
            tokio::time::sleep(step).await;
            let revision = {
                let mut hub = hub.lock().unwrap_or_else(|p| p.into_inner());
                hub.forget_before(std::time::Instant::now());
                hub.revision()
            };
            if interval.is_zero() || tokio::time::Instant::now() < next {
                continue;
            }
            next += interval;
            if let Some(old) = seen.filter(|r| *r > 0) {
                compact(&gateway, old).await;
            }
            seen = Some(revision);
        }
    })
}

/// Compacts etcd to `revision`.
pub(super) async fn compact(gateway: &Gateway, revision: u64) {
    let answer = gateway
        .call::<serde::de::IgnoredAny>(
            "/v3/kv/compaction",
            &json!({"revision": revision.to_string()}),
        )
        .await;
    match answer {
        Ok(_) => tracing::debug!(revision, "compacted etcd"),
        Err(e) if is_compacted(&e) => {
            tracing::debug!(revision, "etcd was already compacted further")
        }
        Err(e) => tracing::warn!(revision, error = %e, "compacting etcd failed"),
    }
}
