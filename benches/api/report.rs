//! The benchmark report: every figure measured, rendered as Markdown tables so it can be read
//! in a terminal and pasted into the README unchanged.

use std::fmt::Write;
use std::time::Duration;

use crate::api_load::WatchLatency;
use crate::churn::ChurnResult;
use crate::load::{Phases, Stats};
use crate::machine::{human_bytes, DiskUsage, Memory};

/// Everything one run measured.
pub struct Report {
    /// When the run started (UTC).
    pub date: String,
    /// CPU, cores and kernel.
    pub machine: String,
    /// The 1-minute load average when the run started.
    pub load_before: Option<f64>,
    /// Filesystem the stores wrote to.
    pub filesystem: String,
    /// Bytes of payload in every object.
    pub payload: usize,
    /// Bytes of JSON of every stored object.
    pub value_bytes: usize,
    /// The HTTPS API phases.
    pub api: Phases,
    /// Watch delivery latency.
    pub watch: WatchLatency,
    /// The API server's resident memory after the API and watch runs.
    pub server_memory: Option<Memory>,
    /// The API server's store on disk after the API and watch runs.
    pub server_disk: DiskUsage,
    /// The store workload against Bramble's store.
    pub store: Phases,
    /// Bramble's store on disk after the store workload.
    pub store_disk: DiskUsage,
    /// Bytes written to storage during Bramble's store workload.
    pub store_written: u64,
    /// The churn workloads against Bramble's store.
    pub churns: Vec<Result<ChurnResult, String>>,
    /// The store workload against etcd, or why etcd could not be run.
    pub etcd: Result<EtcdRun, String>,
    /// The API and watch phases with the server's store on etcd, or why they could not run.
    pub on_etcd: Result<OnEtcd, String>,
    /// Wall time of the whole bench.
    pub duration: Duration,
}

/// The etcd side of the store comparison.
pub struct EtcdRun {
    /// `etcd --version`, first line.
    pub version: String,
    /// The store workload.
    pub phases: Phases,
    /// Bytes etcd wrote to storage during the workload.
    pub written: u64,
    /// etcd's data directory on disk after the workload.
    pub disk: DiskUsage,
    /// etcd's resident memory after the workload.
    pub memory: Option<Memory>,
}

/// The API server with its store on etcd (`--datastore-endpoint`).
pub struct OnEtcd {
    /// The HTTPS API phases.
    pub api: Phases,
    /// Watch delivery latency.
    pub watch: WatchLatency,
    /// The API server's resident memory after the runs (etcd's not included).
    pub server_memory: Option<Memory>,
}

/// The command that produces this report.
pub const COMMAND: &str = "cargo bench --bench api";

impl Report {
    /// The report as Markdown.
    pub fn render(&self) -> String {
        let mut out = crate::machine::report_opening(
            "Bramble API benchmark",
            &self.date,
            &self.machine,
            self.load_before,
        );
        let _ = writeln!(
            out,
            "- Disk: {}; every write is fsynced before it is acknowledged",
            self.filesystem
        );
        let _ = writeln!(
            out,
            "- Command: `{COMMAND}` (took {:.0} s)",
            self.duration.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "- Objects: ConfigMaps with a {} B payload\n",
            self.payload
        );
        self.render_api(&mut out);
        self.render_watch(&mut out);
        self.render_on_etcd(&mut out);
        self.render_store(&mut out);
        self.render_churn(&mut out);
        self.render_errors(&mut out);
        out
    }

    fn render_api(&self, out: &mut String) {
        let _ = writeln!(out, "## HTTPS API (one HTTP/2 connection, mutual TLS)\n");
        let _ = writeln!(
            out,
            "| Operation | Concurrency | Requests | Per second | p50 | p99 |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for (op, s) in phase_rows(&self.api, "create", "get") {
            let _ = writeln!(
                out,
                "| {op} | {} | {} | {:.0} | {} | {} |",
                s.concurrency,
                s.ok,
                s.rate(),
                short(s.percentile(0.5)),
                short(s.percentile(0.99)),
            );
        }
        let memory = self.server_memory.map_or_else(
            || "unknown".into(),
            |m| {
                format!(
                    "{} (peak {})",
                    human_bytes(m.rss_kib * 1024),
                    human_bytes(m.peak_kib * 1024)
                )
            },
        );
        let _ = writeln!(
            out,
            "\nServer after the API and watch runs, holding {} ConfigMaps: resident memory \
             {memory}; store on disk {}.\n",
            self.api.write_serial.ok + self.api.write_parallel.ok + self.watch.created,
            disk(self.server_disk)
        );
    }

