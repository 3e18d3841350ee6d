//! `cargo bench --bench api`: how fast Bramble is on this machine, end to end.
//!
//! 1. ConfigMap creates and gets per second through the real HTTPS API of a `bramble server`
//!    started from this build, one request at a time and 32 at once over one HTTP/2
//!    connection; every create is durable before it is answered.
//! 2. Watch delivery latency: from a create's `201 Created` to its `ADDED` event.
//! 3. The same put/get workload against Bramble's `Store` and against etcd, both durable.
//! 4. Phases 1 and 2 again with the server's store on etcd (`--datastore-endpoint`), as
//!    several servers in one cluster run, for the ratio to the server on its own store.
//!
//! Every phase is bounded by a request count and a time limit, so the run stays near two
//! minutes even on a two-core board. State lives in a temporary directory under `target/bench`
//! (on the project's disk, not a tmpfs `/tmp` where fsync costs nothing), and the report is
//! written to `target/bench/api-report.md` and printed. It is not part of the test suite:
//! without cargo's `--bench` flag (as under `cargo test --all-targets`) it exits at once.

mod api_load;
mod bramble_server;
mod churn;
mod etcd;
mod load;
mod machine;
mod report;
mod runner;
mod store_load;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bramble::store::Store;

use crate::bramble_server::BrambleServer;
use crate::etcd::Etcd;
use crate::load::{Plan, Workload};
use crate::report::{EtcdRun, OnEtcd, Report};

/// Payload bytes per object: a small application config, about 1 KiB stored.
const PAYLOAD: usize = 1000;
/// Concurrency of the parallel phases: what a busy controller manager keeps in flight.
const PARALLEL: usize = 32;
/// Creates timed for watch delivery.
const WATCH_CREATES: usize = 1000;
/// The churn workloads: one 1 MB object rewritten 10,000 times, and 1,000 objects of 1 KB
/// rewritten 100 times each.
const CHURNS: [churn::Churn; 2] = [
    churn::Churn {
        objects: 1,
        updates: 10_000,
        bytes: 1 << 20,
    },
    churn::Churn {
        objects: 1000,
        updates: 100_000,
        bytes: 1024,
    },
];
/// Watch history kept by the benchmarked store, as the server keeps.
const WATCH_HISTORY: usize = 4096;

/// Request counts and time limits of the HTTPS API phases.
const API_WORKLOAD: Workload = Workload {
    payload: PAYLOAD,
    write_serial: plan(3000, 1, 10),
    write_parallel: plan(20_000, PARALLEL, 10),
    read_serial: plan(20_000, 1, 5),
    read_parallel: plan(100_000, PARALLEL, 5),
};

/// Request counts and time limits of the store comparison (run once per store).
const STORE_WORKLOAD: Workload = Workload {
    payload: PAYLOAD,
    write_serial: plan(3000, 1, 8),
    write_parallel: plan(20_000, PARALLEL, 8),
    read_serial: plan(20_000, 1, 3),
    read_parallel: plan(100_000, PARALLEL, 3),
};

const fn plan(total: usize, concurrency: usize, seconds: u64) -> Plan {
    Plan {
        total,
        concurrency,
        time_limit: Duration::from_secs(seconds),
    }
}

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("api benchmark skipped: run it with `{}`", report::COMMAND);
        return ExitCode::SUCCESS;
    }
    runner::run_to_report(run())
}

