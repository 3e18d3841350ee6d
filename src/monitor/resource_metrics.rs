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

/// Writes the resource metrics of `state` into `out`.
pub fn render(state: &StatsState, out: &mut String) {
    let containers = || {
        state.pods.values().flat_map(|ps| {
            ps.entry
                .containers
                .iter()
                .zip(&ps.containers)
                .map(move |(c, cs)| (ps, c, cs))
        })
    };
    family(
        out,
        "container_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        Type::Counter,
    );
    for (ps, c, cs) in containers() {
        if let Some(s) = cs.history.latest() {
            let labels = [
                ("container", c.name.as_str()),
                ("namespace", ps.entry.namespace.as_str()),
                ("pod", ps.entry.name.as_str()),
            ];
            sample_at(
                out,
                "container_cpu_usage_seconds_total",
                &labels,
                seconds(s.reading.cpu_ns),
                Some(s.time_ms),
            );
        }
    }
    family(
        out,
        "container_memory_working_set_bytes",
        "[STABLE] Current working set of the container in bytes",
        Type::Gauge,
    );
    for (ps, c, cs) in containers() {
        if let Some(s) = cs.history.latest() {
            let labels = [
                ("container", c.name.as_str()),
                ("namespace", ps.entry.namespace.as_str()),
                ("pod", ps.entry.name.as_str()),
            ];
            sample_at(
                out,
                "container_memory_working_set_bytes",
                &labels,
                s.reading.working_set as f64,
                Some(s.time_ms),
            );
        }
    }
    family(
        out,
        "container_start_time_seconds",
        "[STABLE] Start time of the container since unix epoch in seconds",
        Type::Gauge,
    );
    for (ps, c, _) in containers() {
        if let Some(t) = c.start_time {
            let labels = [
                ("container", c.name.as_str()),
                ("namespace", ps.entry.namespace.as_str()),
                ("pod", ps.entry.name.as_str()),
            ];
            let ms = t.timestamp_millis();
            sample_at(
                out,
                "container_start_time_seconds",
                &labels,
                ms as f64 / 1000.0,
                Some(ms),
            );
        }
    }
    let node = state.node.history.latest();
    family(
        out,
        "node_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        Type::Counter,
    );
    if let Some(s) = node {
        sample_at(
            out,
            "node_cpu_usage_seconds_total",
            &[],
            seconds(s.cpu_ns),
            Some(s.time_ms),
        );
    }
    family(
        out,
        "node_memory_working_set_bytes",
        "[STABLE] Current working set of the node in bytes",
        Type::Gauge,
    );
    if let Some(s) = node {
        sample_at(
            out,
            "node_memory_working_set_bytes",
            &[],
            s.memory.working_set as f64,
            Some(s.time_ms),
        );
    }
    family(
        out,
        "pod_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        Type::Counter,
    );
    for ps in state.pods.values() {
        if let Some(s) = ps.history.latest() {
            let labels = [
                ("namespace", ps.entry.namespace.as_str()),
                ("pod", ps.entry.name.as_str()),
            ];
            sample_at(
                out,
                "pod_cpu_usage_seconds_total",
                &labels,
                seconds(s.reading.cpu_ns),
                Some(s.time_ms),
            );
        }
    }
    family(
        out,
        "pod_memory_working_set_bytes",
        "[STABLE] Current working set of the pod in bytes",
        Type::Gauge,
    );
    for ps in state.pods.values() {
        if let Some(s) = ps.history.latest() {
            let labels = [
                ("namespace", ps.entry.namespace.as_str()),
                ("pod", ps.entry.name.as_str()),
            ];
            sample_at(
                out,
                "pod_memory_working_set_bytes",
                &labels,
                s.reading.working_set as f64,
                Some(s.time_ms),
            );
        }
    }
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
