//! The task that samples the node, its pods and their containers every period (10 s by
//! default, as the kubelet's housekeeping) into the shared [`NodeStats`]. Each sample reads
//! a handful of small cgroup and proc files per container through reused buffers, on a
//! blocking thread; directories are walked only once per filesystem period. Endpoints read
//! what was sampled and never sample themselves, so a scrape costs no more than rendering.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::cgroup::CgroupReader;
use super::fs_usage::{self, FsFigures};
use super::inventory::PodEntry;
use super::procfs::ProcReader;
use super::store::{CgroupSample, NetworkSample, NodeSample, NodeStats};

/// Where the sampler reads from.
#[derive(Debug, Clone)]
pub struct SamplerConfig {
    /// The node's name (`node.nodeName`).
    pub node_name: String,
    /// The kubelet's data directory: its filesystem is the nodefs.
    pub data_dir: PathBuf,
    /// The image store: its filesystem is the imagefs.
    pub images_dir: PathBuf,
    /// Where cgroup hierarchies are mounted (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
    /// Where proc is mounted (`/proc`).
    pub proc_root: PathBuf,
    /// The node bridge, left out of the node's interfaces with the pods' veths (their
    /// traffic is the pods').
    pub bridge: String,
}

impl SamplerConfig {
    /// The host's own mounts for the kubelet with data directory `data_dir`.
    pub fn for_host(node_name: &str, data_dir: PathBuf, bridge: &str) -> Self {
        Self {
            node_name: node_name.to_string(),
            images_dir: data_dir.join("images"),
            data_dir,
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            proc_root: PathBuf::from("/proc"),
            bridge: bridge.to_string(),
        }
    }
}

/// Samples into `stats` every period until `shutdown`.
pub async fn run(stats: Arc<NodeStats>, cfg: SamplerConfig, shutdown: CancellationToken) {
    stats.state().start_time = chrono::Utc::now();
    let mut collector = Some(Collector::new(cfg));
    let mut tick = tokio::time::interval(stats.period());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let Some(mut c) = collector.take() else {
            return;
        };
        let s = stats.clone();
        match tokio::task::spawn_blocking(move || {
            c.sample(&s);
            c
        })
        .await
        {
            Ok(c) => collector = Some(c),
            Err(e) => {
                tracing::error!(error = %e, "the stats sampler stopped");
                return;
            }
        }
    }
}

/// The readers and their buffers, kept from one sample to the next.
#[derive(Debug)]
pub struct Collector {
    cfg: SamplerConfig,
    cgroups: CgroupReader,
    proc: ProcReader,
}

impl Collector {
    /// A collector reading where `cfg` says.
    pub fn new(cfg: SamplerConfig) -> Self {
        Self {
            cgroups: CgroupReader::new(cfg.cgroup_root.clone()),
            proc: ProcReader::new(cfg.proc_root.clone()),
            cfg,
        }
    }

    /// Takes one sample of the node and of every pod the inventory lists.
    pub fn sample(&mut self, stats: &NodeStats) {
        self.sample_at(stats, Instant::now(), chrono::Utc::now().timestamp_millis());
    }

    /// Takes one sample stamped `now_ms` (milliseconds since the epoch); `now` decides
    /// which directory walks are due.
    pub fn sample_at(&mut self, stats: &NodeStats, now: Instant, now_ms: i64) {
        let pods = stats.inventory().snapshot();
        let mut error = self.sample_node(stats, now, now_ms);
        stats.state().follow(&pods, now);
        for pod in &pods {
            error |= self.sample_pod(stats, pod, now_ms);
        }
        for pod in &pods {
            self.walk_pod(stats, pod, now, now_ms);
        }
        stats.state().scrape_error = error;
    }

