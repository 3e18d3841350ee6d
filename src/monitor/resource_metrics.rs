//! `/metrics/resource`: the kubelet's resource metrics (upstream's
//! `pkg/kubelet/metrics/collectors/resource_metrics.go`), the figures the metrics server
//! and `kubectl top` read: cumulative CPU seconds and working set of the node, each pod and
//! each container, containers' start times, and whether the scrape failed. Families are
//! written in name order with upstream's HELP text; samples carry the time they were taken
//! in milliseconds, as the kubelet's collector stamps them.

use super::store::StatsState;
use crate::serving::prometheus::{family, sample_at, Type};

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// One sample: its labels, value and time in milliseconds.
type Row<'a> = ([(&'static str, &'a str); 3], usize, f64, i64);

/// Writes family `name` with `rows` (each using the first `n` of its labels).
fn write_family<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    kind: Type,
    rows: impl Iterator<Item = Row<'a>>,
) {
    family(out, name, help, kind);
    for (labels, n, value, ms) in rows {
        sample_at(out, name, &labels[..n], value, Some(ms));
    }
}

/// Writes the resource metrics of `state` into `out`.
pub fn render(state: &StatsState, out: &mut String) {
    let containers = || {
        state.pods.values().flat_map(|ps| {
            ps.entry
                .containers
                .iter()
                .zip(&ps.containers)
                .map(move |(c, cs)| {
                    let labels = [
                        ("container", c.name.as_str()),
                        ("namespace", ps.entry.namespace.as_str()),
                        ("pod", ps.entry.name.as_str()),
                    ];
                    (labels, c, cs)
                })
        })
    };
    let pods = || {
        state.pods.values().filter_map(|ps| {
            let s = ps.history.latest()?;
            let labels = [
                ("namespace", ps.entry.namespace.as_str()),
                ("pod", ps.entry.name.as_str()),
                ("", ""),
            ];
            Some((labels, s))
        })
    };
    write_family(
        out,
        "container_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        Type::Counter,
        containers().filter_map(|(l, _, cs)| {
            let s = cs.history.latest()?;
            Some((l, 3, seconds(s.reading.cpu_ns), s.time_ms))
        }),
    );
    write_family(
        out,
        "container_memory_working_set_bytes",
        "[STABLE] Current working set of the container in bytes",
        Type::Gauge,
        containers().filter_map(|(l, _, cs)| {
            let s = cs.history.latest()?;
            Some((l, 3, s.reading.working_set as f64, s.time_ms))
        }),
    );
    write_family(
        out,
        "container_start_time_seconds",
        "[STABLE] Start time of the container since unix epoch in seconds",
        Type::Gauge,
        containers().filter_map(|(l, c, _)| {
            let ms = c.start_time?.timestamp_millis();
            Some((l, 3, ms as f64 / 1000.0, ms))
        }),
    );
    let node = state.node.history.latest();
    let none = [("", ""); 3];
    write_family(
        out,
        "node_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        Type::Counter,
        node.map(|s| (none, 0, seconds(s.cpu_ns), s.time_ms))
            .into_iter(),
    );
    write_family(
        out,
        "node_memory_working_set_bytes",
        "[STABLE] Current working set of the node in bytes",
        Type::Gauge,
        node.map(|s| (none, 0, s.memory.working_set as f64, s.time_ms))
            .into_iter(),
    );
    write_family(
        out,
        "pod_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        Type::Counter,
        pods().map(|(l, s)| (l, 2, seconds(s.reading.cpu_ns), s.time_ms)),
    );
    write_family(
        out,
        "pod_memory_working_set_bytes",
        "[STABLE] Current working set of the pod in bytes",
        Type::Gauge,
        pods().map(|(l, s)| (l, 2, s.reading.working_set as f64, s.time_ms)),
    );
    let error = if state.scrape_error || node.is_none() {
        1.0
    } else {
        0.0
    };
    family(
        out,
        "resource_scrape_error",
        "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
        Type::Gauge,
    );
    sample_at(out, "resource_scrape_error", &[], error, None);
    family(
        out,
        "scrape_error",
        "[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise",
        Type::Gauge,
    );
    sample_at(out, "scrape_error", &[], error, None);
}
