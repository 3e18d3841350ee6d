//! How containers are confined, checked from inside them on both runtimes: the runtime's
//! default seccomp profile applies unless `Unconfined` is asked for (also to `kubectl exec`
//! processes), a `Localhost` profile from the kubelet's seccomp directory blocks what it
//! names and a missing one fails the container with the runtime's wording, inheritable and
//! ambient capabilities are empty, privileged containers get every capability and no
//! filter, safe and allowed sysctls are set in the pod's namespaces, and a pod asking for an
//! unsafe sysctl is rejected with `SysctlForbidden`. Needs root and the kubelet tests'
//! Debian packages (runc among them).

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;

/// Docker's 14 default capabilities as a `/proc/<pid>/status` mask.
const DEFAULT_CAPS: &str = "00000000a80425fb";

const PODS: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: confined}
spec:
  securityContext:
    sysctls:
    - {name: net.ipv4.ip_unprivileged_port_start, value: "100"}
    - {name: kernel.shm_rmid_forced, value: "1"}
    - {name: net.core.somaxconn, value: "777"}
  containers: [{name: c, image: box}]
---
apiVersion: v1
kind: Pod
metadata: {name: unconfined}
spec:
  securityContext:
    seccompProfile: {type: Unconfined}
  containers: [{name: c, image: box}]
---
apiVersion: v1
kind: Pod
metadata: {name: no-mkdir}
spec:
  containers:
  - name: c
    image: box
    securityContext:
      allowPrivilegeEscalation: false
      seccompProfile: {type: Localhost, localhostProfile: profiles/no-mkdir.json}
---
apiVersion: v1
kind: Pod
metadata: {name: no-mkdir-escalating}
spec:
  securityContext:
    seccompProfile: {type: Localhost, localhostProfile: profiles/no-mkdir.json}
  containers: [{name: c, image: box}]
---
apiVersion: v1
kind: Pod
metadata: {name: privileged}
spec:
  containers:
  - name: c
    image: box
    securityContext: {privileged: true}
---
apiVersion: v1
kind: Pod
metadata: {name: missing-profile}
spec:
  securityContext:
    seccompProfile: {type: Localhost, localhostProfile: nothing-here.json}
  containers: [{name: c, image: box}]
---
apiVersion: v1
kind: Pod
metadata: {name: unsafe-sysctl}
spec:
  securityContext:
    sysctls: [{name: kernel.msgmax, value: "1024"}]
  containers: [{name: c, image: box}]
"#;

/// A profile that allows everything but `mkdir`/`mkdirat` (EPERM), in OCI/Docker format.
const NO_MKDIR: &str = r#"{"defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#;

fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
        .to_string()
}