    /// Samples the node; true when its CPU or memory could not be read.
    fn sample_node(&mut self, stats: &NodeStats, now: Instant, now_ms: i64) -> bool {
        let cpu = self.proc.cpu_ns();
        let memory = self.proc.memory();
        let (page_faults, major_page_faults) = self.proc.faults();
        let (pid_max, threads) = self.proc.rlimit();
        let bridge = self.cfg.bridge.clone();
        let keep = |n: &str| {
            let pod_veth = n.len() == 15 && n.starts_with("vb");
            n != "lo" && n != bridge && !pod_veth && !n.starts_with("veth")
        };
        let interfaces = self.proc.interfaces(None, keep);
        let nodefs = fs_usage::filesystem(&self.cfg.data_dir, now_ms);
        let walk_images = stats.state().node.next_walk.map_or(true, |at| at <= now);
        let images = if walk_images {
            fs_usage::directory(&self.cfg.images_dir, now_ms).map(|f| f.used)
        } else {
            None
        };
        let mut state = stats.state();
        if state.node_name != self.cfg.node_name {
            state.node_name.clone_from(&self.cfg.node_name);
        }
        let node = &mut state.node;
        if let (Some(cpu_ns), Some(memory)) = (cpu, memory) {
            node.history.push(NodeSample {
                time_ms: now_ms,
                cpu_ns,
                memory,
                page_faults,
                major_page_faults,
            });
        }
        node.network = Some(NetworkSample {
            time_ms: now_ms,
            interfaces,
        });
        node.nodefs = nodefs;
        let kept_images_used = node.imagefs.and_then(|f| f.used);
        node.imagefs = fs_usage::filesystem(&self.cfg.images_dir, now_ms).map(|mut f| {
            f.used = images.flatten().or(kept_images_used);
            f.inodes_used = None;
            f
        });
        if walk_images {
            node.next_walk = Some(now + stats.fs_period());
        }
        node.rlimit = Some((now_ms, pid_max, threads));
        cpu.is_none() || memory.is_none()
    }

    /// Samples one pod's cgroups and network; true when its cgroup could not be read.
    fn sample_pod(&mut self, stats: &NodeStats, pod: &Arc<PodEntry>, now_ms: i64) -> bool {
        let pod_reading = self.cgroups.read(&pod.cgroup);
        let pid = pod.containers.iter().find_map(|c| c.pid);
        let network = pid.map(|pid| NetworkSample {
            time_ms: now_ms,
            interfaces: self.proc.interfaces(Some(pid), |n| n != "lo"),
        });
        let mut state = stats.state();
        let Some(ps) = state.pods.get_mut(&pod.uid) else {
            return false;
        };
        if !Arc::ptr_eq(&ps.entry, pod) {
            return false; // republished meanwhile: the next sample follows it
        }
        if let Some(reading) = pod_reading {
            ps.history.push(CgroupSample {
                time_ms: now_ms,
                reading,
            });
        }
        if network.as_ref().is_some_and(|n| !n.interfaces.is_empty()) {
            ps.network = network;
        }
        for (c, cs) in pod.containers.iter().zip(ps.containers.iter_mut()) {
            if let Some(reading) = self.cgroups.read(&c.cgroup) {
                cs.history.push(CgroupSample {
                    time_ms: now_ms,
                    reading,
                });
            }
        }
        pod_reading.is_none() && !pod.containers.is_empty()
    }

    /// Walks the pod's writable layers, logs and volumes when its filesystem period is due.
    fn walk_pod(&mut self, stats: &NodeStats, pod: &Arc<PodEntry>, now: Instant, now_ms: i64) {
        let due = stats
            .state()
            .pods
            .get(&pod.uid)
            .is_some_and(|ps| ps.next_walk <= now);
        if !due {
            return;
        }
        // Walked without the lock held: scrapes go on meanwhile.
        let containers: Vec<(Option<FsFigures>, Option<FsFigures>)> = pod
            .containers
            .iter()
            .map(|c| {
                (
                    fs_usage::directory(&c.upper_dir, now_ms),
                    fs_usage::directory(&c.log_dir, now_ms),
                )
            })
            .collect();
        let volumes: Vec<Option<FsFigures>> = pod
            .volumes
            .iter()
            .map(|v| fs_usage::directory(&v.path, now_ms))
            .collect();
        let mut state = stats.state();
        let Some(ps) = state.pods.get_mut(&pod.uid) else {
            return;
        };
        if !Arc::ptr_eq(&ps.entry, pod) {
            return;
        }
        for (cs, (rootfs, logs)) in ps.containers.iter_mut().zip(containers) {
            cs.rootfs = rootfs;
            cs.logs = logs;
        }
        ps.volumes = volumes;
        ps.next_walk = now + stats.fs_period();
    }
}
