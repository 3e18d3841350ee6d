//! What a pod spec asks of the kubelet, checked from inside the containers through kubectl:
//! init containers run to completion first and hand over through a shared volume, the
//! security context sets the user and a read-only root filesystem, env comes from fields and
//! ConfigMaps, and `hostNetwork` pods take the node's address. Needs root and the kubelet
//! tests' Debian packages.

use crate::support;

use support::board::{Board, IDLE};
use support::eventually;

#[test]
fn init_containers_security_context_env_and_host_network() {
    let board = Board::start("builtin", 15, &[("library/box", IDLE)]);
    let c = &board.cluster;
    c.apply(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {greeting: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: features}
spec:
  initContainers:
  - name: init
    image: box
    command: [sh, -c, "echo from-init > /work/msg"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: app
    image: box
    securityContext: {runAsUser: 1234, runAsGroup: 2345, readOnlyRootFilesystem: true}
    env:
    - name: MY_POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: FROM_CM
      valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}
    volumeMounts: [{name: work, mountPath: /work}]
  volumes: [{name: work, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: on-host}
spec:
  hostNetwork: true
  containers: [{name: c, image: box}]
"#,
    );
    eventually("features to be ready", || {
        let ready = c.pod_jsonpath("features", "{.status.containerStatuses[0].ready}");
        (ready == "true").then_some(())
    });
    let init = "{.status.initContainerStatuses[0].state.terminated.reason}";
    assert_eq!(c.pod_jsonpath("features", init), "Completed");
    let exec = |cmd: &str| c.kubectl(&["exec", "features", "--", "sh", "-c", cmd]);
    let out = |cmd: &str| {
        let o = exec(cmd);
        assert!(
            o.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(out("cat /work/msg"), "from-init");
    assert_eq!(out("id -u; id -g"), "1234\n2345");
    assert_eq!(out("echo $MY_POD $FROM_CM"), "features hello");
    let write = exec("echo x > /etc/x");
    assert!(!write.status.success(), "the root filesystem is read-only");
    assert!(
        String::from_utf8_lossy(&write.stderr).contains("Read-only file system"),
        "{}",
        String::from_utf8_lossy(&write.stderr)
    );

    eventually("on-host to run", || {
        let ready = c.pod_jsonpath("on-host", "{.status.containerStatuses[0].ready}");
        (ready == "true").then_some(())
    });
    let (pod_ip, host_ip) = (
        c.pod_jsonpath("on-host", "{.status.podIP}"),
        c.pod_jsonpath("on-host", "{.status.hostIP}"),
    );
    assert!(!pod_ip.is_empty());
    assert_eq!(pod_ip, host_ip, "a hostNetwork pod has the node's address");
}
