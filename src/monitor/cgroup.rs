//! A cgroup's CPU, memory and process figures, read as cAdvisor reads them, from the unified
//! hierarchy (v2) or from the per-controller ones (v1, and hybrid hosts where the runtime
//! uses v1; see `kubelet::runtime::cgroup`).
//!
//! - CPU: v2 `cpu.stat` `usage_usec` (× 1000), v1 `cpuacct.usage` (nanoseconds).
//! - Memory: usage is v2 `memory.current`, v1 `memory.usage_in_bytes`; the working set is
//!   usage minus inactive file pages (`inactive_file`, v1 `total_inactive_file`), never
//!   below zero, as cAdvisor and the kubelet define it; RSS is `anon` (v1 `total_rss`), the
//!   page cache `file` (v1 `total_cache`), faults `pgfault` and `pgmajfault` (v1 `total_`).
//! - Processes: `pids.current`.
//! - Memory limit: v2 `memory.max`, v1 `memory.limit_in_bytes` (none when unlimited), for
//!   the summary's `availableBytes` = limit − working set.
//!
//! The reader is given the mount root (`/sys/fs/cgroup`, or a fake tree in tests) and reads
//! into one reused buffer.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Which hierarchy a cgroup is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// Per-controller hierarchies under `<root>/<controller>/`.
    V1,
    /// The unified hierarchy at `<root>`.
    V2,
}

/// What one read of a cgroup found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupReading {
    /// Cumulative CPU time, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use, page cache included.
    pub memory_usage: u64,
    /// Usage minus inactive file pages.
    pub working_set: u64,
    /// Anonymous memory.
    pub rss: u64,
    /// Page cache.
    pub cache: u64,
    /// Cumulative minor and major page faults.
    pub page_faults: u64,
    /// Cumulative major page faults.
    pub major_page_faults: u64,
    /// Processes (tasks) in the cgroup, when the pids controller is there.
    pub pids: Option<u64>,
    /// The memory limit, when one is set.
    pub memory_limit: Option<u64>,
}

/// v1 reports "no limit" as the largest page-aligned `i64`; anything this large is no limit.
const V1_UNLIMITED: u64 = 1 << 62;

/// Reads cgroups below a mount root.
#[derive(Debug)]
pub struct CgroupReader {
    root: PathBuf,
    hierarchy: Hierarchy,
    buf: String,
}

impl CgroupReader {
    /// A reader of the hierarchies mounted at `root`: v2 when `root` itself holds
    /// `cgroup.controllers`, as runc decides.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let hierarchy = if root.join("cgroup.controllers").exists() {
            Hierarchy::V2
        } else {
            Hierarchy::V1
        };
        Self {
            root,
            hierarchy,
            buf: String::with_capacity(2048),
        }
    }

    /// The hierarchy this reader reads.
    pub fn hierarchy(&self) -> Hierarchy {
        self.hierarchy
    }

    fn dir(&self, controller: &str, cgroup: &str) -> PathBuf {
        let rel = cgroup.trim_start_matches('/');
        match self.hierarchy {
            Hierarchy::V2 => self.root.join(rel),
            Hierarchy::V1 => self.root.join(controller).join(rel),
        }
    }

    /// Reads `path` into the buffer; false when it cannot be read.
    fn load(&mut self, path: &Path) -> bool {
        self.buf.clear();
        match std::fs::File::open(path) {
            Ok(mut f) => f.read_to_string(&mut self.buf).is_ok(),
            Err(_) => false,
        }
    }

    fn number(&mut self, path: &Path) -> Option<u64> {
        self.load(path).then(|| self.buf.trim().parse().ok())?
    }

    /// Reads the cgroup at `cgroup` (a path such as `/bramble/pod<uid>/web`); `None` when
    /// its CPU or memory files are missing (the cgroup is gone).
    pub fn read(&mut self, cgroup: &str) -> Option<CgroupReading> {
        let mut r = CgroupReading::default();
        match self.hierarchy {
            Hierarchy::V2 => {
                let dir = self.dir("", cgroup);
                if !self.load(&dir.join("cpu.stat")) {
                    return None;
                }
                r.cpu_ns = keyed(&self.buf, "usage_usec")?.saturating_mul(1000);
                r.memory_usage = self.number(&dir.join("memory.current"))?;
                if !self.load(&dir.join("memory.stat")) {
                    return None;
                }
                fill_memory(&mut r, &self.buf, "");
                r.pids = self.number(&dir.join("pids.current"));
                // "max" when unlimited: not a number
                r.memory_limit = self.number(&dir.join("memory.max"));
            }
            Hierarchy::V1 => {
                r.cpu_ns = self.number(&self.dir("cpuacct", cgroup).join("cpuacct.usage"))?;
                let mem = self.dir("memory", cgroup);
                r.memory_usage = self.number(&mem.join("memory.usage_in_bytes"))?;
                if !self.load(&mem.join("memory.stat")) {
                    return None;
                }
                fill_memory(&mut r, &self.buf, "total_");
                r.memory_limit = self
                    .number(&mem.join("memory.limit_in_bytes"))
                    .filter(|l| *l < V1_UNLIMITED);
                r.pids = self.number(&self.dir("pids", cgroup).join("pids.current"));
            }
        }
        Some(r)
    }
}

