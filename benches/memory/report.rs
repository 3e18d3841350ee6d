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
    /// Nodes added last.
    pub extra_node_count: usize,
    /// Pods stored.
    pub pod_count: usize,
    /// At rest, nothing stored but what the server creates itself.
    pub idle: Reading,
    /// With the first nodes.
    pub nodes: Reading,
    /// With the nodes and every pod Running.
    pub pods: Reading,
    /// With the extra nodes too.
    pub more_nodes: Reading,
    /// After the list and watch timings.
    pub after_timings: Reading,
    /// JSON bytes of the first nodes, as stored.
    pub node_json: usize,
    /// JSON bytes of the extra nodes, as stored.
    pub extra_node_json: usize,
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
    pub fn new(node_count: usize, extra_node_count: usize, pod_count: usize) -> Self {
        Self {
            node_count,
            extra_node_count,
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
        let _ = writeln!(out, "- Machine: {}\n", machine());

        let _ = writeln!(out, "| State | VmRSS | VmHWM (peak) | settled |");
        let _ = writeln!(out, "| --- | ---: | ---: | --- |");
        let rows = [
            ("idle".to_string(), self.idle),
            (format!("{} nodes", self.node_count), self.nodes),
            (
                format!(
                    "{} nodes + {} pods Running",
                    self.node_count, self.pod_count
                ),
                self.pods,
            ),
            (
                format!(
                    "{} nodes + {} pods",
                    self.node_count + self.extra_node_count,
                    self.pod_count
                ),
                self.more_nodes,
            ),
            (
                "after list and watch timings".to_string(),
                self.after_timings,
            ),
        ];
        for (name, r) in rows {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} |",
                mib(r.rss_kib),
                mib(r.peak_kib),
                if r.settled { "yes" } else { "no" }
            );
        }

        let pods_kib = self.pods.rss_kib.saturating_sub(self.nodes.rss_kib);
        let per_pod = kib_per(pods_kib, self.pod_count);
        let pod_json = self.pod_json as f64 / self.pod_count.max(1) as f64;
        let nodes_kib = self.more_nodes.rss_kib.saturating_sub(self.pods.rss_kib);
        let per_node = kib_per(nodes_kib, self.extra_node_count);
        let node_json = (self.node_json + self.extra_node_json) as f64
            / (self.node_count + self.extra_node_count).max(1) as f64;
        let _ = writeln!(out, "\n| Figure | Value |");
        let _ = writeln!(out, "| --- | ---: |");
        let figures = [
            (
                "RSS per 1,000 pods".to_string(),
                mib_f(per_pod * 1000.0 / 1048576.0),
            ),
            (
                "JSON of one pod (created → Running)".to_string(),
                format!(
                    "{} → {} bytes",
                    self.pod_json_created / self.pod_count.max(1),
                    self.pod_json / self.pod_count.max(1)
                ),
            ),
            ("RSS per pod".to_string(), format!("{:.0} bytes", per_pod)),
            (
                "RSS per pod above its JSON size".to_string(),
                format!("{:.0} bytes", per_pod - pod_json),
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
        for (name, value) in figures {
            let _ = writeln!(out, "| {name} | {value} |");
        }

        let t = &self.timings;
        let _ = writeln!(out, "\n| CPU | Wall | Server CPU |");
        let _ = writeln!(out, "| --- | ---: | ---: |");
        let _ = writeln!(
            out,
            "| {} pod creates + {} status patches, 16 in flight | {} | {} |",
            self.pod_count,
            self.pod_count,
            ms(self.fill_time),
            ms(self.fill_cpu)
        );
        let _ = writeln!(
            out,
            "| list of {} pods, label selector, JSON (median) | {} | {} per list (JSON and Table) |",
            self.pod_count,
            ms(t.list_json),
            ms(t.list_cpu)
        );
        let _ = writeln!(
            out,
            "| the same list as a Table (median) | {} | |",
            ms(t.list_table)
        );
        let _ = writeln!(
            out,
            "| 50 pod changes, each to 20 watchers | {} | {} |",
            ms(t.fan_out),
            ms(t.fan_out_cpu)
        );
        let _ = writeln!(
            out,
            "\nRSS per pod is the growth from the nodes-only reading to the reading with every pod \
             Running, over the pod count; per node, the growth from adding the last {} nodes.",
            self.extra_node_count
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

/// Cores, CPU model and kernel.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{cores} cores ({cpu}), Linux {kernel}")
}
