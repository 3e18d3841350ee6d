//! The scheduler's own pace, apart from how fast the API takes pods: pods whose node
//! selector no node matches yet are created and wait unschedulable; then every node is
//! given the label in one sweep, each label a change that moves the waiting pods back to be
//! placed, as kube-scheduler's queue does. The clock runs from the first label until the
//! last pod is bound, so it holds the sweep (a few seconds) and the placing, not the
//! creating.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bramble::client::http::HttpClient;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use http::Method;
use serde_json::{json, Value};

use crate::objects;
use crate::server::send;

/// The label the held pods select and the sweep adds.
const LABEL: &str = "bench.bramble.dev/open";
/// Requests in flight.
const IN_FLIGHT: usize = 32;

/// Held pod `i`: as the others, but for nodes with [`LABEL`].
fn pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("held-{i:05}"), "labels": {"app": "held"}},
        "spec": {
            "nodeSelector": {LABEL: "yes"},
            "containers": [{
                "name": "web", "image": "docker.io/library/nginx:1.27-alpine",
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            }],
        },
    })
}

/// Creates `count` held pods.
pub async fn create(client: &Arc<HttpClient>, count: usize) -> anyhow::Result<()> {
    stream::iter(0..count)
        .map(|i| {
            let client = client.clone();
            async move {
                send(
                    &client,
                    Method::POST,
                    "/api/v1/namespaces/default/pods",
                    "application/json",
                    &pod(i),
                )
                .await
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// Labels nodes `0..count`; returns how long the sweep took.
pub async fn open_nodes(client: Arc<HttpClient>, count: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    stream::iter(0..count)
        .map(|i| {
            let client = client.clone();
            async move {
                send(
                    &client,
                    Method::PATCH,
                    &format!("/api/v1/nodes/{}", objects::node_name(i)),
                    "application/merge-patch+json",
                    &json!({"metadata": {"labels": {LABEL: "yes"}}}),
                )
                .await
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(start.elapsed())
}
