//! Probes as a user sees them in `kubectl get pods` and `kubectl get events`: a startup probe
//! holds the container unstarted, a readiness probe (httpGet against the pod IP) decides
//! READY and the pod's Ready condition, and a failing liveness probe restarts the container
//! with `Unhealthy` and `Killing` events. Needs root and the Debian packages the kubelet
//! tests need (docker-registry, skopeo, umoci, busybox-static, iproute2, nftables).

use crate::support;

use support::board::{Board, IDLE};
use support::{eventually, Cluster};

fn exec(c: &Cluster, pod: &str, script: &str) {
    c.kubectl_ok(&["exec", pod, "--", "sh", "-c", script]);
}

/// The reasons and messages of the events about `pod`, one per line.
fn events(c: &Cluster, pod: &str) -> String {
    c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={pod}"),
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ])
}

fn wait_for(c: &Cluster, what: &str, pod: &str, path: &str, want: &str) {
    eventually(what, || (c.pod_jsonpath(pod, path) == want).then_some(()));
}

#[test]
fn startup_and_readiness_probes_decide_started_and_ready() {
    let board = Board::start("builtin", 11, &[("library/web", IDLE)]);
    let c = &board.cluster;
    c.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: web
    image: web
    command: [sh, -c, "mkdir -p /www; exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    startupProbe:
      exec: {command: [cat, /tmp/started]}
      periodSeconds: 1
      failureThreshold: 600
    readinessProbe:
      httpGet: {path: /index.html, port: http}
      periodSeconds: 1
      failureThreshold: 1
"#,
    );
    eventually("web to run", || {
        let t = c.pod_jsonpath("web", "{.status.containerStatuses[0].state.running}");
        (!t.is_empty()).then_some(())
    });
    // Until the startup probe passes, the container is neither started nor ready.
    assert_eq!(
        c.pod_jsonpath("web", "{.status.containerStatuses[0].started}"),
        "false"
    );
    let row = c.kubectl_ok(&["get", "pod", "web", "--no-headers"]);
    assert!(row.contains("0/1") && row.contains("Running"), "{row}");

    exec(c, "web", "touch /tmp/started");
    wait_for(
        c,
        "the startup probe to pass",
        "web",
        "{.status.containerStatuses[0].started}",
        "true",
    );
    // Started, but the readiness probe gets a 404 from httpd on the pod IP.
    eventually("an Unhealthy event for the 404", || {
        let ev = events(c, "web");
        ev.contains("Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 404")
            .then_some(())
    });
    assert_eq!(
        c.pod_jsonpath("web", "{.status.containerStatuses[0].ready}"),
        "false"
    );
    let ready = r#"{.status.conditions[?(@.type=="Ready")].status}"#;
    assert_eq!(c.pod_jsonpath("web", ready), "False");

    exec(c, "web", "echo ok > /www/index.html");
    wait_for(c, "the pod to turn Ready", "web", ready, "True");
    let row = c.kubectl_ok(&["get", "pod", "web", "--no-headers"]);
    assert!(row.contains("1/1"), "{row}");

    exec(c, "web", "rm /www/index.html");
    wait_for(c, "the pod to turn unready again", "web", ready, "False");
    assert_eq!(
        c.pod_jsonpath("web", "{.status.containerStatuses[0].restartCount}"),
        "0",
        "readiness failures never restart a container"
    );
}

#[test]
fn a_failing_liveness_probe_restarts_the_container() {
    let board = Board::start("builtin", 12, &[("library/app", IDLE)]);
    let c = &board.cluster;
    c.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: app
    command: [sh, -c, "touch /tmp/alive; trap 'exit 0' TERM; while true; do sleep 1; done"]
    livenessProbe:
      exec: {command: [cat, /tmp/alive]}
      periodSeconds: 1
      failureThreshold: 2
"#,
    );
    wait_for(
        c,
        "app to be ready",
        "app",
        "{.status.containerStatuses[0].ready}",
        "true",
    );
    let first = c.pod_jsonpath("app", "{.status.containerStatuses[0].containerID}");

    exec(c, "app", "rm /tmp/alive");
    wait_for(
        c,
        "a restart",
        "app",
        "{.status.containerStatuses[0].restartCount}",
        "1",
    );
    let ev = events(c, "app");
    assert!(ev.contains("Unhealthy: Liveness probe failed: "), "{ev}");
    assert!(
        ev.contains("Killing: Container app failed liveness probe, will be restarted"),
        "{ev}"
    );
    // The old instance ended on the SIGTERM it trapped; the new one runs and is healthy.
    assert_eq!(
        c.pod_jsonpath(
            "app",
            "{.status.containerStatuses[0].lastState.terminated.containerID}"
        ),
        first
    );
    wait_for(
        c,
        "the new instance to be ready",
        "app",
        "{.status.containerStatuses[0].ready}",
        "true",
    );
    assert_ne!(
        c.pod_jsonpath("app", "{.status.containerStatuses[0].containerID}"),
        first
    );
}
