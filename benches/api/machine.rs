//! What the report says about the machine and the processes measured: CPU, kernel, the
//! filesystem the stores wrote to, resident memory from `/proc/PID/status`, and on-disk size
//! of a directory tree.

use std::path::Path;

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident set size now (`VmRSS`), in KiB.
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM`), in KiB.
    pub peak_kib: u64,
}

/// Reads the resident memory of process `pid`; `None` if it is gone or not on Linux.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// Size of everything under a directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskUsage {
    /// Sum of file lengths.
    pub apparent: u64,
    /// Blocks actually allocated (what `du` shows; etcd preallocates its WAL segments).
    pub allocated: u64,
}

/// Walks `dir` and adds up its files.
pub fn disk_usage(dir: &Path) -> DiskUsage {
    use std::os::unix::fs::MetadataExt;
    let mut total = DiskUsage::default();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total.apparent += meta.len();
                total.allocated += meta.blocks() * 512;
            }
        }
    }
    total
}

/// One line describing this machine: CPU model, cores, kernel.
pub fn describe() -> String {
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

/// The 1-minute load average, from `/proc/loadavg`: other work on the machine skews every
/// figure, so the report states it.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// A report's title, then its date and machine lines (with the load average the run started
/// under), as every bench's report opens.
pub fn report_opening(title: &str, date: &str, machine: &str, load_before: Option<f64>) -> String {
    let load = load_before.map_or_else(|| "unknown".into(), |l| format!("{l:.2}"));
    format!(
        "# {title}\n\n- Date: {date}\n- Machine: {machine}; load average {load} when the run started\n"
    )
}

/// The filesystem type holding `path`, from `/proc/self/mounts` (longest matching mount).
pub fn filesystem(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, at, kind) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(at).then(|| (at.len(), kind.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".into(), |(_, kind)| kind)
}

/// Bytes as a short human figure (KiB/MiB).
pub fn human_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB {
        format!("{:.1} MiB", b / KIB / KIB)
    } else {
        format!("{:.1} KiB", b / KIB)
    }
}

/// Bytes this process has caused to be written to storage (`write_bytes` of
/// `/proc/self/io`); 0 where the kernel does not account I/O.
pub fn write_bytes() -> u64 {
    write_bytes_at("/proc/self/io").unwrap_or(0)
}

/// Bytes process `pid` has caused to be written to storage; `None` if it is gone or the
/// kernel does not account I/O.
pub fn write_bytes_of(pid: u32) -> Option<u64> {
    write_bytes_at(&format!("/proc/{pid}/io"))
}

fn write_bytes_at(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok().and_then(|io| {
        io.lines()
            .find_map(|l| l.strip_prefix("write_bytes:"))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// The `bramble` to measure: this build's, or the one `BRAMBLE_BENCH_BINARY` names (another
/// build, such as the static musl one boards run).
pub fn bramble_binary() -> String {
    std::env::var("BRAMBLE_BENCH_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_bramble").to_string())
}
