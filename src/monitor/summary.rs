//! `/stats/summary`: the kubelet's statsapi `Summary` (k8s.io/kubelet/pkg/apis/stats/v1alpha1)
//! as JSON, from the sampled state. Field names, units and omissions follow upstream's types:
//! times are RFC 3339 seconds, CPU in nanoseconds and nanocores, sizes in bytes; figures that
//! were not measured are left out. `only_cpu_and_memory=true` leaves out everything but CPU
//! and memory, as upstream's handler does for the metrics server.

use serde::{Serialize, Serializer};

use super::fs_usage::{self, FsFigures};
use super::history::History;
use super::procfs::Interface;
use super::store::{CgroupSample, NetworkSample, PodState, StatsState};

/// The interface upstream reports in a `NetworkStats`' inline fields.
const DEFAULT_INTERFACE: &str = "eth0";

/// A `metav1.Time`: milliseconds since the epoch written as RFC 3339 seconds.
#[derive(Clone, Copy)]
struct Time(i64);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = chrono::DateTime::from_timestamp_millis(self.0).unwrap_or_default();
        s.collect_str(&t.format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    node: Node<'a>,
    pods: Vec<Pod<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Node<'a> {
    node_name: &'a str,
    start_time: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<Cpu>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<Memory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<Network<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fs: Option<Fs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime: Option<Runtime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rlimit: Option<Rlimit>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Runtime {
    image_fs: Fs,
}

#[derive(Serialize)]
struct Rlimit {
    time: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    maxpid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    curproc: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Cpu {
    time: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_nano_cores: Option<u64>,
    usage_core_nano_seconds: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Memory {
    time: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_bytes: Option<u64>,
    usage_bytes: u64,
    working_set_bytes: u64,
    rss_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_faults: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    major_page_faults: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Iface<'a> {
    name: &'a str,
    rx_bytes: u64,
    rx_errors: u64,
    tx_bytes: u64,
    tx_errors: u64,
}

impl<'a> From<&'a Interface> for Iface<'a> {
    fn from(i: &'a Interface) -> Self {
        Iface {
            name: &i.name,
            rx_bytes: i.rx_bytes,
            rx_errors: i.rx_errors,
            tx_bytes: i.tx_bytes,
            tx_errors: i.tx_errors,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Network<'a> {
    time: Time,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    default: Option<Iface<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    interfaces: Vec<Iface<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Fs {
    time: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    used_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inodes_free: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inodes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inodes_used: Option<u64>,
}

impl From<&FsFigures> for Fs {
    fn from(f: &FsFigures) -> Self {
        Fs {
            time: Time(f.time_ms),
            available_bytes: f.available,
            capacity_bytes: f.capacity,
            used_bytes: f.used,
            inodes_free: f.inodes_free,
            inodes: f.inodes,
            inodes_used: f.inodes_used,
        }
    }
}

#[derive(Serialize)]
struct PodRef<'a> {
    name: &'a str,
    namespace: &'a str,
    uid: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PvcRef<'a> {
    name: &'a str,
    namespace: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Volume<'a> {
    #[serde(flatten)]
    fs: Fs,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pvc_ref: Option<PvcRef<'a>>,
}

#[derive(Serialize)]
struct ProcessStats {
    process_count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Container<'a> {
    name: &'a str,
    start_time: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<Cpu>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<Memory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rootfs: Option<Fs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logs: Option<Fs>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Pod<'a> {
    pod_ref: PodRef<'a>,
    start_time: Time,
    containers: Vec<Container<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<Cpu>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<Memory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<Network<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volume: Vec<Volume<'a>>,
    #[serde(rename = "ephemeral-storage", skip_serializing_if = "Option::is_none")]
    ephemeral_storage: Option<Fs>,
    #[serde(rename = "process_stats", skip_serializing_if = "Option::is_none")]
    process_stats: Option<ProcessStats>,
}

fn cgroup_cpu(h: &History<CgroupSample>) -> Option<Cpu> {
    let s = h.latest()?;
    Some(Cpu {
        time: Time(s.time_ms),
        usage_nano_cores: h.nano_cores(),
        usage_core_nano_seconds: s.reading.cpu_ns,
    })
}

fn cgroup_memory(h: &History<CgroupSample>) -> Option<Memory> {
    let s = h.latest()?;
    let r = &s.reading;
    Some(Memory {
        time: Time(s.time_ms),
        available_bytes: r.memory_limit.map(|l| l.saturating_sub(r.working_set)),
        usage_bytes: r.memory_usage,
        working_set_bytes: r.working_set,
        rss_bytes: r.rss,
        page_faults: Some(r.page_faults),
        major_page_faults: Some(r.major_page_faults),
    })
}

fn network(n: &NetworkSample) -> Network<'_> {
    let default = n
        .interfaces
        .iter()
        .find(|i| i.name.as_str() == DEFAULT_INTERFACE)
        .or_else(|| n.interfaces.first());
    Network {
        time: Time(n.time_ms),
        default: default.map(Iface::from),
        interfaces: n.interfaces.iter().map(Iface::from).collect(),
    }
}

fn start_of(t: Option<chrono::DateTime<chrono::Utc>>) -> Time {
    Time(t.map_or(0, |t| t.timestamp_millis()))
}

fn pod(ps: &PodState, full: bool) -> Pod<'_> {
    let e = &ps.entry;
    let containers = e
        .containers
        .iter()
        .zip(&ps.containers)
        .map(|(c, cs)| Container {
            name: &c.name,
            start_time: start_of(c.start_time),
            cpu: cgroup_cpu(&cs.history),
            memory: cgroup_memory(&cs.history),
            rootfs: full.then(|| cs.rootfs.as_ref().map(Fs::from)).flatten(),
            logs: full.then(|| cs.logs.as_ref().map(Fs::from)).flatten(),
        })
        .collect();
    let mut volume = Vec::new();
    let mut ephemeral = None;
    if full {
        volume = e
            .volumes
            .iter()
            .zip(&ps.volumes)
            .filter_map(|(v, f)| {
                Some(Volume {
                    fs: Fs::from(f.as_ref()?),
                    name: &v.name,
                    pvc_ref: v.claim.as_deref().map(|name| PvcRef {
                        name,
                        namespace: &e.namespace,
                    }),
                })
            })
            .collect();
        let layers = ps.containers.iter().flat_map(|c| [c.rootfs, c.logs]);
        let volumes = e
            .volumes
            .iter()
            .zip(&ps.volumes)
            .filter(|(v, _)| v.claim.is_none())
            .map(|(_, f)| *f);
        ephemeral = fs_usage::sum(layers.chain(volumes)).map(|f| Fs::from(&f));
    }
    let latest = ps.history.latest();
    Pod {
        pod_ref: PodRef {
            name: &e.name,
            namespace: &e.namespace,
            uid: &e.uid,
        },
        start_time: Time(e.start_time.timestamp_millis()),
        containers,
        cpu: cgroup_cpu(&ps.history),
        memory: cgroup_memory(&ps.history),
        network: full.then(|| ps.network.as_ref().map(network)).flatten(),
        volume,
        ephemeral_storage: ephemeral,
        process_stats: full
            .then(|| latest.and_then(|s| s.reading.pids))
            .flatten()
            .map(|process_count| ProcessStats { process_count }),
    }
}

/// Whether a `/stats/summary` query asks for CPU and memory only.
pub fn only_cpu_and_memory(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "only_cpu_and_memory" && v.eq_ignore_ascii_case("true"))
}

/// The `Summary` JSON of `state`; with `full` false only CPU and memory.
pub fn render(state: &StatsState, full: bool) -> Vec<u8> {
    let n = &state.node;
    let latest = n.history.latest();
    let node = Node {
        node_name: &state.node_name,
        start_time: Time(state.start_time.timestamp_millis()),
        cpu: latest.map(|s| Cpu {
            time: Time(s.time_ms),
            usage_nano_cores: n.history.nano_cores(),
            usage_core_nano_seconds: s.cpu_ns,
        }),
        memory: latest.map(|s| Memory {
            time: Time(s.time_ms),
            available_bytes: Some(s.memory.total.saturating_sub(s.memory.working_set)),
            usage_bytes: s.memory.usage,
            working_set_bytes: s.memory.working_set,
            rss_bytes: s.memory.rss,
            page_faults: s.page_faults,
            major_page_faults: s.major_page_faults,
        }),
        network: full.then(|| n.network.as_ref().map(network)).flatten(),
        fs: full.then(|| n.nodefs.as_ref().map(Fs::from)).flatten(),
        runtime: full
            .then(|| {
                n.imagefs.as_ref().map(|f| Runtime {
                    image_fs: Fs::from(f),
                })
            })
            .flatten(),
        rlimit: full
            .then(|| {
                n.rlimit.map(|(t, maxpid, curproc)| Rlimit {
                    time: Time(t),
                    maxpid,
                    curproc,
                })
            })
            .flatten(),
    };
    let summary = Summary {
        node,
        pods: state.pods.values().map(|p| pod(p, full)).collect(),
    };
    // Serializing plain structs into a Vec cannot fail.
    serde_json::to_vec(&summary).unwrap_or_default()
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
