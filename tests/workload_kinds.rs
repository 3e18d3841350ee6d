//! The workload kinds as kubectl v1.32 drives them against a control plane: apps/v1
//! Deployments, ReplicaSets, DaemonSets, StatefulSets and ControllerRevisions, core/v1
//! ReplicationControllers, and their scale subresource.

use crate::support;

use support::{eventually, Cluster};

fn header(c: &Cluster, args: &[&str]) -> Vec<String> {
    let out = c.kubectl_ok(args);
    let first = out.lines().next().unwrap_or_default().to_string();
    first
        .split("  ")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn stderr_of(c: &Cluster, args: &[&str], stdin: Option<&str>) -> String {
    let out = c.kubectl_as(&c.kubeconfig(), args, stdin);
    assert!(!out.status.success(), "kubectl {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const MANIFESTS: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: 'nginx:1.27', ports: [{containerPort: 80}]}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {disk: ssd}
      containers: [{name: agent, image: 'busybox:1.36', command: [sleep, '3600']}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: 'redis:7', volumeMounts: [{name: data, mountPath: /data}]}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: nginx, image: 'nginx:1.27'}]
";

#[test]
fn create_scale_and_describe_a_deployment() {
    let c = Cluster::start();
    let out = c.kubectl_ok(&["create", "deployment", "web", "--image=nginx"]);
    assert_eq!(out.trim(), "deployment.apps/web created");
    assert_eq!(
        header(&c, &["get", "deploy"]),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    // Its controller makes one up-to-date pod at once; with no kubelet it never gets ready.
    eventually("the deployment's pod to be counted", || {
        let row = c.kubectl_ok(&["get", "deploy", "web", "--no-headers"]);
        let cells: Vec<String> = row.split_whitespace().map(str::to_string).collect();
        (cells[..4] == ["web", "0/1", "1", "0"]).then_some(())
    });
    assert_eq!(
        header(&c, &["get", "deploy", "-o", "wide"]),
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    // Upstream's defaults, the template's included.
    assert_eq!(
        c.jsonpath(
            &["deploy", "web"],
            "{.spec.strategy.type} {.spec.strategy.rollingUpdate.maxSurge} {.spec.revisionHistoryLimit} {.spec.progressDeadlineSeconds} {.spec.template.spec.restartPolicy} {.metadata.generation}"
        ),
        "RollingUpdate 25% 10 600 Always 1"
    );

    let out = c.kubectl_ok(&["scale", "deployment", "web", "--replicas=3"]);
    assert_eq!(out.trim(), "deployment.apps/web scaled");
    assert_eq!(
        c.jsonpath(
            &["deploy", "web"],
            "{.spec.replicas} {.metadata.generation}"
        ),
        "3 2"
    );
    let scale = c.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
    ]);
    let scale: serde_json::Value = serde_json::from_str(&scale).expect("scale json");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=web");

    // AVAILABLE is the Scale's status.replicas: the three pods the controllers made.
    eventually("the scale to count three pods", || {
        let table = c.kubectl_ok(&["get", "deploy", "web", "--subresource=scale"]);
        let rows: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        (rows == [vec!["NAME", "DESIRED", "AVAILABLE"], vec!["web", "3", "3"]]).then_some(())
    });

    // With a precondition kubectl reads the Scale and writes it back (PUT).
    c.kubectl_ok(&[
        "scale",
        "deployment",
        "web",
        "--current-replicas=3",
        "--replicas=1",
    ]);
    assert_eq!(c.jsonpath(&["deploy", "web"], "{.spec.replicas}"), "1");
    let err = stderr_of(
        &c,
        &[
            "scale",
            "deployment",
            "web",
            "--current-replicas=5",
            "--replicas=2",
        ],
        None,
    );
    assert!(err.contains("Expected replicas to be 5, was 1"), "{err}");
    // A Scale written back with a stale resourceVersion is refused as upstream does.
    let stale = r#"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web","namespace":"default","resourceVersion":"1"},"spec":{"replicas":2}}"#;
    let err = stderr_of(
        &c,
        &[
            "replace",
            "--raw",
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
            "-f",
            "-",
        ],
        Some(stale),
    );
    assert!(
        err.contains("Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified"),
        "{err}"
    );
    assert_eq!(c.jsonpath(&["deploy", "web"], "{.spec.replicas}"), "1");

    // The status subresource changes only the status; the main resource never does. (The
    // controller owns the counters, so the marks are fields it never writes.)
    c.kubectl_ok(&[
        "patch",
        "deployment",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":7},"status":{"collisionCount":4}}"#,
    ]);
    c.kubectl_ok(&[
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        r#"{"status":{"collisionCount":9}}"#,
    ]);
    assert_eq!(
        c.jsonpath(
            &["deploy", "web"],
            "{.spec.replicas} {.status.collisionCount}"
        ),
        "1 4"
    );

    // describe lists ReplicaSets by selector and events by field selector.
    let described = c.kubectl_ok(&["describe", "deployment", "web"]);
    assert!(
        described.contains("Selector:               app=web"),
        "{described}"
    );
    assert!(described.contains("1 desired"), "{described}");
    assert!(
        described.contains("25% max unavailable, 25% max surge"),
        "{described}"
    );

    // apps/v1 fixes the selector once created.
    let err = stderr_of(
        &c,
        &[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"selector":{"matchLabels":{"app":"web2"}},"template":{"metadata":{"labels":{"app":"web2"}}}}}"#,
        ],
        None,
    );
    assert!(err.contains("The Deployment \"web\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"), "{err}");
    assert_eq!(
        c.jsonpath(&["deploy", "web"], "{.spec.selector.matchLabels.app}"),
        "web"
    );
}

