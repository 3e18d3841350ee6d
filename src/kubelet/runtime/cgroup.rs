//! A container's cgroup: where it goes, its OOM kills and usage, on cgroup v1 and v2.
//!
//! The runtime creates and removes each container's cgroup (`linux.cgroupsPath` in the
//! bundle); bramble reads it, and removes the pod's parent cgroup, which the runtime created
//! on the way but never deletes. On a v1 or hybrid host (v2 mounted at `/sys/fs/cgroup/unified` only) runc and
//! libcontainer both use the v1 controllers, so the hierarchy is chosen the same way here.

use std::path::{Path, PathBuf};

/// Where cgroup hierarchies are mounted (on v2, the unified hierarchy itself).
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup path (for `linux.cgroupsPath`) of one container of one pod:
/// `/bramble/pod<uid>/<container>`, so a pod's containers share a parent, as the kubelet's
/// `kubepods/pod<uid>` does.
pub fn container_cgroup_path(pod_uid: &str, container: &str) -> String {
    format!("{}/{container}", pod_cgroup_path(pod_uid))
}

/// The parent cgroup of a pod's containers.
pub fn pod_cgroup_path(pod_uid: &str) -> String {
    format!("/bramble/pod{pod_uid}")
}

/// Removes the pod's cgroup from every hierarchy, children first. Call once its containers
/// are deleted: a cgroup that still holds a process cannot be removed (`EBUSY`).
pub fn remove_pod(pod_uid: &str) -> std::io::Result<()> {
    remove_everywhere(&pod_cgroup_path(pod_uid))
}

/// Removes `cgroups_path` and its descendants from every hierarchy (node uninstall removes
/// the whole `/bramble` tree this way).
pub fn remove_everywhere(cgroups_path: &str) -> std::io::Result<()> {
    let rel = relative(cgroups_path);
    for root in hierarchies()? {
        remove_tree(&root.join(rel))?;
    }
    Ok(())
}

/// The mounted hierarchies a container's cgroup may appear in: `/sys/fs/cgroup` on v2; on
/// v1 every controller's, and on hybrid hosts `unified` too.
pub fn hierarchies() -> std::io::Result<Vec<PathBuf>> {
    Ok(match mode() {
        CgroupMode::V2 => vec![PathBuf::from(CGROUP_ROOT)],
        CgroupMode::V1 => std::fs::read_dir(CGROUP_ROOT)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect(),
    })
}

/// `rmdir` of a cgroup and its descendants: cgroup directories are removed with rmdir even
/// though they list control files, which cannot be unlinked.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Which cgroup hierarchy containers are placed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Per-controller hierarchies (pure v1 or hybrid).
    V1,
    /// The unified hierarchy mounted at `/sys/fs/cgroup`.
    V2,
}

/// Detects the mode the way runc does: v2 only when `/sys/fs/cgroup` itself is cgroup2.
pub fn mode() -> CgroupMode {
    if Path::new(CGROUP_ROOT).join("cgroup.controllers").exists() {
        CgroupMode::V2
    } else {
        CgroupMode::V1
    }
}

fn relative(cgroups_path: &str) -> &str {
    cgroups_path.trim_start_matches('/')
}

/// The directory of `cgroups_path` for `controller` (ignored on v2).
pub fn controller_dir(cgroups_path: &str, controller: &str) -> PathBuf {
    match mode() {
        CgroupMode::V2 => Path::new(CGROUP_ROOT).join(relative(cgroups_path)),
        CgroupMode::V1 => Path::new(CGROUP_ROOT)
            .join(controller)
            .join(relative(cgroups_path)),
    }
}

/// Whether the container's cgroup still exists (memory controller, which every
/// kubelet-managed host has).
pub fn exists(cgroups_path: &str) -> bool {
    controller_dir(cgroups_path, "memory").is_dir()
}

/// Value of `key` in a flat `key value` file such as `memory.events` or `memory.stat`.
fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        (fields.next() == Some(key))
            .then(|| fields.next()?.parse().ok())
            .flatten()
    })
}

/// How many processes the kernel OOM killer has killed in this cgroup: v1
/// `memory.oom_control` `oom_kill`, v2 `memory.events` `oom_kill` (what containerd watches).
pub fn oom_kill_count(cgroups_path: &str) -> Option<u64> {
    let dir = controller_dir(cgroups_path, "memory");
    let file = match mode() {
        CgroupMode::V1 => "memory.oom_control",
        CgroupMode::V2 => "memory.events",
    };
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    keyed_value(&text, "oom_kill")
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// CPU time and memory working set of the cgroup, as cAdvisor computes them
/// (working set = usage − inactive file pages).
pub fn stats(cgroups_path: &str) -> Option<super::ContainerStats> {
    let (cpu_usage_ns, usage, inactive) = match mode() {
        CgroupMode::V1 => {
            let cpu = read_u64(&controller_dir(cgroups_path, "cpuacct").join("cpuacct.usage"))?;
            let mem = controller_dir(cgroups_path, "memory");
            let usage = read_u64(&mem.join("memory.usage_in_bytes"))?;
            let stat = std::fs::read_to_string(mem.join("memory.stat")).ok()?;
            (cpu, usage, keyed_value(&stat, "total_inactive_file"))
        }
        CgroupMode::V2 => {
            let dir = controller_dir(cgroups_path, "");
            let cpu_stat = std::fs::read_to_string(dir.join("cpu.stat")).ok()?;
            let cpu = keyed_value(&cpu_stat, "usage_usec")? * 1000;
            let usage = read_u64(&dir.join("memory.current"))?;
            let stat = std::fs::read_to_string(dir.join("memory.stat")).ok()?;
            (cpu, usage, keyed_value(&stat, "inactive_file"))
        }
    };
    Some(super::ContainerStats {
        cpu_usage_ns,
        memory_working_set_bytes: usage.saturating_sub(inactive.unwrap_or(0)),
    })
}

/// Whether swap can be limited (v1 `memory.memsw.*` or v2 `memory.swap.max`); the kubelet
/// sets swap = memory limit when it can, so a limited container cannot swap.
pub fn swap_limit_supported() -> bool {
    match mode() {
        CgroupMode::V1 => Path::new(CGROUP_ROOT)
            .join("memory/memory.memsw.limit_in_bytes")
            .exists(),
        CgroupMode::V2 => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_value_finds_the_oom_kill_counter() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(text, "oom_kill"), Some(3));
        assert_eq!(keyed_value(text, "missing"), None);
    }

    #[test]
    fn pod_containers_share_a_parent_cgroup() {
        assert_eq!(container_cgroup_path("abc", "web"), "/bramble/podabc/web");
    }
}
