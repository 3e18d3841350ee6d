//! The services benchmark's report: every figure measured, as Markdown tables that read in a
//! terminal and paste into the README unchanged.

use std::fmt::Write;
use std::time::Duration;

use crate::datapath::{self, DataPath, PathResult};
use crate::dns_load::{self, DnsLoad, Rate};
use crate::idle_memory::{self, IdleMemory};
use crate::load::percentile;
use crate::ready::{self, Ready};

/// The command that produces this report.
pub const COMMAND: &str = "cargo bench --bench services";

/// Everything one run measured.
pub struct Report {
    /// When the run started (UTC).
    pub date: String,
    /// CPU, cores and kernel.
    pub machine: String,
    /// The 1-minute load average when the run started.
    pub load_before: Option<f64>,
    /// Phase 1.
    pub datapath: DataPath,
    /// Phase 2.
    pub ready: Ready,
    /// Phase 3.
    pub dns: DnsLoad,
    /// Phase 4.
    pub memory: IdleMemory,
    /// Wall time of the whole bench.
    pub duration: Duration,
}

impl Report {
    /// The report as Markdown.
    pub fn render(&self) -> String {
        let mut out = crate::machine::report_opening(
            "Bramble Services and cluster DNS benchmark",
            &self.date,
            &self.machine,
            self.load_before,
        );
        let _ = writeln!(
            out,
            "- Command: `{COMMAND}` (took {:.0} s); every phase in network namespaces of its own\n",
            self.duration.as_secs_f64()
        );
        self.render_datapath(&mut out);
        self.render_ready(&mut out);
        self.render_dns(&mut out);
        self.render_memory(&mut out);
        self.render_problems(&mut out);
        out
    }

