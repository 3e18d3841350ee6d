//! Compaction, as kube-apiserver does it: every interval, etcd is compacted to the revision
//! this server had seen one interval earlier, so watches may resume from anything newer.
//! Several servers compact the same etcd; one finding it already compacted further is fine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

use super::gateway::Gateway;
use super::load::is_compacted;
use crate::store::hub::Hub;

/// Starts compacting every `interval`.
pub(super) fn start(
    gateway: Arc<Gateway>,
    hub: Arc<Mutex<Hub>>,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen: Option<u64> = None;
        loop {
            tokio::time::sleep(interval).await;
            if let Some(revision) = seen.filter(|r| *r > 0) {
                compact(&gateway, revision).await;
            }
            seen = Some(hub.lock().unwrap_or_else(|p| p.into_inner()).revision());
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
