//! Validation and defaulting of the RBAC kinds, with upstream's messages.

use serde_json::{json, Value};

use super::{cluster_role, cluster_role_binding, role, role_binding};
use crate::resources::ResourceType;

fn errors(rt: &ResourceType, obj: &Value) -> Vec<String> {
    rt.strategy
        .validate(obj)
        .into_iter()
        .map(|e| format!("{}: {}", e.field, e.detail))
        .collect()
}

fn defaulted(rt: &ResourceType, mut obj: Value) -> Value {
    rt.strategy.default(&mut obj);
    obj
}

#[test]
fn rules_need_verbs_and_groups_and_resources_or_urls() {
    let role = json!({"metadata": {"name": "r", "namespace": "default"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"resources": ["pods"]},
        {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
        {"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "secrets"], "resourceNames": ["x"]},
    ]});
    assert_eq!(
        errors(&role::RESOURCE, &role),
        vec![
            "rules[1].verbs: Required value: verbs must contain at least one value",
            "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
            "rules[2].nonResourceURLs: Invalid value: [\"/healthz\"]: namespaced rules cannot apply to non-resource URLs",
            "rules[3].resourceNames: Required value: resource names cannot apply to multiple resources",
        ]
    );
    let cluster = json!({"metadata": {"name": "c"}, "rules": [
        {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/version/*"]},
        {"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]},
    ]});
    assert_eq!(
        errors(&cluster_role::RESOURCE, &cluster),
        vec!["rules[1].nonResourceURLs: Invalid value: [\"/x\"]: rules cannot apply to both regular resources and non-resource URLs"]
    );
}

#[test]
fn names_are_path_segments() {
    for (name, msg) in [
        ("..", "may not be '..'"),
        ("a/b", "may not contain '/'"),
        ("100%", "may not contain '%'"),
    ] {
        let obj = json!({"metadata": {"name": name}});
        assert_eq!(
            errors(&cluster_role::RESOURCE, &obj),
            vec![format!("metadata.name: Invalid value: \"{name}\": {msg}")]
        );
    }
    let ok = json!({"metadata": {"name": "system:aggregate-to-view"}});
    assert!(errors(&cluster_role::RESOURCE, &ok).is_empty());
}

#[test]
fn aggregation_rule_needs_a_selector() {
    let obj = json!({"metadata": {"name": "agg"}, "aggregationRule": {}});
    assert_eq!(
        errors(&cluster_role::RESOURCE, &obj),
        vec!["aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"]
    );
}

#[test]
fn bindings_default_groups_and_check_role_refs_and_subjects() {
    let rb = defaulted(
        &role_binding::RESOURCE,
        json!({"metadata": {"name": "b", "namespace": "dev"},
               "roleRef": {"kind": "Role", "name": "pod-reader"},
               "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "ci"}]}),
    );
    assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
    assert!(rb["subjects"][1].get("apiGroup").is_none());
    assert!(errors(&role_binding::RESOURCE, &rb).is_empty());

    let crb = json!({"metadata": {"name": "b"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ""},
    "subjects": [
        {"kind": "ServiceAccount", "name": "ci"},
        {"kind": "Robot", "name": "r2"},
        {"kind": "Group", "apiGroup": "x", "name": "ops"},
    ]});
    assert_eq!(
        errors(&cluster_role_binding::RESOURCE, &crb),
        vec![
            "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
            "roleRef.name: Required value",
            "subjects[0].namespace: Required value",
            "subjects[1].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
            "subjects[2].apiGroup: Unsupported value: \"x\": supported values: \"rbac.authorization.k8s.io\"",
        ]
    );
}

#[test]
fn role_ref_cannot_change() {
    let old = json!({"metadata": {"name": "b", "namespace": "dev", "resourceVersion": "3"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "a"}});
    let mut new = old.clone();
    new["roleRef"]["kind"] = json!("ClusterRole");
    let errs: Vec<String> = role_binding::RESOURCE
        .strategy
        .validate_update(&new, &old)
        .into_iter()
        .map(|e| format!("{}: {}", e.field, e.detail))
        .collect();
    assert_eq!(
        errs,
        vec!["roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"a\"}: cannot change roleRef"]
    );
    let mut subjects_only = old.clone();
    subjects_only["subjects"] =
        json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "g"}]);
    assert!(role_binding::RESOURCE
        .strategy
        .validate_update(&subjects_only, &old)
        .is_empty());
}
