//! The pod benchmark's report: every figure measured, as Markdown tables that read in a
//! terminal and paste into the README unchanged.

use std::fmt::Write;
use std::time::Duration;

use crate::idle_memory::{IdleMemory, Settled, Usage, SETTLE_STEP, SETTLE_TOLERANCE};
use crate::load::percentile;
use crate::machine::human_bytes;
use crate::runc_baseline::Baseline;
use crate::startup::Startup;

/// The command that produces this report.
pub const COMMAND: &str = "cargo bench --bench pods";

/// Everything one run measured.
pub struct Report {
    /// When the run started (UTC).
    pub date: String,
    /// CPU, cores and kernel.
    pub machine: String,
    /// The 1-minute load average when the run started.
    pub load_before: Option<f64>,
    /// Filesystem holding the data directories.
    pub filesystem: String,
    /// One start-up run per runtime.
    pub startups: Vec<Startup>,
    /// Bare runc.
    pub baseline: Baseline,
    /// Idle memory.
    pub memory: IdleMemory,
    /// Wall time of the whole bench.
    pub duration: Duration,
}

impl Report {
    /// The report as Markdown.
    pub fn render(&self) -> String {
        let mut out = crate::machine::report_opening(
            "Bramble pod benchmark",
            &self.date,
            &self.machine,
            self.load_before,
        );
        let _ = writeln!(out, "- Disk: {}", self.filesystem);
        let _ = writeln!(
            out,
            "- Command: `{COMMAND}` (took {:.0} s)",
            self.duration.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "- Pods: one busybox-static container running `sh -c 'trap … TERM; while true; do \
             sleep 1; done'`, image already pulled (`imagePullPolicy: IfNotPresent`)\n"
        );
        self.render_startup(&mut out);
        self.render_kubectl(&mut out);
        self.render_memory(&mut out);
        self.render_problems(&mut out);
        out
    }

