//! Reading a container's cgroup: OOM kills and usage, on cgroup v1 and v2.
//!
//! The runtime creates and removes the cgroup (`linux.cgroupsPath` in the bundle); bramble only
//! reads it. On a v1 or hybrid host (v2 mounted at `/sys/fs/cgroup/unified` only) runc and
//! libcontainer both use the v1 controllers, so the hierarchy is chosen the same way here.

use std::path::{Path, PathBuf};

/// Where cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup path of one pod, `/bramble/pod<uid>`: the parent of its containers' cgroups,
/// as the kubelet's `kubepods/pod<uid>` is.
pub fn pod_cgroup_path(pod_uid: &str) -> String {
    format!("/bramble/pod{pod_uid}")
}

/// The cgroup path (for `linux.cgroupsPath`) of one container of one pod:
/// `/bramble/pod<uid>/<container>`, so a pod's containers share a parent.
pub fn container_cgroup_path(pod_uid: &str, container: &str) -> String {
    format!("{}/{container}", pod_cgroup_path(pod_uid))
}

/// Removes the pod's cgroup from every hierarchy once its containers are gone. The runtimes
/// create it implicitly, as the parent of each container's `cgroupsPath`, but remove only
/// the container's own cgroup, so without this every pod would leave an empty directory in
/// each controller. `rmdir` fails on a cgroup that still has tasks or children, so a pod
/// with a container left running keeps its cgroup.
pub fn remove_pod(pod_uid: &str) {
    let path = pod_cgroup_path(pod_uid);
    let relative = relative(&path);
    let Ok(hierarchies) = std::fs::read_dir(CGROUP_ROOT) else {
        return;
    };
    // On v2 the root is the one hierarchy; on v1 and hybrid hosts each entry is one (the
    // combined ones, e.g. `cpu,cpuacct`, also appear under their symlinked names).
    let roots = std::iter::once(PathBuf::from(CGROUP_ROOT)).chain(
        hierarchies
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir()),
    );
    for root in roots {
        let dir = root.join(relative);
        match std::fs::remove_dir(&dir) {
            Ok(()) => tracing::debug!(cgroup = %dir.display(), "removed pod cgroup"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(cgroup = %dir.display(), error = %e, "pod cgroup not removed"),
        }
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
        assert_eq!(pod_cgroup_path("abc"), "/bramble/podabc");
    }
}
