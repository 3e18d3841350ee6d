//! Which checks a level and version run, and in what order, as upstream's
//! `policy/registry.go`: baseline checks then restricted ones, each group sorted by check ID;
//! each check's newest variant not newer than the version; a restricted level runs the
//! baseline checks too, except those a restricted check overrides (capabilities, hostPath
//! volumes, seccomp, and from v1.35 procMount). `latest`, and any version newer than this
//! server, means the checks of this server's own version.

use serde_json::Value;

use super::policy::{Level, LevelVersion, Version};
use super::violation::{Verdict, Violation};
use super::{host, identity, kernel, privilege, profiles, volumes};

/// A check function over the pod's metadata and spec.
pub type CheckFn = fn(&Value, &Value) -> Verdict;

/// One variant of a check, in force from v1.`since`.
struct Variant {
    since: u32,
    check: CheckFn,
    /// Baseline check IDs this restricted variant replaces.
    overrides: &'static [&'static str],
}

/// A check and its variants, oldest first.
struct Check {
    id: &'static str,
    level: Level,
    variants: &'static [Variant],
}

const fn v(since: u32, check: CheckFn) -> Variant {
    Variant {
        since,
        check,
        overrides: &[],
    }
}

const fn over(since: u32, check: CheckFn, overrides: &'static [&'static str]) -> Variant {
    Variant {
        since,
        check,
        overrides,
    }
}

use Level::{Baseline, Restricted};

/// Every check: baseline IDs sorted, then restricted IDs sorted (byte order, as Go sorts).
const CHECKS: &[Check] = &[
    Check {
        id: "appArmorProfile",
        level: Baseline,
        variants: &[v(0, profiles::apparmor)],
    },
    Check {
        id: "capabilities_baseline",
        level: Baseline,
        variants: &[v(0, privilege::capabilities_baseline)],
    },
    Check {
        id: "hostNamespaces",
        level: Baseline,
        variants: &[v(0, host::host_namespaces)],
    },
    Check {
        id: "hostPathVolumes",
        level: Baseline,
        variants: &[v(0, host::host_path_volumes)],
    },
    Check {
        id: "hostPorts",
        level: Baseline,
        variants: &[v(0, host::host_ports)],
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        level: Baseline,
        variants: &[v(34, host::host_probes_and_lifecycle)],
    },
    Check {
        id: "privileged",
        level: Baseline,
        variants: &[v(0, privilege::privileged)],
    },
    Check {
        id: "procMount",
        level: Baseline,
        variants: &[v(0, kernel::proc_mount), v(35, kernel::proc_mount_1_35)],
    },
    Check {
        id: "seLinuxOptions",
        level: Baseline,
        variants: &[v(0, profiles::selinux_1_0), v(31, profiles::selinux_1_31)],
    },
    Check {
        id: "seccompProfile_baseline",
        level: Baseline,
        variants: &[
            v(0, profiles::seccomp_baseline_annotations),
            v(19, profiles::seccomp_baseline),
        ],
    },
    Check {
        id: "sysctls",
        level: Baseline,
        variants: &[
            v(0, kernel::sysctls_1_0),
            v(27, kernel::sysctls_1_27),
            v(29, kernel::sysctls_1_29),
            v(32, kernel::sysctls_1_32),
            v(37, kernel::sysctls_1_37),
        ],
    },
    Check {
        id: "windowsHostProcess",
        level: Baseline,
        variants: &[v(0, host::windows_host_process)],
    },
    Check {
        id: "allowPrivilegeEscalation",
        level: Restricted,
        variants: &[
            v(8, privilege::allow_privilege_escalation),
            v(25, privilege::allow_privilege_escalation_unless_windows),
        ],
    },
    Check {
        id: "capabilities_restricted",
        level: Restricted,
        variants: &[
            over(
                22,
                privilege::capabilities_restricted,
                &["capabilities_baseline"],
            ),
            over(
                25,
                privilege::capabilities_restricted_unless_windows,
                &["capabilities_baseline"],
            ),
        ],
    },
    Check {
        id: "procMount_restricted",
        level: Restricted,
        variants: &[over(35, kernel::proc_mount, &["procMount"])],
    },
    Check {
        id: "restrictedVolumes",
        level: Restricted,
        variants: &[over(0, volumes::restricted_volumes, &["hostPathVolumes"])],
    },
    Check {
        id: "runAsNonRoot",
        level: Restricted,
        variants: &[
            v(0, identity::run_as_non_root),
            v(35, identity::run_as_non_root_1_35),
        ],
    },
    Check {
        id: "runAsUser",
        level: Restricted,
        variants: &[
            v(23, identity::run_as_user),
            v(35, identity::run_as_user_1_35),
        ],
    },
    Check {
        id: "seccompProfile_restricted",
        level: Restricted,
        variants: &[
            over(
                19,
                profiles::seccomp_restricted,
                &["seccompProfile_baseline"],
            ),
            over(
                25,
                profiles::seccomp_restricted_unless_windows,
                &["seccompProfile_baseline"],
            ),
        ],
    },
];

/// The newest Kubernetes minor version any check knows.
fn newest_check_version() -> u32 {
    CHECKS
        .iter()
        .filter_map(|c| c.variants.last().map(|v| v.since))
        .max()
        .unwrap_or(0)
}