    fn render_startup(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Pod start-up: API create to Running, one pod at a time\n"
        );
        let _ = writeln!(
            out,
            "| Path | Runs | p50 | p90 | Min | Max | p50 / runc p50 |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        let floor = percentile(&self.baseline.runs, 0.5);
        for s in &self.startups {
            let ratio = ratio(percentile(&s.running, 0.5), floor);
            let _ = writeln!(
                out,
                "| bramble, `--runtime {}` | {} | {ratio} |",
                s.runtime,
                spread(&s.running),
            );
        }
        let _ = writeln!(
            out,
            "| bare `runc create` + `runc start` | {} | 1.0× |\n",
            spread(&self.baseline.runs)
        );
        let _ = writeln!(
            out,
            "Where the bramble time goes (p50 from sending the create):\n"
        );
        let _ = writeln!(
            out,
            "| Runtime | `201 Created` | Bound to the node | Running | First pod, pulling the image |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for s in &self.startups {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                s.runtime,
                ms(percentile(&s.create, 0.5)),
                ms(percentile(&s.bound, 0.5)),
                ms(percentile(&s.running, 0.5)),
                s.first_pull.map_or_else(|| "n/a".into(), ms),
            );
        }
        let _ = writeln!(
            out,
            "\nThe create is an HTTPS POST over one HTTP/2 connection with mutual TLS (Bramble's \
             own client from the admin kubeconfig); Running is the first event on an open pod \
             watch with `status.phase: Running` and the container's state `running`. That span \
             holds the durable (fsynced) API write, scheduling and binding, the kubelet's \
             watch, the pod sandbox (network namespace, veth on the node bridge, an address, \
             IPC and UTS namespaces), `/etc/hosts` and `resolv.conf`, the overlay root \
             filesystem, the bundle, the runtime, the per-container supervisor and the status \
             write. The runc baseline ({}) starts the same image, unpacked once by umoci, with \
             a `config.json` from the kubelet's own spec builder (same command, mounts, \
             capabilities and new pid, mount, cgroup, network, IPC and UTS namespaces) and \
             times only the two runc commands.\n",
            self.baseline.version
        );
    }

    fn render_kubectl(&self, out: &mut String) {
        let _ = writeln!(out, "## `kubectl apply` to Running\n");
        let _ = writeln!(
            out,
            "| Runtime | Runs | `kubectl apply` exits (p50) | kubectl started to Running (p50 / min / max) |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for s in &self.startups {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} / {} / {} |",
                s.runtime,
                s.kubectl_running.len(),
                ms(percentile(&s.kubectl_wall, 0.5)),
                ms(percentile(&s.kubectl_running, 0.5)),
                ms(percentile(&s.kubectl_running, 0.0)),
                ms(percentile(&s.kubectl_running, 1.0)),
            );
        }
        let _ = writeln!(
            out,
            "\nkubectl v1.32 with its discovery cache kept between runs, as on a user's machine; \
             most of its time is its own start-up, discovery and OpenAPI reads.\n"
        );
    }

    fn render_memory(&self, out: &mut String) {
        let m = &self.memory;
        let _ = writeln!(out, "## Memory at rest (`--runtime {}`)\n", m.runtime);
        let _ = writeln!(out, "| Process | RSS | PSS | Settled after |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
        let row = |what: String, s: Option<Settled>| match s {
            Some(s) => format!(
                "| {what} | {} | {} | {:.0} s{} |",
                kib(s.usage.rss_kib),
                s.usage.pss_kib.map_or_else(|| "n/a".into(), kib),
                s.after.as_secs_f64(),
                if s.settled { "" } else { " (still moving)" }
            ),
            None => format!("| {what} | n/a | n/a | n/a |"),
        };
        let _ = writeln!(
            out,
            "{}",
            row("server, own node registered, 0 pods".into(), m.empty)
        );
        let _ = writeln!(
            out,
            "{}",
            row(format!("server, {} pods Running", m.running), m.loaded)
        );
        let sup = m.supervisor_usage;
        let _ = writeln!(
            out,
            "| {} container supervisors (`bramble runtime shim`), summed | {} | {} | |",
            m.supervisors,
            kib(sup.rss_kib),
            sup.pss_kib.map_or_else(|| "n/a".into(), kib),
        );
        if let Some((bytes, window)) = m.idle_writes {
            let per_hour = bytes as f64 * 3600.0 / window.as_secs_f64().max(1.0);
            let _ = writeln!(
                out,
                "\nIdle writes: the server with its node and no pods wrote {} to storage in {:.0} s \
                 (`write_bytes` of `/proc/PID/io`), {:.2} MiB per hour.",
                kib(bytes / 1024),
                window.as_secs_f64(),
                per_hour / f64::from(1 << 20),
            );
        }
        if let (Some(empty), Some(loaded)) = (m.empty, m.loaded) {
            if m.running > 0 {
                let per_pod = |server: fn(&Usage) -> u64, shims: u64| {
                    let delta = server(&loaded.usage).saturating_sub(server(&empty.usage));
                    kib((delta + shims) / m.running as u64)
                };
                let _ = writeln!(
                    out,
                    "\nPer pod: {} RSS ({} PSS) — the server's growth plus one supervisor.",
                    per_pod(|u| u.rss_kib, sup.rss_kib),
                    per_pod(|u| u.pss_kib.unwrap_or(u.rss_kib), sup.pss_kib.unwrap_or(0)),
                );
            }
        }
        let _ = writeln!(
            out,
            "\nA fresh server; each reading is taken once two readings {} s apart differ by \
             less than {:.0} %. The supervisors share the `bramble` executable's pages, which \
             RSS counts once per process and PSS divides among them. The containers' own \
             processes (`sh`, `sleep`) are not counted.\n",
            SETTLE_STEP.as_secs(),
            SETTLE_TOLERANCE * 100.0
        );
    }

    fn render_problems(&self, out: &mut String) {
        let mut lines = Vec::new();
        for s in &self.startups {
            if let Some(e) = &s.error {
                lines.push(format!("- start-up, {}: {e}", s.runtime));
            }
            for l in &s.leftovers {
                lines.push(format!("- left behind by the {} board: {l}", s.runtime));
            }
        }
        if let Some(e) = &self.baseline.error {
            lines.push(format!("- runc baseline: {e}"));
        }
        if let Some(e) = &self.memory.error {
            lines.push(format!("- memory: {e}"));
        }
        for l in &self.memory.leftovers {
            lines.push(format!("- left behind by the memory board: {l}"));
        }
        if lines.is_empty() {
            let _ = writeln!(
                out,
                "Every board was shut down clean: no pods, supervisors, mounts, namespaces, \
                 cgroups, bridge or nftables table left.\n"
            );
            return;
        }
        let _ = writeln!(out, "## Problems\n");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        out.push('\n');
    }
}

/// `runs | p50 | p90 | min | max` of sorted durations.
fn spread(sorted: &[Duration]) -> String {
    format!(
        "{} | {} | {} | {} | {}",
        sorted.len(),
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.9)),
        ms(percentile(sorted, 0.0)),
        ms(percentile(sorted, 1.0)),
    )
}

fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() || a.is_zero() {
        return "n/a".into();
    }
    format!("{:.1}×", a.as_secs_f64() / b.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn kib(k: u64) -> String {
    human_bytes(k * 1024)
}
