//! A hollow kubelet for the pods of one label, as kubemark's: every pod of that label bound
//! to a node is reported Running and Ready at once, and every such pod being deleted is
//! confirmed gone (a delete with no grace period), as a kubelet does once its containers
//! stopped. It reads pods through the library's shared informer (one list and watch), so
//! it costs the server what one more controller would.

use std::sync::Arc;

use anyhow::Context;
use bramble::client::http::HttpClient;
use bramble::client::informer::{key_of, Change, Informer, Informers};
use bramble::client::RemoteClient;
use http::Method;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::server::send;

/// Requests in flight.
const IN_FLIGHT: usize = 32;

/// The running hollow kubelet.
pub struct HollowKubelet {
    stop: CancellationToken,
    /// Owns the informer's task: dropping it would stop the watch.
    _informers: Arc<Informers<RemoteClient>>,
}

impl Drop for HollowKubelet {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The status a kubelet reports once the pod's containers run (a merge patch).
fn running(p: &Pod) -> Value {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let condition = |kind: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now});
    let containers: Vec<Value> = p
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .map(|c| {
            json!({"name": c.name, "image": c.image, "imageID": "", "ready": true,
                   "started": true, "restartCount": 0, "state": {"running": {"startedAt": now}}})
        })
        .collect();
    json!({"status": {
        "phase": "Running",
        "conditions": [condition("Initialized"), condition("Ready"),
                       condition("ContainersReady"), condition("PodScheduled")],
        "startTime": now,
        "containerStatuses": containers,
    }})
}

impl HollowKubelet {
    /// Starts serving the pods labelled `app=<app>`; resolves once the pods are listed.
    pub async fn start(http: Arc<HttpClient>, app: &'static str) -> anyhow::Result<Self> {
        let stop = CancellationToken::new();
        let informers = Informers::new(RemoteClient::new(http.clone()), stop.clone());
        let pods: Informer<Pod> = informers.get::<Pod>().context("a pod informer")?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        pods.on_change(move |c: &Change<Pod>| {
            let p = match c {
                Change::Added(p) | Change::Updated { new: p, .. } => p,
                Change::Deleted(_) => return,
            };
            let ours = p
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str)
                == Some(app);
            if ours {
                let _ = tx.send(key_of(&**p));
            }
        });
        pods.wait_synced().await;
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let done = stop.clone();
        tokio::spawn(async move {
            loop {
                let key = tokio::select! {
                    k = rx.recv() => match k { Some(k) => k, None => return },
                    _ = done.cancelled() => return,
                };
                let Some(p) = pods.get(&key.0, &key.1) else {
                    continue;
                };
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let http = http.clone();
                tokio::spawn(async move {
                    let path = format!("/api/v1/namespaces/{}/pods/{}", key.0, key.1);
                    let bound = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
                    // Failures are retried by the next change of the pod, as a kubelet's
                    // next sync would.
                    let _ = if p.metadata.deletion_timestamp.is_some() {
                        let body = json!({"gracePeriodSeconds": 0});
                        send(&http, Method::DELETE, &path, "application/json", &body).await
                    } else if bound && !is_ready(&p) {
                        let status = format!("{path}/status");
                        send(
                            &http,
                            Method::PATCH,
                            &status,
                            "application/merge-patch+json",
                            &running(&p),
                        )
                        .await
                    } else {
                        Ok(Value::Null)
                    };
                    drop(slot);
                });
            }
        });
        Ok(HollowKubelet {
            stop,
            _informers: informers,
        })
    }
}
