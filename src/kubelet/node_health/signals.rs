//! The node's eviction signals, observed as upstream's eviction manager derives them from
//! the summary API (`makeSignalObservations`):
//!
//! - `memory.available` = capacity − working set, the working set being the root cgroup's
//!   memory usage minus its inactive file pages, as cAdvisor computes it. Where the root
//!   cgroup reports no usage (cgroup v2 has no `memory.current` at the root) usage is
//!   `MemTotal − MemFree` from `/proc/meminfo`, as cAdvisor does there, and inactive file
//!   pages come from the root's `memory.stat` or else `Inactive(file)`.
//! - `nodefs.*` from `statvfs` of the kubelet's data directory, `imagefs.*` of the image
//!   store's directory (the same filesystem on most boards).
//! - `pid.available` = the lower of `kernel.pid_max` and `kernel.threads-max` minus the tasks
//!   running, from `/proc/loadavg` (what `sysinfo`'s process count says).
//!
//! Readers take the roots of `/proc` and `/sys/fs/cgroup` so tests give them fake trees;
//! the arithmetic is in pure functions over the numbers.

use std::path::Path;

use super::thresholds::Signal;
use crate::monitor::cgroup::keyed;
use crate::monitor::procfs::{meminfo_bytes, parse_loadavg_threads};

/// One signal's reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// What is left.
    pub available: u64,
    /// The whole.
    pub capacity: u64,
}

/// Every signal's latest reading; a signal that could not be read is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observations {
    /// `memory.available`.
    pub memory: Option<Observation>,
    /// `nodefs.available`.
    pub nodefs: Option<Observation>,
    /// `nodefs.inodesFree`.
    pub nodefs_inodes: Option<Observation>,
    /// `imagefs.available`.
    pub imagefs: Option<Observation>,
    /// `imagefs.inodesFree`.
    pub imagefs_inodes: Option<Observation>,
    /// `pid.available`.
    pub pid: Option<Observation>,
}

impl Observations {
    /// The reading of `signal`.
    pub fn get(&self, signal: Signal) -> Option<Observation> {
        match signal {
            Signal::MemoryAvailable => self.memory,
            Signal::NodeFsAvailable => self.nodefs,
            Signal::NodeFsInodesFree => self.nodefs_inodes,
            Signal::ImageFsAvailable => self.imagefs,
            Signal::ImageFsInodesFree => self.imagefs_inodes,
            Signal::PidAvailable => self.pid,
        }
    }
}

/// The root cgroup's memory figures, where the cgroup hierarchy has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RootCgroupMemory {
    /// Memory usage in bytes (v1 `memory.usage_in_bytes`; v2 has none at the root).
    pub usage: Option<u64>,
    /// Inactive file pages in bytes (v1 `total_inactive_file`, v2 `inactive_file`).
    pub inactive_file: Option<u64>,
}

/// `memory.available` from `/proc/meminfo` and the root cgroup's figures.
pub fn memory_observation(meminfo: &str, root: RootCgroupMemory) -> Option<Observation> {
    let capacity = meminfo_bytes(meminfo, "MemTotal")?;
    let usage = match root.usage {
        Some(u) => u,
        None => capacity.saturating_sub(meminfo_bytes(meminfo, "MemFree")?),
    };
    let inactive = root
        .inactive_file
        .or_else(|| meminfo_bytes(meminfo, "Inactive(file)"))
        .unwrap_or(0);
    let working_set = usage.saturating_sub(inactive);
    Some(Observation {
        available: capacity.saturating_sub(working_set),
        capacity,
    })
}

/// A filesystem's figures from `statvfs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsFigures {
    /// Fragment size (`f_frsize`).
    pub fragment_size: u64,
    /// Size in fragments (`f_blocks`).
    pub blocks: u64,
    /// Fragments available to unprivileged users (`f_bavail`).
    pub blocks_available: u64,
    /// Inodes (`f_files`).
    pub inodes: u64,
    /// Free inodes (`f_ffree`).
    pub inodes_free: u64,
}

