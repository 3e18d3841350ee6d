//! A StatefulSet on a real board (needs root, e2fsprogs and util-linux for the size-enforced
//! claims): its pods come up in order with stable names, each on its own claim on
//! `bramble.io/local-disk`; a deleted or failed pod comes back under its name with its
//! data; `kubectl rollout status` finishes; a partitioned rolling update replaces only the pods at or above
//! the partition and `kubectl rollout undo` brings them back; scaling down removes the
//! highest ordinal and keeps its claim for when it comes back. A Parallel set starts pods
//! without waiting for Ready, OnDelete updates a pod only once it is deleted, and the
//! Delete retention policies remove claims on scale-down and with the set.

use crate::support;

use chrono::{DateTime, Utc};
use support::board::Board;
use support::storage::{exec, get, IDLE};
use support::{eventually, Cluster};

const CLASS: &str =
    "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: local-disk}\n\
provisioner: bramble.io/local-disk\nvolumeBindingMode: WaitForFirstConsumer\n";

/// StatefulSet `x` rolling out with `partition`.
fn set_yaml(replicas: u32, greeting: &str, partition: u32) -> String {
    let strategy = format!("{{type: RollingUpdate, rollingUpdate: {{partition: {partition}}}}}");
    set_yaml_with(replicas, greeting, &strategy, "", "")
}

/// StatefulSet `x` with the `updateStrategy`; `spec_extra` and `container_extra` are YAML
/// lines added to its spec and to its container.
fn set_yaml_with(
    replicas: u32,
    greeting: &str,
    strategy: &str,
    spec_extra: &str,
    container_extra: &str,
) -> String {
    format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: x}}\nspec:\n{spec_extra}\
         \x20 serviceName: x\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: x}}}}\n\
         \x20 updateStrategy: {strategy}\n\
         \x20 template:\n    metadata: {{labels: {{app: x}}}}\n    spec:\n\
         \x20     terminationGracePeriodSeconds: 1\n      containers:\n\
         \x20     - name: c\n        image: box\n        env: [{{name: GREETING, value: {greeting}}}]\n\
         \x20       volumeMounts: [{{name: data, mountPath: /data}}]\n{container_extra}\
         \x20 volumeClaimTemplates:\n  - metadata: {{name: data}}\n    spec:\n\
         \x20     storageClassName: local-disk\n      accessModes: [ReadWriteOnce]\n\
         \x20     resources: {{requests: {{storage: 16Mi}}}}\n"
    )
}

const ON_DELETE: &str = "{type: OnDelete}";

fn ready(c: &Cluster, pod: &str) -> bool {
    get(
        c,
        &["pod", pod],
        "{.status.conditions[?(@.type==\"Ready\")].status}",
    ) == "True"
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .with_timezone(&Utc)
}

fn wait_ready(c: &Cluster, pod: &str) {
    eventually(&format!("{pod} to be Running and Ready"), || {
        ready(c, pod).then_some(())
    });
}

fn revision_of(c: &Cluster, pod: &str) -> String {
    get(
        c,
        &["pod", pod],
        "{.metadata.labels.controller-revision-hash}",
    )
}

