//! The capability set of a container: Docker's defaults, `add`/`drop`, and privileged.
//!
//! Mirrors containerd's CRI plugin: a non-privileged container starts from Docker's 14
//! default capabilities; `add`/`drop` take names with or without `CAP_` and `ALL`; a
//! privileged container gets every capability and ignores `drop`. "Every capability" is,
//! as containerd's `cap.Current()`, every one the kubelet itself holds: a runtime cannot
//! grant more, and asking for more fails the container.

use std::collections::HashSet;

use oci_spec::runtime::{Capabilities, Capability};

use super::{Result, RuntimeError};

/// Docker's (and containerd's) default capabilities for a non-privileged container.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability up to CAP_CHECKPOINT_RESTORE (Linux 5.9), in bit order.
const ALL_CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The capabilities this process has in its effective set (`CapEff` of
/// `/proc/self/status`), or every known one when that cannot be read.
fn current_capabilities() -> Vec<String> {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1u64 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn cap(name: &str) -> Result<Capability> {
    serde_json::from_value(serde_json::Value::from(name))
        .map_err(|_| RuntimeError::Spec(format!("unknown capability {name:?}")))
}

fn normalize(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    upper.trim_start_matches("CAP_").to_string()
}

/// The capability set: defaults (or all when privileged), plus `add`, minus `drop`, with
/// `ALL` meaning every capability, as containerd's `WithCapabilities`/`WithAddedCapabilities`.
pub fn capability_set(add: &[String], drop: &[String], privileged: bool) -> Result<Capabilities> {
    let drop: HashSet<String> = drop.iter().map(|c| normalize(c)).collect();
    let add: Vec<String> = add.iter().map(|c| normalize(c)).collect();
    let mut names: Vec<String> = if privileged || add.iter().any(|c| c == "ALL") {
        current_capabilities()
    } else if drop.contains("ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    if !privileged {
        names.retain(|c| !drop.contains(c));
        names.extend(add.into_iter().filter(|c| c != "ALL"));
    }
    names.iter().map(|n| cap(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(caps: &Capabilities) -> Vec<String> {
        let mut v: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn defaults_then_drop_and_add() {
        let caps = capability_set(&["CAP_SYS_ADMIN".into()], &["net_raw".into()], false).unwrap();
        assert_eq!(caps.len(), 14);
        assert!(caps.contains(&Capability::SysAdmin));
        assert!(!caps.contains(&Capability::NetRaw));
    }

    #[test]
    fn drop_all_keeps_only_added() {
        let caps = capability_set(&["NET_BIND_SERVICE".into()], &["ALL".into()], false).unwrap();
        assert_eq!(names(&caps), vec!["NET_BIND_SERVICE".to_string()]);
    }

    #[test]
    fn privileged_gets_everything() {
        let caps = capability_set(&[], &["ALL".into()], true).unwrap();
        assert_eq!(caps.len(), current_capabilities().len());
        assert!(caps.contains(&Capability::SysAdmin), "tests run as root");
        assert!(capability_set(&["NOT_A_CAP".into()], &[], false).is_err());
    }
}