/// Runs every phase, then prints the report and writes it to `target/bench/api-report.md`.
async fn run() -> anyhow::Result<PathBuf> {
    let runner::RunStart {
        load_before,
        started,
        date,
        out_dir,
        scratch,
    } = runner::begin("run-")?;

    eprintln!("api: starting bramble server");
    let server_dir = scratch.path().join("server");
    std::fs::create_dir_all(&server_dir)?;
    let (server, client) = BrambleServer::start(&server_dir).await?;
    eprintln!("api: creates and gets");
    let api = api_load::creates_then_gets(client.clone(), &API_WORKLOAD).await;
    eprintln!("api: watch delivery");
    let watch =
        api_load::watch_latency(client, WATCH_CREATES, PAYLOAD, Duration::from_secs(15)).await;
    let server_memory = machine::memory(server.pid());
    let server_disk = machine::disk_usage(&server.store_dir());
    drop(server);

    eprintln!("api: the server on etcd");
    let on_etcd = api_on_etcd(&scratch.path().join("on-etcd")).await;

    eprintln!("store: bramble");
    let store_dir = scratch.path().join("store");
    let store = Store::open(&store_dir, WATCH_HISTORY).context("opening the bench store")?;
    let written = machine::write_bytes();
    let store_phases = store_load::bramble(store.clone(), &STORE_WORKLOAD).await;
    let store_written = machine::write_bytes().saturating_sub(written);
    drop(store);
    let store_disk = machine::disk_usage(&store_dir);

    let mut churns = Vec::new();
    for (i, workload) in CHURNS.into_iter().enumerate() {
        eprintln!(
            "store: churn, {} updates of {} objects",
            workload.updates, workload.objects
        );
        let dir = scratch.path().join(format!("churn-{i}"));
        churns.push(churn::run(&dir, workload).await.map_err(|e| e.to_string()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    eprintln!("store: etcd");
    let etcd = run_etcd(scratch.path()).await;

    let report = Report {
        date,
        machine: machine::describe(),
        load_before,
        filesystem: machine::filesystem(scratch.path()),
        payload: PAYLOAD,
        value_bytes: api_load::config_map("bench", PAYLOAD).to_string().len(),
        api,
        watch,
        server_memory,
        server_disk,
        store: store_phases,
        store_disk,
        store_written,
        churns,
        etcd,
        on_etcd,
        duration: started.elapsed(),
    };
    let text = report.render();
    print!("{text}");
    let path = out_dir.join("api-report.md");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The HTTPS API and watch phases against a server whose store is a fresh etcd.
async fn api_on_etcd(dir: &Path) -> Result<OnEtcd, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let etcd = Etcd::start(dir).await.map_err(|e| format!("{e:#}"))?;
    let flags = ["--datastore-endpoint".to_string(), etcd.url().to_string()];
    let (server, client) = BrambleServer::start_with(dir, &flags)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let api = api_load::creates_then_gets(client.clone(), &API_WORKLOAD).await;
    let watch =
        api_load::watch_latency(client, WATCH_CREATES, PAYLOAD, Duration::from_secs(15)).await;
    let server_memory = machine::memory(server.pid());
    drop(server);
    drop(etcd);
    Ok(OnEtcd {
        api,
        watch,
        server_memory,
    })
}

/// The store workload against a fresh etcd, or why etcd could not be run.
async fn run_etcd(scratch: &Path) -> Result<EtcdRun, String> {
    let version = etcd_version().ok_or("`etcd --version` failed; is etcd-server installed?")?;
    let etcd = Etcd::start(scratch).await.map_err(|e| format!("{e:#}"))?;
    let written = machine::write_bytes_of(etcd.pid()).unwrap_or(0);
    let phases = store_load::etcd(etcd.client(), &STORE_WORKLOAD).await;
    let written = machine::write_bytes_of(etcd.pid())
        .unwrap_or(0)
        .saturating_sub(written);
    let memory = machine::memory(etcd.pid());
    drop(etcd);
    Ok(EtcdRun {
        version,
        phases,
        written,
        disk: machine::disk_usage(&scratch.join("etcd")),
        memory,
    })
}

fn etcd_version() -> Option<String> {
    let out = std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The first line reads "etcd Version: 3.4.23".
    let number = text
        .lines()
        .next()?
        .trim()
        .strip_prefix("etcd Version:")?
        .trim();
    out.status.success().then(|| format!("etcd {number}"))
}
