//! A node's credentials reach no further than that node. A board joins with the server's
//! join token through the real join endpoint (the agent's own join code), and real kubectl
//! with the node kubeconfig it gets is refused, with upstream's wording, what would let it
//! take over the cluster: a pod on the server's node, another node's pods, an unreferenced
//! Secret, a `node-restriction.kubernetes.io/` label, a serving certificate for an API server
//! address. The paths a kubelet needs keep working: its own Node and Lease, a Secret a pod
//! bound to it references. Needs root (the server runs its own kubelet).

use crate::support;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use bramble::agent::credentials::{self, KUBECONFIG_PATH};
use bramble::client::http::HttpClient;
use bramble::pki::join_token::JoinToken;
use bramble::pki::kubeconfig::Kubeconfig;
use support::board::NodeNetwork;
use support::registry::require_root;
use support::{agent_flags, eventually, Cluster};
use tokio_util::sync::CancellationToken;

const TAG: u8 = 40;
/// The joined board's node name.
const ROGUE: &str = "rogue-board";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Joins as `node` with the server's token; returns the node kubeconfig's path.
fn join(c: &Cluster, node: &str) -> PathBuf {
    let token = std::fs::read_to_string(c.data_dir().join("join-token")).expect("join token");
    let token = JoinToken::parse(token.trim()).expect("token");
    let dir = c.dir.path().join(format!("board-{node}"));
    let server = format!("https://{}:{}", c.host, c.port);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(credentials::obtain(
        std::slice::from_ref(&server),
        Some(&token),
        &dir,
        node,
        &CancellationToken::new(),
    ))
    .expect("join");
    dir.join(KUBECONFIG_PATH)
}

/// Asks for a kubelet serving certificate for `addresses` with node credentials; returns
/// the HTTP status and the Status message.
fn serving(kubeconfig: &Path, addresses: &[&str]) -> (u16, String) {
    let kc = Kubeconfig::load(kubeconfig).expect("node kubeconfig");
    let http = HttpClient::new(&kc).expect("client");
    let addresses: Vec<IpAddr> = addresses.iter().map(|a| a.parse().unwrap()).collect();
    let body = serde_json::to_vec(&serde_json::json!({ "addresses": addresses })).unwrap();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let reply = rt
        .block_on(http.request(
            http::Method::POST,
            "/bramble/v1/kubelet-serving-certificate",
            &[("Content-Type", "application/json")],
            body,
        ))
        .expect("request");
    let json = reply.json();
    let message = json["message"]
        .as_str()
        .or(json["certificate"].as_str())
        .unwrap_or_default()
        .to_string();
    (reply.status.as_u16(), message)
}

fn refused(out: &Output, expected: &str) {
    let all = text(out);
    assert!(!out.status.success(), "allowed: {all}");
    assert!(
        all.contains("Forbidden") || all.contains("forbidden"),
        "{all}"
    );
    assert!(all.contains(expected), "expected {expected:?} in:\n{all}");
}

fn allowed(out: &Output) -> String {
    let all = text(out);
    assert!(out.status.success(), "refused: {all}");
    all
}

