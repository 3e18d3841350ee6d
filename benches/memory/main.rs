//! `cargo bench --bench memory`: what stored objects cost the server in resident memory.
//!
//! A fresh `bramble server --no-agent` of this build (control plane only: store, API,
//! scheduler, controllers) is read at rest, then after 20 Nodes as kubelets register them,
//! then after 1,000 pods as a Deployment makes them (but for the owner reference: the
//! garbage collector removes pods whose ReplicaSet does not exist), bound to those nodes
//! and given a Running status by a merge patch of `pods/status` (as a kubelet reports it).
//! Then the CPU side: a label-selected list of every pod, pod changes fanned out to 20
//! watchers and reads the Node authorizer checks; then the server is read again after a
//! restart on the same data. Nodes are measured apart, on a second fresh server read at
//! rest and with 100 Nodes (memory a busy server freed would hide what they take). Each
//! reading is `VmRSS` (and `RssAnon`) once two readings a second apart agree. Per-object
//! figures are set against the objects' own JSON size.
//!
//! State lives in a scratch directory under `target/bench`; the report is written to
//! `target/bench/memory-report.md` and printed. Every phase is bounded by a count. It is not
//! part of the test suite: without cargo's `--bench` flag (as under `cargo test
//! --all-targets`) it exits at once.

// Shared with benches/api, which uses the parts this bench does not.
#[allow(dead_code)]
#[path = "../api/machine.rs"]
mod machine;
mod objects;
mod report;
// Shared: this bench reads only the start time and the directories of a run's start.
#[allow(dead_code)]
#[path = "../api/runner.rs"]
mod runner;
mod server;
mod timing;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bramble::client::http::HttpClient;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use http::Method;
use serde_json::Value;

use crate::report::{Reading, Report};
use crate::server::Server;

/// Nodes the pods are spread over.
const NODES: usize = 20;
/// Nodes of the second server, for the per-node figure.
const MANY_NODES: usize = 100;
/// Pods stored.
const PODS: usize = 1000;
/// Requests in flight while filling the store (what a busy controller keeps).
const IN_FLIGHT: usize = 16;
/// Readings this far apart must agree for memory to count as settled.
const SETTLE_STEP: Duration = Duration::from_secs(1);
/// How close two readings must be (KiB) to agree.
const SETTLE_KIB: u64 = 128;
/// The watch history's age limit the server runs with: a minute instead of the default five,
/// so the reading after the burst has aged out comes sooner; what is freed is the same.
const HISTORY_AGE: Duration = Duration::from_secs(60);
/// Take the last reading if memory has not settled after this long.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "memory benchmark skipped: run it with `{}`",
            report::COMMAND
        );
        return ExitCode::SUCCESS;
    }
    runner::run_to_report(run())
}

