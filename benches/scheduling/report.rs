//! The scheduling report: how long binding took, the rate, and what it cost the server, as
//! Markdown.

use std::fmt::Write;
use std::time::Duration;

use crate::deployment::ScaleUp;
use crate::idle::Idle;

/// The command that produces this report.
pub const COMMAND: &str = "cargo bench --bench scheduling";

/// What `server.rs` reads of the server's memory, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// `VmRSS`.
    pub rss_kib: u64,
    /// `RssAnon`.
    pub anon_kib: u64,
    /// `VmHWM`.
    pub peak_kib: u64,
    /// Whether two readings agreed (the memory bench waits for that; this one does not).
    #[allow(dead_code)]
    pub settled: bool,
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Hollow nodes.
    pub nodes: usize,
    /// Replicas of the scaled Deployment, and held pods.
    pub pods: usize,
    /// Replicas of the Deployment that rolled out.
    pub rolling: usize,
    /// The machine.
    pub machine: String,
    /// How long the server took to settle after the nodes registered.
    pub settle_nodes: Duration,
    /// Idle with the nodes only.
    pub idle_empty: Idle,
    /// Scaling the Deployment from 0.
    pub scale_up: ScaleUp,
    /// Server CPU time (user + system) while scaling up.
    pub scale_cpu: Duration,
    /// Resident memory once every pod was bound.
    pub bound: Reading,
    /// How long the server took to settle after the scale-up.
    pub settle_pods: Duration,
    /// Idle with the Deployment's pods.
    pub idle_full: Idle,
    /// Rolling out the second Deployment's first version (pods created, bound, Ready).
    pub roll_first: Duration,
    /// Its rolling update to a new image, until every new pod was available.
    pub roll_update: Duration,
    /// Server CPU time over the rolling update.
    pub roll_cpu: Duration,
    /// Labelling every node for the held pods.
    pub held_open_time: Duration,
    /// From the first label until every held pod was bound.
    pub held_bind_time: Duration,
    /// Server CPU time over `held_bind_time`.
    pub held_cpu: Duration,
    /// Pods of the scaled Deployment per node: fewest, most, nodes used.
    pub per_node: (usize, usize, usize),
    /// Lease renewals and status heartbeats the hollow nodes sent.
    pub renewals: u64,
    /// The whole run.
    pub duration: Duration,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn rate(n: usize, t: Duration) -> f64 {
    let secs = t.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

impl Report {
    /// The report as Markdown.
    pub fn render(&self) -> String {
        let (fewest, most, used) = self.per_node;
        let thousands = self.pods as f64 / 1000.0;
        let rss_per_1000 =
            (mib(self.idle_full.memory.rss_kib) - mib(self.idle_empty.memory.rss_kib)) / thousands;
        let cpu_per_1000 =
            (self.idle_full.cpu_per_minute() - self.idle_empty.cpu_per_minute()) / thousands;
        let rows: Vec<(String, String)> = vec![
            (
                format!("Deployment scaled 0 → {}: all pods exist after", self.pods),
                format!("{:.1} s", self.scale_up.exist.as_secs_f64()),
            ),
            (
                "… all pods bound after".into(),
                format!("{:.1} s", self.scale_up.bound.as_secs_f64()),
            ),
            (
                "… pods created and bound per second".into(),
                format!("{:.0}", rate(self.pods, self.scale_up.bound)),
            ),
            (
                "… most pods waiting for a node at once".into(),
                self.scale_up.backlog.to_string(),
            ),
            (
                "… server CPU".into(),
                format!("{:.1} s", self.scale_cpu.as_secs_f64()),
            ),
            (
                "… pods per node (fewest / most), nodes used".into(),
                format!("{fewest} / {most}, {used}"),
            ),
            (
                "Server settled (under 10% of a core) after the nodes registered, after the scale-up".into(),
                format!(
                    "{:.0} s, {:.0} s",
                    self.settle_nodes.as_secs_f64(),
                    self.settle_pods.as_secs_f64()
                ),
            ),
            (
                "Idle, nodes only: server CPU per minute, RSS".into(),
                format!(
                    "{:.2} s, {:.1} MiB",
                    self.idle_empty.cpu_per_minute(),
                    mib(self.idle_empty.memory.rss_kib)
                ),
            ),
            (
                format!("Idle, {} pods: server CPU per minute, RSS", self.pods),
                format!(
                    "{:.2} s, {:.1} MiB (anonymous {:.1} MiB, peak {:.1} MiB)",
                    self.idle_full.cpu_per_minute(),
                    mib(self.idle_full.memory.rss_kib),
                    mib(self.idle_full.memory.anon_kib),
                    mib(self.idle_full.memory.peak_kib)
                ),
            ),
            (
                "Idle, per 1,000 pods: server CPU per minute, RSS".into(),
                format!("{cpu_per_1000:+.3} s, {rss_per_1000:+.1} MiB"),
            ),
            (
                format!(
                    "Deployment of {}: first rollout (created, bound, Ready)",
                    self.rolling
                ),
                format!("{:.1} s", self.roll_first.as_secs_f64()),
            ),
            (
                format!(
                    "Rolling update of {} replicas (25% surge and unavailable)",
                    self.rolling
                ),
                format!(
                    "{:.1} s (server CPU {:.1} s)",
                    self.roll_update.as_secs_f64(),
                    self.roll_cpu.as_secs_f64()
                ),
            ),
            (
                format!("{} held pods: nodes labelled in", self.pods),
                format!("{:.1} s", self.held_open_time.as_secs_f64()),
            ),
            (
                "… all bound after the first label".into(),
                format!(
                    "{:.1} s ({:.0} pods/s, server CPU {:.1} s)",
                    self.held_bind_time.as_secs_f64(),
                    rate(self.pods, self.held_bind_time),
                    self.held_cpu.as_secs_f64()
                ),
            ),
            (
                "Lease renewals and heartbeats sent".into(),
                self.renewals.to_string(),
            ),
        ];
        let mut s = String::new();
        let _ = writeln!(s, "# Workloads at scale\n");
        let _ = writeln!(s, "`{COMMAND}` on {}.\n", self.machine);
        let _ = writeln!(
            s,
            "{} hollow nodes (Leases renewed every 10 s, Ready reported every minute) of a \
             `bramble server --no-agent`.\n",
            self.nodes
        );
        let _ = writeln!(s, "| Figure | Value |\n|---|---|");
        for (k, v) in rows {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        let _ = writeln!(
            s,
            "\nIdle CPU is mostly the hollow nodes' heartbeats (about {} writes a second); \
             the per-1,000-pods line is what the pods add to it.",
            self.nodes / 10
        );
        let _ = writeln!(s, "\nWhole run: {:.0} s.", self.duration.as_secs_f64());
        s
    }
}
