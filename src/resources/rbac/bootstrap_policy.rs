//! The default roles and bindings every cluster has, as kube-apiserver's bootstrap policy
//! (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`, Kubernetes v1.32) for the
//! kinds Bramble serves, plus Bramble's read-only group: bound to `view`, and to
//! [`VIEWER_ROLE`], which reads every served kind but Secrets (nodes, volumes, storage
//! classes, leases and RBAC objects too, which `view` leaves out), as the group always has.
//!
//! Every object carries upstream's label `kubernetes.io/bootstrapping: rbac-defaults` and the
//! annotation `rbac.authorization.kubernetes.io/autoupdate: "true"`, which lets the server
//! add back at each start what a user removed (`control_plane::bootstrap_policy`); setting
//! it to `"false"` keeps the user's version.
//!
//! `admin`, `edit` and `view` hold no rules of their own: their `aggregationRule` selects
//! the ClusterRoles labelled `rbac.authorization.k8s.io/aggregate-to-{admin,edit,view}`
//! (`edit` is labelled into `admin`, `view` into `edit`), and the aggregation controller
//! fills their rules from those.

use serde_json::{json, Value};

use super::{AUTOUPDATE_ANNOTATION, GROUP};
use crate::pki::identity::{
    AUTHENTICATED_GROUP, MASTERS_GROUP, NODES_GROUP, UNAUTHENTICATED_GROUP, VIEWERS_GROUP,
};

/// Upstream's label on every bootstrap object.
pub const BOOTSTRAPPING_LABEL: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");

/// The label prefix that aggregates a ClusterRole into `admin`, `edit` or `view`.
pub const AGGREGATE_TO_PREFIX: &str = "rbac.authorization.k8s.io/aggregate-to-";

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn rule(verbs: &[&str], group: &str, resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": [group], "resources": resources})
}

fn urls(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"verbs": verbs, "nonResourceURLs": urls})
}

fn metadata(name: &str, labels: &[(&str, &str)]) -> Value {
    let mut all: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    all.insert(BOOTSTRAPPING_LABEL.0.into(), json!(BOOTSTRAPPING_LABEL.1));
    json!({
        "name": name,
        "labels": all,
        "annotations": {AUTOUPDATE_ANNOTATION: "true"},
    })
}

fn cluster_role(name: &str, labels: &[(&str, &str)], rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "ClusterRole",
        "metadata": metadata(name, labels),
        "rules": rules,
    })
}

fn aggregated(name: &str, labels: &[(&str, &str)], into: &str) -> Value {
    let mut role = cluster_role(name, labels, Vec::new());
    role["aggregationRule"] = json!({"clusterRoleSelectors": [
        {"matchLabels": {format!("{AGGREGATE_TO_PREFIX}{into}"): "true"}}
    ]});
    role
}

fn binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"kind": "Group", "apiGroup": GROUP, "name": g}))
        .collect();
    json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "ClusterRoleBinding",
        "metadata": metadata(name, &[]),
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

const TO_ADMIN: (&str, &str) = ("rbac.authorization.k8s.io/aggregate-to-admin", "true");
const TO_EDIT: (&str, &str) = ("rbac.authorization.k8s.io/aggregate-to-edit", "true");
const TO_VIEW: (&str, &str) = ("rbac.authorization.k8s.io/aggregate-to-view", "true");

/// The ClusterRole that gives `bramble:viewers` reads of what `view` leaves out.
pub const VIEWER_ROLE: &str = "bramble:viewer";

/// Reads of every served kind but Secrets, and of their logs.
fn viewer_role() -> Value {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for rt in crate::resources::RESOURCES {
        if rt.group.is_empty() && rt.plural == "secrets" {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == rt.group) {
            Some((_, plurals)) => plurals.push(rt.plural),
            None => groups.push((rt.group, vec![rt.plural])),
        }
    }
    let mut rules: Vec<Value> = groups
        .iter()
        .map(|(group, plurals)| rule(READ, group, plurals))
        .collect();
    rules.push(rule(&["get"], "", &["pods/log"]));
    cluster_role(VIEWER_ROLE, &[], rules)
}

/// Upstream's name prefix of the CSR roles.
const CSR_ROLE: &str = "system:certificates.k8s.io:certificatesigningrequests:";

/// Upstream's roles for certificate signing requests: who may ask for a kubelet client
/// certificate (`nodeclient` on bootstrap, `selfnodeclient` when renewing) and who may
/// approve for the kubelet signers. The Node authorizer lets nodes create requests and read
/// their own; these roles say what the approver honours, as upstream's.
fn csr_roles() -> Vec<Value> {
    let approver = |name: &str, signer: &str| {
        cluster_role(
            &format!("system:certificates.k8s.io:{name}"),
            &[],
            vec![
                json!({"verbs": ["approve"], "apiGroups": ["certificates.k8s.io"],
                "resources": ["signers"], "resourceNames": [signer]}),
            ],
        )
    };
    vec![
        cluster_role(
            "system:node-bootstrapper",
            &[],
            vec![rule(
                &["create", "get", "list", "watch"],
                "certificates.k8s.io",
                &["certificatesigningrequests"],
            )],
        ),
        cluster_role(
            &format!("{CSR_ROLE}nodeclient"),
            &[],
            vec![rule(
                &["create"],
                "certificates.k8s.io",
                &["certificatesigningrequests/nodeclient"],
            )],
        ),
        cluster_role(
            &format!("{CSR_ROLE}selfnodeclient"),
            &[],
            vec![rule(
                &["create"],
                "certificates.k8s.io",
                &["certificatesigningrequests/selfnodeclient"],
            )],
        ),
        approver(
            "kube-apiserver-client-kubelet-approver",
            "kubernetes.io/kube-apiserver-client-kubelet",
        ),
        approver("kubelet-serving-approver", "kubernetes.io/kubelet-serving"),
    ]
}

