//! The memory report: every reading and the figures derived from it, as Markdown.

use std::fmt::Write;
use std::time::Duration;

use crate::timing::Timings;

/// The command that produces this report.
pub const COMMAND: &str = "cargo bench --bench memory";

/// One settled reading of the server, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// `VmRSS`.
    pub rss_kib: u64,
    /// `RssAnon`: the resident set without file-backed pages (the executable's code, which
    /// grows as code paths first run, is not memory objects take).
    pub anon_kib: u64,
    /// `VmHWM`, the peak so far.
    pub peak_kib: u64,
    /// Whether two readings agreed before the limit.
    pub settled: bool,
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Nodes the pods run on.
    pub node_count: usize,
    /// Nodes of the second server.
    pub many_node_count: usize,
    /// Pods stored.
    pub pod_count: usize,
    /// At rest, nothing stored but what the server creates itself.
    pub idle: Reading,
    /// With the first nodes.
    pub nodes: Reading,
    /// With the nodes and every pod Running.
    pub pods: Reading,
    /// After the list and watch timings.
    pub after_timings: Reading,
    /// Once every change so far has aged out of the watch history.
    pub aged: Reading,
    /// The watch history's age limit the server ran with.
    pub history_age: Duration,
    /// Started again on the same data.
    pub restarted: Reading,
    /// The second server at rest.
    pub nodes_idle: Reading,
    /// The second server with its nodes.
    pub many_nodes: Reading,
    /// JSON bytes of the first nodes, as stored.
    pub node_json: usize,
    /// JSON bytes of the second server's nodes, as stored.
    pub many_node_json: usize,
    /// JSON bytes of the pods as created.
    pub pod_json_created: usize,
    /// JSON bytes of the pods once Running.
    pub pod_json: usize,
    /// Wall time of creating the pods and reporting them Running.
    pub fill_time: Duration,
    /// Server CPU time of the same.
    pub fill_cpu: Duration,
    /// List and watch timings.
    pub timings: Timings,
    /// Wall time of the whole bench.
    pub duration: Duration,
}

impl Report {
    /// An empty report for this many objects.
    pub fn new(node_count: usize, many_node_count: usize, pod_count: usize) -> Self {
        Self {
            node_count,
            many_node_count,
            pod_count,
            ..Self::default()
        }
    }

    /// The report as Markdown.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Bramble memory benchmark\n");
        let _ = writeln!(
            out,
            "- Date: {}",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
        );
        let _ = writeln!(
            out,
            "- Command: `{COMMAND}` (took {:.0} s)",
            self.duration.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "- Server: `bramble server --no-agent` of this build ({} profile)",
            if cfg!(debug_assertions) {
                "dev"
            } else {
                "release"
            }
        );
        let _ = writeln!(out, "- Machine: {}\n", crate::machine::describe());

