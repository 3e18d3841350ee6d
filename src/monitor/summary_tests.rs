//! The sampler over fake cgroup and proc trees, read back through every endpoint: exact
//! figures out of exact file contents.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use serde_json::Value;

use crate::monitor::endpoints;
use crate::monitor::sampler::{Collector, SamplerConfig};
use crate::monitor::store::NodeStats;
use crate::monitor::{ContainerEntry, PodEntry, VolumeEntry};

const T0: i64 = 1_700_000_000_000;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    5000      50    1    0    0     0          0         0     7000      70    2    0    0     0       0          0
";

/// A v2 host with one pod `default/burn` (uid `u1`) of one container `web`, pid 4242.
struct Host {
    _tmp: tempfile::TempDir,
    cgroup: std::path::PathBuf,
    cfg: SamplerConfig,
    pod: PodEntry,
}

fn host(v1: bool) -> Host {
    let tmp = tempfile::tempdir().unwrap();
    let cgroup = tmp.path().join("cgroup");
    let proc = tmp.path().join("proc");
    let data = tmp.path().join("data");
    if !v1 {
        write(&cgroup, "cgroup.controllers", "cpu memory pids\n");
    }
    write(&proc, "stat", "cpu  1000 0 500 90000 0 0 0 0 0 0\n");
    write(
        &proc,
        "meminfo",
        "MemTotal:        2000000 kB\nMemFree:         1000000 kB\nCached:           300000 kB\n\
         Inactive(file):   200000 kB\nAnonPages:        400000 kB\n",
    );
    write(&proc, "vmstat", "pgfault 10\npgmajfault 1\n");
    write(&proc, "loadavg", "0.00 0.00 0.00 1/321 99\n");
    write(&proc, "sys/kernel/pid_max", "4194304\n");
    write(&proc, "net/dev", &NET_DEV.replace("eth0", "end0"));
    write(&proc, "4242/net/dev", NET_DEV);
    write(
        &data,
        "pods/u1/containers/u1_web_0/upper/tmp/scratch",
        &"x".repeat(64 * 1024),
    );
    write(
        &data,
        "logs/default_burn_u1/web/0.log",
        &"y".repeat(8 * 1024),
    );
    write(
        &data,
        "pods/u1/volumes/kubernetes.io~empty-dir/cache/f",
        &"z".repeat(128 * 1024),
    );
    fs::create_dir_all(data.join("images")).unwrap();
    let pod = PodEntry {
        name: "burn".into(),
        namespace: "default".into(),
        uid: "u1".into(),
        start_time: chrono::Utc.timestamp_millis_opt(T0 - 60_000).unwrap(),
        cgroup: "/bramble/podu1".into(),
        containers: vec![ContainerEntry {
            name: "web".into(),
            id: "u1_web_0".into(),
            image: "busybox:1.36".into(),
            start_time: Some(chrono::Utc.timestamp_millis_opt(T0 - 30_000).unwrap()),
            pid: Some(4242),
            cgroup: "/bramble/podu1/web".into(),
            upper_dir: data.join("pods/u1/containers/u1_web_0/upper"),
            log_dir: data.join("logs/default_burn_u1/web"),
        }],
        volumes: vec![VolumeEntry {
            name: "cache".into(),
            path: data.join("pods/u1/volumes/kubernetes.io~empty-dir/cache"),
            claim: None,
        }],
    };
    let cfg = SamplerConfig {
        node_name: "pi-1".into(),
        images_dir: data.join("images"),
        data_dir: data,
        cgroup_root: cgroup.clone(),
        proc_root: proc,
        bridge: "bramble0".into(),
    };
    Host {
        _tmp: tmp,
        cgroup,
        cfg,
        pod,
    }
}

