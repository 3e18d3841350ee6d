//! Helpers for the persistent-storage end-to-end tests: claims, pods, and waits for what the
//! volume binder does (binding a PV to its claim, marking a PV Released).

use super::{eventually, Cluster};

/// An image command that idles until SIGTERM.
pub const IDLE: &[&str] = &[
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM; while true; do sleep 1; done",
];

pub fn get(c: &Cluster, args: &[&str], path: &str) -> String {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    let jp = format!("jsonpath={path}");
    a.extend(["-o", &jp]);
    String::from_utf8_lossy(&c.kubectl(&a).stdout).into_owned()
}

pub fn claim_yaml(name: &str, class: &str, size: &str, selected: bool) -> String {
    let annotation = if selected {
        "\n  annotations: {volume.kubernetes.io/selected-node: test-node}"
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}{annotation}\n\
         spec:\n  storageClassName: {class}\n  accessModes: [ReadWriteOnce]\n\
         \x20 resources: {{requests: {{storage: {size}}}}}\n"
    )
}

pub fn pod_yaml(name: &str, claim: &str, read_only: bool) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n\
         \x20 - name: c\n    image: box\n    volumeMounts: [{{name: data, mountPath: /data}}]\n\
         \x20 volumes:\n  - name: data\n    persistentVolumeClaim: {{claimName: {claim}, readOnly: {read_only}}}\n"
    )
}

/// Waits for the kubelet to provision `claim`; returns the PV name.
pub fn provisioned(c: &Cluster, claim: &str) -> String {
    let uid = get(c, &["pvc", claim], "{.metadata.uid}");
    let pv = format!("pvc-{uid}");
    eventually(&format!("PV {pv} to be provisioned"), || {
        c.kubectl(&["get", "pv", &pv])
            .status
            .success()
            .then_some(())
    });
    pv
}

/// Waits for the binder to bind `claim` to `pv` (both Bound).
pub fn wait_bound(c: &Cluster, claim: &str, pv: &str) {
    eventually(&format!("{claim} to be bound to {pv}"), || {
        let phase = get(c, &["pvc", claim], "{.status.phase} {.spec.volumeName}");
        let pv_phase = get(c, &["pv", pv], "{.status.phase}");
        (phase == format!("Bound {pv}") && pv_phase == "Bound").then_some(())
    });
}

/// Waits for the binder to mark `pv` Released (its claim is gone).
pub fn wait_released(c: &Cluster, pv: &str) {
    eventually(&format!("{pv} to be Released"), || {
        (get(c, &["pv", pv], "{.status.phase}") == "Released").then_some(())
    });
}

pub fn wait_running(c: &Cluster, pod: &str) {
    eventually(&format!("{pod} to run"), || {
        (get(c, &["pod", pod], "{.status.containerStatuses[0].ready}") == "true").then_some(())
    });
}

pub fn exec(c: &Cluster, pod: &str, script: &str) -> std::process::Output {
    c.kubectl(&["exec", pod, "--", "sh", "-c", script])
}

pub fn delete(c: &Cluster, what: &[&str]) {
    let mut a = vec!["delete"];
    a.extend_from_slice(what);
    a.extend(["--grace-period=1", "--wait=true", "--timeout=60s"]);
    c.kubectl_ok(&a);
}

/// Deletes the claim; its volume is Released and, on Delete reclaim, removed.
pub fn release_and_wait_gone(c: &Cluster, claim: &str, pv: &str) {
    delete(c, &["pvc", claim]);
    eventually(&format!("PV {pv} to be deleted"), || {
        (!c.kubectl(&["get", "pv", pv]).status.success()).then_some(())
    });
}