    fn render_on_etcd(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## The API server on etcd (`--datastore-endpoint`, one etcd member on the same disk)\n"
        );
        let on = match &self.on_etcd {
            Ok(on) => on,
            Err(e) => {
                let _ = writeln!(out, "Not measured: {e}\n");
                return;
            }
        };
        let _ = writeln!(
            out,
            "| Operation | Concurrency | On etcd, per second | On its own store, per second | Ratio | p99 on etcd |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        let own = phase_rows(&self.api, "create", "get");
        for ((op, e), (_, s)) in phase_rows(&on.api, "create", "get").into_iter().zip(own) {
            let ratio = if s.rate() > 0.0 {
                e.rate() / s.rate()
            } else {
                0.0
            };
            let _ = writeln!(
                out,
                "| {op} | {} | {:.0} | {:.0} | {ratio:.2} | {} |",
                e.concurrency,
                e.rate(),
                s.rate(),
                short(e.percentile(0.99)),
            );
        }
        let (w, own) = (&on.watch, &self.watch);
        let _ = writeln!(
            out,
            "\nWatch delivery, from sending a create to its `ADDED` event: p50 {} and p99 {} on \
             etcd, p50 {} and p99 {} on its own store ({} creates).\n",
            short(w.after_request(0.5)),
            short(w.after_request(0.99)),
            short(own.after_request(0.5)),
            short(own.after_request(0.99)),
            w.created,
        );
        if let Some(m) = on.server_memory {
            let _ = writeln!(
                out,
                "Server resident memory afterwards: {} (etcd's own not included).\n",
                human_bytes(m.rss_kib * 1024)
            );
        }
    }

    fn render_watch(&self, out: &mut String) {
        let w = &self.watch;
        let _ = writeln!(
            out,
            "## Watch delivery (one watch open while creating one at a time)\n"
        );
        let _ = writeln!(out, "| From | Events | p50 | p99 | Max |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| `201 Created` received | {} | {} | {} | {} |",
            w.after_reply_us.len(),
            signed_us(w.after_reply(0.5)),
            signed_us(w.after_reply(0.99)),
            signed_us(w.after_reply(1.0)),
        );
        let _ = writeln!(
            out,
            "| create request sent | {} | {} | {} | {} |\n",
            w.after_request.len(),
            short(w.after_request(0.5)),
            short(w.after_request(0.99)),
            short(w.after_request(1.0)),
        );
        let _ = writeln!(
            out,
            "{} creates; {} of the events arrived before their `201` (negative figures): the \
             server publishes a change to watchers once it is durable, then answers.\n",
            w.created,
            w.before_reply(),
        );
        if w.missing > 0 {
            let _ = writeln!(
                out,
                "{} created objects never showed up on the watch.\n",
                w.missing
            );
        }
    }

