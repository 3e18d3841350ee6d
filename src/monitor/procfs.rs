//! The node's own figures from `/proc`, as cAdvisor's machine and root-container stats read
//! them: CPU time from `/proc/stat` (busy jiffies, `USER_HZ` = 100 on every Linux
//! architecture), memory from `/proc/meminfo` (usage = `MemTotal` − `MemFree`, working set
//! = usage − `Inactive(file)`, the root cgroup's rule), page faults from `/proc/vmstat`,
//! thread count and PID limit (`RlimitStats`) from `/proc/loadavg` and
//! `/proc/sys/kernel/pid_max`, and interface counters from a `net/dev` file (the host's,
//! or `/proc/<pid>/net/dev` of a process in a pod, which shows the pod's network namespace).
//!
//! The reader is given the proc root (`/proc`, or a fake tree in tests) and reads into one
//! reused buffer; parsers take file contents.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Jiffies per second in `/proc/stat` (the kernel's `USER_HZ`, fixed at 100 for userspace).
const USER_HZ: u64 = 100;
/// Interfaces kept per network namespace (a pod has `eth0`; a board a few more).
pub const MAX_INTERFACES: usize = 8;
/// The kernel's interface name limit (`IFNAMSIZ`, terminating NUL excluded).
const IFNAME_MAX: usize = 16;

/// One interface's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// Interface name.
    pub name: heapless::String<IFNAME_MAX>,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Transmit errors.
    pub tx_errors: u64,
}

/// The interfaces of one network namespace, at most [`MAX_INTERFACES`].
pub type Interfaces = heapless::Vec<Interface, MAX_INTERFACES>;

/// The node's memory, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeMemory {
    /// `MemTotal`.
    pub total: u64,
    /// `MemTotal` − `MemFree`.
    pub usage: u64,
    /// Usage − `Inactive(file)`.
    pub working_set: u64,
    /// `AnonPages`.
    pub rss: u64,
    /// `Cached`.
    pub cache: u64,
}

/// Busy CPU time of the whole machine, in nanoseconds, from `/proc/stat`'s `cpu` line:
/// user, nice, system, irq, softirq and steal (idle and iowait are not busy; guest time
/// is already inside user).
pub fn parse_cpu_ns(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let mut f = [0u64; 8];
    for (slot, v) in f.iter_mut().zip(line.split_ascii_whitespace().skip(1)) {
        *slot = v.parse().unwrap_or(0);
    }
    let jiffies = [0, 1, 2, 5, 6, 7]
        .iter()
        .fold(0u64, |a, &i| a.saturating_add(f[i]));
    Some(jiffies.saturating_mul(1_000_000_000 / USER_HZ))
}

/// The value in bytes of `key` (e.g. `MemTotal`) in a `/proc/meminfo` text.
pub fn meminfo_bytes(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let mut f = rest.split_ascii_whitespace();
        let n: u64 = f.next()?.parse().ok()?;
        Some(match f.next() {
            Some("kB") => n.saturating_mul(1024),
            _ => n,
        })
    })
}

/// The node's memory from a `/proc/meminfo` text.
pub fn parse_meminfo(text: &str) -> Option<NodeMemory> {
    let total = meminfo_bytes(text, "MemTotal")?;
    let free = meminfo_bytes(text, "MemFree")?;
    let usage = total.saturating_sub(free);
    let inactive_file = meminfo_bytes(text, "Inactive(file)").unwrap_or(0);
    Some(NodeMemory {
        total,
        usage,
        working_set: usage.saturating_sub(inactive_file),
        rss: meminfo_bytes(text, "AnonPages").unwrap_or(0),
        cache: meminfo_bytes(text, "Cached").unwrap_or(0),
    })
}

/// (minor and major, major) page faults from a `/proc/vmstat` text.
pub fn parse_vmstat_faults(text: &str) -> (Option<u64>, Option<u64>) {
    (
        super::cgroup::keyed(text, "pgfault"),
        super::cgroup::keyed(text, "pgmajfault"),
    )
}

/// Threads on the machine: the total after the slash in `/proc/loadavg`'s fourth field (what
/// `sysinfo`'s `procs`, which upstream's `curproc` reports, counts).
pub fn parse_loadavg_threads(text: &str) -> Option<u64> {
    let field = text.split_ascii_whitespace().nth(3)?;
    field.split_once('/')?.1.parse().ok()
}

/// The interfaces of a `net/dev` text whose names `keep` accepts, at most
/// [`MAX_INTERFACES`] of them.
pub fn parse_net_dev(text: &str, keep: impl Fn(&str) -> bool) -> Interfaces {
    let mut out = Interfaces::new();
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if !keep(name) {
            continue;
        }
        let mut iface = Interface::default();
        if iface.name.push_str(name).is_err() {
            continue;
        }
        for (i, v) in counters.split_ascii_whitespace().enumerate().take(11) {
            let v: u64 = v.parse().unwrap_or(0);
            match i {
                0 => iface.rx_bytes = v,
                2 => iface.rx_errors = v,
                8 => iface.tx_bytes = v,
                10 => iface.tx_errors = v,
                _ => {}
            }
        }
        if out.push(iface).is_err() {
            break;
        }
    }
    out
}

