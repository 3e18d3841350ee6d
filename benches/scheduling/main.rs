//! `cargo bench --bench scheduling`: how fast workloads are placed at scale, measured as
//! kube-scheduler's density tests measure it (pods bound per second over hollow nodes).
//!
//! A fresh `bramble server --no-agent` of this build is given 1,000 hollow Nodes, shaped as
//! kubelets on Raspberry Pis register them, whose Leases a driver renews every 10 s and whose
//! Ready heartbeat it reports every minute, as kubelets do, so the node lifecycle controller
//! keeps them Ready. Then, in phases:
//!
//! 1. once it has settled after the nodes registered, the server idles a minute with the
//!    nodes alone;
//! 2. a Deployment is scaled from 0 to 10,000 replicas: the time until every pod exists and
//!    until every pod is bound, with the server's CPU time and memory;
//! 3. once it has settled, the server idles a minute with those pods: CPU and memory
//!    against phase 1, per 1,000 pods;
//! 4. a second Deployment of 1,000 replicas, whose pods a hollow kubelet ([`kubelet`])
//!    reports Ready, rolls out a new image: the time until `kubectl rollout status` would
//!    say it is done;
//! 5. the scheduler's own pace, apart from how fast pods are made ([`held`]): 10,000 pods
//!    wait for a node label that the nodes then get.
//!
//! The scale-up is followed through one watch of its pods; the held pods with one-item
//! lists (`remainingItemCount`), so following them costs the server little. State lives in a scratch directory under `target/bench`; the report is written to
//! `target/bench/scheduling-report.md` and printed. Every phase is bounded by a deadline. It
//! is not part of the test suite: without cargo's `--bench` flag (as under `cargo test
//! --all-targets`) it exits at once.

mod deployment;
mod driver;
mod held;
mod idle;
mod kubelet;
#[allow(dead_code)]
#[path = "../api/machine.rs"]
mod machine;
// The Node objects of the memory bench (the pods here are different).
#[allow(dead_code)]
#[path = "../memory/objects.rs"]
mod objects;
mod report;
// Shared: this bench reads only the start time and the directories of a run's start.
#[allow(dead_code)]
#[path = "../api/runner.rs"]
mod runner;
#[allow(dead_code)]
#[path = "../memory/server.rs"]
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::client::http::HttpClient;

use crate::report::Report;
use crate::server::Server;

/// Hollow nodes.
const NODES: usize = 1000;
/// Replicas the first Deployment is scaled to, and held pods.
const PODS: usize = 10_000;
/// Replicas of the Deployment that rolls out.
const ROLLING: usize = 1000;
/// How long each idle window lasts (a whole heartbeat period of the hollow nodes).
const IDLE_WINDOW: Duration = Duration::from_secs(60);
/// The longest wait for the server to settle before an idle window.
const SETTLE_LIMIT: Duration = Duration::from_secs(300);
/// How often progress is read.
const POLL: Duration = Duration::from_millis(250);
/// Give up on a phase after this.
const PHASE_LIMIT: Duration = Duration::from_secs(900);
const IMAGE: &str = "docker.io/library/nginx:1.27-alpine";
const NEW_IMAGE: &str = "docker.io/library/nginx:1.28-alpine";

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
    let runner::RunStart {
        started,
        out_dir,
        scratch,
        ..
    } = runner::begin("scheduling-")?;
    let mut report = Report {
        nodes: NODES,
        pods: PODS,
        rolling: ROLLING,
        machine: machine::describe(),
        ..Report::default()
    };

    eprintln!("scheduling: starting bramble server --no-agent");
    // A /24 for each of the 1,000 nodes (the default /16 has 256).
    let (server, client) = Server::start(scratch.path(), &["--cluster-cidr", "10.64.0.0/10"])
        .await
        .context("starting the server")?;

    eprintln!("scheduling: {NODES} hollow nodes");
    let hollow = driver::Hollow::start(client.clone(), NODES).await?;
    report.settle_nodes = idle::settle(&server, SETTLE_LIMIT).await?;
    eprintln!("scheduling: idle with nodes only");
    report.idle_empty = idle::measure(&server, IDLE_WINDOW).await?;

    eprintln!("scheduling: a Deployment scaled from 0 to {PODS}");
    deployment::create(&client, &deployment::manifest("web", 0, IMAGE)).await?;
    let cpu_before = server.cpu_time()?;
    report.scale_up = deployment::scale_up(&client, "web", PODS, PHASE_LIMIT).await?;
    report.scale_cpu = server.cpu_time()?.saturating_sub(cpu_before);
    report.bound = server.memory()?;
    report.per_node = spread(&client).await?;

    report.settle_pods = idle::settle(&server, SETTLE_LIMIT).await?;
    eprintln!("scheduling: idle with {PODS} pods");
    report.idle_full = idle::measure(&server, IDLE_WINDOW).await?;

    eprintln!("scheduling: a rolling update of {ROLLING} replicas");
    let _kubelet = kubelet::HollowKubelet::start(client.clone(), "roll").await?;
    deployment::create(&client, &deployment::manifest("roll", ROLLING, IMAGE)).await?;
    let replicas = u64::try_from(ROLLING)?;
    report.roll_first = deployment::wait_rolled_out(&client, "roll", replicas, PHASE_LIMIT).await?;
    let cpu_before = server.cpu_time()?;
    let t = Instant::now();
    deployment::set_image(&client, "roll", NEW_IMAGE).await?;
    deployment::wait_rolled_out(&client, "roll", replicas, PHASE_LIMIT).await?;
    report.roll_update = t.elapsed();
    report.roll_cpu = server.cpu_time()?.saturating_sub(cpu_before);

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
        if t1.elapsed() > PHASE_LIMIT {
            bail!("{unbound} held pods still unbound after {PHASE_LIMIT:?}");
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

/// How many pods have no node yet.
async fn unbound_pods(client: &HttpClient) -> anyhow::Result<usize> {
    deployment::count(client, "fieldSelector=spec.nodeName%3D").await
}

/// Pods of the scaled Deployment per node once all are bound: (fewest, most, nodes used),
/// from a full list.
async fn spread(client: &HttpClient) -> anyhow::Result<(usize, usize, usize)> {
    let list: serde_json::Value = deployment::get(
        client,
        "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb",
    )
    .await?;
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
