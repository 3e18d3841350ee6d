//! `kubectl get` prints the same columns as against upstream for every served kind.

use crate::support;

use support::{node_yaml, Cluster};

fn header(c: &Cluster, args: &[&str]) -> Vec<String> {
    let out = c.kubectl_ok(args);
    let first = out.lines().next().unwrap_or_default().to_string();
    first
        .split("   ")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn every_kind_prints_upstream_columns() {
    let c = Cluster::start();
    c.apply(&node_yaml("pi-1", "4", "4Gi"));
    c.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: b}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {p: q}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80, targetPort: 8080}]\n  selector: {app: web}\n---\n\
         apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: local\n  annotations: {storageclass.kubernetes.io/is-default-class: 'true'}\nprovisioner: bramble.io/local-path\n---\n\
         apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv1}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /mnt/pv1}\n---\n\
         apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: claim}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n",
    );
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["get", "nodes"],
            &["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        ),
        (&["get", "namespaces"], &["NAME", "STATUS", "AGE"]),
        (&["get", "configmaps"], &["NAME", "DATA", "AGE"]),
        (&["get", "secrets"], &["NAME", "TYPE", "DATA", "AGE"]),
        (
            &["get", "services"],
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
        ),
        (
            &["get", "storageclasses"],
            &[
                "NAME",
                "PROVISIONER",
                "RECLAIMPOLICY",
                "VOLUMEBINDINGMODE",
                "ALLOWVOLUMEEXPANSION",
                "AGE",
            ],
        ),
        (
            &["get", "pv"],
            &[
                "NAME",
                "CAPACITY",
                "ACCESS MODES",
                "RECLAIM POLICY",
                "STATUS",
                "CLAIM",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "REASON",
                "AGE",
            ],
        ),
        (
            &["get", "pvc"],
            &[
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE",
            ],
        ),
    ];
    for (args, want) in cases {
        assert_eq!(header(&c, args), *want, "kubectl {args:?}");
    }
    let sc = c.kubectl_ok(&["get", "sc"]);
    assert!(sc.contains("local (default)"), "{sc}");
    let svc = c.kubectl_ok(&["get", "svc"]);
    assert!(
        svc.lines().any(|l| l.starts_with("kubernetes")
            && l.contains("10.43.0.1")
            && l.contains("443/TCP")),
        "{svc}"
    );
    let web = svc
        .lines()
        .find(|l| l.starts_with("web"))
        .unwrap_or_default();
    assert!(
        web.contains("ClusterIP") && web.contains("10.43.0.2") && web.contains("80/TCP"),
        "{svc}"
    );
    let secrets = c.kubectl_ok(&["get", "secret", "s"]);
    assert!(secrets.contains("Opaque"), "{secrets}");
    let nodes = c.kubectl_ok(&["get", "nodes"]);
    assert!(nodes.contains("Ready"), "{nodes}");
    let ns = c.kubectl_ok(&["get", "ns", "default"]);
    assert!(ns.contains("Active"), "{ns}");
}
