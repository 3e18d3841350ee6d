//! The CPU side of holding objects compactly: what a label-selected list of every pod takes
//! (as JSON and as the Table `kubectl get pods` asks for), and how long pod changes take to
//! reach 20 watchers — all watching the Deployment's label, or each its node's pods by
//! `spec.nodeName` as kubelets do — and what the Node authorizer takes to let a kubelet read
//! a config map (its pods are found among the namespace's), with the server CPU time each
//! phase used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::agent::credentials;
use bramble::client::http::HttpClient;
use bramble::pki::join_token::{JoinToken, JOIN_TOKEN_FILE};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::objects;
use crate::server::Server;

/// Times each list is repeated; the median is reported.
const LIST_RUNS: usize = 10;
/// Watchers of each fan-out phase (one per node in the kubelet-style phase).
const WATCHERS: usize = 20;
/// Changes made while they watch, one pod each, one after another (pods are spread over
/// the nodes in turn, so each node's watcher sees `CHANGES / WATCHERS`).
const CHANGES: usize = 40;
/// The fan-out phase fails after this long.
const FAN_OUT_LIMIT: Duration = Duration::from_secs(60);
/// Node-authorized reads timed; the median is reported.
const NODE_READS: usize = 20;
/// The node the kubelet-style reads come from.
const READER: usize = 19;

/// What the timing phases measured.
#[derive(Debug, Default)]
pub struct Timings {
    /// Median time of a label-selected JSON list of every pod.
    pub list_json: Duration,
    /// Median time of the same list as a Table.
    pub list_table: Duration,
    /// Server CPU time per list (both kinds together, averaged).
    pub list_cpu: Duration,
    /// From the first change to every label watcher having seen every change.
    pub fan_out: Duration,
    /// Server CPU time of the label fan-out phase.
    pub fan_out_cpu: Duration,
    /// From the first change to every node's watcher having seen its pods' changes.
    pub fan_out_nodes: Duration,
    /// Server CPU time of the node fan-out phase.
    pub fan_out_nodes_cpu: Duration,
    /// A node's read of a config map its pods reference (median).
    pub node_read_allowed: Duration,
    /// A node's read of a config map none of its pods reference, refused (median).
    pub node_read_refused: Duration,
}

/// Runs the list and watch phases against the server holding `pods` pods.
pub async fn measure(
    client: &Arc<HttpClient>,
    server: &Server,
    pods: usize,
) -> anyhow::Result<Timings> {
    let mut t = Timings::default();
    let cpu = server.cpu_time()?;
    t.list_json = median_list(client, "application/json", pods).await?;
    t.list_table = median_list(
        client,
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        pods,
    )
    .await?;
    t.list_cpu = server.cpu_time()?.saturating_sub(cpu) / (2 * LIST_RUNS as u32);

    let cpu = server.cpu_time()?;
    t.fan_out = fan_out(client, Selector::Label, "a").await?;
    t.fan_out_cpu = server.cpu_time()?.saturating_sub(cpu);
    let cpu = server.cpu_time()?;
    t.fan_out_nodes = fan_out(client, Selector::Node, "b").await?;
    t.fan_out_nodes_cpu = server.cpu_time()?.saturating_sub(cpu);
    let kubelet = join(server, &objects::node_name(READER)).await?;
    // Referenced by the node's pods: allowed, answered 404 (it does not exist).
    t.node_read_allowed = median_read(&kubelet, "web-nginx", StatusCode::NOT_FOUND).await?;
    // Referenced by no pod: every pod of the namespace is looked at, then 403.
    t.node_read_refused = median_read(&kubelet, "unrelated", StatusCode::FORBIDDEN).await?;
    Ok(t)
}

/// Joins the server as `node` with its join token; a client with the node's credentials.
async fn join(server: &Server, node: &str) -> anyhow::Result<Arc<HttpClient>> {
    let token = std::fs::read_to_string(server.data_dir().join(JOIN_TOKEN_FILE))
        .context("reading the join token")?;
    let token = JoinToken::parse(token.trim()).context("parsing the join token")?;
    let dir = server.data_dir().join(format!("board-{node}"));
    let kubeconfig = credentials::obtain(
        &[server.url().to_string()],
        Some(&token),
        &dir,
        node,
        &CancellationToken::new(),
    )
    .await
    .context("joining as a node")?;
    Ok(HttpClient::new(&kubeconfig)?)
}

