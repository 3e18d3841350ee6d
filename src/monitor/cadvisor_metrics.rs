//! `/metrics/cadvisor`: cAdvisor's Prometheus metrics as the kubelet serves them, one series
//! per cgroup — the node's root (`id="/"`), each pod's cgroup and each container's — with
//! cAdvisor's names and its labels (`container`, `id`, `image`, `name` = the runtime's
//! container id, `namespace`, `pod`, and `interface` on network series). Families are
//! written in name order; samples carry the time they were taken in milliseconds.

use super::procfs::Interfaces;
use super::store::StatsState;
use crate::serving::prometheus::{family, sample_at, Type};

/// One cgroup's latest figures.
struct Row<'a> {
    container: &'a str,
    id: &'a str,
    image: &'a str,
    name: &'a str,
    namespace: &'a str,
    pod: &'a str,
    time_ms: i64,
    cpu_ns: u64,
    usage: u64,
    working_set: u64,
    rss: u64,
    cache: u64,
    processes: Option<u64>,
    start_ms: Option<i64>,
    fs_used: Option<u64>,
    network: Option<&'a Interfaces>,
}

impl<'a> Row<'a> {
    fn labels(&self) -> [(&'static str, &'a str); 6] {
        [
            ("container", self.container),
            ("id", self.id),
            ("image", self.image),
            ("name", self.name),
            ("namespace", self.namespace),
            ("pod", self.pod),
        ]
    }
}

fn rows(state: &StatsState) -> Vec<Row<'_>> {
    let mut rows = Vec::new();
    if let Some(s) = state.node.history.latest() {
        rows.push(Row {
            container: "",
            id: "/",
            image: "",
            name: "",
            namespace: "",
            pod: "",
            time_ms: s.time_ms,
            cpu_ns: s.cpu_ns,
            usage: s.memory.usage,
            working_set: s.memory.working_set,
            rss: s.memory.rss,
            cache: s.memory.cache,
            processes: None,
            start_ms: Some(state.start_time.timestamp_millis()),
            fs_used: state.node.nodefs.and_then(|f| f.used),
            network: state.node.network.as_ref().map(|n| &n.interfaces),
        });
    }
    for ps in state.pods.values() {
        let e = &ps.entry;
        if let Some(s) = ps.history.latest() {
            let r = &s.reading;
            rows.push(Row {
                container: "",
                id: &e.cgroup,
                image: "",
                name: "",
                namespace: &e.namespace,
                pod: &e.name,
                time_ms: s.time_ms,
                cpu_ns: r.cpu_ns,
                usage: r.memory_usage,
                working_set: r.working_set,
                rss: r.rss,
                cache: r.cache,
                processes: r.pids,
                start_ms: Some(e.start_time.timestamp_millis()),
                fs_used: None,
                network: ps.network.as_ref().map(|n| &n.interfaces),
            });
        }
        for (c, cs) in e.containers.iter().zip(&ps.containers) {
            let Some(s) = cs.history.latest() else {
                continue;
            };
            let r = &s.reading;
            rows.push(Row {
                container: &c.name,
                id: &c.cgroup,
                image: &c.image,
                name: &c.id,
                namespace: &e.namespace,
                pod: &e.name,
                time_ms: s.time_ms,
                cpu_ns: r.cpu_ns,
                usage: r.memory_usage,
                working_set: r.working_set,
                rss: r.rss,
                cache: r.cache,
                processes: r.pids,
                start_ms: c.start_time.map(|t| t.timestamp_millis()),
                fs_used: cs.rootfs.and_then(|f| f.used),
                network: None,
            });
        }
    }
    rows
}

/// A family with one sample per row that has a value.
fn per_row(
    out: &mut String,
    rows: &[Row<'_>],
    name: &str,
    help: &str,
    kind: Type,
    value: impl Fn(&Row<'_>) -> Option<f64>,
) {
    family(out, name, help, kind);
    for row in rows {
        if let Some(v) = value(row) {
            sample_at(out, name, &row.labels(), v, Some(row.time_ms));
        }
    }
}

/// A network family: one sample per row and interface.
fn per_interface(
    out: &mut String,
    rows: &[Row<'_>],
    name: &str,
    help: &str,
    value: impl Fn(&super::procfs::Interface) -> u64,
) {
    family(out, name, help, Type::Counter);
    for row in rows {
        for i in row.network.into_iter().flatten() {
            let labels = [
                ("container", row.container),
                ("id", row.id),
                ("image", row.image),
                ("interface", i.name.as_str()),
                ("name", row.name),
                ("namespace", row.namespace),
                ("pod", row.pod),
            ];
            sample_at(out, name, &labels, value(i) as f64, Some(row.time_ms));
        }
    }
}

/// Writes cAdvisor's metrics of `state` into `out`.
pub fn render(state: &StatsState, out: &mut String) {
    let rows = rows(state);
    let rows = rows.as_slice();
    per_row(
        out,
        rows,
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed in seconds.",
        Type::Counter,
        |r| Some(r.cpu_ns as f64 / 1e9),
    );
    per_row(
        out,
        rows,
        "container_fs_usage_bytes",
        "Number of bytes that are consumed by the container on this filesystem.",
        Type::Gauge,
        |r| r.fs_used.map(|u| u as f64),
    );
    per_row(
        out,
        rows,
        "container_last_seen",
        "Last time a container was seen by the exporter",
        Type::Gauge,
        |r| Some((r.time_ms / 1000) as f64),
    );
    per_row(
        out,
        rows,
        "container_memory_cache",
        "Number of bytes of page cache memory.",
        Type::Gauge,
        |r| Some(r.cache as f64),
    );
    per_row(
        out,
        rows,
        "container_memory_rss",
        "Size of RSS in bytes.",
        Type::Gauge,
        |r| Some(r.rss as f64),
    );
    per_row(
        out,
        rows,
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        Type::Gauge,
        |r| Some(r.usage as f64),
    );
    per_row(
        out,
        rows,
        "container_memory_working_set_bytes",
        "Current working set in bytes.",
        Type::Gauge,
        |r| Some(r.working_set as f64),
    );
    per_interface(
        out,
        rows,
        "container_network_receive_bytes_total",
        "Cumulative count of bytes received",
        |i| i.rx_bytes,
    );
    per_interface(
        out,
        rows,
        "container_network_receive_errors_total",
        "Cumulative count of errors encountered while receiving",
        |i| i.rx_errors,
    );
    per_interface(
        out,
        rows,
        "container_network_transmit_bytes_total",
        "Cumulative count of bytes transmitted",
        |i| i.tx_bytes,
    );
    per_interface(
        out,
        rows,
        "container_network_transmit_errors_total",
        "Cumulative count of errors encountered while transmitting",
        |i| i.tx_errors,
    );
    per_row(
        out,
        rows,
        "container_processes",
        "Number of processes running inside the container.",
        Type::Gauge,
        |r| r.processes.map(|p| p as f64),
    );
    per_row(
        out,
        rows,
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds.",
        Type::Gauge,
        |r| r.start_ms.map(|ms| (ms / 1000) as f64),
    );
    family(
        out,
        "machine_cpu_cores",
        "Number of logical CPU cores.",
        Type::Gauge,
    );
    sample_at(out, "machine_cpu_cores", &[], state.cpus as f64, None);
    if let Some(s) = state.node.history.latest() {
        family(
            out,
            "machine_memory_bytes",
            "Amount of memory installed on the machine.",
            Type::Gauge,
        );
        sample_at(
            out,
            "machine_memory_bytes",
            &[],
            s.memory.total as f64,
            None,
        );
    }
}
