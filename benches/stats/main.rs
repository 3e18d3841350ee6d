//! `cargo bench --bench stats`: what the kubelet's stats collection (cAdvisor's job) costs a
//! board, with 0 and with 30 pods, and whether its memory stays flat over a day of sampling.
//!
//! Real cgroups: each pod is a cgroup (v2, or v1's cpuacct, memory and pids hierarchies)
//! under a scratch parent with one container cgroup holding a `sleep` process, a writable layer of 200 small files and a 1 MiB log, as
//! the kubelet lays them out. The sampler ([`Collector::sample_at`]) is driven directly on
//! this thread, its clock advanced one 10 s period per sample, so a simulated day (8,640
//! samples, directory walks every minute included) takes seconds. CPU is this thread's CPU
//! time per sample, set against the 10 s period as a share of one core; memory is the
//! bytes the allocator holds for the stats (a counting allocator wraps the system's), read
//! after warming up and then every simulated six hours. A scrape of `/stats/summary` and of
//! `/metrics/resource` is timed too. The report goes to `target/bench/stats-report.md` and
//! is printed. Needs root; without cargo's `--bench` flag it exits at once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bramble::monitor::sampler::Collector;
use bramble::monitor::{endpoints, ContainerEntry, NodeStats, PodEntry, SamplerConfig};

/// Counts the bytes held, to read the stats' own memory.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as the caller's contract
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as the caller's contract
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as the caller's contract
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const PERIOD: Duration = Duration::from_secs(10);
const FS_PERIOD: Duration = Duration::from_secs(60);
const PODS: usize = 30;
/// Samples timed per pod count (about 33 simulated minutes).
const TIMED_SAMPLES: u32 = 200;
/// A simulated day at one sample per period.
const DAY_SAMPLES: u32 = 8_640;
const COMMAND: &str = "sudo -E cargo bench --bench stats";

fn held() -> isize {
    HELD.load(Ordering::Relaxed)
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The cgroup directories a cgroup path has: one on cgroup v2, one per controller the
/// sampler reads on v1.
fn cgroup_dirs(cgroup: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let rel = cgroup.trim_start_matches('/');
    if root.join("cgroup.controllers").exists() {
        vec![root.join(rel)]
    } else {
        ["cpuacct", "memory", "pids"]
            .iter()
            .map(|c| root.join(c).join(rel))
            .collect()
    }
}

/// Creates `cgroup` (with the controllers its children need on v2).
fn make_cgroup(cgroup: &str) -> anyhow::Result<()> {
    for dir in cgroup_dirs(cgroup) {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating {} (needs root)", dir.display()))?;
        if dir.starts_with("/sys/fs/cgroup")
            && Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        {
            std::fs::write(dir.join("cgroup.subtree_control"), "+cpu +memory +pids")
                .with_context(|| format!("enabling controllers in {}", dir.display()))?;
        }
    }
    Ok(())
}

fn move_into(cgroup: &str, pid: u32) -> anyhow::Result<()> {
    for dir in cgroup_dirs(cgroup) {
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())
            .with_context(|| format!("moving {pid} into {}", dir.display()))?;
    }
    Ok(())
}

/// The scratch cgroups and processes; removed on drop.
struct Pods {
    parent: String,
    sleepers: Vec<Child>,
    entries: Vec<PodEntry>,
}

impl Drop for Pods {
    fn drop(&mut self) {
        for c in &mut self.sleepers {
            let _ = c.kill();
            let _ = c.wait();
        }
        // children first
        for e in &self.entries {
            for c in &e.containers {
                cgroup_dirs(&c.cgroup)
                    .iter()
                    .for_each(|d| drop(std::fs::remove_dir(d)));
            }
            cgroup_dirs(&e.cgroup)
                .iter()
                .for_each(|d| drop(std::fs::remove_dir(d)));
        }
        cgroup_dirs(&self.parent)
            .iter()
            .for_each(|d| drop(std::fs::remove_dir(d)));
    }
}

fn make_pods(n: usize, scratch: &Path) -> anyhow::Result<Pods> {
    let parent = format!("/bramble-bench-stats-{}-{n}", std::process::id());
    make_cgroup(&parent)?;
    let mut pods = Pods {
        parent: parent.clone(),
        sleepers: Vec::new(),
        entries: Vec::new(),
    };
    for i in 0..n {
        let uid = format!("00000000-0000-0000-0000-{i:012}");
        let pod_cgroup = format!("{parent}/pod{uid}");
        make_cgroup(&pod_cgroup)?;
        let container_cgroup = format!("{pod_cgroup}/{uid}_app_0");
        make_cgroup(&container_cgroup)?;
        let child = Command::new("sleep")
            .arg("3600")
            .stdin(Stdio::null())
            .spawn()
            .context("starting sleep")?;
        let pid = child.id();
        pods.sleepers.push(child);
        move_into(&container_cgroup, pid)?;
        let upper = scratch.join(format!("{n}/pod{i}/upper"));
        let logs = scratch.join(format!("{n}/pod{i}/logs"));
        std::fs::create_dir_all(&upper)?;
        std::fs::create_dir_all(&logs)?;
        for f in 0..200 {
            std::fs::write(upper.join(format!("f{f}")), [0u8; 512])?;
        }
        std::fs::write(logs.join("0.log"), vec![b'x'; 1 << 20])?;
        pods.entries.push(PodEntry {
            name: format!("pod-{i}"),
            namespace: "default".into(),
            uid: uid.clone(),
            start_time: chrono::Utc::now(),
            cgroup: pod_cgroup,
            containers: vec![ContainerEntry {
                name: "app".into(),
                id: format!("{uid}_app_0"),
                image: "busybox".into(),
                start_time: Some(chrono::Utc::now()),
                pid: i32::try_from(pid).ok(),
                cgroup: container_cgroup,
                upper_dir: upper,
                log_dir: logs,
            }],
            volumes: Vec::new(),
        });
    }
    Ok(pods)
}