    fn render_datapath(&self, out: &mut String) {
        let d = &self.datapath;
        let _ = writeln!(out, "## Data path: connections through a ClusterIP\n");
        let _ = writeln!(
            out,
            "| Path | Connections | Failed | Connections/s | Each turn | p50 connect | p99 connect |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---|---:|---:|");
        let row = |out: &mut String, name: &str, p: &PathResult| {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {:.0} | {} | {} | {} |",
                p.connections,
                p.errors,
                p.rate(),
                turns(&p.turn_rates),
                us(percentile(&p.latencies, 0.5)),
                us(percentile(&p.latencies, 0.99)),
            );
        };
        row(out, "ClusterIP from a pod's address", &d.from_pod);
        row(out, "ClusterIP from the node's address", &d.from_node);
        row(out, "endpoint directly", &d.direct);
        let ratio = |p: &PathResult| {
            if d.direct.rate() > 0.0 {
                format!("{:.2}", p.rate() / d.direct.rate())
            } else {
                "n/a".into()
            }
        };
        let p99 = |p: &PathResult| us(percentile(&p.latencies, 0.99));
        let _ = writeln!(
            out,
            "\nClusterIP / direct, from a pod: **{}** of the direct rate over all turns, the \
             median of the {} per-turn ratios (each ClusterIP turn against the direct turn of \
             its round, less exposed to the machine's changing load) **{}** (goal ≥ 0.9); p99 \
             connect {} against {}. From the node: {} over all turns, median per turn {}; p99 \
             connect {}.\n",
            ratio(&d.from_pod),
            d.from_pod.turn_rates.len(),
            turn_ratio(&d.from_pod.turn_rates, &d.direct.turn_rates),
            p99(&d.from_pod),
            p99(&d.direct),
            ratio(&d.from_node),
            turn_ratio(&d.from_node.turn_rates, &d.direct.turn_rates),
            p99(&d.from_node),
        );
        let _ = writeln!(
            out,
            "Client and endpoint in two network namespaces joined by a veth; the client's holds \
             the proxy's own table (`bramble::proxy::ruleset`, {} chains) with {} other \
             Services of two endpoints each besides the two measured ones, whose one endpoint \
             is a listener that accepts and closes. The client reaches one measured Service \
             from an address in the cluster network, as a pod does (the `service-ips` map \
             lookup and DNAT), the other from an address outside it, as the node's own \
             processes do (masqueraded as well). {} connector threads (one per core) each \
             connect and close \
             (`SO_LINGER` 0, so no TIME_WAIT; conntrack's `close` timeout at 1 s, so the \
             table does not fill) in a loop; the three paths take turns, {} rounds of {} s \
             each (each turn's rate is listed: the machine is shared, and a turn's rate moves \
             with what else runs). All paths cross the same nftables hooks and conntrack.\n",
            d.chains,
            datapath::OTHER_SERVICES,
            datapath::connectors(),
            datapath::TURNS,
            datapath::TURN.as_secs(),
        );
    }

    fn render_ready(&self, out: &mut String) {
        let r = &self.ready;
        let _ = writeln!(out, "## Ready to traffic\n");
        let mut sorted = r.rounds_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let list = |v: &[f64]| {
            v.iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if sorted.is_empty() {
            let _ = writeln!(out, "No round completed.\n");
        } else {
            let _ = writeln!(
                out,
                "| Rounds | Median | Max | Each round (ms) |\n|---:|---:|---:|---|\n| {} | {:.0} ms | {:.0} ms | {} |\n",
                sorted.len(),
                median(&sorted),
                sorted.last().copied().unwrap_or_default(),
                list(&r.rounds_ms),
            );
            let _ = writeln!(out, "Goal: under 1 s.\n");
        }
        if !r.unready_ms.is_empty() {
            let _ = writeln!(
                out,
                "The other way, the pod's Ready turning False to the ClusterIP refusing \
                 connections (ms): {}.\n",
                list(&r.unready_ms)
            );
        }
        let _ = writeln!(
            out,
            "A real `bramble server` of this build with its kubelet in a network namespace of \
             its own; one busybox `httpd` pod behind a Service with `readinessProbe: cat \
             /tmp/ready` every second. Each of {} rounds creates the file with `kubectl exec` \
             and measures from the arrival of the first pod watch event showing Ready=True (the \
             condition's `lastTransitionTime` has whole seconds only) to the first connection \
             through the ClusterIP, tried from the node's namespace every 2 ms, that gets an \
             HTTP answer from the pod; the file is then removed and the round waits until the \
             ClusterIP refuses again. The span holds the endpoint-slice controller, the \
             kubelet's informer update and the proxy's 20 ms coalescing and nftables \
             transaction; the probe period is before it.\n",
            ready::ROUNDS
        );
    }

    fn render_dns(&self, out: &mut String) {
        let d = &self.dns;
        let _ = writeln!(out, "## Cluster DNS: queries per second\n");
        let _ = writeln!(
            out,
            "| Name | Bramble q/s | dnsmasq q/s | Bramble / dnsmasq | Each turn, Bramble | Each turn, dnsmasq | Lost (Bramble / dnsmasq) |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---|---|---:|");
        let row = |out: &mut String, name: &str, b: &Rate, m: &Rate| {
            let ratio = if m.per_second() > 0.0 {
                format!("{:.2}×", b.per_second() / m.per_second())
            } else {
                "n/a".into()
            };
            let _ = writeln!(
                out,
                "| {name} | {:.0} | {:.0} | {ratio} | {} | {} | {} / {} |",
                b.per_second(),
                m.per_second(),
                turns(&b.turn_rates),
                turns(&m.turn_rates),
                b.failures,
                m.failures,
            );
        };
        row(
            out,
            &format!("`{}` (cluster)", dns_load::CLUSTER_NAME),
            &d.bramble_cluster,
            &d.dnsmasq_cluster,
        );
        row(
            out,
            &format!("`{}` (external, cached)", dns_load::EXTERNAL_NAME),
            &d.bramble_external,
            &d.dnsmasq_external,
        );
        let _ =
            writeln!(
            out,
            "\nMedian of the per-turn ratios (each Bramble turn against the dnsmasq turn of the \
             same name in the same round): cluster name **{}×**, cached external name **{}×** \
             (goal ≥ 1×).\n",
            turn_ratio(&d.bramble_cluster.turn_rates, &d.dnsmasq_cluster.turn_rates),
            turn_ratio(&d.bramble_external.turn_rates, &d.dnsmasq_external.turn_rates),
        );
        let _ = writeln!(
            out,
            "All on loopback in a network namespace of the bench's own. Bramble is \
             `bramble::dns::serve` in the bench process on a two-thread runtime of its own, \
             its socket read by one loop per core ({} here, as on a board: dnsmasq reads \
             with one thread), busy answers replayed as bytes, answering from an in-bench `ClusterRecords` of {} Services (maps by name and \
             by cluster IP, standing in for the server's informer caches) and forwarding \
             other names to a tiny upstream responder; {} with `--no-resolv --no-hosts \
             --cache-size=1000`, the cluster name as a `--host-record` and the same upstream \
             as its `--server`. The load generator keeps {} UDP queries outstanding (one per \
             socket and task, each sent when the last was answered, a second's timeout) for \
             {} turns of {} s per server and name, taking turns. The external name was asked \
             once of each server first; the upstream was asked {} times in all (each server \
             forwards again when its cached answer expires: Bramble caps a TTL at 30 s).\n",
            bramble::dns::receive_loops(),
            dns_load::SERVICES,
            d.dnsmasq_version,
            dns_load::OUTSTANDING,
            dns_load::TURNS,
            dns_load::TURN.as_secs(),
            d.upstream_queries,
        );
    }

    fn render_memory(&self, out: &mut String) {
        let m = &self.memory;
        let _ = writeln!(out, "## Memory the proxy and DNS add to an idle node\n");
        let _ = writeln!(
            out,
            "| `bramble server` with its kubelet, at rest | Runs | VmRSS (each) | Median |"
        );
        let _ = writeln!(out, "|---|---:|---|---:|");
        let row = |out: &mut String, name: &str, r: &[idle_memory::Reading]| {
            let mut kib: Vec<u64> = r.iter().map(|r| r.rss_kib).collect();
            let each = r
                .iter()
                .map(|r| {
                    format!(
                        "{}{}",
                        mib(r.rss_kib as f64),
                        if r.settled { "" } else { " (not settled)" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            kib.sort();
            let _ = writeln!(
                out,
                "| {name} | {} | {each} | {} |",
                r.len(),
                mib(median_u64(&kib))
            );
        };
        row(out, "default (proxy and DNS on)", &m.with);
        row(
            out,
            &format!("`{}`", idle_memory::DISABLE.join(" ")),
            &m.without,
        );
        let mut with: Vec<u64> = m.with.iter().map(|r| r.rss_kib).collect();
        let mut without: Vec<u64> = m.without.iter().map(|r| r.rss_kib).collect();
        with.sort();
        without.sort();
        if !with.is_empty() && !without.is_empty() {
            let _ = writeln!(
                out,
                "\nDifference of the medians: **{}** (goal < 3 MiB).\n",
                mib(median_u64(&with) - median_u64(&without))
            );
        }
        let _ = writeln!(
            out,
            "Each run is a fresh data directory in a network namespace of its own, the two \
             settings alternating; a reading is `VmRSS` once two readings {} s apart differ by \
             at most {} KiB, starting {} s after the node first reports Ready. The DNS cache \
             is empty and there are no Services but `kubernetes` and `kube-dns` at rest.\n",
            idle_memory::SETTLE_STEP.as_secs(),
            idle_memory::SETTLE_KIB,
            idle_memory::WARM_UP.as_secs(),
        );
    }

    fn render_problems(&self, out: &mut String) {
        let mut lines = Vec::new();
        if let Some(e) = &self.datapath.error {
            lines.push(format!("- data path: {e}"));
        }
        if let Some(e) = &self.ready.error {
            lines.push(format!("- ready to traffic: {e}"));
        }
        for l in &self.ready.leftovers {
            lines.push(format!("- left behind by the board: {l}"));
        }
        if let Some(e) = &self.dns.error {
            lines.push(format!("- DNS: {e}"));
        }
        if let Some(e) = &self.memory.error {
            lines.push(format!("- memory: {e}"));
        }
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(out, "## Problems\n");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        out.push('\n');
    }
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn median_u64(sorted: &[u64]) -> f64 {
    let v: Vec<f64> = sorted.iter().map(|k| *k as f64).collect();
    median(&v)
}

/// The median of `a[i] / b[i]`, two decimals.
fn turn_ratio(a: &[f64], b: &[f64]) -> String {
    let mut ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, b)| **b > 0.0)
        .map(|(a, b)| a / b)
        .collect();
    if ratios.is_empty() {
        return "n/a".into();
    }
    ratios.sort_by(f64::total_cmp);
    format!("{:.2}", median(&ratios))
}

/// Per-turn rates, in thousands.
fn turns(rates: &[f64]) -> String {
    rates
        .iter()
        .map(|r| format!("{:.1}k", r / 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn mib(kib: f64) -> String {
    format!("{:.2} MiB", kib / 1024.0)
}
