//! A write is acknowledged only after `fdatasync` of the store's log: the real server is
//! traced with strace while a client creates objects, and every `201 Created` must come after
//! a sync of `DATA_DIR/store/db` that started after its request was sent. Concurrent creates
//! share syncs (group commit).

use crate::support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use serde_json::json;
use support::{eventually, Cluster};

/// strace attached to every thread of a running process, recording syncs with wall-clock
/// times (`-ttt`) and durations (`-T`), file descriptors as paths (`-y`).
struct Tracer {
    child: Child,
    out: tempfile::NamedTempFile,
}

impl Tracer {
    fn attach(pid: u32) -> Self {
        let out = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new("strace")
            .args([
                "-f",
                "-y",
                "-ttt",
                "-T",
                "-qq",
                "-e",
                "trace=fdatasync,fsync",
            ])
            .arg("-o")
            .arg(out.path())
            .args(["-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("strace (apt-get install strace)");
        // attached once every thread of the server has a tracer
        eventually("strace to attach to every thread", || {
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
            tasks
                .flatten()
                .all(|t| {
                    std::fs::read_to_string(t.path().join("status"))
                        .map(|s| {
                            s.lines().any(|l| {
                                l.starts_with("TracerPid:") && l.trim_end() != "TracerPid:\t0"
                            })
                        })
                        .unwrap_or(false)
                })
                .then_some(())
        });
        Self { child, out }
    }

    /// Detaches and returns every completed sync of `file` as (start, end) in seconds.
    fn finish(mut self, file: &Path) -> Vec<(f64, f64)> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(self.out.path()).unwrap();
        syncs_of(&text, &file.display().to_string())
    }
}

/// Parses `strace -f -y -ttt -T` lines, joining calls split by other threads' calls.
fn syncs_of(text: &str, file: &str) -> Vec<(f64, f64)> {
    let mut started: HashMap<&str, f64> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(pid), Some(time)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(time) = time.parse::<f64>() else {
            continue;
        };
        let duration = |l: &str| {
            l.rsplit_once('<')
                .and_then(|(_, d)| d.trim_end_matches('>').parse::<f64>().ok())
        };
        if line.ends_with("<unfinished ...>") {
            if line.contains(&format!("<{file}>")) {
                started.insert(pid, time);
            }
        } else if line.contains("resumed>") {
            if let (Some(start), Some(_)) = (started.remove(pid), duration(line)) {
                if line.contains(") = 0 ") {
                    out.push((start, time));
                }
            }
        } else if line.contains(&format!("<{file}>")) && line.contains(") = 0 ") {
            if let Some(d) = duration(line) {
                out.push((time, time + d));
            }
        }
    }
    out
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn config_map(name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"k": "v"}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_create_follows_an_fdatasync_and_concurrent_ones_share_it() {
    let c = Cluster::start();
    let api = c.api();
    let log = c.data_dir().join("store/db");
    let tracer = Tracer::attach(c.pid().unwrap());

    // one at a time: each answer must follow a sync that began after its request was sent
    let mut acked = Vec::new();
    for i in 0..20 {
        let sent = now();
        let r = api
            .request(
                Method::POST,
                "/api/v1/namespaces/default/configmaps",
                &[("content-type", "application/json")],
                config_map(&format!("one-{i}")),
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED);
        acked.push((sent, now()));
    }

    // many at once: all acknowledged, with fewer syncs than writes
    let burst_start = now();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.request(
                Method::POST,
                "/api/v1/namespaces/default/configmaps",
                &[("content-type", "application/json")],
                config_map(&format!("many-{i}")),
            )
            .await
            .map(|r| r.status)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), StatusCode::CREATED);
    }
    let burst_end = now();

    let syncs = tracer.finish(&log);
    for (i, (sent, answered)) in acked.iter().enumerate() {
        assert!(
            syncs
                .iter()
                .any(|(start, end)| start >= sent && end <= answered),
            "create {i} was answered without an fdatasync of {} between its request and its answer; syncs seen: {}",
            log.display(),
            syncs.len()
        );
    }
    let in_burst = syncs
        .iter()
        .filter(|(start, end)| *start >= burst_start && *end <= burst_end)
        .count();
    assert!(
        (1..200).contains(&in_burst),
        "200 concurrent creates took {in_burst} syncs; group commit should share them"
    );
}