impl Host {
    /// The cgroup files of `cg` with `cpu_usec` of CPU and 50 MiB in use, 10 MiB inactive.
    fn cgroup_v2(&self, cg: &str, cpu_usec: u64) {
        let root = &self.cgroup;
        write(
            root,
            &format!("{cg}/cpu.stat"),
            &format!("usage_usec {cpu_usec}\n"),
        );
        write(root, &format!("{cg}/memory.current"), "52428800\n");
        write(
            root,
            &format!("{cg}/memory.stat"),
            "anon 31457280\nfile 20971520\ninactive_file 10485760\npgfault 300\npgmajfault 4\n",
        );
        write(root, &format!("{cg}/pids.current"), "2\n");
        if cg.ends_with("/web") {
            write(root, &format!("{cg}/memory.max"), "67108864\n");
        }
    }

    fn cgroup_v1(&self, cg: &str, cpu_ns: u64) {
        let root = &self.cgroup;
        write(
            root,
            &format!("cpu,cpuacct/{cg}/cpuacct.usage"),
            &format!("{cpu_ns}\n"),
        );
        if !root.join("cpuacct").exists() {
            std::os::unix::fs::symlink("cpu,cpuacct", root.join("cpuacct")).unwrap();
        }
        write(
            root,
            &format!("memory/{cg}/memory.usage_in_bytes"),
            "52428800\n",
        );
        write(
            root,
            &format!("memory/{cg}/memory.stat"),
            "total_rss 31457280\ntotal_cache 20971520\ntotal_inactive_file 10485760\n\
             total_pgfault 300\ntotal_pgmajfault 4\n",
        );
        write(root, &format!("pids/{cg}/pids.current"), "2\n");
    }
}

/// Samples at T0 and T0 + 10 s, the pod and container having used 1 s and then 3 s of CPU.
fn sampled(v1: bool) -> (Host, Arc<NodeStats>) {
    let h = host(v1);
    let stats = Arc::new(NodeStats::new(
        Duration::from_secs(10),
        Duration::from_secs(60),
    ));
    stats.inventory().publish(h.pod.clone());
    let mut c = Collector::new(h.cfg.clone());
    let now = Instant::now();
    for (i, cpu_s) in [1u64, 3].into_iter().enumerate() {
        for cg in ["bramble/podu1", "bramble/podu1/web"] {
            if v1 {
                h.cgroup_v1(cg, cpu_s * 1_000_000_000);
            } else {
                h.cgroup_v2(cg, cpu_s * 1_000_000);
            }
        }
        c.sample_at(&stats, now, T0 + i as i64 * 10_000);
    }
    (h, stats)
}

fn summary(stats: &NodeStats, query: &str) -> Value {
    let r = endpoints::get(stats, &format!("/stats/summary{query}")).unwrap();
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (200, "application/json")
    );
    serde_json::from_slice(&r.body).unwrap()
}

fn assert_pod_figures(s: &Value) {
    let pod = &s["pods"][0];
    assert_eq!(
        pod["podRef"],
        serde_json::json!({"name": "burn", "namespace": "default", "uid": "u1"})
    );
    assert_eq!(pod["startTime"], "2023-11-14T22:12:20Z");
    let c = &pod["containers"][0];
    assert_eq!(c["name"], "web");
    assert_eq!(c["startTime"], "2023-11-14T22:12:50Z");
    for cpu in [&c["cpu"], &pod["cpu"]] {
        assert_eq!(cpu["time"], "2023-11-14T22:13:30Z");
        assert_eq!(cpu["usageCoreNanoSeconds"], 3_000_000_000u64);
        // 2 s of CPU in 10 s
        assert_eq!(cpu["usageNanoCores"], 200_000_000u64);
    }
    for mem in [&c["memory"], &pod["memory"]] {
        assert_eq!(mem["usageBytes"], 52_428_800u64);
        assert_eq!(mem["workingSetBytes"], 41_943_040u64);
        assert_eq!(mem["rssBytes"], 31_457_280u64);
        assert_eq!(mem["pageFaults"], 300);
        assert_eq!(mem["majorPageFaults"], 4);
    }
}

