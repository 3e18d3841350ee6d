//! Phase 2, ready to traffic: how long from a pod's Ready condition turning True (the first
//! watch event that shows it) to the first connection through its Service's ClusterIP that
//! reaches it.
//!
//! A real `bramble server` of this build with its kubelet (the pods bench's board: local
//! registry, busybox image) runs in a network namespace of the bench's own, so its proxy
//! table and its DNS listener on the kube-dns address never touch this machine's. One pod
//! serves HTTP (`busybox httpd`) behind a Service and is Ready while `/tmp/ready` exists
//! (`readinessProbe: cat /tmp/ready`, every second). Each round makes it Ready with
//! `kubectl exec`, notes when the watch shows Ready, and meanwhile tries the ClusterIP from
//! the node's namespace every few milliseconds until an HTTP answer comes back through it;
//! then removes the file and waits until the watch shows the pod unready and the ClusterIP
//! refuses again.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use http::Method;
use serde_json::json;

use crate::board::{Board, Images};
use crate::netns::Netns;
use crate::pod_watch::PodWatch;

/// Rounds timed.
pub const ROUNDS: usize = 5;
/// Bound on one round (Ready, traffic, unready, refused).
const ROUND_LIMIT: Duration = Duration::from_secs(60);
/// Bound on the pod's first start (pulling the image included).
const START_LIMIT: Duration = Duration::from_secs(120);
/// Pause between two connection attempts.
const POLL: Duration = Duration::from_millis(2);

const POD: &str = "ready-web";
const SERVICE: &str = "ready-web";
const TARGET_PORT: u16 = 8080;

/// The phase's figures.
#[derive(Debug, Default)]
pub struct Ready {
    /// Ready event to first connection through the ClusterIP, per round, in ms (negative if
    /// the connection came first).
    pub rounds_ms: Vec<f64>,
    /// Ready event to the Service refusing again after the pod turned unready, in ms.
    pub unready_ms: Vec<f64>,
    /// What the board left behind.
    pub leftovers: Vec<String>,
    /// Why the phase stopped short, if it did.
    pub error: Option<String>,
}

/// Runs the phase in a namespace of its own, under `dir`.
pub fn measure(dir: &Path) -> Ready {
    let dir = dir.to_path_buf();
    let outcome = Netns::board("rdy").and_then(|ns| ns.block_on(move || run(dir)));
    match outcome {
        Ok(r) => r,
        Err(e) => Ready {
            error: Some(format!("{e:#}")),
            ..Ready::default()
        },
    }
}

async fn run(dir: PathBuf) -> anyhow::Result<Ready> {
    std::fs::create_dir_all(&dir)?;
    let images = Images::prepare(&dir.join("images"))?;
    let mut board = Board::start(&dir.join("board"), "builtin", &images).await?;
    let mut result = Ready::default();
    if let Err(e) = rounds(&mut board, &mut result).await {
        result.error = Some(format!("{e:#}"));
    }
    result.leftovers = board.shut_down().await;
    Ok(result)
}

async fn rounds(board: &mut Board, result: &mut Ready) -> anyhow::Result<()> {
    let mut watch = PodWatch::open(&board.client, "default").await?;
    let cluster_ip = create_service(board).await?;
    let service = SocketAddr::from((cluster_ip, 80));
    create_pod(board).await?;
    watch
        .until(START_LIMIT, |e| e.name == POD && e.running && !e.ready)
        .await
        .context("the pod did not start")?;
    let kubeconfig = board.kubeconfig();
    for _ in 0..ROUNDS {
        exec(&kubeconfig, &["/bin/sh", "-c", ": > /tmp/ready"])?;
        let poller = tokio::task::spawn_blocking(move || first_reply(service, ROUND_LIMIT));
        let ready = watch
            .until(ROUND_LIMIT, |e| e.name == POD && e.ready)
            .await
            .context("the pod did not turn Ready")?;
        let reached = poller.await.context("the poller")??;
        result.rounds_ms.push(signed_ms(reached, ready.at));

        exec(&kubeconfig, &["/bin/busybox", "rm", "-f", "/tmp/ready"])?;
        let unready = watch
            .until(ROUND_LIMIT, |e| e.name == POD && !e.ready)
            .await
            .context("the pod did not turn unready")?;
        let refused = tokio::task::spawn_blocking(move || first_refusal(service, ROUND_LIMIT))
            .await
            .context("the poller")??;
        result.unready_ms.push(signed_ms(refused, unready.at));
    }
    Ok(())
}

fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1000.0,
        None => -(earlier.duration_since(later).as_secs_f64() * 1000.0),
    }
}

async fn create_service(board: &Board) -> anyhow::Result<std::net::Ipv4Addr> {
    let body = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE},
        "spec": {
            "selector": {"app": POD},
            "ports": [{"port": 80, "targetPort": TARGET_PORT, "protocol": "TCP"}],
        },
    });
    let reply = board
        .client
        .request(
            Method::POST,
            "/api/v1/namespaces/default/services",
            &[("content-type", "application/json")],
            serde_json::to_vec(&body)?,
        )
        .await
        .context("creating the Service")?;
    if !reply.status.is_success() {
        bail!("creating the Service answered {}", reply.status);
    }
    reply.json()["spec"]["clusterIP"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .context("the Service has no cluster IP")
}

async fn create_pod(board: &Board) -> anyhow::Result<()> {
    let port = TARGET_PORT.to_string();
    let body = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "labels": {"app": POD}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "web",
                "image": "bench",
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/httpd", "-f", "-p", port, "-h", "/tmp"],
                "ports": [{"containerPort": TARGET_PORT}],
                "readinessProbe": {
                    "exec": {"command": ["/bin/cat", "/tmp/ready"]},
                    "periodSeconds": 1,
                    "failureThreshold": 1,
                    "successThreshold": 1,
                },
            }],
        },
    });
    let reply = board
        .client
        .request(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            &[("content-type", "application/json")],
            serde_json::to_vec(&body)?,
        )
        .await
        .context("creating the pod")?;
    if !reply.status.is_success() {
        bail!(
            "creating the pod answered {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    Ok(())
}

/// `kubectl exec` in the pod.
fn exec(kubeconfig: &Path, command: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["exec", POD, "--"])
        .args(command)
        .output()
        .context("running kubectl exec")?;
    if !out.status.success() {
        bail!(
            "kubectl exec {}: {}",
            command.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// When a connection through `service` was made, if an HTTP request on it got an HTTP
/// answer (from the pod's httpd).
fn reaches_pod(service: SocketAddr) -> Option<Instant> {
    let mut stream = TcpStream::connect_timeout(&service, Duration::from_millis(200)).ok()?;
    let connected = Instant::now();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).ok()?;
    (&head == b"HTTP/").then_some(connected)
}

/// When a connection through `service` first reached the pod (the moment it connected).
fn first_reply(service: SocketAddr, limit: Duration) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(at) = reaches_pod(service) {
            return Ok(at);
        }
        std::thread::sleep(POLL);
    }
    bail!("no connection through {service} reached the pod in {limit:?}")
}

/// When connecting to `service` first failed.
fn first_refusal(service: SocketAddr, limit: Duration) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let at = Instant::now();
        if TcpStream::connect_timeout(&service, Duration::from_millis(200)).is_err() {
            return Ok(at);
        }
        std::thread::sleep(POLL);
    }
    bail!("{service} still took connections {limit:?} after the pod turned unready")
}
