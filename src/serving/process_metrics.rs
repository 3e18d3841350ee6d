//! The process figures every Prometheus client exports (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, ...), read from `/proc/self`, for both servers'
//! `/metrics`. Parsers take file contents so they are tested without the files.

use super::prometheus::{self, Type};

/// What `/proc/self/stat` and friends say about this process.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcessFigures {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident set, in bytes.
    pub resident_bytes: u64,
    /// Virtual memory, in bytes.
    pub virtual_bytes: u64,
    /// Start time, in seconds since the epoch.
    pub start_time_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The descriptor limit.
    pub max_fds: u64,
}

/// Reads `/proc/self/stat` content: `(utime + stime) / ticks`, vsize, rss pages and the
/// start time in ticks after boot, turned into absolute figures with `boot_time` (the
/// `btime` of `/proc/stat`). `None` for content not of that form.
pub fn parse_stat(
    stat: &str,
    ticks: u64,
    page_size: u64,
    boot_time: u64,
) -> Option<ProcessFigures> {
    // the command name is in parentheses and may hold spaces: fields start after its `)`
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); fields 14, 15, 22, 23 and 24 are utime, stime,
    // starttime, vsize and rss
    let field = |n: usize| fields.get(n.checked_sub(3)?)?.parse::<u64>().ok();
    let ticks = ticks.max(1) as f64;
    let cpu_ticks = field(14)?.saturating_add(field(15)?);
    Some(ProcessFigures {
        cpu_seconds: cpu_ticks as f64 / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)?.saturating_mul(page_size),
        start_time_seconds: boot_time as f64 + field(22)? as f64 / ticks,
        ..ProcessFigures::default()
    })
}

/// `btime` of `/proc/stat` content.
pub fn parse_boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The figures of this process now, or the defaults where `/proc` is unreadable.
pub fn read() -> ProcessFigures {
    // SAFETY: sysconf only reads configuration values
    let ticks = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100);
    // SAFETY: as above
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_boot_time(&s))
        .unwrap_or(0);
    let mut f = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s, ticks, page, boot))
        .unwrap_or_default();
    f.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        // `rlim_t` is narrower than u64 on some 32-bit targets
        #[allow(clippy::useless_conversion)]
        let soft = u64::from(limit.rlim_cur);
        f.max_fds = soft;
    }
    f
}

/// Writes the process families.
pub fn render(out: &mut String, f: &ProcessFigures) {
    let families: [(&str, &str, Type, String); 6] = [
        (
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            Type::Counter,
            prometheus::float(f.cpu_seconds),
        ),
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            Type::Gauge,
            f.resident_bytes.to_string(),
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            Type::Gauge,
            f.virtual_bytes.to_string(),
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            Type::Gauge,
            prometheus::float(f.start_time_seconds),
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            Type::Gauge,
            f.open_fds.to_string(),
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            Type::Gauge,
            f.max_fds.to_string(),
        ),
    ];
    for (name, help, kind, value) in families {
        prometheus::family(out, name, help, kind);
        prometheus::sample(out, name, &[], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_come_from_the_stat_fields_after_the_command_name() {
        // pid (comm with) spaces) state ppid ... utime=250 stime=50 ... starttime=1000 vsize rss
        let stat = "42 (bramble (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1000 104857600 2560 18446744073709551615";
        let f = parse_stat(stat, 100, 4096, 1_700_000_000).unwrap();
        assert_eq!(f.cpu_seconds, 3.0);
        assert_eq!(f.virtual_bytes, 104_857_600);
        assert_eq!(f.resident_bytes, 2560 * 4096);
        assert_eq!(f.start_time_seconds, 1_700_000_010.0);
        assert_eq!(
            parse_boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
        assert!(parse_stat("garbage", 100, 4096, 0).is_none());
    }

    #[test]
    fn this_process_has_open_descriptors_under_its_limit() {
        // (qemu-user's emulated /proc/self/stat reads zero for most fields; the parser is
        // checked on a real line above)
        let f = read();
        assert!(f.open_fds > 0 && f.open_fds <= f.max_fds, "{f:?}");
        let mut out = String::new();
        render(&mut out, &f);
        assert!(out.contains("# TYPE process_cpu_seconds_total counter\n"));
    }
}