#[test]
fn summary_of_a_v2_host() {
    let (_h, stats) = sampled(false);
    let s = summary(&stats, "");
    let node = &s["node"];
    assert_eq!(node["nodeName"], "pi-1");
    // (1000 user + 500 system) jiffies
    assert_eq!(node["cpu"]["usageCoreNanoSeconds"], 15_000_000_000u64);
    assert_eq!(node["cpu"]["usageNanoCores"], 0);
    assert_eq!(node["memory"]["usageBytes"], 1_024_000_000u64);
    assert_eq!(
        node["memory"]["workingSetBytes"],
        1_024_000_000u64 - 204_800_000
    );
    assert_eq!(
        node["memory"]["availableBytes"],
        2_048_000_000u64 - 819_200_000
    );
    assert_eq!(node["memory"]["rssBytes"], 409_600_000u64);
    assert_eq!(node["network"]["name"], "end0");
    assert_eq!(node["network"]["rxBytes"], 5000);
    assert_eq!(node["network"]["interfaces"].as_array().unwrap().len(), 1);
    assert_eq!(node["rlimit"]["maxpid"], 4_194_304);
    assert_eq!(node["rlimit"]["curproc"], 321);
    assert!(node["fs"]["capacityBytes"].as_u64().unwrap() > 0);
    assert!(node["runtime"]["imageFs"]["availableBytes"].is_u64());
    assert_pod_figures(&s);
    let pod = &s["pods"][0];
    // a 64 MiB limit less the 40 MiB working set; the pod has no limit
    assert_eq!(pod["containers"][0]["memory"]["availableBytes"], 25_165_824);
    assert!(pod["memory"].get("availableBytes").is_none());
    assert_eq!(pod["process_stats"]["process_count"], 2);
    assert_eq!(pod["network"]["name"], "eth0");
    assert_eq!(
        (
            &pod["network"]["rxBytes"],
            &pod["network"]["rxErrors"],
            &pod["network"]["txBytes"],
            &pod["network"]["txErrors"]
        ),
        (
            &Value::from(5000),
            &Value::from(1),
            &Value::from(7000),
            &Value::from(2)
        )
    );
    let c = &pod["containers"][0];
    let rootfs = c["rootfs"]["usedBytes"].as_u64().unwrap();
    assert!((64 * 1024..512 * 1024).contains(&rootfs), "{rootfs}");
    let logs = c["logs"]["usedBytes"].as_u64().unwrap();
    assert!((8 * 1024..256 * 1024).contains(&logs), "{logs}");
    let vol = &pod["volume"][0];
    assert_eq!(vol["name"], "cache");
    let used = vol["usedBytes"].as_u64().unwrap();
    assert!((128 * 1024..512 * 1024).contains(&used), "{used}");
    assert_eq!(pod["ephemeral-storage"]["usedBytes"], rootfs + logs + used);

    let only = summary(&stats, "?only_cpu_and_memory=true");
    assert_pod_figures(&only);
    assert!(only["pods"][0].get("network").is_none());
    assert!(only["pods"][0].get("process_stats").is_none());
    assert!(only["pods"][0]["containers"][0].get("rootfs").is_none());
    assert!(only["node"].get("fs").is_none());
}

#[test]
fn summary_of_a_v1_host() {
    let (_h, stats) = sampled(true);
    let s = summary(&stats, "");
    assert_pod_figures(&s);
    assert_eq!(s["pods"][0]["process_stats"]["process_count"], 2);
}

#[test]
fn a_gone_pod_and_a_replaced_container_drop_their_history() {
    let (h, stats) = sampled(false);
    let mut replaced = h.pod.clone();
    replaced.containers[0].id = "u1_web_1".into();
    stats.inventory().publish(replaced);
    let mut c = Collector::new(h.cfg.clone());
    c.sample_at(&stats, Instant::now(), T0 + 20_000);
    let s = summary(&stats, "");
    // one sample of the new instance: no rate yet
    assert!(s["pods"][0]["containers"][0]["cpu"]
        .get("usageNanoCores")
        .is_none());
    assert_eq!(s["pods"][0]["cpu"]["usageNanoCores"], 0);
    stats.inventory().remove("u1");
    c.sample_at(&stats, Instant::now(), T0 + 30_000);
    assert!(stats.state().pods.is_empty());
    assert_eq!(summary(&stats, "")["pods"], serde_json::json!([]));
}