struct Figures {
    pods: usize,
    cpu_per_sample: Duration,
    core_share: f64,
    held_bytes: isize,
    summary_render: Duration,
    summary_bytes: usize,
    resource_render: Duration,
}

fn measure(pods: usize, scratch: &Path, day: &mut Vec<(u32, isize)>) -> anyhow::Result<Figures> {
    let set = make_pods(pods, scratch)?;
    let before = held();
    let stats = NodeStats::new(PERIOD, FS_PERIOD);
    for e in &set.entries {
        stats.inventory().publish(e.clone());
    }
    let data = scratch.join("data");
    std::fs::create_dir_all(data.join("images"))?;
    let mut collector = Collector::new(SamplerConfig::for_host("bench", data, "bramble0"));
    let start = Instant::now();
    let start_ms = chrono::Utc::now().timestamp_millis();
    let mut tick = 0u32;
    let sample = |collector: &mut Collector, tick: &mut u32| {
        let offset = PERIOD * *tick;
        collector.sample_at(&stats, start + offset, start_ms + offset.as_millis() as i64);
        *tick += 1;
    };
    // warm up: one filesystem period, so every buffer exists
    for _ in 0..(FS_PERIOD.as_secs() / PERIOD.as_secs() + 1) {
        sample(&mut collector, &mut tick);
    }
    let cpu0 = thread_cpu();
    for _ in 0..TIMED_SAMPLES {
        sample(&mut collector, &mut tick);
    }
    let cpu_per_sample = (thread_cpu() - cpu0) / TIMED_SAMPLES;
    let held_bytes = held() - before;
    let t = Instant::now();
    let summary =
        endpoints::get(&stats, "/stats/summary").map_err(|e| anyhow::anyhow!(e.message))?;
    let summary_render = t.elapsed();
    let t = Instant::now();
    endpoints::get(&stats, "/metrics/resource").map_err(|e| anyhow::anyhow!(e.message))?;
    let resource_render = t.elapsed();
    if pods == PODS {
        day.push((tick, held() - before));
        while tick < DAY_SAMPLES {
            sample(&mut collector, &mut tick);
            if tick % (DAY_SAMPLES / 4) == 0 {
                // a scrape every six hours too: scrapes must not leave anything behind
                let _ = endpoints::get(&stats, "/stats/summary");
                day.push((tick, held() - before));
            }
        }
    }
    drop(collector);
    Ok(Figures {
        pods,
        cpu_per_sample,
        core_share: cpu_per_sample.as_secs_f64() / PERIOD.as_secs_f64() * 100.0,
        held_bytes,
        summary_render,
        summary_bytes: summary.body.len(),
        resource_render,
    })
}

fn run() -> anyhow::Result<String> {
    let scratch = tempfile::tempdir().context("scratch directory")?;
    let mut day = Vec::new();
    let figures = [
        measure(0, scratch.path(), &mut day)?,
        measure(PODS, scratch.path(), &mut day)?,
    ];
    let mut r = String::new();
    writeln!(r, "# Stats collection (`{COMMAND}`)\n")?;
    writeln!(
        r,
        "One sample every {} s, directory walks every {} s, on this machine ({} CPUs).\n",
        PERIOD.as_secs(),
        FS_PERIOD.as_secs(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )?;
    writeln!(r, "| pods | CPU per sample | share of one core | stats memory | `/stats/summary` render (bytes) | `/metrics/resource` render |")?;
    writeln!(r, "|---:|---:|---:|---:|---:|---:|")?;
    for f in &figures {
        writeln!(
            r,
            "| {} | {:.2} ms | {:.3} % | {:.1} KiB | {:.2} ms ({}) | {:.2} ms |",
            f.pods,
            f.cpu_per_sample.as_secs_f64() * 1e3,
            f.core_share,
            f.held_bytes as f64 / 1024.0,
            f.summary_render.as_secs_f64() * 1e3,
            f.summary_bytes,
            f.resource_render.as_secs_f64() * 1e3,
        )?;
    }
    writeln!(r, "\nMemory over a simulated day with {PODS} pods:\n")?;
    writeln!(r, "| simulated uptime | stats memory |")?;
    writeln!(r, "|---:|---:|")?;
    for (tick, bytes) in &day {
        let hours = f64::from(*tick) * PERIOD.as_secs_f64() / 3600.0;
        writeln!(r, "| {hours:.1} h | {:.1} KiB |", *bytes as f64 / 1024.0)?;
    }
    Ok(r)
}

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("stats benchmark skipped: run it with `{COMMAND}`");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(report) => {
            let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
            let _ = std::fs::create_dir_all(&out);
            let _ = std::fs::write(out.join("stats-report.md"), &report);
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stats benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