/// The minor version `latest` stands for: this server's, as kube-apiserver evaluates with its
/// emulation version.
pub fn server_minor() -> u32 {
    crate::api::discovery::KUBE_MINOR
        .parse()
        .unwrap_or_else(|_| newest_check_version())
}

/// The variant of `check` in force at v1.`minor`.
fn variant(check: &Check, minor: u32) -> Option<&Variant> {
    check.variants.iter().rev().find(|v| v.since <= minor)
}

/// Every violation of `lv` by the pod, in upstream's order.
pub fn evaluate(lv: LevelVersion, meta: &Value, spec: &Value) -> Vec<Violation> {
    if lv.level == Level::Privileged {
        return Vec::new();
    }
    let newest = server_minor().min(newest_check_version());
    let minor = match lv.version {
        Version::Latest => newest,
        Version::Minor(m) => m.min(newest),
    };
    let overridden: Vec<&str> = if lv.level == Level::Restricted {
        CHECKS
            .iter()
            .filter(|c| c.level == Level::Restricted)
            .filter_map(|c| variant(c, minor))
            .flat_map(|v| v.overrides.iter().copied())
            .collect()
    } else {
        Vec::new()
    };
    CHECKS
        .iter()
        .filter(|c| c.level <= lv.level && !overridden.contains(&c.id))
        .filter_map(|c| variant(c, minor))
        .filter_map(|v| (v.check)(meta, spec))
        .collect()
}

/// `reason (detail), reason (detail)`, as upstream's `ForbiddenDetail`.
pub fn details(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| {
            if v.detail.is_empty() {
                v.reason.clone()
            } else {
                format!("{} ({})", v.reason, v.detail)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `reason, reason`, as upstream's `ForbiddenReason`.
pub fn reasons(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| v.reason.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lv(level: Level, version: Version) -> LevelVersion {
        LevelVersion { level, version }
    }

    #[test]
    fn checks_are_ordered_as_upstream_registers_them() {
        let baseline: Vec<&str> = CHECKS
            .iter()
            .filter(|c| c.level == Baseline)
            .map(|c| c.id)
            .collect();
        let restricted: Vec<&str> = CHECKS
            .iter()
            .filter(|c| c.level == Restricted)
            .map(|c| c.id)
            .collect();
        assert!(baseline.windows(2).all(|w| w[0] < w[1]), "{baseline:?}");
        assert!(restricted.windows(2).all(|w| w[0] < w[1]), "{restricted:?}");
        assert_eq!(baseline.len() + restricted.len(), CHECKS.len());
        assert_eq!(CHECKS[baseline.len()].level, Restricted);
    }

    #[test]
    fn a_plain_pod_violates_restricted_in_upstream_order() {
        let spec = json!({"containers": [{"name": "c", "image": "nginx"}]});
        let v = evaluate(lv(Restricted, Version::Latest), &json!({}), &spec);
        assert_eq!(
            details(&v),
            "allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), \
             unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), \
             runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), \
             seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
        assert_eq!(
            reasons(&v),
            "allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"
        );
        assert!(evaluate(lv(Baseline, Version::Latest), &json!({}), &spec).is_empty());
        assert!(evaluate(LevelVersion::PRIVILEGED, &json!({}), &spec).is_empty());
    }

    #[test]
    fn restricted_replaces_the_baseline_checks_it_overrides() {
        let spec = json!({"volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "Unconfined"}},
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}}]});
        let restricted = evaluate(lv(Restricted, Version::Latest), &json!({}), &spec);
        assert_eq!(
            reasons(&restricted),
            "unrestricted capabilities, restricted volume types, seccompProfile"
        );
        let baseline = evaluate(lv(Baseline, Version::Latest), &json!({}), &spec);
        assert_eq!(
            reasons(&baseline),
            "non-default capabilities, hostPath volumes, seccompProfile"
        );
    }

    #[test]
    fn versions_pick_the_checks_of_their_time() {
        let spec = json!({"securityContext": {"runAsNonRoot": true, "runAsUser": 0,
            "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false}}]});
        // runAsUser arrived in v1.23, the capabilities check in v1.22.
        let old = evaluate(lv(Restricted, Version::Minor(21)), &json!({}), &spec);
        assert!(old.is_empty(), "{old:?}");
        let now = evaluate(lv(Restricted, Version::Minor(23)), &json!({}), &spec);
        assert_eq!(reasons(&now), "unrestricted capabilities, runAsUser=0");
        // A version beyond this server's is evaluated as this server's.
        let future = evaluate(lv(Restricted, Version::Minor(99)), &json!({}), &spec);
        assert_eq!(
            future,
            evaluate(lv(Restricted, Version::Latest), &json!({}), &spec)
        );
        // Probe hosts are checked from v1.34 only.
        let probe = json!({"containers": [{"name": "c",
            "livenessProbe": {"tcpSocket": {"host": "10.0.0.1", "port": 1}}}]});
        let baseline_latest = evaluate(lv(Baseline, Version::Latest), &json!({}), &probe);
        assert_eq!(baseline_latest.is_empty(), server_minor() < 34);
    }
}