/// The bootstrap ClusterRoles.
pub fn cluster_roles() -> Vec<Value> {
    let mut roles = csr_roles();
    roles.extend(base_roles());
    roles
}

fn base_roles() -> Vec<Value> {
    vec![
        viewer_role(),
        cluster_role(
            "cluster-admin",
            &[],
            vec![rule(&["*"], "*", &["*"]), urls(&["*"], &["*"])],
        ),
        cluster_role(
            "system:discovery",
            &[],
            vec![urls(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        cluster_role(
            "system:basic-user",
            &[],
            vec![
                rule(
                    &["create"],
                    "authorization.k8s.io",
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(
                    &["create"],
                    "authentication.k8s.io",
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        cluster_role(
            "system:public-info-viewer",
            &[],
            vec![urls(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        cluster_role(
            "system:monitoring",
            &[],
            vec![urls(
                &["get"],
                &[
                    "/healthz",
                    "/healthz/*",
                    "/livez",
                    "/livez/*",
                    "/metrics",
                    "/metrics/slis",
                    "/readyz",
                    "/readyz/*",
                ],
            )],
        ),
        // what metrics-server installs beside its API: readers of pods and nodes may read
        // their resource metrics too
        cluster_role(
            "system:aggregated-metrics-reader",
            &[TO_VIEW, TO_EDIT, TO_ADMIN],
            vec![rule(READ, "metrics.k8s.io", &["pods", "nodes"])],
        ),
        aggregated("admin", &[], "admin"),
        aggregated("edit", &[TO_ADMIN], "edit"),
        aggregated("view", &[TO_EDIT], "view"),
        cluster_role(
            "system:aggregate-to-admin",
            &[TO_ADMIN],
            vec![
                rule(
                    &["create"],
                    "authorization.k8s.io",
                    &["localsubjectaccessreviews"],
                ),
                rule(READ_WRITE, GROUP, &["roles", "rolebindings"]),
            ],
        ),
        cluster_role(
            "system:aggregate-to-edit",
            &[TO_EDIT],
            vec![
                rule(
                    READ,
                    "",
                    &[
                        "pods/attach",
                        "pods/proxy",
                        "pods/exec",
                        "pods/portforward",
                        "secrets",
                        "services/proxy",
                    ],
                ),
                rule(&["impersonate"], "", &["serviceaccounts"]),
                rule(
                    WRITE,
                    "",
                    &[
                        "pods",
                        "pods/attach",
                        "pods/proxy",
                        "pods/exec",
                        "pods/portforward",
                    ],
                ),
                rule(&["create"], "", &["pods/eviction"]),
                rule(
                    WRITE,
                    "",
                    &[
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/proxy",
                        "persistentvolumeclaims",
                        "configmaps",
                        "secrets",
                        "events",
                    ],
                ),
                rule(&["create"], "", &["serviceaccounts/token"]),
                rule(
                    WRITE,
                    "apps",
                    &[
                        "statefulsets",
                        "statefulsets/scale",
                        "daemonsets",
                        "deployments",
                        "deployments/scale",
                        "deployments/rollback",
                        "replicasets",
                        "replicasets/scale",
                    ],
                ),
                rule(WRITE, "batch", &["jobs", "cronjobs"]),
                rule(WRITE, "policy", &["poddisruptionbudgets"]),
            ],
        ),
        cluster_role(
            "system:aggregate-to-view",
            &[TO_VIEW],
            vec![
                rule(
                    READ,
                    "",
                    &[
                        "pods",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/status",
                        "endpoints",
                        "persistentvolumeclaims",
                        "persistentvolumeclaims/status",
                        "configmaps",
                    ],
                ),
                rule(
                    READ,
                    "",
                    &[
                        "events",
                        "pods/status",
                        "namespaces/status",
                        "replicationcontrollers/status",
                        "pods/log",
                    ],
                ),
                rule(READ, "", &["namespaces"]),
                rule(READ, "discovery.k8s.io", &["endpointslices"]),
                rule(
                    READ,
                    "apps",
                    &[
                        "controllerrevisions",
                        "statefulsets",
                        "statefulsets/status",
                        "statefulsets/scale",
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/status",
                        "deployments/scale",
                        "replicasets",
                        "replicasets/status",
                        "replicasets/scale",
                    ],
                ),
                rule(
                    READ,
                    "batch",
                    &["jobs", "cronjobs", "cronjobs/status", "jobs/status"],
                ),
                rule(
                    READ,
                    "policy",
                    &["poddisruptionbudgets", "poddisruptionbudgets/status"],
                ),
            ],
        ),
    ]
}

/// The bootstrap ClusterRoleBindings.
pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding("cluster-admin", "cluster-admin", &[MASTERS_GROUP]),
        binding(
            "system:discovery",
            "system:discovery",
            &[AUTHENTICATED_GROUP],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &[AUTHENTICATED_GROUP],
        ),
        // kubeadm's `kubeadm:node-autoapprove-certificate-rotation`
        binding(
            "system:certificates.k8s.io:selfnodeclient",
            &format!("{CSR_ROLE}selfnodeclient"),
            &[NODES_GROUP],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &[AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP],
        ),
        binding(
            "system:monitoring",
            "system:monitoring",
            &["system:monitoring"],
        ),
        binding(VIEWERS_GROUP, "view", &[VIEWERS_GROUP]),
        binding(VIEWER_ROLE, VIEWER_ROLE, &[VIEWERS_GROUP]),
    ]
}
