//! The node's statistics as the sampler last took them, shared by the sampler (the only
//! writer) and the endpoints (readers): per pod and per container a [`History`] of cgroup
//! samples and the latest filesystem and network figures, and the node's own. State exists
//! only for what the kubelet's inventory lists: a container's history is dropped when its
//! instance goes, a pod's when the pod goes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::cgroup::CgroupReading;
use super::fs_usage::FsFigures;
use super::history::{History, Timed};
use super::inventory::{Inventory, PodEntry};
use super::procfs::{Interfaces, NodeMemory};
use crate::hardware::sensor_task::SensorReadings;

/// How often the sampler samples by default (upstream's housekeeping interval).
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(10);
/// How often directories are walked for their usage by default (cAdvisor's disk usage
/// period is one minute).
pub const DEFAULT_FS_PERIOD: Duration = Duration::from_secs(60);

/// One read of a container's or pod's cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupSample {
    /// When, in milliseconds since the epoch.
    pub time_ms: i64,
    /// What was read.
    pub reading: CgroupReading,
}

impl Timed for CgroupSample {
    fn time_ms(&self) -> i64 {
        self.time_ms
    }
    fn cpu_ns(&self) -> u64 {
        self.reading.cpu_ns
    }
}

/// One read of the node's CPU and memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeSample {
    /// When, in milliseconds since the epoch.
    pub time_ms: i64,
    /// Busy CPU time of the machine, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory.
    pub memory: NodeMemory,
    /// Cumulative page faults.
    pub page_faults: Option<u64>,
    /// Cumulative major page faults.
    pub major_page_faults: Option<u64>,
}

impl Timed for NodeSample {
    fn time_ms(&self) -> i64 {
        self.time_ms
    }
    fn cpu_ns(&self) -> u64 {
        self.cpu_ns
    }
}

/// Interface counters of one network namespace and when they were read.
#[derive(Debug, Clone, Default)]
pub struct NetworkSample {
    /// When, in milliseconds since the epoch.
    pub time_ms: i64,
    /// The interfaces.
    pub interfaces: Interfaces,
}

/// One container instance's statistics.
#[derive(Debug, Default)]
pub struct ContainerState {
    /// Its cgroup samples.
    pub history: History<CgroupSample>,
    /// Its writable layer.
    pub rootfs: Option<FsFigures>,
    /// Its log files.
    pub logs: Option<FsFigures>,
}

/// One pod's statistics.
#[derive(Debug)]
pub struct PodState {
    /// What the kubelet published about the pod; `containers` and `volumes` below follow
    /// its order.
    pub entry: Arc<PodEntry>,
    /// The pod cgroup's samples.
    pub history: History<CgroupSample>,
    /// The pod's network namespace.
    pub network: Option<NetworkSample>,
    /// Per container of `entry`.
    pub containers: Vec<ContainerState>,
    /// Per volume of `entry`.
    pub volumes: Vec<Option<FsFigures>>,
    /// When the pod's directories are walked next.
    pub next_walk: Instant,
}

impl PodState {
    fn new(entry: Arc<PodEntry>, now: Instant) -> Self {
        Self {
            containers: entry
                .containers
                .iter()
                .map(|_| Default::default())
                .collect(),
            volumes: vec![None; entry.volumes.len()],
            entry,
            history: History::default(),
            network: None,
            next_walk: now,
        }
    }

    /// Follows a new entry of the same pod: the state of a container instance that is still
    /// there is kept, a new instance starts afresh; volumes are measured again.
    fn follow(&mut self, entry: Arc<PodEntry>, now: Instant) {
        let mut old: Vec<(String, ContainerState)> = self
            .entry
            .containers
            .iter()
            .map(|c| c.id.clone())
            .zip(self.containers.drain(..))
            .collect();
        self.containers = entry
            .containers
            .iter()
            .map(|c| {
                old.iter()
                    .position(|(id, _)| *id == c.id)
                    .map(|i| old.swap_remove(i).1)
                    .unwrap_or_default()
            })
            .collect();
        if entry.volumes != self.entry.volumes {
            self.volumes = vec![None; entry.volumes.len()];
            self.next_walk = now;
        }
        if entry
            .containers
            .iter()
            .any(|c| !self.entry.containers.iter().any(|o| o.id == c.id))
        {
            self.next_walk = now;
        }
        self.entry = entry;
    }
}

