//! RBAC decides what a user may do. A user without a binding is refused with upstream's
//! wording; `kubectl create role` and `rolebinding` let them list pods in that namespace
//! and nowhere else; a binding's role cannot be changed; a namespace admin grants no more
//! than they hold; `view` holds the rules of the roles aggregated into it and follows a new
//! one; `bramble:viewers` read every kind but secrets and write nothing.

use crate::support;

use std::process::Output;

use support::{eventually, Cluster};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_role_binding_grants_its_role_in_its_namespace_only() {
    let c = Cluster::start();
    let alice = c.user_kubeconfig("alice", &[]);
    c.kubectl_ok(&["create", "namespace", "dev"]);

    let denied = c.kubectl_as(&alice, &["get", "pods", "-n", "dev"], None);
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains(
            "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" \
             in the namespace \"dev\""
        ),
        "{}",
        stderr(&denied)
    );

    c.kubectl_ok(&[
        "create",
        "role",
        "pod-reader",
        "-n",
        "dev",
        "--verb=get,list,watch",
        "--resource=pods",
    ]);
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        "alice-reads",
        "-n",
        "dev",
        "--role=pod-reader",
        "--user=alice",
    ]);
    eventually("alice to list pods in dev", || {
        c.kubectl_as(&alice, &["get", "pods", "-n", "dev"], None)
            .status
            .success()
            .then_some(())
    });

    let elsewhere = c.kubectl_as(&alice, &["get", "pods", "-n", "default"], None);
    assert!(
        stderr(&elsewhere).contains(
            "User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \
             \"default\""
        ),
        "{}",
        stderr(&elsewhere)
    );
    let everywhere = c.kubectl_as(&alice, &["get", "pods", "-A"], None);
    assert!(
        stderr(&everywhere).contains(
            "User \"alice\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
        ),
        "{}",
        stderr(&everywhere)
    );
    let write = c.kubectl_as(&alice, &["delete", "pod", "web", "-n", "dev"], None);
    assert!(
        stderr(&write)
            .contains("pods \"web\" is forbidden: User \"alice\" cannot delete resource \"pods\""),
        "{}",
        stderr(&write)
    );

    let table = c.kubectl_ok(&[
        "get",
        "rolebinding",
        "alice-reads",
        "-n",
        "dev",
        "-o",
        "wide",
    ]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
        "{table}"
    );
    assert!(
        table.contains("Role/pod-reader") && table.contains("alice"),
        "{table}"
    );
    let roles = c.kubectl_ok(&["get", "roles", "-n", "dev"]);
    assert!(
        roles.starts_with("NAME") && roles.contains("CREATED AT"),
        "{roles}"
    );

    let changed = c.kubectl(&[
        "patch",
        "rolebinding",
        "alice-reads",
        "-n",
        "dev",
        "--type=merge",
        "-p",
        r#"{"roleRef":{"kind":"ClusterRole","name":"view"}}"#,
    ]);
    assert!(!changed.status.success());
    assert!(
        stderr(&changed).contains("cannot change roleRef"),
        "{}",
        stderr(&changed)
    );
}

#[test]
fn aggregated_roles_follow_their_parts_and_viewers_read_no_secrets() {
    let c = Cluster::start();
    let view = || c.kubectl_ok(&["get", "clusterroles", "view", "-o", "yaml"]);
    eventually("view to hold the aggregated rules", || {
        let yaml = view();
        (yaml.contains("pods/log") && yaml.contains("controllerrevisions")).then_some(())
    });
    assert!(view().contains("rbac.authorization.k8s.io/aggregate-to-view"));

    c.apply(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-view
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: \"true\"
rules:
- apiGroups: [example.com]
  resources: [widgets]
  verbs: [get, list, watch]
",
    );
    for role in ["view", "edit", "admin"] {
        eventually(&format!("{role} to gain the widgets rule"), || {
            let yaml = c.kubectl_ok(&["get", "clusterrole", role, "-o", "yaml"]);
            yaml.contains("widgets").then_some(())
        });
    }

    let vera = c.user_kubeconfig("vera", &["bramble:viewers"]);
    let pods = c.kubectl_as(&vera, &["get", "pods", "-A"], None);
    assert!(pods.status.success(), "{}", stderr(&pods));
    // as the read-only group always could: nodes and other cluster-wide kinds too
    for kind in [
        "nodes",
        "persistentvolumes",
        "storageclasses",
        "clusterroles",
    ] {
        let read = c.kubectl_as(&vera, &["get", kind], None);
        assert!(read.status.success(), "{kind}: {}", stderr(&read));
    }
    let write = c.kubectl_as(&vera, &["create", "namespace", "vera-was-here"], None);
    assert!(!write.status.success(), "a viewer created a namespace");
    let secrets = c.kubectl_as(&vera, &["get", "secrets"], None);
    assert!(!secrets.status.success(), "{}", stdout(&secrets));
    assert!(
        stderr(&secrets).contains(
            "secrets is forbidden: User \"vera\" cannot list resource \"secrets\" in API group \
             \"\" in the namespace \"default\""
        ),
        "{}",
        stderr(&secrets)
    );
    let bindings = c.kubectl_ok(&["get", "clusterrolebindings", "-o", "wide"]);
    assert!(
        bindings
            .lines()
            .any(|l| l.starts_with("bramble:viewers") && l.contains("ClusterRole/view")),
        "{bindings}"
    );
}

#[test]
fn a_namespace_admin_grants_only_what_they_hold() {
    let c = Cluster::start();
    let bob = c.user_kubeconfig("bob", &[]);
    c.kubectl_ok(&["create", "namespace", "dev"]);
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        "bob-admin",
        "-n",
        "dev",
        "--clusterrole=admin",
        "--user=bob",
    ]);
    // Wait for admin to be aggregated before leaning on it.
    eventually("bob to administer dev", || {
        c.kubectl_as(&bob, &["get", "rolebindings", "-n", "dev"], None)
            .status
            .success()
            .then_some(())
    });

    let granted = c.kubectl_as(
        &bob,
        &[
            "create",
            "rolebinding",
            "carol-views",
            "-n",
            "dev",
            "--clusterrole=view",
            "--user=carol",
        ],
        None,
    );
    assert!(granted.status.success(), "{}", stderr(&granted));

    let escalated = c.kubectl_as(
        &bob,
        &[
            "create",
            "rolebinding",
            "bob-root",
            "-n",
            "dev",
            "--clusterrole=cluster-admin",
            "--user=bob",
        ],
        None,
    );
    assert!(!escalated.status.success());
    let err = stderr(&escalated);
    assert!(
        err.contains(
            "rolebindings.rbac.authorization.k8s.io \"bob-root\" is forbidden: user \"bob\" \
             (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not \
             currently held:"
        ) && err.contains("{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}"),
        "{err}"
    );

    let node_reader = c.kubectl_as(
        &bob,
        &[
            "create",
            "role",
            "nodes",
            "-n",
            "dev",
            "--verb=get",
            "--resource=nodes",
        ],
        None,
    );
    assert!(
        stderr(&node_reader).contains("attempting to grant RBAC permissions not currently held"),
        "{}",
        stderr(&node_reader)
    );
    let pod_reader = c.kubectl_as(
        &bob,
        &[
            "create",
            "role",
            "pods",
            "-n",
            "dev",
            "--verb=get",
            "--resource=pods",
        ],
        None,
    );
    assert!(pod_reader.status.success(), "{}", stderr(&pod_reader));
}