fn confinement(runtime: &str, tag: u8) {
    let board = Board::start_with(
        runtime,
        tag,
        &[("library/box", IDLE)],
        &["--allowed-unsafe-sysctls", "net.core.somaxconn"],
    );
    let c = &board.cluster;
    let profiles = c.data_dir().join("seccomp/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(profiles.join("no-mkdir.json"), NO_MKDIR).unwrap();
    board.wait_node_ready();
    c.apply(PODS);

    for pod in [
        "confined",
        "unconfined",
        "no-mkdir",
        "no-mkdir-escalating",
        "privileged",
    ] {
        eventually(&format!("{pod} to be ready on {runtime}"), || {
            let ready = c.pod_jsonpath(pod, "{.status.containerStatuses[0].ready}");
            (ready == "true").then_some(())
        });
    }
    let exec = |pod: &str, cmd: &str| c.kubectl(&["exec", pod, "--", "sh", "-c", cmd]);
    let out = |pod: &str, cmd: &str| {
        let o = exec(pod, cmd);
        assert!(
            o.status.success(),
            "{pod}: {cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };

    // The default profile: init and exec'd processes filtered, namespaces refused.
    let init = out("confined", "cat /proc/1/status");
    assert_eq!(status_field(&init, "Seccomp"), "2", "{runtime}: {init}");
    assert_eq!(
        status_field(&init, "CapInh"),
        "0000000000000000",
        "{runtime}"
    );
    assert_eq!(
        status_field(&init, "CapAmb"),
        "0000000000000000",
        "{runtime}"
    );
    assert_eq!(status_field(&init, "CapBnd"), DEFAULT_CAPS, "{runtime}");
    assert_eq!(status_field(&init, "CapEff"), DEFAULT_CAPS, "{runtime}");
    assert_eq!(
        status_field(&out("confined", "cat /proc/self/status"), "Seccomp"),
        "2"
    );
    let unshare = exec("confined", "unshare -u true");
    assert!(
        !unshare.status.success(),
        "{runtime}: unshare must be refused"
    );
    assert!(
        String::from_utf8_lossy(&unshare.stderr).contains("Operation not permitted"),
        "{runtime}: {}",
        String::from_utf8_lossy(&unshare.stderr)
    );
    assert_eq!(out("confined", "mkdir /tmp/d && echo made"), "made");

    // Sysctls in the pod's namespaces.
    assert_eq!(
        out(
            "confined",
            "cat /proc/sys/net/ipv4/ip_unprivileged_port_start"
        ),
        "100"
    );
    assert_eq!(out("confined", "cat /proc/sys/kernel/shm_rmid_forced"), "1");
    assert_eq!(out("confined", "cat /proc/sys/net/core/somaxconn"), "777");

    let unconfined = out("unconfined", "cat /proc/1/status");
    assert_eq!(status_field(&unconfined, "Seccomp"), "0", "{runtime}");
    assert_eq!(
        status_field(&unconfined, "CapInh"),
        "0000000000000000",
        "{runtime}"
    );

    // A Localhost profile, with and without no_new_privs.
    for pod in ["no-mkdir", "no-mkdir-escalating"] {
        let refused = exec(pod, "mkdir /tmp/d");
        assert!(
            !refused.status.success(),
            "{runtime}/{pod}: mkdir must fail"
        );
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("Operation not permitted"),
            "{runtime}/{pod}: {}",
            String::from_utf8_lossy(&refused.stderr)
        );
        let status = out(pod, "cat /proc/1/status");
        assert_eq!(status_field(&status, "Seccomp"), "2", "{runtime}/{pod}");
        // CAP_SYS_ADMIN never outlives the container's start, whatever the runtime.
        assert_eq!(
            status_field(&status, "CapEff"),
            DEFAULT_CAPS,
            "{runtime}/{pod}"
        );
        assert_eq!(
            status_field(&status, "CapPrm"),
            DEFAULT_CAPS,
            "{runtime}/{pod}"
        );
    }
    assert_eq!(
        status_field(&out("no-mkdir", "cat /proc/1/status"), "NoNewPrivs"),
        "1"
    );

    let privileged = out("privileged", "cat /proc/1/status");
    assert_eq!(status_field(&privileged, "Seccomp"), "0", "{runtime}");
    let bounding = u64::from_str_radix(&status_field(&privileged, "CapBnd"), 16).unwrap();
    assert!(bounding.count_ones() >= 38, "{runtime}: {bounding:#x}");
    assert_eq!(
        status_field(&privileged, "CapInh"),
        "0000000000000000",
        "{runtime}"
    );

    let waiting = "{.status.containerStatuses[0].state.waiting}";
    let message = eventually(&format!("missing-profile to fail on {runtime}"), || {
        let reason = c.pod_jsonpath("missing-profile", &waiting.replace('}', ".reason}"));
        (reason == "CreateContainerError")
            .then(|| c.pod_jsonpath("missing-profile", &waiting.replace('}', ".message}")))
    });
    assert!(
        message.contains("cannot load seccomp profile") && message.contains("nothing-here.json"),
        "{runtime}: {message}"
    );

    let message = eventually(
        &format!("unsafe-sysctl to be rejected on {runtime}"),
        || {
            let phase = c.pod_jsonpath("unsafe-sysctl", "{.status.phase}");
            let reason = c.pod_jsonpath("unsafe-sysctl", "{.status.reason}");
            (phase == "Failed" && reason == "SysctlForbidden")
                .then(|| c.pod_jsonpath("unsafe-sysctl", "{.status.message}"))
        },
    );
    assert_eq!(
        message,
        "Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted"
    );
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "-o",
        "jsonpath={range .items[*]}{.involvedObject.name} {.reason} {.message}{\"\\n\"}{end}",
    ]);
    assert!(
        events
            .lines()
            .any(|l| l.starts_with("unsafe-sysctl SysctlForbidden")
                && l.contains("\"kernel.msgmax\" not allowlisted")),
        "{events}"
    );
}

#[test]
fn builtin_runtime_confines_containers() {
    confinement("builtin", 60);
}

#[test]
fn runc_confines_containers() {
    confinement("runc", 61);
}
