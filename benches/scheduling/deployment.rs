//! The Deployment phases: scaling one from 0 to many replicas until every pod exists and is
//! bound, followed through one watch of its pods, and a rolling update of another, read
//! through one GET of the Deployment at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::client::http::HttpClient;
use bramble::client::options::{TypedEvent, WatchOptions};
use bramble::client::{Client, RemoteClient, WatchSource};
use bramble::resources::pod;
use http::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::server::send;

/// How often progress is read.
const POLL: Duration = Duration::from_millis(250);

/// A Deployment of a small web app, `replicas` pods labelled `app=<name>`.
pub fn manifest(name: &str, replicas: usize, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "web", "image": image,
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }]},
            },
        },
    })
}

/// Creates the Deployment.
pub async fn create(client: &HttpClient, manifest: &Value) -> anyhow::Result<()> {
    send(
        client,
        Method::POST,
        "/apis/apps/v1/namespaces/default/deployments",
        "application/json",
        manifest,
    )
    .await
    .map(drop)
}

/// Reads `path` as JSON; fails on any status but 2xx.
pub async fn get<T: DeserializeOwned>(client: &HttpClient, path: &str) -> anyhow::Result<T> {
    let reply = client
        .request(Method::GET, path, &[("accept", "application/json")], vec![])
        .await
        .with_context(|| format!("GET {path}"))?;
    if !reply.status.is_success() {
        bail!("GET {path}: {}", reply.status);
    }
    serde_json::from_slice(&reply.body).with_context(|| format!("GET {path}: reply"))
}

/// How many pods match `query` (a list's query string): one item and the rest counted.
pub async fn count(client: &HttpClient, query: &str) -> anyhow::Result<usize> {
    let path = format!("/api/v1/namespaces/default/pods?limit=1&{query}");
    let list: Value = get(client, &path).await?;
    let items = list["items"].as_array().map_or(0, Vec::len);
    let remaining = list["metadata"]["remainingItemCount"].as_u64().unwrap_or(0);
    Ok(items + usize::try_from(remaining)?)
}

/// What scaling up measured.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScaleUp {
    /// From the scale request until every pod existed.
    pub exist: Duration,
    /// From the scale request until every pod was bound.
    pub bound: Duration,
    /// The most pods seen waiting for a node at one time.
    pub backlog: usize,
}

/// A pod as the scale-up follows it: only its name and node are read from each event.
#[derive(Deserialize)]
struct Placed {
    metadata: PlacedMeta,
    #[serde(default)]
    spec: PlacedSpec,
}

#[derive(Deserialize)]
struct PlacedMeta {
    name: String,
}

/// The pods labelled `label` and whether each is bound, with the list's revision.
async fn list_placed(
    client: &HttpClient,
    label: &str,
) -> anyhow::Result<(HashMap<String, bool>, String)> {
    #[derive(Deserialize)]
    struct ListMeta {
        #[serde(rename = "resourceVersion")]
        resource_version: String,
    }
    #[derive(Deserialize)]
    struct List {
        metadata: ListMeta,
        items: Vec<Placed>,
    }
    let path = format!(
        "/api/v1/namespaces/default/pods?labelSelector={}",
        label.replace('=', "%3D")
    );
    let list: List = get(client, &path).await?;
    let pods = list
        .items
        .into_iter()
        .map(|p| {
            (
                p.metadata.name,
                p.spec.node_name.is_some_and(|n| !n.is_empty()),
            )
        })
        .collect();
    Ok((pods, list.metadata.resource_version))
}

#[derive(Deserialize, Default)]
struct PlacedSpec {
    #[serde(rename = "nodeName", default)]
    node_name: Option<String>,
}