/// The memory figures of a `memory.stat` text; `prefix` is `total_` for v1's hierarchical
/// counters.
fn fill_memory(r: &mut CgroupReading, stat: &str, prefix: &str) {
    let mut inactive_file = 0;
    for line in stat.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some(key) = key.strip_prefix(prefix) else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        match (prefix.is_empty(), key) {
            (true, "anon") | (false, "rss") => r.rss = value,
            (true, "file") | (false, "cache") => r.cache = value,
            (_, "inactive_file") => inactive_file = value,
            (_, "pgfault") => r.page_faults = value,
            (_, "pgmajfault") => r.major_page_faults = value,
            _ => {}
        }
    }
    r.working_set = r.memory_usage.saturating_sub(inactive_file);
}

/// The value of `key` in a flat `key value` file such as `cpu.stat`.
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        (fields.next() == Some(key))
            .then(|| fields.next()?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn reads_a_v2_cgroup() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "cgroup.controllers", "cpu memory pids\n");
        let c = "bramble/podu1/web";
        write(
            root,
            &format!("{c}/cpu.stat"),
            "usage_usec 2500123\nuser_usec 2000000\nsystem_usec 500123\n",
        );
        write(root, &format!("{c}/memory.current"), "10485760\n");
        write(
            root,
            &format!("{c}/memory.stat"),
            "anon 6291456\nfile 4194304\nkernel 0\nactive_file 1048576\ninactive_file 3145728\npgfault 1200\npgmajfault 7\n",
        );
        write(root, &format!("{c}/pids.current"), "3\n");
        write(root, &format!("{c}/memory.max"), "67108864\n");
        let mut reader = CgroupReader::new(root);
        assert_eq!(reader.hierarchy(), Hierarchy::V2);
        let r = reader.read("/bramble/podu1/web").unwrap();
        assert_eq!(
            r,
            CgroupReading {
                cpu_ns: 2_500_123_000,
                memory_usage: 10_485_760,
                working_set: 10_485_760 - 3_145_728,
                rss: 6_291_456,
                cache: 4_194_304,
                page_faults: 1200,
                major_page_faults: 7,
                pids: Some(3),
                memory_limit: Some(67_108_864),
            }
        );
        assert_eq!(reader.read("/bramble/podu1/gone"), None);
        write(root, &format!("{c}/memory.max"), "max\n");
        assert_eq!(
            reader.read("/bramble/podu1/web").unwrap().memory_limit,
            None
        );
    }

    #[test]
    fn reads_a_v1_cgroup_with_hierarchical_counters() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let c = "bramble/podu1";
        write(root, &format!("cpuacct/{c}/cpuacct.usage"), "987654321\n");
        write(
            root,
            &format!("memory/{c}/memory.usage_in_bytes"),
            "8192000\n",
        );
        write(
            root,
            &format!("memory/{c}/memory.stat"),
            "cache 1\nrss 2\ninactive_file 3\ntotal_cache 4096000\ntotal_rss 3000000\n\
             total_inactive_file 9000000\ntotal_pgfault 55\ntotal_pgmajfault 2\n",
        );
        let mut reader = CgroupReader::new(root);
        assert_eq!(reader.hierarchy(), Hierarchy::V1);
        let r = reader.read("/bramble/podu1").unwrap();
        assert_eq!(r.cpu_ns, 987_654_321);
        assert_eq!(r.memory_usage, 8_192_000);
        // inactive file pages above usage: the working set stops at zero
        assert_eq!(r.working_set, 0);
        assert_eq!((r.rss, r.cache), (3_000_000, 4_096_000));
        assert_eq!((r.page_faults, r.major_page_faults), (55, 2));
        assert_eq!((r.pids, r.memory_limit), (None, None));
        write(
            root,
            &format!("memory/{c}/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        assert_eq!(reader.read("/bramble/podu1").unwrap().memory_limit, None);
        write(
            root,
            &format!("memory/{c}/memory.limit_in_bytes"),
            "33554432\n",
        );
        assert_eq!(
            reader.read("/bramble/podu1").unwrap().memory_limit,
            Some(33_554_432)
        );
        write(root, &format!("pids/{c}/pids.current"), "12\n");
        assert_eq!(reader.read("/bramble/podu1").unwrap().pids, Some(12));
    }
}
