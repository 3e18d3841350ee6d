//! `cargo bench --bench apply`: server-side apply against client-side apply, as a user runs
//! them: real kubectl 1.32 applies one file of 1,000 Deployments to a fresh `bramble server
//! --no-agent` of this build, first to create them and then again unchanged, once with
//! `kubectl apply` (client-side: a read and a strategic merge patch per object) and once
//! with `kubectl apply --server-side` (one apply patch per object), each in a namespace of
//! its own. Then the managed fields: the bytes `metadata.managedFields` adds to each stored
//! Deployment after each way, and the server's resident memory.
//!
//! The report is written to `target/bench/apply-report.md` and printed. It is not part of
//! the test suite: without cargo's `--bench` flag (as under `cargo test --all-targets`) it
//! exits at once.

#[allow(dead_code)]
#[path = "../api/bramble_server.rs"]
mod bramble_server;
#[allow(dead_code)]
#[path = "../api/machine.rs"]
mod machine;
#[allow(dead_code)]
#[path = "../api/runner.rs"]
mod runner;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bramble::client::http::HttpClient;
use http::Method;
use serde_json::Value;

use crate::bramble_server::BrambleServer;

/// Deployments applied.
const OBJECTS: usize = 1000;
/// The command that runs this benchmark.
const COMMAND: &str = "cargo bench --bench apply";

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("apply benchmark skipped: run it with `{COMMAND}`");
        return ExitCode::SUCCESS;
    }
    runner::run_to_report(run())
}

/// One way of applying, timed.
struct Way {
    name: &'static str,
    namespace: &'static str,
    flags: &'static [&'static str],
    create: Duration,
    again: Duration,
    managed_bytes: f64,
    object_bytes: f64,
}

async fn run() -> anyhow::Result<PathBuf> {
    let start = runner::begin("apply-")?;
    let dir = start.scratch.path();
    let (server, api) = BrambleServer::start_with(dir, &["--no-agent".to_string()]).await?;
    let kubeconfig = dir.join("data/admin.kubeconfig");
    let rss_start = machine::memory(server.pid()).map(|m| m.rss_kib);
    let mut ways = vec![
        Way {
            name: "client-side (`kubectl apply`)",
            namespace: "csa",
            flags: &[],
            create: Duration::ZERO,
            again: Duration::ZERO,
            managed_bytes: 0.0,
            object_bytes: 0.0,
        },
        Way {
            name: "server-side (`kubectl apply --server-side`)",
            namespace: "ssa",
            flags: &["--server-side"],
            create: Duration::ZERO,
            again: Duration::ZERO,
            managed_bytes: 0.0,
            object_bytes: 0.0,
        },
    ];
    for way in &mut ways {
        let file = dir.join(format!("{}.yaml", way.namespace));
        std::fs::write(&file, manifests(way.namespace)).context("writing the manifests")?;
        way.create = kubectl_apply(&kubeconfig, &file, way.flags)?;
        way.again = kubectl_apply(&kubeconfig, &file, way.flags)?;
        (way.managed_bytes, way.object_bytes) = sizes(&api, way.namespace).await?;
    }
    let rss_end = machine::memory(server.pid()).map(|m| m.rss_kib);
    drop(server);
    let report = report(&start, &ways, rss_start, rss_end);
    let path = start.out_dir.join("apply-report.md");
    std::fs::write(&path, &report).context("writing the report")?;
    println!("{report}");
    Ok(path)
}

/// `OBJECTS` Deployments in `namespace`, preceded by the namespace, as one file.
fn manifests(namespace: &str) -> String {
    let mut out = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n");
    for i in 0..OBJECTS {
        let _ = write!(
            out,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i}\n  namespace: {namespace}\n  labels: {{app: web-{i}, tier: front}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: web-{i}}}}}\n  template:\n    metadata: {{labels: {{app: web-{i}}}}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        ports: [{{containerPort: 80}}]\n        env: [{{name: MODE, value: fast}}]\n        resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}\n"
        );
    }
    out
}

/// Runs kubectl apply on `file` and answers how long it took.
fn kubectl_apply(kubeconfig: &Path, file: &Path, flags: &[&str]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["apply", "-f"])
        .arg(file)
        .args(flags)
        .output()
        .context("running kubectl")?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!(
            "kubectl apply {flags:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

/// Mean bytes of `metadata.managedFields` and of the whole object, as stored (compact
/// JSON), over the Deployments of `namespace`.
async fn sizes(api: &HttpClient, namespace: &str) -> anyhow::Result<(f64, f64)> {
    let path = format!("/apis/apps/v1/namespaces/{namespace}/deployments");
    let reply = api.request(Method::GET, &path, &[], Vec::new()).await?;
    let list = reply.json();
    let items = list["items"].as_array().context("a list of Deployments")?;
    if items.len() != OBJECTS {
        bail!("{} Deployments in {namespace}, not {OBJECTS}", items.len());
    }
    let (mut managed, mut whole) = (0usize, 0usize);
    for item in items {
        let fields = item
            .pointer("/metadata/managedFields")
            .cloned()
            .unwrap_or(Value::Null);
        managed += fields.to_string().len();
        whole += item.to_string().len();
    }
    let n = items.len() as f64;
    Ok((managed as f64 / n, whole as f64 / n))
}

fn report(
    start: &runner::RunStart,
    ways: &[Way],
    rss_start: Option<u64>,
    rss_end: Option<u64>,
) -> String {
    let mut out = machine::report_opening(
        "Server-side apply against client-side apply",
        &start.date,
        &machine::describe(),
        start.load_before,
    );
    let _ = writeln!(
        out,
        "- Command: `{COMMAND}`; kubectl applies one file of {OBJECTS} Deployments\n"
    );
    out.push_str("| Way | Create all | Re-apply unchanged | managedFields per object | Object |\n|---|---|---|---|---|\n");
    for w in ways {
        let _ = writeln!(
            out,
            "| {} | {:.1} s | {:.1} s | {:.0} B | {:.0} B |",
            w.name,
            w.create.as_secs_f64(),
            w.again.as_secs_f64(),
            w.managed_bytes,
            w.object_bytes
        );
    }
    if let [csa, ssa] = ways {
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        let _ = writeln!(
            out,
            "\nClient-side ÷ server-side time: {:.2}× creating, {:.2}× re-applying (above 1: server-side is faster).",
            ratio(csa.create, ssa.create),
            ratio(csa.again, ssa.again)
        );
    }
    if let (Some(a), Some(b)) = (rss_start, rss_end) {
        let _ = writeln!(
            out,
            "\nServer resident memory: {} before, {} after both ({} objects).",
            machine::human_bytes(a * 1024),
            machine::human_bytes(b * 1024),
            2 * OBJECTS
        );
    }
    out
}
