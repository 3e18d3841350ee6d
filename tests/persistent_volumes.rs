//! The PersistentVolume binder as an administrator and a developer see it through kubectl:
//! phases and columns of `kubectl get pv,pvc`, upstream's matching rules, reclaim policies,
//! lost claims, the protection finalizers and the default StorageClass.

use crate::support;

use support::{eventually, node_yaml, Cluster};

fn pv(name: &str, size: &str, modes: &str, policy: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: {name}\n{extra}spec:\n  capacity: {{storage: {size}}}\n  accessModes: [{modes}]\n  persistentVolumeReclaimPolicy: {policy}\n  hostPath: {{path: /mnt/{name}}}\n"
    )
}

fn pvc(name: &str, size: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: {size}}}}}\n{spec_extra}"
    )
}

fn wait_phase(c: &Cluster, what: &[&str], phase: &str) {
    eventually(&format!("{what:?} to be {phase}"), || {
        (c.jsonpath(what, "{.status.phase}") == phase).then_some(())
    });
}

fn columns(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn admin_volume_goes_available_bound_released_and_back() {
    let c = Cluster::start();
    c.apply(&pv("disk1", "1Gi", "ReadWriteOnce", "Retain", ""));
    wait_phase(&c, &["pv", "disk1"], "Available");
    assert_eq!(
        c.jsonpath(&["pv", "disk1"], "{.metadata.finalizers}"),
        "[\"kubernetes.io/pv-protection\"]"
    );
    c.apply(&pvc("data", "500Mi", "  storageClassName: \"\"\n"));
    wait_phase(&c, &["pvc", "data"], "Bound");
    wait_phase(&c, &["pv", "disk1"], "Bound");

    let out = c.kubectl_ok(&["get", "pv,pvc"]);
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .find(|l| l.starts_with("NAME") && l.contains("RECLAIM"))
        .unwrap();
    assert!(
        header.contains("CAPACITY   ACCESS MODES   RECLAIM POLICY   STATUS   CLAIM"),
        "{out}"
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with("persistentvolume/disk1"))
        .unwrap();
    assert_eq!(
        columns(row)[..6],
        [
            "persistentvolume/disk1",
            "1Gi",
            "RWO",
            "Retain",
            "Bound",
            "default/data"
        ]
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with("persistentvolumeclaim/data"))
        .unwrap();
    assert_eq!(
        columns(row)[..5],
        ["persistentvolumeclaim/data", "Bound", "disk1", "1Gi", "RWO"]
    );
    assert_eq!(
        c.jsonpath(
            &["pvc", "data"],
            "{.metadata.annotations.pv\\.kubernetes\\.io/bind-completed}"
        ),
        "yes"
    );
    assert_eq!(
        c.jsonpath(
            &["pvc", "data"],
            "{.metadata.annotations.pv\\.kubernetes\\.io/bound-by-controller}"
        ),
        "yes"
    );
    assert!(!c
        .jsonpath(&["pv", "disk1"], "{.spec.claimRef.uid}")
        .is_empty());

    c.kubectl_ok(&["delete", "pvc", "data"]);
    wait_phase(&c, &["pv", "disk1"], "Released");
    let row = c.kubectl_ok(&["get", "pv", "disk1", "--no-headers"]);
    assert_eq!(columns(&row)[4..6], ["Released", "default/data"]);
    // Retain: a new claim does not get the released volume until the claimRef is cleared
    c.apply(&pvc("again", "500Mi", "  storageClassName: \"\"\n"));
    wait_phase(&c, &["pvc", "again"], "Pending");
    c.kubectl_ok(&[
        "patch",
        "pv",
        "disk1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"claimRef":null}}"#,
    ]);
    wait_phase(&c, &["pvc", "again"], "Bound");
    assert_eq!(c.jsonpath(&["pvc", "again"], "{.spec.volumeName}"), "disk1");
}

#[test]
fn claims_match_on_size_selector_name_and_access_modes() {
    let c = Cluster::start();
    c.apply(&pv("small", "1Gi", "ReadWriteOnce", "Retain", ""));
    c.apply(&pv("mid", "2Gi", "ReadWriteOnce", "Retain", ""));
    c.apply(&pv("big", "5Gi", "ReadWriteOnce", "Retain", ""));
    c.apply(&pv(
        "ssd",
        "3Gi",
        "ReadWriteOnce",
        "Retain",
        "  labels: {disk: ssd}\n",
    ));
    c.apply(&pv("shared", "10Gi", "ReadWriteMany", "Retain", ""));
    for v in ["small", "mid", "big", "ssd", "shared"] {
        wait_phase(&c, &["pv", v], "Available");
    }
    let none = "  storageClassName: \"\"\n";
    c.apply(&pvc("fits-mid", "1500Mi", none));
    c.apply(&pvc(
        "wants-ssd",
        "1Gi",
        "  storageClassName: \"\"\n  selector: {matchLabels: {disk: ssd}}\n",
    ));
    c.apply(&pvc(
        "names-big",
        "1Gi",
        "  storageClassName: \"\"\n  volumeName: big\n",
    ));
    c.apply(&pvc("too-big", "20Gi", none));
    c.apply(&pvc("rwx", "1Gi", none).replace(
        "accessModes: [ReadWriteOnce]",
        "accessModes: [ReadWriteMany]",
    ));
    for (claim, volume) in [
        ("fits-mid", "mid"),
        ("wants-ssd", "ssd"),
        ("names-big", "big"),
        ("rwx", "shared"),
    ] {
        wait_phase(&c, &["pvc", claim], "Bound");
        assert_eq!(
            c.jsonpath(&["pvc", claim], "{.spec.volumeName}"),
            volume,
            "{claim}"
        );
    }
    assert_eq!(c.jsonpath(&["pv", "small"], "{.status.phase}"), "Available");
    let d = eventually("the FailedBinding event", || {
        let d = c.kubectl_ok(&["describe", "pvc", "too-big"]);
        d.contains("FailedBinding").then_some(d)
    });
    assert!(
        d.contains("no persistent volumes available for this claim and no storage class is set"),
        "{d}"
    );
    assert!(d.contains("Pending"), "{d}");
}

#[test]
fn reclaim_policies_and_lost_claims() {
    let c = Cluster::start();
    let none = "  storageClassName: \"\"\n";
    for (v, policy) in [
        ("keep", "Retain"),
        ("remove", "Delete"),
        ("recycle", "Recycle"),
        ("vanish", "Retain"),
    ] {
        c.apply(&pv(v, "1Gi", "ReadWriteOnce", policy, ""));
        c.apply(&pvc(
            &format!("c-{v}"),
            "1Gi",
            &format!("{none}  volumeName: {v}\n"),
        ));
        wait_phase(&c, &["pvc", &format!("c-{v}")], "Bound");
    }
    c.kubectl_ok(&["delete", "pvc", "c-keep", "c-remove", "c-recycle"]);
    wait_phase(&c, &["pv", "keep"], "Released");
    wait_phase(&c, &["pv", "remove"], "Failed");
    wait_phase(&c, &["pv", "recycle"], "Failed");
    let d = c.kubectl_ok(&["describe", "pv", "remove"]);
    assert!(d.contains("VolumeFailedDelete"), "{d}");
    assert!(
        d.contains("error getting deleter volume plugin for volume \"remove\": no deletable volume plugin matched"),
        "{d}"
    );
    let d = c.kubectl_ok(&["describe", "pv", "recycle"]);
    assert!(
        d.contains("VolumeFailedRecycle") && d.contains("No recycler plugin found for the volume!"),
        "{d}"
    );

    // A bound volume is protected; once forced away, its claim is Lost.
    c.kubectl_ok(&["delete", "pv", "vanish", "--wait=false"]);
    assert_eq!(c.jsonpath(&["pv", "vanish"], "{.status.phase}"), "Bound");
    c.kubectl_ok(&[
        "patch",
        "pv",
        "vanish",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    wait_phase(&c, &["pvc", "c-vanish"], "Lost");
    let d = c.kubectl_ok(&["describe", "pvc", "c-vanish"]);
    assert!(d.contains("ClaimLost"), "{d}");
}

#[test]
fn a_claim_in_use_is_kept_until_its_pod_is_gone() {
    let c = Cluster::start();
    c.apply(&node_yaml("n1", "4", "4Gi"));
    c.apply(&pv("disk", "1Gi", "ReadWriteOnce", "Retain", ""));
    c.apply(&pvc("data", "1Gi", "  storageClassName: \"\"\n"));
    wait_phase(&c, &["pvc", "data"], "Bound");
    assert_eq!(
        c.jsonpath(&["pvc", "data"], "{.metadata.finalizers}"),
        "[\"kubernetes.io/pvc-protection\"]"
    );
    c.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: user\nspec:\n  containers:\n  - name: c\n    image: busybox\n  volumes:\n  - name: d\n    persistentVolumeClaim: {claimName: data}\n");
    eventually("the pod to be scheduled", || {
        (!c.jsonpath(&["pod", "user"], "{.spec.nodeName}").is_empty()).then_some(())
    });
    c.kubectl_ok(&["delete", "pvc", "data", "--wait=false"]);
    let row = eventually("the claim to show Terminating", || {
        let r = c.kubectl_ok(&["get", "pvc", "data", "--no-headers"]);
        r.contains("Terminating").then_some(r)
    });
    assert!(row.contains("disk"), "{row}");
    // The binder re-checks an in-use claim every 2 s; after several rounds it is still here.
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert!(c.kubectl(&["get", "pvc", "data"]).status.success());
    assert_eq!(c.jsonpath(&["pv", "disk"], "{.status.phase}"), "Bound");

    c.kubectl_ok(&["delete", "pod", "user", "--force", "--grace-period=0"]);
    eventually("the claim to go", || {
        (!c.kubectl(&["get", "pvc", "data"]).status.success()).then_some(())
    });
    wait_phase(&c, &["pv", "disk"], "Released");
}

#[test]
fn default_class_and_immediate_provisioning_request() {
    let c = Cluster::start();
    c.apply(&node_yaml("roomy", "4", "4Gi").replace(
        "  labels:",
        "  annotations: {storage.bramble.io/local-path-free-bytes: \"107374182400\"}\n  labels:",
    ));
    c.apply(&node_yaml("tight", "4", "4Gi").replace(
        "  labels:",
        "  annotations: {storage.bramble.io/local-path-free-bytes: \"1073741824\"}\n  labels:",
    ));
    c.apply("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: local\n  annotations: {storageclass.kubernetes.io/is-default-class: \"true\"}\nprovisioner: bramble.io/local-path\nreclaimPolicy: Delete\nvolumeBindingMode: Immediate\n");
    let sc = c.kubectl_ok(&["get", "sc"]);
    assert!(sc.contains("local (default)"), "{sc}");
    c.apply(&pvc("auto", "2Gi", ""));
    assert_eq!(
        c.jsonpath(&["pvc", "auto"], "{.spec.storageClassName}"),
        "local"
    );
    let ann = |k: &str| {
        c.jsonpath(
            &["pvc", "auto"],
            &format!("{{.metadata.annotations.{}}}", k.replace('.', "\\.")),
        )
    };
    eventually("the node choice", || {
        (ann("volume.kubernetes.io/selected-node") == "roomy").then_some(())
    });
    assert_eq!(
        ann("volume.kubernetes.io/storage-provisioner"),
        "bramble.io/local-path"
    );
    assert_eq!(
        ann("volume.beta.kubernetes.io/storage-provisioner"),
        "bramble.io/local-path"
    );
    let d = c.kubectl_ok(&["describe", "pvc", "auto"]);
    assert!(d.contains("ExternalProvisioning"), "{d}");
    // An explicit empty class opts out of the default.
    c.apply(&pvc("none", "1Gi", "  storageClassName: \"\"\n"));
    assert_eq!(c.jsonpath(&["pvc", "none"], "{.spec.storageClassName}"), "");
}