/// The median time of a node's GET of config map `name`, which must answer `want`.
async fn median_read(
    kubelet: &HttpClient,
    name: &str,
    want: StatusCode,
) -> anyhow::Result<Duration> {
    let path = format!("/api/v1/namespaces/default/configmaps/{name}");
    let mut times = Vec::with_capacity(NODE_READS);
    for _ in 0..NODE_READS {
        let start = Instant::now();
        let reply = kubelet.request(Method::GET, &path, &[], vec![]).await?;
        times.push(start.elapsed());
        if reply.status != want {
            bail!("GET {path} as a node: {}, not {want}", reply.status);
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// What the fan-out watchers select on.
#[derive(Clone, Copy)]
enum Selector {
    /// Every watcher: the Deployment's label; each sees every change.
    Label,
    /// Watcher `k`: `spec.nodeName` of node `k`; each sees its node's changes.
    Node,
}

async fn median_list(client: &HttpClient, accept: &str, pods: usize) -> anyhow::Result<Duration> {
    let path = "/api/v1/pods?labelSelector=app%3Dweb%2Ctier%3Dfrontend";
    let mut times = Vec::with_capacity(LIST_RUNS);
    for _ in 0..LIST_RUNS {
        let start = Instant::now();
        let reply = client
            .request(Method::GET, path, &[("accept", accept)], vec![])
            .await
            .context("listing pods")?;
        times.push(start.elapsed());
        if !reply.status.is_success() {
            bail!("listing pods: {}", reply.status);
        }
        let list: serde_json::Value = serde_json::from_slice(&reply.body)?;
        let count = list["items"]
            .as_array()
            .or_else(|| list["rows"].as_array())
            .map_or(0, Vec::len);
        if count != pods {
            bail!("the list held {count} pods, not {pods}");
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Opens the watchers, changes [`CHANGES`] pods one at a time (annotation `bench/touched`
/// set to `round` and the change's number), and waits until every watcher has seen every
/// change it selects.
async fn fan_out(
    client: &Arc<HttpClient>,
    selector: Selector,
    round: &str,
) -> anyhow::Result<Duration> {
    let reply = client
        .request(
            Method::GET,
            "/api/v1/namespaces/default/pods?limit=1",
            &[],
            vec![],
        )
        .await?;
    let list: serde_json::Value = serde_json::from_slice(&reply.body)?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .context("list without resourceVersion")?
        .to_string();
    let mut watchers = Vec::new();
    for k in 0..WATCHERS {
        let (path, expected) = match selector {
            Selector::Label => (
                format!("/api/v1/namespaces/default/pods?watch=1&labelSelector=app%3Dweb&resourceVersion={rv}"),
                CHANGES,
            ),
            Selector::Node => (
                format!(
                    "/api/v1/namespaces/default/pods?watch=1&fieldSelector=spec.nodeName%3D{}&resourceVersion={rv}",
                    objects::node_name(k)
                ),
                (0..CHANGES).filter(|i| i % WATCHERS == k).count(),
            ),
        };
        let resp = client.send(Method::GET, &path, &[], vec![]).await?;
        if !resp.status().is_success() {
            bail!("watch: {}", resp.status());
        }
        let mut body = resp.into_body();
        watchers.push(tokio::spawn(async move {
            let mut lines = 0;
            while lines < expected {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            lines += data.iter().filter(|b| **b == b'\n').count();
                        }
                    }
                    _ => return false,
                }
            }
            true
        }));
    }
    let start = Instant::now();
    for i in 0..CHANGES {
        let path = format!("/api/v1/namespaces/default/pods/{}", objects::pod_name(i));
        let patch = json!({"metadata": {"annotations": {"bench/touched": format!("{round}{i}")}}});
        let reply = client
            .request(
                Method::PATCH,
                &path,
                &[("content-type", "application/merge-patch+json")],
                serde_json::to_vec(&patch)?,
            )
            .await?;
        if !reply.status.is_success() {
            bail!("PATCH {path}: {}", reply.status);
        }
    }
    for w in watchers {
        let done = tokio::time::timeout(FAN_OUT_LIMIT, w)
            .await
            .context("watchers did not see every change in time")??;
        if !done {
            bail!("a watch ended before it saw every change");
        }
    }
    Ok(start.elapsed())
}
