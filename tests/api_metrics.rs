//! The API server's own figures and the metrics API a user reaches with kubectl: `/metrics`
//! in Prometheus' text format with upstream's family names, readable by `system:monitoring`
//! and refused to others; `metrics.k8s.io` in discovery; a node or pod without figures yet
//! answered as metrics-server answers; `nodes/proxy` to a node no kubelet serves refused
//! with a reason.

use crate::support;

use std::process::Output;

use support::{eventually, node_yaml, Cluster};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The value of the sample line that starts with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_count_requests_and_objects_for_monitoring_users_only() {
    let c = Cluster::start();
    c.kubectl_ok(&["get", "pods", "-n", "default"]);
    c.kubectl_ok(&["create", "configmap", "one", "--from-literal=a=b"]);
    let text = c.kubectl_ok(&["get", "--raw", "/metrics"]);
    let lists = "apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\"}";
    assert!(sample(&text, lists).unwrap_or(0.0) >= 1.0, "{text}");
    let creates = "apiserver_request_total{code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"configmaps\",scope=\"namespace\",subresource=\"\",verb=\"POST\",version=\"v1\"}";
    assert!(sample(&text, creates).unwrap_or(0.0) >= 1.0, "{text}");
    assert!(text.contains("# TYPE apiserver_request_duration_seconds histogram\n"));
    let bucket = "apiserver_request_duration_seconds_bucket{component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\",le=\"+Inf\"}";
    assert!(sample(&text, bucket).unwrap_or(0.0) >= 1.0, "{text}");
    // default, kube-system, kube-public and kube-node-lease
    let namespaces = sample(&text, "apiserver_storage_objects{resource=\"namespaces\"}");
    assert!(namespaces.unwrap_or(0.0) >= 4.0, "{text}");
    let roles = sample(
        &text,
        "apiserver_storage_objects{resource=\"clusterroles.rbac.authorization.k8s.io\"}",
    );
    assert!(roles.unwrap_or(0.0) > 0.0, "{text}");
    assert!(sample(&text, "process_resident_memory_bytes").unwrap_or(0.0) > 0.0);
    assert!(sample(&text, "bramble_store_revision").unwrap_or(0.0) > 0.0);

    let alice = c.user_kubeconfig("alice", &[]);
    let denied = c.kubectl_as(&alice, &["get", "--raw", "/metrics"], None);
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains("cannot get path \"/metrics\""),
        "{}",
        stderr(&denied)
    );
    let prometheus = c.user_kubeconfig("prometheus", &["system:monitoring"]);
    eventually("the monitoring group to read /metrics", || {
        c.kubectl_as(&prometheus, &["get", "--raw", "/metrics"], None)
            .status
            .success()
            .then_some(())
    });
}

#[test]
fn the_metrics_api_is_discovered_and_says_when_figures_are_missing() {
    let c = Cluster::start();
    let resources = c.kubectl_ok(&["api-resources", "--api-group=metrics.k8s.io", "-o", "name"]);
    let mut names: Vec<&str> = resources.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["nodes.metrics.k8s.io", "pods.metrics.k8s.io"]);

    // a node no kubelet serves has no figures
    c.apply(&node_yaml("silent", "4", "4Gi"));
    let list = c.kubectl_ok(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["kind"], "NodeMetricsList");
    assert_eq!(list["items"], serde_json::json!([]));
    let one = c.kubectl(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/silent"]);
    assert!(!one.status.success());
    assert!(
        stderr(&one).contains("nodemetrics.metrics.k8s.io \"silent\" not found"),
        "{}",
        stderr(&one)
    );
    let top = c.kubectl(&["top", "node"]);
    assert!(!top.status.success());
    assert!(
        stderr(&top).contains("metrics not available yet"),
        "{}",
        stderr(&top)
    );
    let pod = c.kubectl(&["top", "pod", "nothing-here"]);
    assert!(!pod.status.success());

    let proxied = c.kubectl(&["get", "--raw", "/api/v1/nodes/silent/proxy/stats/summary"]);
    assert!(!proxied.status.success());
    assert!(
        stderr(&proxied).contains("no kubelet is serving node \"silent\""),
        "{}",
        stderr(&proxied)
    );
    let missing = c.kubectl(&["get", "--raw", "/api/v1/nodes/nope/proxy/stats/summary"]);
    assert!(
        stderr(&missing).contains("nodes \"nope\" not found"),
        "{}",
        stderr(&missing)
    );
}
