//! Objects live as Kubernetes objects do: finalizers hold a delete, namespaces empty
//! themselves before going, the status subresource is the only way to change status, patches
//! of every type apply, leases and events stay in memory while everything else survives a
//! restart, and bearer tokens authenticate.

use crate::support;

use http::{Method, StatusCode};
use serde_json::json;
use support::{Cluster, SHARED_VOLUMES};

#[test]
fn finalizers_hold_deletion_until_removed() {
    let c = Cluster::start();
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\ndata: {a: b}\n");
    c.kubectl_ok(&["delete", "configmap", "held", "--wait=false"]);
    let ts = c.kubectl_ok(&[
        "get",
        "configmap",
        "held",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(!ts.is_empty(), "marked for deletion, still present");
    c.kubectl_ok(&[
        "patch",
        "configmap",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    let out = c.kubectl(&["get", "configmap", "held"]);
    assert!(
        !out.status.success(),
        "removing the last finalizer deletes the object"
    );
}

#[test]
fn deleting_a_namespace_removes_its_content_first() {
    let c = Cluster::start();
    c.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n");
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team-a\ndata: {a: b}\n");
    let ns = c.kubectl_ok(&["get", "namespace", "team-a"]);
    assert!(ns.contains("Active"), "{ns}");
    c.kubectl_ok(&["delete", "namespace", "team-a", "--timeout=20s"]);
    assert!(!c.kubectl(&["get", "namespace", "team-a"]).status.success());
    let out = c.kubectl_ok(&["get", "configmaps", "-A", "-o", "name"]);
    assert!(
        !out.contains("settings"),
        "content went with the namespace: {out}"
    );
}

#[tokio::test]
async fn status_changes_only_through_the_status_subresource() {
    let c = Cluster::start();
    c.apply(SHARED_VOLUMES);
    let api = c.api();
    let path = "/api/v1/namespaces/default/pods/shared-volumes";
    // The scheduler (no node here) writes PodScheduled=False once: after that nothing else
    // writes the pod, so the resourceVersions read below stay current.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let pod = api
            .request(Method::GET, path, &[], Vec::new())
            .await
            .unwrap()
            .json();
        let told = pod["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "PodScheduled"));
        if told {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never scheduled: {pod}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut pod = api
        .request(Method::GET, path, &[], Vec::new())
        .await
        .unwrap()
        .json();
    pod["status"]["phase"] = json!("Running");
    pod["metadata"]["labels"] = json!({"edited": "yes"});
    let ct = [("content-type", "application/json")];
    let r = api
        .request(Method::PUT, path, &ct, serde_json::to_vec(&pod).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["status"]["phase"],
        "Pending",
        "main resource ignores status"
    );
    assert_eq!(r.json()["metadata"]["labels"]["edited"], "yes");

    let mut pod = r.json();
    pod["status"]["phase"] = json!("Running");
    pod["spec"]["activeDeadlineSeconds"] = json!(5);
    let r = api
        .request(
            Method::PUT,
            &format!("{path}/status"),
            &ct,
            serde_json::to_vec(&pod).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["status"]["phase"], "Running");
    assert!(
        r.json()["spec"].get("activeDeadlineSeconds").is_none(),
        "status update ignores spec"
    );
}

#[test]
fn merge_and_json_patches_from_kubectl() {
    let c = Cluster::start();
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p\ndata: {a: '1', b: '2'}\n");
    c.kubectl_ok(&[
        "patch",
        "configmap",
        "p",
        "--type=merge",
        "-p",
        r#"{"data":{"a":null,"c":"3"}}"#,
    ]);
    c.kubectl_ok(&[
        "patch",
        "configmap",
        "p",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/data/b","value":"20"}]"#,
    ]);
    let data = c.kubectl_ok(&["get", "configmap", "p", "-o", "jsonpath={.data}"]);
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data, json!({"b": "20", "c": "3"}));
    let bad = c.kubectl(&[
        "patch",
        "configmap",
        "p",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/data/b","value":"nope"}]"#,
    ]);
    assert!(
        !bad.status.success(),
        "a failing JSON patch test is refused"
    );
}

#[tokio::test]
async fn leases_and_events_stay_off_disk_while_objects_survive_restart() {
    let mut c = Cluster::start();
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\ndata: {a: b}\n");
    c.apply(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: node-1\n  namespace: kube-node-lease\nspec:\n  holderIdentity: node-1\n  leaseDurationSeconds: 40\n",
    );
    c.apply(
        "apiVersion: v1\nkind: Event\nmetadata:\n  name: e1\ninvolvedObject: {kind: ConfigMap, name: keep, namespace: default}\nreason: Tested\nmessage: hello\ntype: Normal\n",
    );
    assert!(c.kubectl_ok(&["get", "events"]).contains("Tested"));
    let before: u64 = c
        .kubectl_ok(&[
            "get",
            "configmap",
            "keep",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    c.restart();
    assert!(c.kubectl(&["get", "configmap", "keep"]).status.success());
    assert!(!c
        .kubectl(&["get", "lease", "node-1", "-n", "kube-node-lease"])
        .status
        .success());
    assert!(!c.kubectl_ok(&["get", "events"]).contains("Tested"));
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after\n");
    let after: u64 = c
        .kubectl_ok(&[
            "get",
            "configmap",
            "after",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    assert!(
        after > before,
        "revisions keep growing across restarts ({before} -> {after})"
    );
}

#[test]
fn bearer_tokens_from_the_token_file_authenticate() {
    let mut c = Cluster::start();
    let token = "abcdef.0123456789abcdef";
    std::fs::write(
        c.data_dir().join("tokens.csv"),
        format!("{token},robot,uid-1,\"bramble:viewers\"\n"),
    )
    .unwrap();
    c.restart();
    let robot = c.token_kubeconfig("robot", token);
    let list = c.kubectl_as(&robot, &["get", "configmaps"], None);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let denied = c.kubectl_as(&robot, &["create", "configmap", "x"], None);
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("User \"robot\" cannot create resource")
    );
    let wrong = c.token_kubeconfig("intruder", "zzzzzz.0123456789abcdef");
    let out = c.kubectl_as(&wrong, &["get", "configmaps"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unauthorized"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn pods_on_a_live_kubelet_are_deleted_gracefully() {
    let c = Cluster::start();
    c.apply(&support::node_yaml("pi-1", "4", "4Gi"));
    c.apply(SHARED_VOLUMES);
    support::eventually("the pod to be bound", || {
        let n = c.kubectl_ok(&[
            "get",
            "pod",
            "shared-volumes",
            "-o",
            "jsonpath={.spec.nodeName}",
        ]);
        (n == "pi-1").then_some(())
    });
    // a kubelet heartbeat: the node's lease, renewed now
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ");
    c.apply(&format!(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: pi-1, namespace: kube-node-lease}}\nspec: {{holderIdentity: pi-1, leaseDurationSeconds: 40, renewTime: '{now}'}}\n"
    ));
    let api = c.api();
    let path = "/api/v1/namespaces/default/pods/shared-volumes";
    let r = api
        .request(Method::DELETE, path, &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "the kubelet must stop the containers first"
    );
    assert_eq!(r.json()["metadata"]["deletionGracePeriodSeconds"], 30);
    assert!(r.json()["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        api.request(Method::GET, path, &[], Vec::new())
            .await
            .unwrap()
            .status,
        StatusCode::OK
    );
    // the kubelet's final delete
    let r = api
        .request(
            Method::DELETE,
            &format!("{path}?gracePeriodSeconds=0"),
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        api.request(Method::GET, path, &[], Vec::new())
            .await
            .unwrap()
            .status,
        StatusCode::NOT_FOUND
    );
}

/// A server whose log goes to a file (as under systemd's journal) writes plain text: colour
/// escape codes are for terminals only.
#[test]
fn server_log_in_a_file_has_no_colour_codes() {
    let c = Cluster::start();
    c.kubectl_ok(&["create", "namespace", "plain-log"]);
    let log = c.log();
    assert!(log.contains("INFO"), "the server logged: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in the server log: {:?}",
        log.lines().find(|l| l.contains('\u{1b}'))
    );
}