/// (bytes, inodes) observations of a filesystem; inodes are `None` on filesystems that do
/// not count them (`f_files` 0, e.g. btrfs).
pub fn fs_observations(fs: FsFigures) -> (Observation, Option<Observation>) {
    let bytes = Observation {
        available: fs.blocks_available.saturating_mul(fs.fragment_size),
        capacity: fs.blocks.saturating_mul(fs.fragment_size),
    };
    let inodes = (fs.inodes > 0).then_some(Observation {
        available: fs.inodes_free,
        capacity: fs.inodes,
    });
    (bytes, inodes)
}

/// `pid.available` from `kernel.pid_max`, `kernel.threads-max` and `/proc/loadavg`, whose
/// fourth field is `running/total` tasks.
pub fn pid_observation(
    pid_max: &str,
    threads_max: Option<&str>,
    loadavg: &str,
) -> Option<Observation> {
    let pid_max: u64 = pid_max.trim().parse().ok()?;
    let limit = threads_max
        .and_then(|t| t.trim().parse::<u64>().ok())
        .map_or(pid_max, |t| t.min(pid_max));
    let tasks = parse_loadavg_threads(loadavg)?;
    Some(Observation {
        available: limit.saturating_sub(tasks),
        capacity: limit,
    })
}

/// The root cgroup's memory figures under `cgroup_root` (`/sys/fs/cgroup`): v2 when the
/// root holds `cgroup.controllers`, else v1's `memory` hierarchy.
pub fn read_root_cgroup_memory(cgroup_root: &Path) -> RootCgroupMemory {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    if cgroup_root.join("cgroup.controllers").exists() {
        RootCgroupMemory {
            usage: None,
            inactive_file: read(&cgroup_root.join("memory.stat"))
                .and_then(|s| keyed(&s, "inactive_file")),
        }
    } else {
        let memory = cgroup_root.join("memory");
        RootCgroupMemory {
            usage: read(&memory.join("memory.usage_in_bytes")).and_then(|s| s.trim().parse().ok()),
            inactive_file: read(&memory.join("memory.stat"))
                .and_then(|s| keyed(&s, "total_inactive_file")),
        }
    }
}

/// `memory.available` read from `proc_root` and `cgroup_root`.
pub fn read_memory(proc_root: &Path, cgroup_root: &Path) -> Option<Observation> {
    let meminfo = std::fs::read_to_string(proc_root.join("meminfo")).ok()?;
    memory_observation(&meminfo, read_root_cgroup_memory(cgroup_root))
}

/// `pid.available` read from `proc_root`.
pub fn read_pids(proc_root: &Path) -> Option<Observation> {
    let pid_max = std::fs::read_to_string(proc_root.join("sys/kernel/pid_max")).ok()?;
    let threads_max = std::fs::read_to_string(proc_root.join("sys/kernel/threads-max")).ok();
    let loadavg = std::fs::read_to_string(proc_root.join("loadavg")).ok()?;
    pid_observation(&pid_max, threads_max.as_deref(), &loadavg)
}

/// `statvfs` of the filesystem holding `path` (its nearest existing ancestor, so a data
/// directory not yet created is measured where it will be).
pub fn statvfs(path: &Path) -> Option<FsFigures> {
    let mut probe = path;
    while !probe.exists() {
        probe = probe.parent()?;
    }
    let st = nix::sys::statvfs::statvfs(probe).ok()?;
    // The field types differ between 32- and 64-bit targets; all are unsigned.
    #[allow(clippy::useless_conversion)]
    Some(FsFigures {
        fragment_size: u64::from(st.fragment_size()),
        blocks: u64::from(st.blocks()),
        blocks_available: u64::from(st.blocks_available()),
        inodes: u64::from(st.files()),
        inodes_free: u64::from(st.files_free()),
    })
}