#[test]
fn node_credentials_reach_no_further_than_their_node() {
    require_root();
    let _network = NodeNetwork(agent_flags(TAG)[1].clone());
    let c = Cluster::start_with_agent(agent_flags(TAG));
    eventually("the server's node to register", || {
        (!c.jsonpath(&["node", "test-node"], "{.metadata.name}")
            .is_empty())
        .then_some(())
    });
    let kc = join(&c, ROGUE);
    let as_node = |args: &[&str]| c.kubectl_as(&kc, args, None);
    let as_node_stdin = |args: &[&str], yaml: &str| c.kubectl_as(&kc, args, Some(yaml));

    // Its own Node and Lease: what a kubelet registers and renews.
    allowed(&as_node_stdin(
        &["create", "-f", "-"],
        &format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {ROGUE}\n  labels: {{kubernetes.io/hostname: {ROGUE}}}\n"
        ),
    ));
    allowed(&as_node(&[
        "patch",
        "node",
        ROGUE,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"addresses":[{"type":"InternalIP","address":"10.254.40.7"},{"type":"Hostname","address":"rogue-board"}]}}"#,
    ]));
    allowed(&as_node(&[
        "label",
        "node",
        ROGUE,
        "kubelet.kubernetes.io/role=edge",
    ]));
    let lease = |name: &str| {
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: {name}, namespace: kube-node-lease}}\nspec: {{holderIdentity: {name}, leaseDurationSeconds: 40}}\n"
        )
    };
    allowed(&as_node_stdin(&["create", "-f", "-"], &lease(ROGUE)));
    allowed(&as_node(&["get", "lease", "-n", "kube-node-lease", ROGUE]));
    refused(
        &as_node_stdin(&["create", "-f", "-"], &lease("test-node")),
        "can only access node lease with the same name as the requesting node",
    );

    // Labels that steer workloads, taints, and other nodes are not its to set.
    refused(
        &as_node(&["label", "node", ROGUE, "node-restriction.kubernetes.io/x=y"]),
        "nodes \"rogue-board\" is forbidden: is not allowed to modify labels: \
         node-restriction.kubernetes.io/x",
    );
    refused(
        &as_node(&["taint", "node", ROGUE, "dedicated=x:NoSchedule"]),
        "node \"rogue-board\" is not allowed to modify taints",
    );
    refused(
        &as_node(&["label", "node", "test-node", "owned=yes"]),
        "node \"rogue-board\" is not allowed to modify node \"test-node\"",
    );

    // No pod on the server's node, not even one dressed as a mirror pod.
    let pod_on = |name: &str, node: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\nspec:\n  nodeName: {node}\n  containers:\n  - name: c\n    image: busybox\n    volumeMounts: [{{name: root, mountPath: /host}}]\n  volumes:\n  - name: root\n    hostPath: {{path: /srv}}\n"
        )
    };
    refused(
        &as_node_stdin(&["create", "-f", "-"], &pod_on("grab", "test-node", "")),
        "pods \"grab\" is forbidden: pod does not have \"kubernetes.io/config.mirror\" \
         annotation, node \"rogue-board\" can only create mirror pods",
    );
    refused(
        &as_node_stdin(
            &["create", "-f", "-"],
            &pod_on("grab", "test-node", "kubernetes.io/config.mirror: x"),
        ),
        "node \"rogue-board\" can only create pods with spec.nodeName set to itself",
    );
    assert!(c.jsonpath(&["pod", "grab"], "{.metadata.name}").is_empty());

    // Another node's pod: neither its status nor its deletion.
    c.apply(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: referenced}\nstringData: {k: mine}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {name: unreferenced}\nstringData: {k: theirs}\n",
    );
    c.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: mine}}\nspec:\n  nodeName: {ROGUE}\n  containers: [{{name: c, image: busybox}}]\n  volumes: [{{name: s, secret: {{secretName: referenced}}}}]\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {{name: victim}}\nspec:\n  nodeName: test-node\n  containers: [{{name: c, image: busybox}}]\n"
    ));
    refused(
        &as_node(&["delete", "pod", "victim", "--wait=false"]),
        "pods \"victim\" is forbidden: node \"rogue-board\" can only delete pods with \
         spec.nodeName set to itself",
    );
    refused(
        &as_node(&[
            "patch",
            "pod",
            "victim",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"message":"owned"}}"#,
        ]),
        "node \"rogue-board\" can only update pod status for pods with spec.nodeName set to itself",
    );
    assert_eq!(c.jsonpath(&["pod", "victim"], "{.metadata.name}"), "victim");
    allowed(&as_node(&[
        "patch",
        "pod",
        "mine",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"message":"reported by its node"}}"#,
    ]));

    // Secrets: only those its pods reference, by name.
    refused(
        &as_node(&["get", "secret", "unreferenced"]),
        "secrets \"unreferenced\" is forbidden: User \"system:node:rogue-board\" cannot get \
         resource \"secrets\" in API group \"\" in the namespace \"default\": no relationship \
         found between node 'rogue-board' and this object",
    );
    refused(&as_node(&["get", "secrets"]), "No Object name found");
    let got = allowed(&as_node(&[
        "get",
        "secret",
        "referenced",
        "-o",
        "jsonpath={.data.k}",
    ]));
    assert_eq!(got, "bWluZQ==");
    let listed = allowed(&as_node(&[
        "get",
        "secrets",
        "--field-selector",
        "metadata.name=referenced",
        "-o",
        "name",
    ]));
    assert_eq!(listed.trim(), "secret/referenced");

    // Serving certificates: its own reported address, never an API server's.
    let (code, cert) = serving(&kc, &["10.254.40.7"]);
    assert_eq!(code, 201, "{cert}");
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    let (code, message) = serving(&kc, &["127.0.0.1"]);
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("for 127.0.0.1: a loopback"), "{message}");
    let (code, message) = serving(&kc, &["10.254.40.8"]);
    assert_eq!(code, 403, "{message}");
    assert!(
        message.contains("its Node does not report that address in status.addresses"),
        "{message}"
    );
    // The server's own address, even once its Node claims it.
    let api = c.jsonpath(
        &["node", "test-node"],
        "{.status.addresses[?(@.type==\"InternalIP\")].address}",
    );
    assert!(!api.is_empty());
    allowed(&as_node(&[
        "patch",
        "node",
        ROGUE,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(r#"{{"status":{{"addresses":[{{"type":"InternalIP","address":"{api}"}}]}}}}"#),
    ]));
    let (code, message) = serving(&kc, &[&api]);
    assert_eq!(code, 403, "{message}");
    assert!(
        message.contains(&format!("for {api}: it is an address of the API server")),
        "{message}"
    );
    // A board named as the API server gets no certificate at all.
    let impostor = join(&c, "kubernetes");
    let (code, message) = serving(&impostor, &[]);
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("is a name of the API server"), "{message}");

    c.delete_all_pods();
}
