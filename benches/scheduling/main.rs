//! `cargo bench --bench scheduling`: how fast the scheduler places pods at scale, measured as
//! kube-scheduler's density tests measure it (pods bound per second over hollow nodes).
//!
//! A fresh `bramble server --no-agent` of this build is given 1,000 hollow Nodes, shaped as
//! kubelets on Raspberry Pis register them, whose Leases a driver renews every 10 s and whose
//! Ready heartbeat it reports every minute, as kubelets do, so the node lifecycle controller
//! keeps them Ready; no kubelet runs. Then 10,000 pods with small requests are created in
//! concurrent batches, and the time from the first creation until every pod is bound is
//! taken, with the server's resident memory and CPU time. Creating is what limits that
//! rate on a small machine, so a second phase ([`held`]) times the placing alone: 10,000 more
//! pods wait for a node label that the nodes then get. Progress is read with a one-item
//! list of the still unbound pods (`remainingItemCount`), so watching costs the server little.
//!
//! State lives in a scratch directory under `target/bench`; the report is written to
//! `target/bench/scheduling-report.md` and printed. Every phase is bounded by a deadline. It
//! is not part of the test suite: without cargo's `--bench` flag (as under `cargo test
//! --all-targets`) it exits at once.

mod driver;
mod held;
#[allow(dead_code)]
#[path = "../api/machine.rs"]
mod machine;
// The Node objects of the memory bench (the pods here are different).
#[allow(dead_code)]
#[path = "../memory/objects.rs"]
mod objects;
mod report;
#[path = "../api/runner.rs"]
mod runner;
#[allow(dead_code)]
#[path = "../memory/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::client::http::HttpClient;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use http::Method;
use serde_json::{json, Value};

use crate::report::Report;
use crate::server::Server;

/// Hollow nodes.
const NODES: usize = 1000;
/// Pods to place.
const PODS: usize = 10_000;
/// Pods per creation batch; batches are sent [`CREATE_IN_FLIGHT`] requests at a time.
const BATCH: usize = 1000;
/// Creation requests in flight.
const CREATE_IN_FLIGHT: usize = 32;
/// How often progress is read.
const POLL: Duration = Duration::from_millis(250);
/// Give up if the pods are not all bound by then.
const BIND_LIMIT: Duration = Duration::from_secs(900);

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "scheduling benchmark skipped: run it with `{}`",
            report::COMMAND
        );
        return ExitCode::SUCCESS;
    }
    runner::run_to_report(run())
}

async fn run() -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out_dir).context("creating target/bench")?;
    let scratch = tempfile::Builder::new()
        .prefix("scheduling-")
        .tempdir_in(&out_dir)
        .context("creating a scratch directory")?;
    let mut report = Report {
        nodes: NODES,
        pods: PODS,
        machine: machine::describe(),
        ..Report::default()
    };

    eprintln!("scheduling: starting bramble server --no-agent");
    let (server, client) = Server::start(scratch.path(), &[])
        .await
        .context("starting the server")?;

    eprintln!("scheduling: {NODES} hollow nodes");
    let hollow = driver::Hollow::start(client.clone(), NODES).await?;
    report.idle_rss_kib = server.memory()?.rss_kib;

    eprintln!("scheduling: {PODS} pods");
    let cpu_before = server.cpu_time()?;
    let t0 = Instant::now();
    let creating = tokio::spawn(create_pods(client.clone()));
    let mut progress: Vec<(Duration, usize)> = Vec::new();
    let mut backlog = 0;
    loop {
        tokio::time::sleep(POLL).await;
        let unbound = unbound_pods(&client).await?;
        let created = creating.is_finished();
        let elapsed = t0.elapsed();
        backlog = backlog.max(unbound);
        let report_due = match progress.last() {
            Some((t, _)) => elapsed.saturating_sub(*t) >= Duration::from_secs(5),
            None => true,
        };
        if report_due {
            eprintln!(
                "scheduling: {:>5.1}s {unbound} unbound",
                elapsed.as_secs_f64()
            );
            progress.push((elapsed, unbound));
        }
        if created && unbound == 0 {
            break;
        }
        if elapsed > BIND_LIMIT {
            bail!("{unbound} pods still unbound after {BIND_LIMIT:?}");
        }
    }
    report.create_time = creating.await.context("creating pods")??;
    report.bind_time = t0.elapsed();
    report.backlog = backlog;
    report.cpu = server.cpu_time()?.saturating_sub(cpu_before);
    report.bound = server.memory()?;
    report.per_node = spread(&client).await?;

    eprintln!("scheduling: {PODS} pods held back by a node selector");
    held::create(&client, PODS).await?;
    eprintln!("scheduling: labelling the nodes");
    let cpu_before = server.cpu_time()?;
    let t1 = Instant::now();
    let opening = tokio::spawn(held::open_nodes(client.clone(), NODES));
    loop {
        tokio::time::sleep(POLL).await;
        let unbound = unbound_pods(&client).await?;
        if opening.is_finished() && unbound == 0 {
            break;
        }
        if t1.elapsed() > BIND_LIMIT {
            bail!("{unbound} held pods still unbound after {BIND_LIMIT:?}");
        }
    }
    report.held_open_time = opening.await.context("labelling nodes")??;
    report.held_bind_time = t1.elapsed();
    report.held_cpu = server.cpu_time()?.saturating_sub(cpu_before);
    report.renewals = hollow.stop().await;
    report.duration = started.elapsed();

    let text = report.render();
    println!("{text}");
    let path = out_dir.join("scheduling-report.md");
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A pod as a Deployment of a small web app makes it, not yet bound.
fn pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("web-{i:05}"), "labels": {"app": "web"}},
        "spec": {
            "containers": [{
                "name": "web", "image": "docker.io/library/nginx:1.27-alpine",
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            }],
        },
    })
}

