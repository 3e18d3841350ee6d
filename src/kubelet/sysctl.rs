//! Pod sysctls admitted as the kubelet's sysctl allowlist does (`pkg/kubelet/sysctl`): the
//! safe set is always allowed, other namespaced sysctls only when `--allowed-unsafe-sysctls`
//! names them (exactly, or by a prefix ending in `*`), a net sysctl never with `hostNetwork`
//! nor an IPC one with `hostIPC`, and a sysctl that is not namespaced never. A pod asking
//! for anything else is rejected with reason `SysctlForbidden` and upstream's message.

use k8s_openapi::api::core::v1::Pod;

/// The kubelet's `ForbiddenReason`.
pub const FORBIDDEN_REASON: &str = "SysctlForbidden";

/// Upstream's safe sysctls (namespaced, and isolated from other pods and the node).
const SAFE: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// The namespace a sysctl lives in, when it is namespaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Namespace {
    Ipc,
    Net,
}

fn namespace(name: &str) -> Option<Namespace> {
    const IPC: [&str; 7] = [
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
    ];
    let prefix = name.trim_end_matches('*');
    if name == "kernel.shm_rmid_forced" || IPC.contains(&name) || prefix.starts_with("fs.mqueue.") {
        Some(Namespace::Ipc)
    } else if prefix.starts_with("net.") {
        Some(Namespace::Net)
    } else if name.ends_with('*')
        && (IPC.iter().any(|i| i.starts_with(prefix)) && prefix.starts_with("kernel."))
    {
        Some(Namespace::Ipc)
    } else {
        None
    }
}

/// The kubelet writes sysctls with `/` separators as dotted names.
fn dotted(name: &str) -> String {
    if name.contains('/') {
        name.replace('.', "\u{0}")
            .replace('/', ".")
            .replace('\u{0}', "/")
    } else {
        name.to_string()
    }
}

/// Checks one `--allowed-unsafe-sysctls` pattern (upstream refuses non-namespaced ones).
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    let valid = !pattern.is_empty()
        && pattern
            .trim_end_matches('*')
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        && pattern.matches('*').count() <= 1;
    if !valid {
        return Err(format!("sysctl pattern {pattern:?} must have at most 253 characters and match the regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?\\*?$"));
    }
    if namespace(&dotted(pattern)).is_none() {
        return Err(format!(
            "the sysctls {pattern:?} are not known to be namespaced"
        ));
    }
    Ok(())
}

/// Why `pod` may not run here (`forbidden sysctl: ...`), or `None` when its sysctls are allowed.
pub fn forbidden(pod: &Pod, allowed_unsafe: &[String]) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let sysctls = spec.security_context.as_ref()?.sysctls.as_ref()?;
    for s in sysctls {
        let name = dotted(&s.name);
        let listed = SAFE.contains(&name.as_str())
            || allowed_unsafe
                .iter()
                .map(|p| dotted(p))
                .any(|p| match p.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => p == name,
                });
        let why = match namespace(&name) {
            _ if !listed => "not allowlisted",
            None => "not allowlisted", // a node-level sysctl can never be allowed
            Some(Namespace::Net) if spec.host_network == Some(true) => {
                "not allowed with host net enabled"
            }
            Some(Namespace::Ipc) if spec.host_ipc == Some(true) => {
                "not allowed with host ipc enabled"
            }
            Some(_) => continue,
        };
        return Some(format!("forbidden sysctl: \"{name}\" {why}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec, Sysctl};

    fn pod(names: &[&str], host_network: bool) -> Pod {
        Pod {
            spec: Some(PodSpec {
                host_network: Some(host_network),
                security_context: Some(PodSecurityContext {
                    sysctls: Some(
                        names
                            .iter()
                            .map(|n| Sysctl {
                                name: n.to_string(),
                                value: "1".into(),
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn safe_allowed_unsafe_refused_unless_allowed() {
        assert_eq!(
            forbidden(
                &pod(
                    &["net.ipv4.tcp_syncookies", "kernel/shm_rmid_forced"],
                    false
                ),
                &[]
            ),
            None
        );
        assert_eq!(
            forbidden(&pod(&["kernel.msgmax"], false), &[]).as_deref(),
            Some("forbidden sysctl: \"kernel.msgmax\" not allowlisted")
        );
        assert_eq!(
            forbidden(&pod(&["kernel.msgmax"], false), &["kernel.msg*".into()]),
            None
        );
        assert_eq!(
            forbidden(
                &pod(&["net.core.somaxconn"], false),
                &["net.core.somaxconn".into()]
            ),
            None
        );
        assert_eq!(
            forbidden(&pod(&["net.ipv4.tcp_syncookies"], true), &[]).as_deref(),
            Some("forbidden sysctl: \"net.ipv4.tcp_syncookies\" not allowed with host net enabled")
        );
        assert!(forbidden(&pod(&["vm.swappiness"], false), &["vm.swappiness".into()]).is_some());
    }

    #[test]
    fn only_namespaced_patterns_may_be_allowed() {
        assert!(check_pattern("kernel.msg*").is_ok());
        assert!(check_pattern("net.*").is_ok());
        assert!(check_pattern("fs.mqueue.msg_max").is_ok());
        assert!(check_pattern("vm.swappiness")
            .unwrap_err()
            .contains("not known to be namespaced"));
        assert!(check_pattern("kernel.hostname").is_err());
        assert!(check_pattern("a b").is_err());
    }
}
