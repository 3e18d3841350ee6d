//! The scheduling report: how long binding took, the rate, and what it cost the server, as
//! Markdown.

use std::fmt::Write;
use std::time::Duration;

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
    /// Pods placed.
    pub pods: usize,
    /// The machine.
    pub machine: String,
    /// Resident memory with the nodes registered, before any pod.
    pub idle_rss_kib: u64,
    /// Creating every pod.
    pub create_time: Duration,
    /// From the first creation until every pod was bound.
    pub bind_time: Duration,
    /// The most pods seen waiting for a node at one time: how far placing fell behind
    /// creating.
    pub backlog: usize,
    /// Server CPU time (user + system) over `bind_time`.
    pub cpu: Duration,
    /// Resident memory once every pod was bound.
    pub bound: Reading,
    /// Labelling every node for the held pods.
    pub held_open_time: Duration,
    /// From the first label until every held pod was bound.
    pub held_bind_time: Duration,
    /// Server CPU time over `held_bind_time`.
    pub held_cpu: Duration,
    /// Pods per node: fewest, most, nodes used.
    pub per_node: (usize, usize, usize),
    /// Lease renewals and status heartbeats the hollow nodes sent.
    pub renewals: u64,
    /// The whole run.
    pub duration: Duration,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Report {
    /// The report as Markdown.
    pub fn render(&self) -> String {
        let secs = self.bind_time.as_secs_f64();
        let rate = if secs > 0.0 {
            self.pods as f64 / secs
        } else {
            0.0
        };
        let (fewest, most, used) = self.per_node;
        let mut s = String::new();
        let _ = writeln!(s, "# Scheduling at scale\n");
        let _ = writeln!(s, "`{COMMAND}` on {}.\n", self.machine);
        let _ = writeln!(
            s,
            "{} pods created in batches onto {} hollow nodes (Leases renewed every 10 s) of a \
             `bramble server --no-agent`.\n",
            self.pods, self.nodes
        );
        let _ = writeln!(s, "| Figure | Value |\n|---|---|");
        let _ = writeln!(
            s,
            "| Pods created in | {:.1} s |",
            self.create_time.as_secs_f64()
        );
        let _ = writeln!(s, "| All pods bound after | {secs:.1} s |");
        let _ = writeln!(s, "| Pods bound per second | {rate:.0} |");
        let _ = writeln!(
            s,
            "| Most pods waiting for a node at once | {} |",
            self.backlog
        );
        let _ = writeln!(
            s,
            "| Server CPU while placing | {:.1} s |",
            self.cpu.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "| Server RSS with nodes only | {:.1} MiB |",
            mib(self.idle_rss_kib)
        );
        let _ = writeln!(
            s,
            "| Server RSS, all bound | {:.1} MiB (anonymous {:.1} MiB) |",
            mib(self.bound.rss_kib),
            mib(self.bound.anon_kib)
        );
        let _ = writeln!(
            s,
            "| Server RSS, peak (VmHWM) | {:.1} MiB |",
            mib(self.bound.peak_kib)
        );
        let _ = writeln!(s, "| Pods per node (fewest / most) | {fewest} / {most} |");
        let _ = writeln!(s, "| Nodes used | {used} |");
        let _ = writeln!(
            s,
            "| Lease renewals and heartbeats sent | {} |",
            self.renewals
        );
        let held = self.held_bind_time.as_secs_f64();
        let held_rate = if held > 0.0 {
            self.pods as f64 / held
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "| Held pods: nodes labelled in | {:.1} s |",
            self.held_open_time.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "| Held pods: all bound after the first label | {held:.1} s |"
        );
        let _ = writeln!(s, "| Held pods bound per second | {held_rate:.0} |");
        let _ = writeln!(
            s,
            "| Server CPU while placing held pods | {:.1} s |",
            self.held_cpu.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "\nWith a small backlog the scheduler kept up with creation: the rate is then how \
             fast the API took the pods, a floor for placing them."
        );
        let _ = writeln!(s, "\nWhole run: {:.0} s.", self.duration.as_secs_f64());
        s
    }
}