/// Reads files below a proc root.
#[derive(Debug)]
pub struct ProcReader {
    root: PathBuf,
    buf: String,
}

impl ProcReader {
    /// A reader of the proc filesystem mounted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            buf: String::with_capacity(4096),
        }
    }

    /// The text of `<root>/<rel>` in the reused buffer, or `None`.
    pub fn read(&mut self, rel: impl AsRef<Path>) -> Option<&str> {
        self.buf.clear();
        let mut f = std::fs::File::open(self.root.join(rel)).ok()?;
        f.read_to_string(&mut self.buf).ok()?;
        Some(&self.buf)
    }

    /// Busy CPU time of the node, in nanoseconds.
    pub fn cpu_ns(&mut self) -> Option<u64> {
        parse_cpu_ns(self.read("stat")?)
    }

    /// The node's memory.
    pub fn memory(&mut self) -> Option<NodeMemory> {
        parse_meminfo(self.read("meminfo")?)
    }

    /// The node's (all, major) page faults.
    pub fn faults(&mut self) -> (Option<u64>, Option<u64>) {
        self.read("vmstat")
            .map_or((None, None), parse_vmstat_faults)
    }

    /// (`pid_max`, threads running) for `RlimitStats`.
    pub fn rlimit(&mut self) -> (Option<u64>, Option<u64>) {
        let max = self
            .read("sys/kernel/pid_max")
            .and_then(|t| t.trim().parse().ok());
        let cur = self.read("loadavg").and_then(parse_loadavg_threads);
        (max, cur)
    }

    /// The interfaces of the network namespace of process `pid` (`None`: the reader's own,
    /// `<root>/net/dev`) that `keep` accepts.
    pub fn interfaces(&mut self, pid: Option<i32>, keep: impl Fn(&str) -> bool) -> Interfaces {
        let text = match pid {
            Some(pid) => self.read(format!("{pid}/net/dev")),
            None => self.read("net/dev"),
        };
        text.map(|t| parse_net_dev(t, keep)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0       0          0
  eth0: 9876543    4321    3    0    0     0          0         0  1234567    2345    5    0    0     0       0          0
";

    #[test]
    fn net_dev_counters_by_interface() {
        let ifs = parse_net_dev(NET_DEV, |n| n != "lo");
        assert_eq!(ifs.len(), 1);
        let eth0 = &ifs[0];
        assert_eq!(eth0.name.as_str(), "eth0");
        assert_eq!(
            (eth0.rx_bytes, eth0.rx_errors, eth0.tx_bytes, eth0.tx_errors),
            (9_876_543, 3, 1_234_567, 5)
        );
    }

    #[test]
    fn node_cpu_memory_and_rlimit_from_proc_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("sys/kernel")).unwrap();
        std::fs::create_dir_all(root.join("42/net")).unwrap();
        std::fs::write(
            root.join("stat"),
            "cpu  100 20 30 5000 40 1 2 3 0 0\ncpu0 50 10 15 2500 20 1 1 1 0 0\n",
        )
        .unwrap();
        std::fs::write(
            root.join("meminfo"),
            "MemTotal:        1000000 kB\nMemFree:          400000 kB\nMemAvailable:     700000 kB\n\
             Cached:           250000 kB\nActive(file):     100000 kB\nInactive(file):   150000 kB\n\
             AnonPages:        200000 kB\n",
        )
        .unwrap();
        std::fs::write(
            root.join("vmstat"),
            "nr_free_pages 1\npgfault 777\npgmajfault 9\n",
        )
        .unwrap();
        std::fs::write(root.join("loadavg"), "0.10 0.20 0.30 2/345 6789\n").unwrap();
        std::fs::write(root.join("sys/kernel/pid_max"), "32768\n").unwrap();
        std::fs::write(root.join("42/net/dev"), NET_DEV).unwrap();
        let mut proc = ProcReader::new(root);
        // user + nice + system + irq + softirq + steal = 156 jiffies of 10 ms
        assert_eq!(proc.cpu_ns(), Some(1_560_000_000));
        assert_eq!(
            proc.memory(),
            Some(NodeMemory {
                total: 1_024_000_000,
                usage: 614_400_000,
                working_set: 614_400_000 - 153_600_000,
                rss: 204_800_000,
                cache: 256_000_000,
            })
        );
        assert_eq!(proc.faults(), (Some(777), Some(9)));
        assert_eq!(proc.rlimit(), (Some(32768), Some(345)));
        assert_eq!(proc.interfaces(Some(42), |_| true).len(), 2);
        assert!(proc.interfaces(Some(43), |_| true).is_empty());
    }
}
