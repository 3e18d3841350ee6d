//! A user creates objects with stock kubectl's imperative commands, which send Kubernetes
//! protobuf bodies through client-go's typed clients, and reads them back as JSON.

use crate::support;

use serde_json::{json, Value};
use support::Cluster;

fn get_json(c: &Cluster, args: &[&str]) -> Value {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&c.kubectl_ok(&full)).expect("kubectl -o json prints JSON")
}

/// Runs a kubectl command at verbosity 8 and returns its request log, so a test can show
/// the body really went out as protobuf.
fn kubectl_logged(c: &Cluster, args: &[&str]) -> String {
    let mut full = args.to_vec();
    full.push("-v=8");
    let out = c.kubectl(&full);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "kubectl {args:?} failed:\n{log}");
    log
}

#[test]
fn configmap_and_secret_from_literals() {
    let c = Cluster::start();
    let log = kubectl_logged(&c, &["create", "configmap", "cm1", "--from-literal=a=b"]);
    assert!(
        log.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "kubectl did not send protobuf:\n{log}"
    );
    let cm = get_json(&c, &["configmap", "cm1"]);
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "cm1");
    assert_eq!(cm["metadata"]["namespace"], "default");
    assert!(cm["metadata"]["creationTimestamp"].is_string(), "{cm}");
    assert_eq!(cm["data"], json!({"a": "b"}));
    assert!(cm.get("binaryData").is_none(), "{cm}");

    c.kubectl_ok(&["create", "secret", "generic", "s1", "--from-literal=p=q"]);
    let s = get_json(&c, &["secret", "s1"]);
    assert_eq!(s["kind"], "Secret");
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["data"], json!({"p": "cQ=="}));
}

#[test]
fn namespace_and_clusterip_service() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "team-a"]);
    let ns = get_json(&c, &["namespace", "team-a"]);
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(ns["metadata"]["name"], "team-a");
    assert_eq!(ns["status"]["phase"], "Active");

    c.kubectl_ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    let svc = get_json(&c, &["service", "web"]);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(svc["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}])
    );
}

#[test]
fn run_pod_with_port_env_labels_and_requests() {
    let c = Cluster::start();
    // kubectl 1.32 has no `--requests`; resources come in through a strategic-merge override.
    let overrides = r#"{"spec":{"containers":[{"name":"web",
        "resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}}"#;
    c.kubectl_ok(&[
        "run",
        "web",
        "--image=nginx",
        "--port=80",
        "--env=A=B",
        "--labels=app=web",
        "--override-type=strategic",
        &format!("--overrides={overrides}"),
    ]);
    let pod = get_json(&c, &["pod", "web"]);
    assert_eq!(pod["metadata"]["labels"], json!({"app": "web"}));
    let containers = pod["spec"]["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{pod}");
    let web = &containers[0];
    assert_eq!(web["name"], "web");
    assert_eq!(web["image"], "nginx");
    assert_eq!(
        web["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(web["env"], json!([{"name": "A", "value": "B"}]));
    assert_eq!(
        web["resources"],
        json!({"requests": {"cpu": "100m", "memory": "64Mi"}})
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Always");
}