/// Every signal, read from the live system: `data_dir` is nodefs, `image_dir` imagefs.
pub fn observe(
    proc_root: &Path,
    cgroup_root: &Path,
    data_dir: &Path,
    image_dir: &Path,
) -> Observations {
    let (nodefs, nodefs_inodes) = statvfs(data_dir)
        .map(fs_observations)
        .map_or((None, None), |(b, i)| (Some(b), i));
    let (imagefs, imagefs_inodes) = statvfs(image_dir)
        .map(fs_observations)
        .map_or((None, None), |(b, i)| (Some(b), i));
    Observations {
        memory: read_memory(proc_root, cgroup_root),
        nodefs,
        nodefs_inodes,
        imagefs,
        imagefs_inodes,
        pid: read_pids(proc_root),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:        4000000 kB\nMemFree:          500000 kB\nMemAvailable:    2000000 kB\nInactive(file):   800000 kB\n";

    #[test]
    fn memory_available_is_capacity_minus_working_set() {
        // v1: the root cgroup's usage minus its inactive file pages
        let root = RootCgroupMemory {
            usage: Some(3_000_000 * 1024),
            inactive_file: Some(1_000_000 * 1024),
        };
        let o = memory_observation(MEMINFO, root).unwrap();
        assert_eq!(o.capacity, 4_000_000 * 1024);
        assert_eq!(o.available, 2_000_000 * 1024);
        // v2: usage from meminfo, inactive file from the root's memory.stat
        let v2 = RootCgroupMemory {
            usage: None,
            inactive_file: Some(500_000 * 1024),
        };
        let o = memory_observation(MEMINFO, v2).unwrap();
        assert_eq!(o.available, (4_000_000 - (3_500_000 - 500_000)) * 1024);
        // no cgroup figure at all: meminfo alone
        let o = memory_observation(MEMINFO, RootCgroupMemory::default()).unwrap();
        assert_eq!(o.available, (4_000_000 - (3_500_000 - 800_000)) * 1024);
        assert_eq!(memory_observation("garbage", root), None);
    }

    #[test]
    fn memory_is_read_from_fake_proc_and_cgroup_trees() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path().join("proc");
        let v1 = dir.path().join("cg1");
        let v2 = dir.path().join("cg2");
        std::fs::create_dir_all(&proc_root).unwrap();
        std::fs::create_dir_all(v1.join("memory")).unwrap();
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::write(proc_root.join("meminfo"), MEMINFO).unwrap();
        std::fs::write(v1.join("memory/memory.usage_in_bytes"), "3072000000\n").unwrap();
        std::fs::write(
            v1.join("memory/memory.stat"),
            "cache 1\ninactive_file 5\ntotal_inactive_file 1024000000\n",
        )
        .unwrap();
        std::fs::write(v2.join("cgroup.controllers"), "cpu memory\n").unwrap();
        std::fs::write(v2.join("memory.stat"), "anon 1\ninactive_file 512000000\n").unwrap();
        let o = read_memory(&proc_root, &v1).unwrap();
        assert_eq!(o.available, 4_096_000_000 - (3_072_000_000 - 1_024_000_000));
        let o = read_memory(&proc_root, &v2).unwrap();
        assert_eq!(o.available, 4_096_000_000 - (3_584_000_000 - 512_000_000));
        assert_eq!(read_memory(&dir.path().join("none"), &v1), None);
    }

    #[test]
    fn filesystems_give_bytes_and_inodes() {
        let (bytes, inodes) = fs_observations(FsFigures {
            fragment_size: 4096,
            blocks: 1000,
            blocks_available: 50,
            inodes: 200,
            inodes_free: 9,
        });
        assert_eq!(
            bytes,
            Observation {
                available: 50 * 4096,
                capacity: 1000 * 4096
            }
        );
        assert_eq!(
            inodes,
            Some(Observation {
                available: 9,
                capacity: 200
            })
        );
        let (_, none) = fs_observations(FsFigures {
            fragment_size: 4096,
            ..FsFigures::default()
        });
        assert_eq!(none, None);
        let live = statvfs(Path::new("/tmp/not/there/yet")).unwrap();
        assert!(live.blocks > 0 && live.blocks_available <= live.blocks);
    }

    #[test]
    fn pids_left_are_the_lower_limit_minus_tasks() {
        let loadavg = "0.52 0.58 0.59 3/812 12345\n";
        assert_eq!(
            pid_observation("32768\n", Some("15000\n"), loadavg),
            Some(Observation {
                available: 15000 - 812,
                capacity: 15000
            })
        );
        assert_eq!(
            pid_observation("4194304", None, loadavg).unwrap().available,
            4194304 - 812
        );
        assert_eq!(pid_observation("32768", None, "0.1 0.1 0.1"), None);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sys/kernel")).unwrap();
        std::fs::write(dir.path().join("sys/kernel/pid_max"), "1000\n").unwrap();
        std::fs::write(dir.path().join("loadavg"), loadavg).unwrap();
        assert_eq!(read_pids(dir.path()).unwrap().available, 188);
    }
}