        let (nodes, pods) = (self.node_count, self.pod_count);
        let rows = [
            ("idle".to_string(), self.idle),
            (format!("{nodes} nodes"), self.nodes),
            (format!("{nodes} nodes + {pods} pods Running"), self.pods),
            (
                "after the list and watch timings".to_string(),
                self.after_timings,
            ),
            (
                format!(
                    "{} s later: the changes aged out of the watch history",
                    self.history_age.as_secs()
                ),
                self.aged,
            ),
            ("restarted on the same data".to_string(), self.restarted),
            ("second server: idle".to_string(), self.nodes_idle),
            (
                format!("second server: {} nodes", self.many_node_count),
                self.many_nodes,
            ),
        ];
        let _ = writeln!(out, "| State | VmRSS | RssAnon | VmHWM (peak) | settled |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- |");
        for (name, r) in rows {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} |",
                mib(r.rss_kib),
                mib(r.anon_kib),
                mib(r.peak_kib),
                if r.settled { "yes" } else { "no" }
            );
        }

        let per_pod = kib_per(self.pods.anon_kib.saturating_sub(self.nodes.anon_kib), pods);
        let pod_json = self.pod_json as f64 / pods.max(1) as f64;
        let per_pod_aged = kib_per(self.aged.anon_kib.saturating_sub(self.nodes.anon_kib), pods);
        let per_pod_restarted = kib_per(
            self.restarted.anon_kib.saturating_sub(self.nodes.anon_kib),
            pods,
        );
        let many = self.many_node_count;
        let per_node = kib_per(
            self.many_nodes
                .anon_kib
                .saturating_sub(self.nodes_idle.anon_kib),
            many,
        );
        let node_json = self.many_node_json as f64 / many.max(1) as f64;
        let figures = [
            (
                "RSS per 1,000 pods".to_string(),
                mib_f(per_pod * 1000.0 / 1048576.0),
            ),
            (
                "JSON of one pod (created → Running)".to_string(),
                format!(
                    "{} → {pod_json:.0} bytes",
                    self.pod_json_created / pods.max(1)
                ),
            ),
            ("RSS per pod".to_string(), format!("{per_pod:.0} bytes")),
            (
                "RSS per pod above its JSON size".to_string(),
                format!("{:.0} bytes", per_pod - pod_json),
            ),
            (
                "the same once the changes aged out of the watch history".to_string(),
                format!("{:.0} bytes", per_pod_aged - pod_json),
            ),
            (
                "the same after a restart on the same data".to_string(),
                format!("{:.0} bytes", per_pod_restarted - pod_json),
            ),
            (
                "RSS per 100 nodes".to_string(),
                mib_f(per_node * 100.0 / 1048576.0),
            ),
            (
                "JSON of one node".to_string(),
                format!("{node_json:.0} bytes"),
            ),
            (
                "RSS per node above its JSON size".to_string(),
                format!("{:.0} bytes", per_node - node_json),
            ),
        ];
        let _ = writeln!(out, "\n| Figure | Value |");
        let _ = writeln!(out, "| --- | ---: |");
        for (name, value) in figures {
            let _ = writeln!(out, "| {name} | {value} |");
        }

        let t = &self.timings;
        let cpu_rows = [
            (
                format!("{pods} pod creates + {pods} status patches, 16 in flight"),
                self.fill_time,
                ms(self.fill_cpu),
            ),
            (
                format!("list of {pods} pods, label selector, JSON (median)"),
                t.list_json,
                format!("{} per list (JSON and Table)", ms(t.list_cpu)),
            ),
            (
                "the same list as a Table (median)".to_string(),
                t.list_table,
                String::new(),
            ),
            (
                "40 pod changes, each to 20 label watchers".to_string(),
                t.fan_out,
                ms(t.fan_out_cpu),
            ),
            (
                "40 pod changes, 20 `spec.nodeName` watchers (one per node)".to_string(),
                t.fan_out_nodes,
                ms(t.fan_out_nodes_cpu),
            ),
            (
                "a node's GET of a config map its pods use (median)".to_string(),
                t.node_read_allowed,
                String::new(),
            ),
            (
                format!("a node's GET of one no pod uses, 403 after all {pods} pods (median)"),
                t.node_read_refused,
                String::new(),
            ),
        ];
        let _ = writeln!(out, "\n| CPU | Wall | Server CPU |");
        let _ = writeln!(out, "| --- | ---: | ---: |");
        for (name, wall, cpu) in cpu_rows {
            let _ = writeln!(out, "| {name} | {} | {cpu} |", ms(wall));
        }
        let _ = writeln!(
            out,
            "\nRSS per pod is the growth of `RssAnon` from the nodes-only reading to the reading with every pod \
             Running, over the pod count; per node, the second server's growth from rest to \
             {many} nodes. Wall times include the client parsing the answers."
        );
        out
    }
}

fn kib_per(kib: u64, count: usize) -> f64 {
    kib as f64 * 1024.0 / count.max(1) as f64
}

fn mib(kib: u64) -> String {
    mib_f(kib as f64 / 1024.0)
}

fn mib_f(mib: f64) -> String {
    format!("{mib:.1} MiB")
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
