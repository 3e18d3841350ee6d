//! Baseline checks on what a pod may change in the kernel's view, as upstream's
//! `check_procMount_baseline.go`, `check_procMount_restricted.go` and `check_sysctls.go`: `/proc`
//! keeps its default masks, and only the namespaced, isolated "safe" sysctls may be set (the
//! safe set grew in v1.27, v1.29, v1.32 and v1.37).

use std::collections::BTreeSet;

use serde_json::Value;

use super::violation::{containers, containers_phrase, in_user_namespace, join_quote, name};
use super::violation::{security_str, Verdict, Violation};

/// Containers may not unmask `/proc` (`procMount` other than `Default`).
pub fn proc_mount(_meta: &Value, spec: &Value) -> Verdict {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in containers(spec) {
        if let Some(t) = security_str(c, "procMount").filter(|t| *t != "Default") {
            bad.push(name(c));
            types.insert(t);
        }
    }
    (!bad.is_empty()).then(|| {
        let types: Vec<&str> = types.into_iter().collect();
        let detail = format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad),
            join_quote(&types)
        );
        Violation::new("procMount", detail)
    })
}

/// Baseline from v1.35: [`proc_mount`] unless the pod has its own user namespace. (Restricted
/// keeps the unconditional [`proc_mount`] from that version on.)
pub fn proc_mount_1_35(meta: &Value, spec: &Value) -> Verdict {
    if in_user_namespace(spec) {
        return None;
    }
    proc_mount(meta, spec)
}

/// The safe sysctls of v1.0.
const SYSCTLS_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
/// Added in v1.27.
const SYSCTLS_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
/// Added in v1.29.
const SYSCTLS_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
/// Added in v1.32.
const SYSCTLS_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];
/// Added in v1.37.
const SYSCTLS_1_37: &[&str] = &[
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

/// Whether `name` is a safe sysctl as of v1.`minor`.
pub fn safe_sysctl(name: &str, minor: u32) -> bool {
    [
        (0, SYSCTLS_1_0),
        (27, SYSCTLS_1_27),
        (29, SYSCTLS_1_29),
        (32, SYSCTLS_1_32),
        (37, SYSCTLS_1_37),
    ]
    .into_iter()
    .any(|(since, set)| minor >= since && set.contains(&name))
}

fn sysctls(spec: &Value, minor: u32) -> Verdict {
    let bad: Vec<&str> = spec
        .pointer("/securityContext/sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|n| !safe_sysctl(n, minor))
        .collect();
    (!bad.is_empty()).then(|| Violation::new("forbidden sysctls", bad.join(", ")))
}

/// Sysctls of the v1.0 safe set only.
pub fn sysctls_1_0(_meta: &Value, spec: &Value) -> Verdict {
    sysctls(spec, 0)
}

/// Sysctls of the v1.27 safe set only.
pub fn sysctls_1_27(_meta: &Value, spec: &Value) -> Verdict {
    sysctls(spec, 27)
}

/// Sysctls of the v1.29 safe set only.
pub fn sysctls_1_29(_meta: &Value, spec: &Value) -> Verdict {
    sysctls(spec, 29)
}

/// Sysctls of the v1.32 safe set only.
pub fn sysctls_1_32(_meta: &Value, spec: &Value) -> Verdict {
    sysctls(spec, 32)
}

/// Sysctls of the v1.37 safe set only.
pub fn sysctls_1_37(_meta: &Value, spec: &Value) -> Verdict {
    sysctls(spec, 37)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn proc_mount_unmasked_is_refused() {
        let spec = json!({"hostUsers": false, "containers": [
            {"name": "a", "securityContext": {"procMount": "Unmasked"}},
            {"name": "b", "securityContext": {"procMount": "Default"}}]});
        let v = proc_mount(&json!({}), &spec).unwrap();
        assert_eq!(v.reason, "procMount");
        assert_eq!(
            v.detail,
            "container \"a\" must not set securityContext.procMount to \"Unmasked\""
        );
        assert_eq!(proc_mount_1_35(&json!({}), &spec), None);
    }

    #[test]
    fn sysctls_follow_the_safe_set_of_the_version() {
        let spec = json!({"securityContext": {"sysctls": [
            {"name": "net.ipv4.tcp_rmem", "value": "1 2 3"},
            {"name": "kernel.msgmax", "value": "1"},
            {"name": "net.ipv4.tcp_syncookies", "value": "1"}]}});
        let v = sysctls_1_29(&json!({}), &spec).unwrap();
        assert_eq!(v.reason, "forbidden sysctls");
        assert_eq!(v.detail, "net.ipv4.tcp_rmem, kernel.msgmax");
        assert_eq!(
            sysctls_1_32(&json!({}), &spec).unwrap().detail,
            "kernel.msgmax"
        );
        assert!(safe_sysctl("net.ipv4.tcp_notsent_lowat", 37));
        assert!(!safe_sysctl("net.ipv4.tcp_notsent_lowat", 36));
    }
}