#[test]
fn statefulset_pods_keep_their_names_and_claims_in_order() {
    let board = Board::start("builtin", 62, &[("library/box", IDLE)]);
    let c = &board.cluster;
    board.wait_node_ready();
    c.apply(CLASS);
    c.apply(&set_yaml(2, "one", 0));

    wait_ready(c, "x-0");
    wait_ready(c, "x-1");
    // OrderedReady: x-1 was made only once x-0 was Ready.
    let x0_ready = get(
        c,
        &["pod", "x-0"],
        "{.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}",
    );
    let x1_created = get(c, &["pod", "x-1"], "{.metadata.creationTimestamp}");
    assert!(
        time(&x1_created) >= time(&x0_ready),
        "x-1 created at {x1_created}, x-0 Ready at {x0_ready}"
    );
    for (i, pod) in ["x-0", "x-1"].iter().enumerate() {
        let claim = format!("data-{pod}");
        assert_eq!(get(c, &["pvc", &claim], "{.status.phase}"), "Bound");
        assert_eq!(
            get(
                c,
                &["pod", pod],
                "{.spec.volumes[?(@.name==\"data\")].persistentVolumeClaim.claimName}"
            ),
            claim
        );
        assert_eq!(
            get(c, &["pod", pod], "{.spec.hostname} {.spec.subdomain}"),
            format!("{pod} x")
        );
        assert_eq!(
            get(
                c,
                &["pod", pod],
                "{.metadata.labels.apps\\.kubernetes\\.io/pod-index}"
            ),
            i.to_string()
        );
        assert_eq!(
            get(c, &["pvc", &claim], "{.metadata.labels.app}"),
            "x",
            "the claim carries the selector's labels"
        );
    }
    let out = exec(c, "x-0", "hostname && echo kept > /data/file");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x-0\n");
    c.kubectl_ok(&["rollout", "status", "sts/x", "--timeout=120s"]);
    assert_eq!(get(c, &["sts", "x"], "{.status.readyReplicas}"), "2");

    // A deleted pod comes back under its name, on its claim, with its data.
    let old_uid = get(c, &["pod", "x-0"], "{.metadata.uid}");
    c.kubectl_ok(&["delete", "pod", "x-0", "--wait=false"]);
    eventually("x-0 to be recreated and Ready", || {
        let uid = get(c, &["pod", "x-0"], "{.metadata.uid}");
        (!uid.is_empty() && uid != old_uid && ready(c, "x-0")).then_some(())
    });
    let out = exec(c, "x-0", "cat /data/file");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kept\n", "{out:?}");

    // A failed pod is replaced the same way.
    let old_uid = get(c, &["pod", "x-0"], "{.metadata.uid}");
    c.kubectl_ok(&[
        "patch",
        "pod",
        "x-0",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Failed","reason":"Evicted"}}"#,
    ]);
    eventually("the failed x-0 to be replaced and Ready", || {
        let uid = get(c, &["pod", "x-0"], "{.metadata.uid}");
        (!uid.is_empty() && uid != old_uid && ready(c, "x-0")).then_some(())
    });
    let out = exec(c, "x-0", "cat /data/file");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kept\n", "{out:?}");

    // A partitioned rolling update replaces only the ordinals at or above the partition.
    let first = get(c, &["sts", "x"], "{.status.currentRevision}");
    assert_eq!(revision_of(c, "x-0"), first);
    assert_eq!(revision_of(c, "x-1"), first);
    c.apply(&set_yaml(2, "two", 1));
    let update = eventually("the update revision", || {
        let u = get(c, &["sts", "x"], "{.status.updateRevision}");
        (!u.is_empty() && u != first).then_some(u)
    });
    eventually("x-1 to be replaced at the update revision", || {
        (revision_of(c, "x-1") == update && ready(c, "x-1")).then_some(())
    });
    c.kubectl_ok(&["rollout", "status", "sts/x", "--timeout=120s"]);
    assert_eq!(revision_of(c, "x-0"), first, "x-0 is below the partition");
    let env = exec(c, "x-1", "echo $GREETING");
    assert_eq!(String::from_utf8_lossy(&env.stdout), "two\n");
    let env = exec(c, "x-0", "echo $GREETING");
    assert_eq!(String::from_utf8_lossy(&env.stdout), "one\n");
    assert_eq!(
        get(
            c,
            &["sts", "x"],
            "{.status.currentRevision} {.status.updatedReplicas}"
        ),
        format!("{first} 1")
    );
    let revisions = c.kubectl_ok(&["get", "controllerrevisions", "-o", "name"]);
    assert_eq!(revisions.lines().count(), 2, "{revisions}");

    // Undo goes back to the first template: its revision is renumbered, not copied.
    let history = c.kubectl_ok(&["rollout", "history", "sts/x"]);
    let numbers: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(numbers, ["1", "2"], "{history}");
    c.kubectl_ok(&["rollout", "undo", "sts/x"]);
    eventually("x-1 to be back at the first revision", || {
        (revision_of(c, "x-1") == first && ready(c, "x-1")).then_some(())
    });
    c.kubectl_ok(&["rollout", "status", "sts/x", "--timeout=120s"]);
    assert_eq!(get(c, &["sts", "x"], "{.status.updateRevision}"), first);
    assert_eq!(get(c, &["controllerrevision", &first], "{.revision}"), "3");
    let revisions = c.kubectl_ok(&["get", "controllerrevisions", "-o", "name"]);
    assert_eq!(revisions.lines().count(), 2, "{revisions}");

    // Scaling down removes the highest ordinal; its claim stays (Retain by default) and
    // scaling up again gives it back to the same ordinal.
    assert!(exec(c, "x-1", "echo one > /data/file").status.success());
    let x1_volume = get(c, &["pvc", "data-x-1"], "{.spec.volumeName}");
    c.apply(&set_yaml(1, "one", 1));
    eventually("x-1 to be gone", || {
        (!c.kubectl(&["get", "pod", "x-1"]).status.success()).then_some(())
    });
    assert!(ready(c, "x-0"), "x-0 must keep running");
    assert_eq!(get(c, &["pvc", "data-x-1"], "{.status.phase}"), "Bound");
    assert_eq!(
        get(c, &["pvc", "data-x-1"], "{.metadata.ownerReferences}"),
        ""
    );
    eventually("the status to count one replica", || {
        (get(c, &["sts", "x"], "{.status.replicas}") == "1").then_some(())
    });
    c.apply(&set_yaml(2, "one", 1));
    wait_ready(c, "x-1");
    assert_eq!(
        get(c, &["pvc", "data-x-1"], "{.spec.volumeName}"),
        x1_volume
    );
    let out = exec(c, "x-1", "cat /data/file");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n", "{out:?}");
}

