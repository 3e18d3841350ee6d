//! Hollow nodes, as kubemark's hollow kubelets: the Node objects are registered Ready, and a
//! driver task does what a kubelet does to stay Ready — renews each node's Lease in
//! `kube-node-lease` every 10 s and reports the Ready heartbeat in the Node's status every
//! minute — without running anything.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bramble::client::http::HttpClient;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use http::Method;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::objects;
use crate::server::send;

/// Lease renewal period (the kubelet's default `nodeLeaseRenewInterval`: a quarter of the
/// 40 s lease duration).
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// Status heartbeat period (a kubelet reports unchanged status at most this often here).
const STATUS_EVERY: Duration = Duration::from_secs(60);
/// Requests in flight while registering and renewing.
const IN_FLIGHT: usize = 16;

/// The registered nodes and their driver.
pub struct Hollow {
    stop: CancellationToken,
    task: JoinHandle<u64>,
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

impl Hollow {
    /// Registers `count` nodes with their Leases and starts renewing them.
    pub async fn start(client: Arc<HttpClient>, count: usize) -> anyhow::Result<Hollow> {
        let heartbeat = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        stream::iter(0..count)
            .map(|i| {
                let client = client.clone();
                let node = objects::node(i, &heartbeat);
                async move {
                    send(
                        &client,
                        Method::POST,
                        "/api/v1/nodes",
                        "application/json",
                        &node,
                    )
                    .await?;
                    let lease = json!({
                        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": objects::node_name(i), "namespace": "kube-node-lease"},
                        "spec": {"holderIdentity": objects::node_name(i),
                                 "leaseDurationSeconds": 40, "renewTime": now()},
                    });
                    send(
                        &client,
                        Method::POST,
                        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                        "application/json",
                        &lease,
                    )
                    .await
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_for_each(|_| async { Ok(()) })
            .await
            .context("registering hollow nodes")?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(drive(client, count, stop.clone()));
        Ok(Hollow { stop, task })
    }

    /// Stops the driver; returns how many renewals and heartbeats it sent.
    pub async fn stop(self) -> u64 {
        self.stop.cancel();
        self.task.await.unwrap_or(0)
    }
}

/// Renews every Lease each [`LEASE_RENEW`] and every Ready heartbeat each [`STATUS_EVERY`].
async fn drive(client: Arc<HttpClient>, count: usize, stop: CancellationToken) -> u64 {
    let mut sent = 0u64;
    let mut lease_tick = tokio::time::interval(LEASE_RENEW);
    let mut status_tick = tokio::time::interval(STATUS_EVERY);
    // Both were just written at registration.
    lease_tick.tick().await;
    status_tick.tick().await;
    loop {
        let status = tokio::select! {
            _ = lease_tick.tick() => false,
            _ = status_tick.tick() => true,
            _ = stop.cancelled() => return sent,
        };
        let renewed: Vec<bool> = stream::iter(0..count)
            .map(|i| {
                let client = client.clone();
                let name = objects::node_name(i);
                async move {
                    let (path, content_type, body) = if status {
                        (
                            format!("/api/v1/nodes/{name}/status"),
                            "application/strategic-merge-patch+json",
                            json!({"status": {"conditions": [{"type": "Ready", "status": "True",
                                "reason": "KubeletReady", "message": "kubelet is posting ready status",
                                "lastHeartbeatTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()}]}}),
                        )
                    } else {
                        (
                            format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"),
                            "application/merge-patch+json",
                            json!({"spec": {"renewTime": now()}}),
                        )
                    };
                    send(&client, Method::PATCH, &path, content_type, &body)
                        .await
                        .is_ok()
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        sent += renewed.iter().filter(|ok| **ok).count() as u64;
    }
}