async fn run() -> anyhow::Result<PathBuf> {
    let runner::RunStart {
        started,
        out_dir,
        scratch,
        ..
    } = runner::begin("memory-")?;
    let mut report = Report::new(NODES, MANY_NODES, PODS);

    eprintln!("memory: starting bramble server --no-agent");
    // Nodes without a kubelet would go NotReady after the grace period and be tainted midway;
    // a long grace keeps every reading about the same objects.
    let age = format!("{}s", HISTORY_AGE.as_secs());
    let flags = [
        "--node-monitor-grace-period",
        "1h",
        "--watch-history-age",
        age.as_str(),
    ];
    report.history_age = HISTORY_AGE;
    let first = scratch.path().join("pods");
    std::fs::create_dir_all(&first)?;
    let (server, client) = Server::start(&first, &flags)
        .await
        .context("starting the server")?;
    report.idle = settle(&server).await?;

    eprintln!("memory: {NODES} nodes");
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    // Heartbeats older than the join endpoint's 40 s, so a board may join as one of these
    // nodes (the node authorization timing), and within the long grace period.
    let heartbeat = (chrono::Utc::now() - chrono::Duration::minutes(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    report.node_json = create_nodes(&client, 0..NODES, &heartbeat).await?;
    report.nodes = settle(&server).await?;

    eprintln!("memory: {PODS} pods");
    let cpu_before = server.cpu_time()?;
    let fill = Instant::now();
    report.pod_json_created = create_pods(&client).await?;
    report.pod_json = run_pods(&client, &now).await?;
    report.fill_time = fill.elapsed();
    report.fill_cpu = server.cpu_time()?.saturating_sub(cpu_before);
    report.pods = settle(&server).await?;

    eprintln!("memory: list and watch timings");
    report.timings = timing::measure(&client, &server, PODS).await?;
    report.after_timings = settle(&server).await?;
    eprintln!("memory: waiting for the changes to age out of the watch history");
    tokio::time::sleep(HISTORY_AGE + SETTLE_STEP * 2).await;
    report.aged = settle(&server).await?;
    drop(server);

    // Started again on the same data: the objects as loaded, without the watch history,
    // the store's write buffers or what the writes left the allocator holding.
    eprintln!("memory: restarting on the same data");
    let (server, _client) = Server::start(&first, &flags)
        .await
        .context("restarting the server")?;
    report.restarted = settle(&server).await?;
    drop(server);

    eprintln!("memory: {MANY_NODES} nodes on a fresh server");
    let second = scratch.path().join("nodes");
    std::fs::create_dir_all(&second)?;
    let (server, client) = Server::start(&second, &flags)
        .await
        .context("starting the second server")?;
    report.nodes_idle = settle(&server).await?;
    report.many_node_json = create_nodes(&client, 0..MANY_NODES, &heartbeat).await?;
    report.many_nodes = settle(&server).await?;
    drop(server);

    report.duration = started.elapsed();
    let text = report.render();
    println!("{text}");
    let path = out_dir.join("memory-report.md");
    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Reads the server's memory once two readings [`SETTLE_STEP`] apart agree.
async fn settle(server: &Server) -> anyhow::Result<Reading> {
    let start = Instant::now();
    let mut last = server.memory()?;
    loop {
        tokio::time::sleep(SETTLE_STEP).await;
        let now = server.memory()?;
        let settled = now.rss_kib.abs_diff(last.rss_kib) <= SETTLE_KIB;
        if settled || start.elapsed() > SETTLE_LIMIT {
            return Ok(Reading { settled, ..now });
        }
        last = now;
    }
}

/// The object's size as the server stores it: compact JSON.
fn json_size(obj: &Value) -> usize {
    serde_json::to_vec(obj).map_or(0, |v| v.len())
}

/// Creates nodes `range`; returns their JSON bytes as stored.
async fn create_nodes(
    client: &Arc<HttpClient>,
    range: std::ops::Range<usize>,
    now: &str,
) -> anyhow::Result<usize> {
    let sizes: Vec<usize> = stream::iter(range)
        .map(|i| {
            let client = client.clone();
            let node = objects::node(i, now);
            async move {
                let stored = server::send(
                    &client,
                    Method::POST,
                    "/api/v1/nodes",
                    "application/json",
                    &node,
                )
                .await?;
                anyhow::Ok(json_size(&stored))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(sizes.iter().sum())
}

/// Creates the pods, each bound to a node; returns their JSON bytes as stored.
async fn create_pods(client: &Arc<HttpClient>) -> anyhow::Result<usize> {
    let sizes: Vec<usize> = stream::iter(0..PODS)
        .map(|i| {
            let client = client.clone();
            let pod = objects::pod(i, &objects::node_name(i % NODES));
            async move {
                let stored = server::send(
                    &client,
                    Method::POST,
                    "/api/v1/namespaces/default/pods",
                    "application/json",
                    &pod,
                )
                .await?;
                anyhow::Ok(json_size(&stored))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(sizes.iter().sum())
}

/// Reports every pod Running, as its kubelet would; returns their JSON bytes as stored.
async fn run_pods(client: &Arc<HttpClient>, now: &str) -> anyhow::Result<usize> {
    let sizes: Vec<usize> = stream::iter(0..PODS)
        .map(|i| {
            let client = client.clone();
            let status = objects::running_status(i, i % NODES, now);
            let path = format!(
                "/api/v1/namespaces/default/pods/{}/status",
                objects::pod_name(i)
            );
            async move {
                let stored = server::send(
                    &client,
                    Method::PATCH,
                    &path,
                    "application/merge-patch+json",
                    &status,
                )
                .await?;
                anyhow::Ok(json_size(&stored))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(sizes.iter().sum())
}