#[test]
fn selector_must_match_the_template() {
    let c = Cluster::start();
    let bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec:\n  selector: {matchLabels: {app: bad}}\n  template:\n    metadata: {labels: {app: other}}\n    spec:\n      containers: [{name: nginx, image: nginx, imagePullPolicy: Sometimes}]\n";
    let err = stderr_of(&c, &["apply", "-f", "-"], Some(bad));
    assert!(err.contains("The Deployment \"bad\" is invalid: "), "{err}");
    assert!(err.contains("spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"), "{err}");
    assert!(
        err.contains(
            "spec.template.spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\""
        ),
        "{err}"
    );
    let missing = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: nosel}\nspec:\n  template:\n    metadata: {labels: {app: x}}\n    spec:\n      containers: [{name: c, image: busybox}]\n";
    let err = stderr_of(&c, &["apply", "-f", "-"], Some(missing));
    assert!(
        err.contains("The ReplicaSet \"nosel\" is invalid: spec.selector: Required value"),
        "{err}"
    );
    let out = c.kubectl(&["get", "deploy,rs", "--no-headers"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "nothing is stored"
    );
}

#[test]
fn manifests_apply_list_and_scale() {
    let c = Cluster::start();
    let out = c.apply(MANIFESTS);
    for want in [
        "deployment.apps/api created",
        "daemonset.apps/agent created",
        "statefulset.apps/db created",
        "replicationcontroller/legacy created",
    ] {
        assert!(out.contains(want), "{out}");
    }
    // Applying the same manifests again changes nothing, a changed image bumps the generation.
    let again = c.apply(MANIFESTS);
    assert!(again.contains("deployment.apps/api unchanged"), "{again}");
    c.apply(&MANIFESTS.replace("redis:7", "redis:7.2"));
    assert_eq!(
        c.jsonpath(
            &["sts", "db"],
            "{.metadata.generation} {.spec.template.spec.containers[0].image}"
        ),
        "2 redis:7.2"
    );
    // kubectl sends `$retainKeys` for a Deployment's strategy: switching to Recreate drops
    // the defaulted rollingUpdate.
    c.apply(&MANIFESTS.replace(
        "  replicas: 2\n  selector: {matchLabels: {app: api}}",
        "  replicas: 2\n  strategy: {type: Recreate}\n  selector: {matchLabels: {app: api}}",
    ));
    assert_eq!(
        c.jsonpath(&["deploy", "api"], "{.spec.strategy}"),
        r#"{"type":"Recreate"}"#
    );
    assert_eq!(
        c.jsonpath(
            &["rc", "legacy"],
            "{.spec.selector.app} {.metadata.labels.app}"
        ),
        "legacy legacy"
    );
    assert_eq!(
        c.jsonpath(
            &["ds", "agent"],
            "{.metadata.annotations.deprecated\\.daemonset\\.template\\.generation}"
        ),
        "1"
    );

    let all = c.kubectl_ok(&["get", "all"]);
    for want in [
        "replicationcontroller/legacy",
        "daemonset.apps/agent",
        "deployment.apps/api",
        "statefulset.apps/db",
    ] {
        assert!(all.contains(want), "{want} missing from:\n{all}");
    }
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["get", "ds"],
            &[
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
            ],
        ),
        (&["get", "sts"], &["NAME", "READY", "AGE"]),
        (
            &["get", "rc"],
            &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        ),
    ];
    for (args, want) in cases {
        assert_eq!(&header(&c, args), want, "{args:?}");
    }
    let ds_row = c.kubectl_ok(&["get", "ds", "agent", "--no-headers"]);
    assert!(ds_row.contains("disk=ssd"), "{ds_row}");

    c.apply("apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: api-1}\nspec:\n  selector: {matchLabels: {app: api, rev: '1'}}\n  template:\n    metadata: {labels: {app: api, rev: '1'}}\n    spec:\n      containers: [{name: api, image: 'nginx:1.27'}]\n");
    assert_eq!(
        header(&c, &["get", "rs"]),
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    );
    c.kubectl_ok(&["describe", "rs", "api-1"]);
    // Its controller makes its pod (no kubelet runs it) and counts it.
    eventually("the replica set to count its pod", || {
        let selected = c.kubectl_ok(&[
            "get",
            "rs",
            "--field-selector=status.replicas=1",
            "-o",
            "name",
        ]);
        (selected.trim() == "replicaset.apps/api-1").then_some(())
    });
    // Owned by a real object whose controller keeps no revisions of its own (a revision
    // naming an owner that does not exist is collected as garbage; a DaemonSet's controller
    // would claim or release it).
    let owner_uid = c.jsonpath(&["deployment", "api"], "{.metadata.uid}");
    c.apply(&format!("apiVersion: apps/v1\nkind: ControllerRevision\nmetadata:\n  name: hand-1\n  ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: api, uid: '{owner_uid}', controller: true}}]\nrevision: 1\ndata: {{spec: {{template: {{metadata: {{labels: {{app: api}}}}}}}}}}\n"));
    let revs = c.kubectl_ok(&["get", "controllerrevisions"]);
    let lines: Vec<Vec<&str>> = revs
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "CONTROLLER", "REVISION", "AGE"]);
    let row = lines
        .iter()
        .find(|l| l.first() == Some(&"hand-1"))
        .unwrap_or_else(|| panic!("{revs}"));
    assert_eq!(&row[..3], &["hand-1", "deployment.apps/api", "1"]);

    // Every scalable kind scales through its scale subresource.
    for (what, name) in [
        ("statefulset", "db"),
        ("replicationcontroller", "legacy"),
        ("replicaset", "api-1"),
    ] {
        c.kubectl_ok(&["scale", what, name, "--replicas=4"]);
        assert_eq!(c.jsonpath(&[what, name], "{.spec.replicas}"), "4", "{what}");
    }
    let err = stderr_of(
        &c,
        &[
            "patch",
            "sts",
            "db",
            "--subresource=scale",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":-1}}"#,
        ],
        None,
    );
    assert!(
        err.contains("The Scale \"db\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
        "{err}"
    );
    let err = stderr_of(
        &c,
        &[
            "patch",
            "sts",
            "db",
            "--type=merge",
            "-p",
            r#"{"spec":{"serviceName":"other"}}"#,
        ],
        None,
    );
    assert!(err.contains("spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"), "{err}");

    // Discovery names the scale subresource's kind as autoscaling/v1 Scale.
    let apps = c.kubectl_ok(&["get", "--raw", "/apis/apps/v1"]);
    let apps: serde_json::Value = serde_json::from_str(&apps).expect("discovery json");
    let scale = apps["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "deployments/scale")
        .expect("deployments/scale listed");
    assert_eq!(
        (&scale["group"], &scale["version"], &scale["kind"]),
        (&"autoscaling".into(), &"v1".into(), &"Scale".into())
    );
}

/// The names of the pods in the default namespace that `kind` `name` controls.
fn controlled_pods(c: &Cluster, kind: &str, name: &str) -> Vec<String> {
    let out = c.kubectl_ok(&[
        "get",
        "pods",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences[?(@.controller==true)].kind}/{.metadata.ownerReferences[?(@.controller==true)].name} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    let owner = format!("{kind}/{name}");
    let mut names: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells.len() == 2 && cells[1] == owner).then(|| cells[0].to_string())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn a_replication_controller_keeps_its_pods_and_adopts_matching_orphans() {
    let c = Cluster::start();
    // A pod of its labels without a controller is adopted as one of the replicas.
    c.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: stray, labels: {app: legacy}}\nspec:\n  containers: [{name: nginx, image: 'nginx:1.27'}]\n");
    c.apply("apiVersion: v1\nkind: ReplicationController\nmetadata: {name: legacy}\nspec:\n  replicas: 3\n  template:\n    metadata: {labels: {app: legacy}}\n    spec:\n      containers: [{name: nginx, image: 'nginx:1.27'}]\n");
    let first = eventually("three pods of the controller", || {
        let pods = controlled_pods(&c, "ReplicationController", "legacy");
        (pods.len() == 3).then_some(pods)
    });
    assert!(first.contains(&"stray".to_string()), "{first:?}");
    assert_eq!(
        c.jsonpath(
            &["pod", "stray"],
            "{.metadata.ownerReferences[0].apiVersion} {.metadata.ownerReferences[0].blockOwnerDeletion}"
        ),
        "v1 true"
    );
    let made: Vec<&String> = first.iter().filter(|p| *p != "stray").collect();
    assert!(made.iter().all(|p| p.starts_with("legacy-")), "{first:?}");
    eventually("the controller to count them", || {
        let row = c.kubectl_ok(&["get", "rc", "legacy", "--no-headers"]);
        let cells: Vec<&str> = row.split_whitespace().collect();
        (cells[..4] == ["legacy", "3", "3", "0"]).then_some(())
    });
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector=involvedObject.kind=ReplicationController,reason=SuccessfulCreate",
        "-o",
        "jsonpath={.items[*].source.component}",
    ]);
    assert!(events.contains("replication-controller"), "{events}");

    // A deleted pod is replaced.
    c.kubectl_ok(&["delete", "pod", made[0], "--wait=false"]);
    eventually("a replacement pod", || {
        let pods = controlled_pods(&c, "ReplicationController", "legacy");
        (pods.len() == 3 && !pods.contains(made[0])).then_some(())
    });

    // Scaled down it deletes two.
    c.kubectl_ok(&["scale", "rc", "legacy", "--replicas=1"]);
    eventually("one pod left", || {
        (controlled_pods(&c, "ReplicationController", "legacy").len() == 1).then_some(())
    });

    // Deleting it takes its pods along.
    c.kubectl_ok(&["delete", "rc", "legacy"]);
    eventually("its pods collected", || {
        let left = c.kubectl_ok(&["get", "pods", "-l", "app=legacy", "-o", "name"]);
        left.trim().is_empty().then_some(())
    });
}
