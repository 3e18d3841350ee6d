//! A node identity against every verb × kind × own/other, decided by the Node authorizer
//! over a real store (the writes it lets through are narrowed by NodeRestriction admission,
//! tested in `api/admission/node_restriction_tests.rs`).

use super::node_fixture::{cluster, node, NODE, OTHER, VERBS};
use super::*;
use crate::api::registry::DeleteOptions;
use crate::resources;

/// One row: a kind, its own and another node's object, and the verbs allowed on each.
struct Row {
    group: &'static str,
    resource: &'static str,
    sub: &'static str,
    ns: &'static str,
    own: &'static str,
    other: &'static str,
    own_verbs: &'static [&'static str],
    other_verbs: &'static [&'static str],
}

const READ: &[&str] = &["get", "list", "watch"];
const NONE: &[&str] = &[];

fn rows() -> Vec<Row> {
    let row = |group, resource, sub, ns, own, other, own_verbs, other_verbs| Row {
        group,
        resource,
        sub,
        ns,
        own,
        other,
        own_verbs,
        other_verbs,
    };
    let pod_verbs: &[&str] = &["get", "list", "watch", "create", "delete"];
    let node_verbs: &[&str] = &["get", "list", "watch", "create", "update", "patch"];
    let status_verbs: &[&str] = &["get", "list", "watch", "update", "patch"];
    let pv_verbs: &[&str] = &[
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let event_verbs: &[&str] = &["get", "list", "watch", "create", "update", "patch"];
    #[rustfmt::skip]
    let table = vec![
        // Writes the authorizer lets through are narrowed by admission (below).
        row("", "pods", "", "default", "mine", "theirs", pod_verbs, pod_verbs),
        row("", "pods", "status", "default", "mine", "theirs", status_verbs, status_verbs),
        row("", "pods", "exec", "default", "mine", "theirs", NONE, NONE),
        row("", "pods", "log", "default", "mine", "theirs", NONE, NONE),
        row("", "pods", "binding", "default", "mine", "theirs", NONE, NONE),
        row("", "nodes", "", "", NODE, OTHER, node_verbs, node_verbs),
        row("", "nodes", "status", "", NODE, OTHER, status_verbs, status_verbs),
        row("coordination.k8s.io", "leases", "", "kube-node-lease", NODE, OTHER,
            &["get", "create", "update", "patch", "delete"], &["create"]),
        row("coordination.k8s.io", "leases", "", "default", NODE, OTHER, NONE, NONE),
        row("", "secrets", "", "default", "s-mine", "s-theirs", READ, NONE),
        row("", "secrets", "", "default", "pull-mine", "pull-theirs", READ, NONE),
        row("", "secrets", "", "default", "env-mine", "env-theirs", READ, NONE),
        row("", "configmaps", "", "default", "cm-mine", "cm-theirs", READ, NONE),
        row("", "configmaps", "", "kube-system", "bramble-cluster", "kube-root-ca.crt", READ, NONE),
        row("", "persistentvolumeclaims", "", "default", "claim-mine", "claim-theirs", READ, READ),
        row("", "persistentvolumeclaims", "status", "default", "claim-mine", "claim-theirs",
            &["update", "patch"], NONE),
        row("", "persistentvolumes", "", "", "pv-mine", "pv-theirs", pv_verbs, pv_verbs),
        row("", "events", "", "default", "e1", "e2", event_verbs, event_verbs),
        row("events.k8s.io", "events", "", "default", "e1", "e2", event_verbs, event_verbs),
        row("", "services", "", "default", "web", "db", READ, READ),
        row("", "endpoints", "", "default", "web", "db", READ, READ),
        row("discovery.k8s.io", "endpointslices", "", "default", "web", "db", READ, READ),
        row("", "namespaces", "", "", "default", "kube-system", READ, READ),
        row("", "serviceaccounts", "token", "default", "sa-mine", "sa-theirs", &["create"], NONE),
        row("", "serviceaccounts", "", "default", "sa-mine", "sa-theirs", NONE, NONE),
        row("apps", "deployments", "", "default", "web", "db", NONE, NONE),
    ];
    table
}

#[tokio::test]
async fn every_verb_kind_and_owner_is_authorized_as_upstream_node_authorizer() {
    let dir = tempfile::tempdir().unwrap();
    let r = cluster(dir.path()).await;
    let who = node();
    let mut wrong = Vec::new();
    for row in rows() {
        for (name, allowed) in [(row.own, row.own_verbs), (row.other, row.other_verbs)] {
            for verb in VERBS {
                // A create or a collection names no object; list/watch name one through a
                // metadata.name field selector.
                let name = if matches!(verb, "create" | "deletecollection") && row.sub.is_empty() {
                    ""
                } else {
                    name
                };
                let attrs = Attributes::resource(verb, row.group, row.resource, row.ns, name)
                    .with_subresource(row.sub);
                let got = authorize(&who, &attrs, &r) == Decision::Allow;
                if got != allowed.contains(&verb) {
                    wrong.push(format!(
                        "{verb} {}/{} {}/{name}: allowed={got}",
                        row.resource, row.sub, row.ns
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn denials_carry_upstream_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let r = cluster(dir.path()).await;
    let who = node();
    let reason = |attrs: Attributes<'_>| match authorize(&who, &attrs, &r) {
        Decision::Deny(reason) => forbidden_message(&who, &attrs, &reason),
        Decision::Allow => "allowed".into(),
    };
    assert_eq!(
        reason(Attributes::resource(
            "get", "", "secrets", "default", "s-theirs"
        )),
        "secrets \"s-theirs\" is forbidden: User \"system:node:pi-2\" cannot get resource \
         \"secrets\" in API group \"\" in the namespace \"default\": no relationship found \
         between node 'pi-2' and this object"
    );
    assert!(
        reason(Attributes::resource("list", "", "secrets", "default", ""))
            .ends_with(": No Object name found")
    );
    assert!(
        reason(Attributes::resource("list", "", "secrets", "", "s-mine"))
            .ends_with(": can only read namespaced object of this type")
    );
    assert!(
        reason(Attributes::resource("create", "", "secrets", "default", ""))
            .ends_with(": can only read resources of this type")
    );
    assert!(reason(Attributes::resource(
        "update",
        "coordination.k8s.io",
        "leases",
        "kube-node-lease",
        OTHER
    ))
    .ends_with(": can only access node lease with the same name as the requesting node"));
    // Pods and nodes are listed whole (the kubelet watches its pods by field selector,
    // routes to every node's pod range).
    assert_eq!(
        reason(Attributes::resource("list", "", "pods", "", "")),
        "allowed"
    );
    // A pod that moves away takes the node's access with it.
    r.delete(
        &resources::pod::RESOURCE,
        "default",
        "mine",
        &DeleteOptions {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(reason(Attributes::resource(
        "get", "", "secrets", "default", "s-mine"
    ))
    .ends_with("no relationship found between node 'pi-2' and this object"));
}