#[test]
fn resource_metrics_as_the_kubelet_writes_them() {
    let (_h, stats) = sampled(false);
    let r = endpoints::get(&stats, "/metrics/resource").unwrap();
    assert_eq!(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = std::str::from_utf8(&r.body).unwrap();
    let ts = T0 + 10_000;
    for line in [
        "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds".to_string(),
        "# TYPE container_cpu_usage_seconds_total counter".to_string(),
        format!("container_cpu_usage_seconds_total{{container=\"web\",namespace=\"default\",pod=\"burn\"}} 3 {ts}"),
        format!("container_memory_working_set_bytes{{container=\"web\",namespace=\"default\",pod=\"burn\"}} 41943040 {ts}"),
        format!("container_start_time_seconds{{container=\"web\",namespace=\"default\",pod=\"burn\"}} 1699999970 {}", T0 - 30_000),
        format!("node_cpu_usage_seconds_total 15 {ts}"),
        format!("node_memory_working_set_bytes 819200000 {ts}"),
        format!("pod_cpu_usage_seconds_total{{namespace=\"default\",pod=\"burn\"}} 3 {ts}"),
        format!("pod_memory_working_set_bytes{{namespace=\"default\",pod=\"burn\"}} 41943040 {ts}"),
        "# TYPE resource_scrape_error gauge".to_string(),
        "resource_scrape_error 0".to_string(),
        "scrape_error 0".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn cadvisor_metrics_name_every_cgroup() {
    let (_h, stats) = sampled(false);
    let r = endpoints::get(&stats, "/metrics/cadvisor").unwrap();
    let text = std::str::from_utf8(&r.body).unwrap();
    let ts = T0 + 10_000;
    let web = "container=\"web\",id=\"/bramble/podu1/web\",image=\"busybox:1.36\",name=\"u1_web_0\",namespace=\"default\",pod=\"burn\"";
    let pod = "container=\"\",id=\"/bramble/podu1\",image=\"\",name=\"\",namespace=\"default\",pod=\"burn\"";
    for line in [
        format!("container_cpu_usage_seconds_total{{{web}}} 3 {ts}"),
        format!("container_memory_usage_bytes{{{web}}} 52428800 {ts}"),
        format!("container_memory_working_set_bytes{{{web}}} 41943040 {ts}"),
        format!("container_memory_rss{{{web}}} 31457280 {ts}"),
        format!("container_memory_cache{{{web}}} 20971520 {ts}"),
        format!("container_processes{{{web}}} 2 {ts}"),
        format!("container_last_seen{{{web}}} 1700000010 {ts}"),
        format!("container_cpu_usage_seconds_total{{{pod}}} 3 {ts}"),
        format!("container_network_receive_bytes_total{{container=\"\",id=\"/bramble/podu1\",image=\"\",interface=\"eth0\",name=\"\",namespace=\"default\",pod=\"burn\"}} 5000 {ts}"),
        format!("container_network_transmit_bytes_total{{container=\"\",id=\"/bramble/podu1\",image=\"\",interface=\"eth0\",name=\"\",namespace=\"default\",pod=\"burn\"}} 7000 {ts}"),
        format!("container_cpu_usage_seconds_total{{container=\"\",id=\"/\",image=\"\",name=\"\",namespace=\"\",pod=\"\"}} 15 {ts}"),
        "# TYPE machine_memory_bytes gauge".to_string(),
        "machine_memory_bytes 2048000000".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("machine_cpu_cores ")));
    assert!(text
        .lines()
        .any(|l| l.starts_with("container_fs_usage_bytes{container=\"web\"")));
}

#[test]
fn kubelet_metrics_health_and_unknown_paths() {
    let (_h, stats) = sampled(false);
    let text = endpoints::get(&stats, "/metrics").unwrap().body;
    let text = std::str::from_utf8(&text).unwrap();
    assert!(text.contains("\nkubelet_running_pods 1\n"), "{text}");
    assert!(
        text.contains("kubelet_running_containers{container_state=\"running\"} 1\n"),
        "{text}"
    );
    assert_eq!(&endpoints::get(&stats, "/healthz").unwrap().body[..], b"ok");
    assert_eq!(
        endpoints::get(&stats, "/stats/other").unwrap_err().code,
        404
    );
}