#[test]
fn parallel_statefulset_deletes_its_claims_as_its_retention_policy_says() {
    let board = Board::start("builtin", 63, &[("library/box", IDLE)]);
    let c = &board.cluster;
    board.wait_node_ready();
    c.apply(CLASS);
    let spec_extra = "  podManagementPolicy: Parallel\n  \
        persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}\n";
    let probe = "        readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1}\n";
    c.apply(&set_yaml_with(
        2,
        "one",
        "{type: RollingUpdate}",
        spec_extra,
        probe,
    ));

    // Parallel: x-1 starts although x-0 is not Ready (OrderedReady would wait for it).
    for pod in ["x-0", "x-1"] {
        eventually(&format!("{pod} to run"), || {
            (get(c, &["pod", pod], "{.status.phase}") == "Running").then_some(())
        });
    }
    assert!(!ready(c, "x-0"), "x-0 is Ready without its file");
    let set_uid = get(c, &["sts", "x"], "{.metadata.uid}");
    for pod in ["x-0", "x-1"] {
        let claim = format!("data-{pod}");
        assert_eq!(
            get(c, &["pvc", &claim], "{.metadata.ownerReferences[0].uid}"),
            set_uid,
            "whenDeleted: Delete makes the set own {claim}"
        );
        assert!(exec(c, pod, "touch /tmp/ready").status.success());
        wait_ready(c, pod);
    }
    c.kubectl_ok(&["rollout", "status", "sts/x", "--timeout=120s"]);

    // OnDelete: a new template reaches a pod only when the pod is deleted.
    let first = get(c, &["sts", "x"], "{.status.currentRevision}");
    c.apply(&set_yaml_with(2, "two", ON_DELETE, spec_extra, probe));
    let update = eventually("the update revision", || {
        let s = get(
            c,
            &["sts", "x"],
            "{.status.updateRevision} {.status.observedGeneration} {.metadata.generation}",
        );
        let parts: Vec<&str> = s.split(' ').collect();
        (parts.len() == 3 && parts[0] != first && parts[1] == parts[2])
            .then(|| parts[0].to_string())
    });
    assert_eq!(get(c, &["sts", "x"], "{.status.updatedReplicas}"), "0");
    assert_eq!(revision_of(c, "x-1"), first);
    let old_uid = get(c, &["pod", "x-1"], "{.metadata.uid}");
    c.kubectl_ok(&["delete", "pod", "x-1", "--wait=false"]);
    eventually("x-1 to come back at the update revision", || {
        let uid = get(c, &["pod", "x-1"], "{.metadata.uid}");
        (!uid.is_empty() && uid != old_uid && revision_of(c, "x-1") == update).then_some(())
    });
    assert_eq!(revision_of(c, "x-0"), first);

    // whenScaled: Delete: the claim of a scaled-away ordinal goes with its pod.
    c.apply(&set_yaml_with(1, "two", ON_DELETE, spec_extra, probe));
    eventually("x-1 and its claim to be gone", || {
        let pod = c.kubectl(&["get", "pod", "x-1"]).status.success();
        let claim = c.kubectl(&["get", "pvc", "data-x-1"]).status.success();
        (!pod && !claim).then_some(())
    });
    assert!(c.kubectl(&["get", "pvc", "data-x-0"]).status.success());

    // whenDeleted: Delete: deleting the set takes the remaining claims too.
    c.kubectl_ok(&["delete", "sts", "x", "--wait=false"]);
    eventually("x-0 and its claim to be gone", || {
        let pod = c.kubectl(&["get", "pod", "x-0"]).status.success();
        let claim = c.kubectl(&["get", "pvc", "data-x-0"]).status.success();
        (!pod && !claim).then_some(())
    });
}