/// Sends `body` (JSON); fails on any status but 2xx.
pub(crate) async fn send(
    client: &HttpClient,
    method: Method,
    path: &str,
    content_type: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let reply = client
        .request(
            method.clone(),
            path,
            &[
                ("content-type", content_type),
                ("accept", "application/json"),
            ],
            serde_json::to_vec(body)?,
        )
        .await
        .with_context(|| format!("{method} {path}"))?;
    if !reply.status.is_success() {
        bail!(
            "{method} {path}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    serde_json::from_slice(&reply.body).with_context(|| format!("{method} {path}: reply"))
}

/// Creates the pods in batches of [`BATCH`], each batch's requests [`CREATE_IN_FLIGHT`] at a
/// time; returns how long it took.
async fn create_pods(client: Arc<HttpClient>) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for batch in 0..PODS.div_ceil(BATCH) {
        let range = batch * BATCH..((batch + 1) * BATCH).min(PODS);
        stream::iter(range)
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
            .buffer_unordered(CREATE_IN_FLIGHT)
            .try_for_each(|_| async { Ok(()) })
            .await?;
    }
    Ok(start.elapsed())
}

/// How many pods have no node yet: a one-item list and its `remainingItemCount`.
async fn unbound_pods(client: &HttpClient) -> anyhow::Result<usize> {
    let reply = client
        .request(
            Method::GET,
            "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3D&limit=1",
            &[("accept", "application/json")],
            vec![],
        )
        .await
        .context("listing unbound pods")?;
    if !reply.status.is_success() {
        bail!("listing unbound pods: {}", reply.status);
    }
    let list: Value = serde_json::from_slice(&reply.body)?;
    let items = list["items"].as_array().map_or(0, Vec::len);
    let remaining = list["metadata"]["remainingItemCount"].as_u64().unwrap_or(0);
    Ok(items + usize::try_from(remaining)?)
}

/// Pods per node once all are bound: (fewest, most, nodes used), from a full list.
async fn spread(client: &HttpClient) -> anyhow::Result<(usize, usize, usize)> {
    let reply = client
        .request(
            Method::GET,
            "/api/v1/namespaces/default/pods",
            &[("accept", "application/json")],
            vec![],
        )
        .await
        .context("listing pods")?;
    let list: Value = serde_json::from_slice(&reply.body)?;
    let mut per_node = std::collections::HashMap::<String, usize>::new();
    for p in list["items"].as_array().into_iter().flatten() {
        let node = p["spec"]["nodeName"].as_str().unwrap_or("");
        if node.is_empty() {
            bail!("pod {} is not bound", p["metadata"]["name"]);
        }
        *per_node.entry(node.to_string()).or_default() += 1;
    }
    let fewest = if per_node.len() < NODES {
        0
    } else {
        per_node.values().copied().min().unwrap_or(0)
    };
    let most = per_node.values().copied().max().unwrap_or(0);
    Ok((fewest, most, per_node.len()))
}