/// Scales Deployment `name` to `replicas` through its scale subresource and waits, until
/// `limit`, for that many pods to exist and be bound. Progress comes from one watch of the
/// Deployment's pods, as upstream's density tests follow theirs with an informer: polling
/// lists would cost the server a scan of every pod each time.
pub async fn scale_up(
    client: &Arc<HttpClient>,
    name: &str,
    replicas: usize,
    limit: Duration,
) -> anyhow::Result<ScaleUp> {
    let label = format!("app={name}");
    let api = RemoteClient::new(client.clone());
    // Each pod, and whether it is bound; the watch starts after the (empty) list.
    let (mut pods, mut revision) = list_placed(client, &label).await?;
    let mut unbound = pods.values().filter(|b| !**b).count();
    let t0 = Instant::now();
    send(
        client,
        Method::PATCH,
        &format!("/apis/apps/v1/namespaces/default/deployments/{name}/scale"),
        "application/merge-patch+json",
        &json!({"spec": {"replicas": replicas}}),
    )
    .await?;
    let mut out = ScaleUp::default();
    let mut last_report = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    'watching: loop {
        let opts = WatchOptions {
            label_selector: label.clone(),
            resource_version: revision.clone(),
            ..Default::default()
        };
        let mut watch = api
            .watch(&pod::RESOURCE, Some("default"), &opts)
            .await
            .context("watching the pods")?;
        loop {
            let event = tokio::time::timeout_at(deadline, watch.next_as::<Placed>())
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{} of {replicas} pods, {unbound} unbound, after {limit:?}",
                        pods.len()
                    )
                })?;
            match event {
                Some(TypedEvent::Added(p) | TypedEvent::Modified(p)) => {
                    let bound = p.spec.node_name.is_some_and(|n| !n.is_empty());
                    let was = pods.insert(p.metadata.name, bound);
                    match (was, bound) {
                        (None | Some(true), false) => unbound += 1,
                        (Some(false), true) => unbound -= 1,
                        _ => {}
                    }
                }
                Some(TypedEvent::Deleted(p)) => {
                    if pods.remove(&p.metadata.name) == Some(false) {
                        unbound -= 1;
                    }
                }
                Some(TypedEvent::Bookmark(_)) => {}
                Some(TypedEvent::Unreadable(e)) => bail!("an unreadable pod in the watch: {e}"),
                // The server ends a watch that fell behind its history, as it may while
                // this process shares the CPU with it: list again and go on, as an
                // informer does.
                Some(TypedEvent::Error(_)) | None => {
                    (pods, revision) = list_placed(client, &label).await?;
                    unbound = pods.values().filter(|b| !**b).count();
                    continue 'watching;
                }
            }
            out.backlog = out.backlog.max(unbound);
            let exist = pods.len();
            if exist >= replicas && out.exist.is_zero() {
                out.exist = t0.elapsed();
            }
            if last_report.elapsed() >= Duration::from_secs(5) {
                eprintln!(
                    "scheduling: {:>5.1}s {exist} pods, {unbound} unbound",
                    t0.elapsed().as_secs_f64()
                );
                last_report = Instant::now();
            }
            if exist >= replicas && unbound == 0 {
                out.bound = t0.elapsed();
                eprintln!(
                    "scheduling: {replicas} pods existed after {:.1}s, were bound after {:.1}s",
                    out.exist.as_secs_f64(),
                    out.bound.as_secs_f64()
                );
                return Ok(out);
            }
        }
    }
}

/// Whether the Deployment's status says its rollout of the current generation is done
/// with `replicas` available pods (what `kubectl rollout status` waits for).
fn rolled_out(d: &Value, replicas: u64) -> bool {
    let s = &d["status"];
    let n = |f: &str| s[f].as_u64().unwrap_or(0);
    s["observedGeneration"].as_i64() >= d["metadata"]["generation"].as_i64()
        && n("updatedReplicas") == replicas
        && n("replicas") == replicas
        && n("availableReplicas") == replicas
}

/// Waits, until `limit`, for Deployment `name` to finish rolling out `replicas` pods;
/// returns how long that took.
pub async fn wait_rolled_out(
    client: &HttpClient,
    name: &str,
    replicas: u64,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let path = format!("/apis/apps/v1/namespaces/default/deployments/{name}");
    let mut last_report = Instant::now();
    loop {
        let d: Value = get(client, &path).await?;
        if rolled_out(&d, replicas) {
            return Ok(t0.elapsed());
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "scheduling: {:>5.1}s rollout: {} updated, {} available",
                t0.elapsed().as_secs_f64(),
                d["status"]["updatedReplicas"],
                d["status"]["availableReplicas"]
            );
            last_report = Instant::now();
        }
        if t0.elapsed() > limit {
            bail!("{name} not rolled out after {limit:?}: {}", d["status"]);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Changes the image of Deployment `name`'s container: a new template, a rolling update.
pub async fn set_image(client: &HttpClient, name: &str, image: &str) -> anyhow::Result<()> {
    send(
        client,
        Method::PATCH,
        &format!("/apis/apps/v1/namespaces/default/deployments/{name}"),
        "application/strategic-merge-patch+json",
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}),
    )
    .await
    .map(drop)
}
