//! The memory cgroup controller, without which pods get no memory limits and no OOM
//! accounting. Raspberry Pi OS kernels ship with it switched off (`cgroup_disable=memory`
//! is the firmware's default), so this is the check a new board fails most often.

use super::Outcome;

const NAME: &str = "cgroup memory";

/// The Raspberry Pi OS fix; `cgroup_memory=1` is the Pi kernel's own switch and
/// `cgroup_enable=memory` the upstream one, so both are set as k3s' documentation says.
const FIX: &str = "add `cgroup_memory=1 cgroup_enable=memory` to the one line of /boot/firmware/cmdline.txt (Raspberry Pi OS; /boot/cmdline.txt before Bookworm) and reboot";

/// Reads this machine's cgroup files.
pub fn check() -> Outcome {
    let proc_cgroups = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    // /sys/fs/cgroup is itself cgroup2 only on a pure v2 host (as runc decides)
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").ok();
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    memory_controller(&proc_cgroups, v2.as_deref(), &cmdline)
}

/// Judges the memory controller from `/proc/cgroups`, the root `cgroup.controllers` of a v2
/// host (`None` on v1 or hybrid) and `/proc/cmdline`.
pub fn memory_controller(
    proc_cgroups: &str,
    v2_controllers: Option<&str>,
    cmdline: &str,
) -> Outcome {
    let disabled_by = cmdline
        .split_whitespace()
        .find(|w| *w == "cgroup_disable=memory" || *w == "cgroup_memory=0");
    let missing = |version: &str| {
        let why = disabled_by.map_or(String::new(), |w| format!(" (kernel command line has {w})"));
        Outcome::fail(
            NAME,
            format!("memory controller disabled{why}, {version}"),
            FIX,
        )
    };
    if let Some(controllers) = v2_controllers {
        return if controllers.split_whitespace().any(|c| c == "memory") {
            Outcome::ok(NAME, "memory controller enabled (cgroup v2)")
        } else {
            missing("cgroup v2")
        };
    }
    let enabled = proc_cgroups
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .any(|f| f.first() == Some(&"memory") && f.get(3) == Some(&"1"));
    if enabled {
        Outcome::ok(NAME, "memory controller enabled (cgroup v1)")
    } else {
        missing("cgroup v1")
    }
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    /// /proc/cgroups of a Raspberry Pi 4 on Raspberry Pi OS Bookworm as it boots by default.
    const PI_DEFAULT: &str = "#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t0\t95\t1
cpu\t0\t95\t1
cpuacct\t0\t95\t1
blkio\t0\t95\t1
memory\t0\t95\t0
devices\t0\t95\t1
pids\t0\t95\t1
";
    const PI_CMDLINE: &str = "coherent_pool=1M 8250.nr_uarts=0 cgroup_disable=memory numa_policy=interleave console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait";

    #[test]
    fn raspberry_pi_os_default_fails_with_the_cmdline_txt_fix() {
        let o = memory_controller(PI_DEFAULT, Some("cpuset cpu io pids"), PI_CMDLINE);
        assert_eq!(o.status, Status::Fail);
        assert!(o.detail.contains("cgroup_disable=memory"), "{}", o.detail);
        let fix = o.fix.unwrap();
        assert!(
            fix.contains("cgroup_memory=1 cgroup_enable=memory"),
            "{fix}"
        );
        assert!(fix.contains("cmdline.txt"), "{fix}");
    }

    #[test]
    fn pi_with_the_fix_applied_passes_on_v2() {
        let enabled = PI_DEFAULT.replace("memory\t0\t95\t0", "memory\t0\t95\t1");
        let cmdline = format!("{PI_CMDLINE} cgroup_memory=1 cgroup_enable=memory");
        let o = memory_controller(&enabled, Some("cpuset cpu io memory pids"), &cmdline);
        assert_eq!(o.status, Status::Ok, "{o:?}");
        assert!(o.detail.contains("v2"));
    }

    #[test]
    fn v1_hierarchy_reads_the_enabled_column() {
        let v1 = "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t160\t1\n";
        assert_eq!(memory_controller(v1, None, "").status, Status::Ok);
        let off = "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t1\t0\n";
        assert_eq!(memory_controller(off, None, "").status, Status::Fail);
        assert_eq!(memory_controller("", None, "").status, Status::Fail);
    }
}