/// The node's own statistics.
#[derive(Debug, Default)]
pub struct NodeState {
    /// CPU and memory samples.
    pub history: History<NodeSample>,
    /// The host's interfaces.
    pub network: Option<NetworkSample>,
    /// The filesystem of the kubelet's data directory.
    pub nodefs: Option<FsFigures>,
    /// The filesystem of the image store, with the store's own usage.
    pub imagefs: Option<FsFigures>,
    /// (when, `pid_max`, threads running).
    pub rlimit: Option<(i64, Option<u64>, Option<u64>)>,
    /// When the image store is walked next.
    pub next_walk: Option<Instant>,
}

/// Everything sampled.
#[derive(Debug)]
pub struct StatsState {
    /// The node's name.
    pub node_name: String,
    /// When sampling started.
    pub start_time: DateTime<Utc>,
    /// CPUs of the machine.
    pub cpus: u64,
    /// The node.
    pub node: NodeState,
    /// The pods, by uid.
    pub pods: BTreeMap<String, PodState>,
    /// Whether the last sample failed to read something the endpoints report.
    pub scrape_error: bool,
}

impl StatsState {
    /// Makes the pods' state follow `pods` (the inventory's snapshot): new pods get state,
    /// changed ones follow, gone ones are dropped.
    pub fn follow(&mut self, pods: &[Arc<PodEntry>], now: Instant) {
        self.pods
            .retain(|uid, _| pods.binary_search_by(|p| p.uid.as_str().cmp(uid)).is_ok());
        for p in pods {
            match self.pods.get_mut(&p.uid) {
                Some(s) if Arc::ptr_eq(&s.entry, p) => {}
                Some(s) => s.follow(p.clone(), now),
                None => {
                    self.pods
                        .insert(p.uid.clone(), PodState::new(p.clone(), now));
                }
            }
        }
    }
}

/// The statistics of one node's kubelet: its inventory of pods (written by pod workers),
/// the sampled state (written by the sampler) and the sampling periods. Shared by the
/// kubelet, its sampler and whatever serves its read-only endpoints.
#[derive(Debug)]
pub struct NodeStats {
    inventory: Inventory,
    /// The board's environmental sensors, once the hardware tasks run.
    sensors: OnceLock<Arc<SensorReadings>>,
    state: Mutex<StatsState>,
    period: Duration,
    fs_period: Duration,
}

impl Default for NodeStats {
    fn default() -> Self {
        Self::new(DEFAULT_PERIOD, DEFAULT_FS_PERIOD)
    }
}

impl NodeStats {
    /// Statistics sampled every `period`, with directories walked every `fs_period`.
    pub fn new(period: Duration, fs_period: Duration) -> Self {
        Self {
            inventory: Inventory::default(),
            sensors: OnceLock::new(),
            state: Mutex::new(StatsState {
                node_name: String::new(),
                start_time: Utc::now(),
                cpus: std::thread::available_parallelism()
                    .map(|n| n.get() as u64)
                    .unwrap_or(1),
                node: NodeState::default(),
                pods: BTreeMap::new(),
                scrape_error: false,
            }),
            period: period.max(Duration::from_secs(1)),
            fs_period,
        }
    }

    /// What the kubelet's pod workers publish.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Adds the board's sensor readings to the kubelet's `/metrics` (the first call wins).
    pub fn attach_sensors(&self, readings: Arc<SensorReadings>) {
        let _ = self.sensors.set(readings);
    }

    /// The board's sensor readings, when attached.
    pub fn sensors(&self) -> Option<&SensorReadings> {
        self.sensors.get().map(Arc::as_ref)
    }

    /// The sampling period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The directory walk period.
    pub fn fs_period(&self) -> Duration {
        self.fs_period
    }

    /// The sampled state, locked.
    pub fn state(&self) -> MutexGuard<'_, StatsState> {
        // A panic while holding this lock aborts the process (`panic = "abort"`), so a
        // poisoned lock is never observed; recover the state regardless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