    fn render_store(&self, out: &mut String) {
        let _ = writeln!(out, "## Store: Bramble `Store` versus etcd, both durable\n");
        match &self.etcd {
            Ok(etcd) => {
                let _ = writeln!(
                    out,
                    "{} with default settings, single member; it preallocates its write-ahead \
                     log in 64 MiB segments.\n",
                    etcd.version
                );
            }
            Err(why) => {
                let _ = writeln!(out, "etcd could not be run: {why}\n");
            }
        }
        let _ = writeln!(
            out,
            "| Operation | Concurrency | Bramble per second | Bramble p50 / p99 | etcd per second | etcd p50 / p99 |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        let etcd_rows = self
            .etcd
            .as_ref()
            .ok()
            .map(|e| phase_rows(&e.phases, "", ""));
        for (i, (op, s)) in phase_rows(&self.store, "put", "get")
            .into_iter()
            .enumerate()
        {
            let (rate, latency) = match etcd_rows.as_ref().map(|rows| rows[i].1) {
                Some(e) => (format!("{:.0}", e.rate()), latencies(e)),
                None => ("n/a".into(), "n/a".into()),
            };
            let _ = writeln!(
                out,
                "| {op} | {} | {:.0} | {} | {rate} | {latency} |",
                s.concurrency,
                s.rate(),
                latencies(s),
            );
        }
        let (etcd_disk, etcd_memory) = match &self.etcd {
            Ok(e) => (
                disk(e.disk),
                e.memory
                    .map_or_else(|| "unknown".into(), |m| human_bytes(m.rss_kib * 1024)),
            ),
            Err(_) => ("n/a".into(), "n/a".into()),
        };
        let _ = writeln!(
            out,
            "\nOn disk after the workload: Bramble {}, etcd {etcd_disk}. etcd resident memory: {etcd_memory}.\n",
            disk(self.store_disk)
        );
        let puts = |p: &Phases| (p.write_serial.ok + p.write_parallel.ok) as u64;
        let amplification = |written: u64, p: &Phases| {
            let acked = puts(p).saturating_mul(self.value_bytes as u64);
            if acked == 0 {
                "n/a".to_string()
            } else {
                format!("{:.1}", written as f64 / acked as f64)
            }
        };
        let etcd_amp = self.etcd.as_ref().map_or_else(
            |_| "n/a".to_string(),
            |e| {
                format!(
                    "{} ({})",
                    amplification(e.written, &e.phases),
                    human_bytes(e.written)
                )
            },
        );
        let _ = writeln!(
            out,
            "Write amplification of the puts (bytes written to storage, from `write_bytes` in \
             `/proc/PID/io`, per byte of value acknowledged; values are {} bytes): Bramble {} \
             ({}), etcd {etcd_amp}.\n",
            self.value_bytes,
            amplification(self.store_written, &self.store),
            human_bytes(self.store_written),
        );
        let _ = writeln!(
            out,
            "Bramble's store is called in process, as the API server calls it; etcd is reached \
             over loopback HTTP/1.1 through its JSON gateway, a hop every etcd client pays in \
             some form. Bramble serves gets from memory; etcd keeps every revision until \
             compaction.\n"
        );
    }

    fn render_churn(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Store churn: the same objects rewritten, one write at a time\n"
        );
        let _ = writeln!(
            out,
            "| Workload | Updates/s | Write amplification | Live data | Directory, open | Directory, reopened |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for churn in &self.churns {
            match churn {
                Ok(c) => {
                    let w = c.churn;
                    let rate = c.done as f64 / c.elapsed.as_secs_f64().max(1e-9);
                    let amp = c.written as f64 / c.acknowledged.max(1) as f64;
                    let _ = writeln!(
                        out,
                        "| {} updates of {} × {} | {rate:.0} | {amp:.1} ({}) | {} | {} | {} |",
                        w.updates,
                        w.objects,
                        human_bytes(w.bytes as u64),
                        human_bytes(c.written),
                        human_bytes(c.live),
                        human_bytes(c.disk.allocated),
                        human_bytes(c.disk_reopened.allocated),
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "| failed: {e} | | | | | |");
                }
            }
        }
        let _ = writeln!(
            out,
            "\nEach update is durable (`fdatasync`) before the next starts. Directory sizes are \
             allocated blocks, with the store open after the last update and after closing and \
             reopening it.\n"
        );
    }

    fn render_errors(&self, out: &mut String) {
        let mut phases: Vec<(String, &Stats)> = phase_rows(&self.api, "API create", "API get")
            .into_iter()
            .chain(phase_rows(&self.store, "Bramble put", "Bramble get"))
            .map(|(op, s)| (format!("{op} (concurrency {})", s.concurrency), s))
            .collect();
        if let Ok(e) = &self.etcd {
            phases.extend(
                phase_rows(&e.phases, "etcd put", "etcd get")
                    .into_iter()
                    .map(|(op, s)| (format!("{op} (concurrency {})", s.concurrency), s)),
            );
        }
        let failed: Vec<_> = phases.iter().filter(|(_, s)| s.errors > 0).collect();
        let watch_error = self.watch.error.as_ref();
        if failed.is_empty() && watch_error.is_none() {
            return;
        }
        let _ = writeln!(out, "## Failures\n");
        for (what, s) in failed {
            let first = s.first_error.as_deref().unwrap_or("");
            let _ = writeln!(out, "- {what}: {} failed; first: {first}", s.errors);
        }
        if let Some(e) = watch_error {
            let _ = writeln!(out, "- watch: {e}");
        }
        out.push('\n');
    }
}

/// The four phases as table rows, labelled with the write and read operation names.
fn phase_rows<'a>(phases: &'a Phases, write: &str, read: &str) -> Vec<(String, &'a Stats)> {
    vec![
        (write.to_string(), &phases.write_serial),
        (write.to_string(), &phases.write_parallel),
        (read.to_string(), &phases.read_serial),
        (read.to_string(), &phases.read_parallel),
    ]
}

fn latencies(s: &Stats) -> String {
    format!(
        "{} / {}",
        short(s.percentile(0.5)),
        short(s.percentile(0.99))
    )
}

fn disk(d: DiskUsage) -> String {
    format!(
        "{} ({} allocated)",
        human_bytes(d.apparent),
        human_bytes(d.allocated)
    )
}

/// A signed microsecond figure, in the unit that keeps it readable.
fn signed_us(us: f64) -> String {
    if us.abs() < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

/// A latency in the unit that keeps it readable.
fn short(d: Duration) -> String {
    if d < Duration::from_micros(1) {
        format!("{} ns", d.as_nanos())
    } else if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }
}
