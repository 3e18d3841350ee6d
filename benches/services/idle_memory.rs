//! Phase 4, what the proxy and cluster DNS add to an idle node: the resident memory of a
//! `bramble server` with its kubelet at rest, started normally and with
//! `--disable-kube-proxy --disable-cluster-dns`, each run on a fresh data directory in a
//! network namespace of its own. The two settings alternate, [`RUNS`] times each.
//!
//! A reading is `VmRSS` of `/proc/PID/status` (as `benches/memory` reads it) once two
//! readings [`SETTLE_STEP`] apart differ by at most [`SETTLE_KIB`], taken from
//! [`WARM_UP`] after the node first reports Ready.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;
use http::{Method, StatusCode};

use crate::board::{BRIDGE, POD_CIDR};
use crate::bramble_server::{BrambleServer, NODE_NAME};
use crate::netns::Netns;

/// Runs per setting.
pub const RUNS: usize = 2;
/// Readings this far apart must agree.
pub const SETTLE_STEP: Duration = Duration::from_secs(1);
/// How close two readings must be (KiB).
pub const SETTLE_KIB: u64 = 64;
/// Time at rest after the node is Ready, before the first reading.
pub const WARM_UP: Duration = Duration::from_secs(10);
/// Take the last reading if memory has not settled by then.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// How long the node may take to report Ready.
const READY_LIMIT: Duration = Duration::from_secs(60);

/// The flags that switch the two off.
pub const DISABLE: [&str; 2] = ["--disable-kube-proxy", "--disable-cluster-dns"];

/// One reading.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// Two readings agreed.
    pub settled: bool,
}

/// The phase's figures.
#[derive(Debug, Default)]
pub struct IdleMemory {
    /// With the proxy and DNS (the default).
    pub with: Vec<Reading>,
    /// Without them.
    pub without: Vec<Reading>,
    /// Why the phase stopped short, if it did.
    pub error: Option<String>,
}

/// Runs the phase under `dir`.
pub fn measure(dir: &Path) -> IdleMemory {
    let mut result = IdleMemory::default();
    for run in 0..RUNS {
        for disabled in [false, true] {
            let tag = format!("m{run}{}", if disabled { "off" } else { "on" });
            let dir = dir.join(&tag);
            let reading = Netns::board(&tag).and_then(|ns| ns.block_on(move || one(dir, disabled)));
            match reading {
                Ok(r) if disabled => result.without.push(r),
                Ok(r) => result.with.push(r),
                Err(e) => {
                    result.error = Some(format!("{tag}: {e:#}"));
                    return result;
                }
            }
        }
    }
    result
}

async fn one(dir: PathBuf, disabled: bool) -> anyhow::Result<Reading> {
    std::fs::create_dir_all(&dir)?;
    let mut flags: Vec<String> = ["--bridge", BRIDGE, "--pod-cidr", POD_CIDR]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if disabled {
        flags.extend(DISABLE.iter().map(|s| s.to_string()));
    }
    let (server, client) = BrambleServer::start_with(&dir, &flags).await?;
    let path = format!("/api/v1/nodes/{NODE_NAME}");
    let start = Instant::now();
    loop {
        if let Ok(reply) = client.request(Method::GET, &path, &[], vec![]).await {
            let node = reply.json();
            let ready = node["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            if reply.status == StatusCode::OK && ready {
                break;
            }
        }
        if start.elapsed() > READY_LIMIT {
            bail!("node {NODE_NAME} not Ready after {READY_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The admin client's connection stays idle; drop it so it holds nothing in the server.
    drop(client);
    tokio::time::sleep(WARM_UP).await;
    let pid = server.pid();
    let rss = || -> anyhow::Result<u64> {
        match crate::machine::memory(pid) {
            Some(m) => Ok(m.rss_kib),
            None => bail!("cannot read /proc/{pid}/status"),
        }
    };
    let settle_start = Instant::now();
    let mut last = rss()?;
    let reading = loop {
        tokio::time::sleep(SETTLE_STEP).await;
        let now = rss()?;
        let settled = now.abs_diff(last) <= SETTLE_KIB;
        if settled || settle_start.elapsed() > SETTLE_LIMIT {
            break Reading {
                rss_kib: now,
                settled,
            };
        }
        last = now;
    };
    drop(server);
    Ok(reading)
}
