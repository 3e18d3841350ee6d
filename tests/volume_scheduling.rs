//! The scheduler and the binder place storage as ADR 004 says: a WaitForFirstConsumer claim
//! is provisioned on the node its first pod goes to (chosen by free space), a pod using a
//! local volume goes to that volume's node, and a pod whose claims cannot be met stays
//! Pending with upstream's FailedScheduling reason. Nodes are fake Node objects.

use crate::support;

use support::{eventually, node_yaml, Cluster};

fn node_with_space(name: &str, free_bytes: u64) -> String {
    node_yaml(name, "4", "4Gi").replace(
        "  labels:",
        &format!("  annotations: {{storage.bramble.io/local-path-free-bytes: \"{free_bytes}\"}}\n  labels:"),
    )
}

fn pod_with_claim(name: &str, claim: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: busybox\n  volumes:\n  - name: d\n    persistentVolumeClaim: {{claimName: {claim}}}\n")
}

const WFFC_CLASS: &str = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: local\nprovisioner: bramble.io/local-path\nvolumeBindingMode: WaitForFirstConsumer\n";

fn claim(name: &str, size: &str) -> String {
    format!("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\nspec:\n  storageClassName: local\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: {size}}}}}\n")
}

fn scheduled_node(c: &Cluster, pod: &str) -> String {
    eventually(&format!("{pod} to be scheduled"), || {
        Some(c.jsonpath(&["pod", pod], "{.spec.nodeName}")).filter(|n| !n.is_empty())
    })
}

#[test]
fn first_consumer_decides_the_node_and_the_node_volume_completes_the_bind() {
    let c = Cluster::start();
    c.apply(&node_with_space("tiny", 1 << 20));
    c.apply(&node_with_space("roomy", 50 << 30));
    c.apply(&node_yaml("nodisk", "4", "4Gi"));
    c.apply(WFFC_CLASS);
    c.apply(&claim("data", "1Gi"));
    let d = eventually("the WaitForFirstConsumer event", || {
        let d = c.kubectl_ok(&["describe", "pvc", "data"]);
        d.contains("WaitForFirstConsumer").then_some(d)
    });
    assert!(
        d.contains("waiting for first consumer to be created before binding"),
        "{d}"
    );
    assert_eq!(c.jsonpath(&["pvc", "data"], "{.status.phase}"), "Pending");

    c.apply(&pod_with_claim("app", "data"));
    assert_eq!(scheduled_node(&c, "app"), "roomy");
    let selected = c.jsonpath(
        &["pvc", "data"],
        "{.metadata.annotations.volume\\.kubernetes\\.io/selected-node}",
    );
    assert_eq!(selected, "roomy");
    assert_eq!(
        c.jsonpath(
            &["pvc", "data"],
            "{.metadata.annotations.volume\\.kubernetes\\.io/storage-provisioner}"
        ),
        "bramble.io/local-path"
    );

    // What the kubelet of `roomy` creates after provisioning; the binder completes the bind.
    let uid = c.jsonpath(&["pvc", "data"], "{.metadata.uid}");
    c.apply(&format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: pvc-{uid}\n  annotations: {{pv.kubernetes.io/provisioned-by: bramble.io/local-path}}\nspec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Delete\n  storageClassName: local\n  local: {{path: /srv/bramble/pvc-{uid}}}\n  claimRef: {{apiVersion: v1, kind: PersistentVolumeClaim, namespace: default, name: data, uid: {uid}}}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {{key: kubernetes.io/hostname, operator: In, values: [roomy]}}\n"
    ));
    eventually("the claim to bind", || {
        (c.jsonpath(&["pvc", "data"], "{.status.phase}") == "Bound").then_some(())
    });
    assert_eq!(
        c.jsonpath(&["pvc", "data"], "{.spec.volumeName}"),
        format!("pvc-{uid}")
    );
    assert_eq!(
        c.jsonpath(&["pv", &format!("pvc-{uid}")], "{.status.phase}"),
        "Bound"
    );

    // Deleting the claim releases the provisioned volume but leaves its removal to the node.
    c.kubectl_ok(&["delete", "pod", "app", "--force", "--grace-period=0"]);
    c.kubectl_ok(&["delete", "pvc", "data"]);
    eventually("the volume to be released", || {
        (c.jsonpath(&["pv", &format!("pvc-{uid}")], "{.status.phase}") == "Released").then_some(())
    });
}

#[test]
fn a_pod_follows_its_local_volume_to_its_node() {
    let c = Cluster::start();
    for n in ["a", "b", "c"] {
        c.apply(&node_yaml(n, "4", "4Gi"));
    }
    c.apply("apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: on-b\nspec:\n  capacity: {storage: 2Gi}\n  accessModes: [ReadWriteOnce]\n  local: {path: /mnt/disk}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: kubernetes.io/hostname, operator: In, values: [b]}\n");
    c.apply("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: pinned\nspec:\n  storageClassName: \"\"\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n");
    eventually("the claim to bind", || {
        (c.jsonpath(&["pvc", "pinned"], "{.status.phase}") == "Bound").then_some(())
    });
    for i in 0..3 {
        let name = format!("p{i}");
        c.apply(&pod_with_claim(&name, "pinned"));
        assert_eq!(scheduled_node(&c, &name), "b");
    }
}

#[test]
fn unmeetable_claims_leave_the_pod_pending_with_the_reason() {
    let c = Cluster::start();
    c.apply(&node_with_space("tiny", 1 << 20));
    c.apply(&node_yaml("nodisk", "4", "4Gi"));
    c.apply(WFFC_CLASS);
    c.apply(&claim("huge", "10Gi"));
    c.apply(&pod_with_claim("greedy", "huge"));
    c.apply(&pod_with_claim("orphan", "missing"));
    let event = |pod: &str| {
        eventually(&format!("FailedScheduling for {pod}"), || {
            let d = c.kubectl_ok(&["describe", "pod", pod]);
            d.contains("FailedScheduling").then_some(d)
        })
    };
    let d = event("greedy");
    assert!(
        d.contains("0/2 nodes are available: 1 node(s) did not have enough free storage, 1 node(s) didn't find available persistent volumes to bind."),
        "{d}"
    );
    let d = event("orphan");
    assert!(
        d.contains("0/2 nodes are available: persistentvolumeclaim \"missing\" not found."),
        "{d}"
    );
    assert!(c
        .jsonpath(&["pod", "greedy"], "{.spec.nodeName}")
        .is_empty());
    assert!(c
        .jsonpath(&["pvc", "huge"], "{.metadata.annotations}")
        .find("selected-node")
        .is_none());
    // Space appears: the pod is placed without being touched.
    c.apply(&node_with_space("roomy", 50 << 30));
    assert_eq!(scheduled_node(&c, "greedy"), "roomy");
}
