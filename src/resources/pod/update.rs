//! Pod spec immutability on update: upstream's `ValidatePodUpdate`, which lets only images,
//! `activeDeadlineSeconds`, added tolerations and a `terminationGracePeriodSeconds` fix change.

use serde_json::{json, Map, Value};

use crate::resources::validation::fields::{at, int_at, list_at, str_at};
use crate::resources::FieldError;

/// Upstream's list of the spec fields a pod update may change, joined as its message does.
const UPDATABLE_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Validates what an update changes in a pod's spec.
pub fn validate_pod_spec_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let new_spec = at(new, &["spec"]).unwrap_or(&null);
    let old_spec = at(old, &["spec"]).unwrap_or(&null);
    for key in ["containers", "initContainers"] {
        let (n, o) = (list_at(new_spec, &[key]), list_at(old_spec, &[key]));
        if n.len() != o.len() {
            errs.push(FieldError::forbidden(
                format!("spec.{key}"),
                "pod updates may not add or remove containers",
            ));
            return errs;
        }
        for (i, c) in n.iter().enumerate() {
            if str_at(c, &["image"]).is_empty() {
                errs.push(FieldError::required(format!("spec.{key}[{i}].image"), ""));
            }
        }
    }
    match (
        int_at(new_spec, &["activeDeadlineSeconds"]),
        int_at(old_spec, &["activeDeadlineSeconds"]),
    ) {
        (Some(n), _) if !(0..=i64::from(i32::MAX)).contains(&n) => {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                &json!(n),
                &format!("must be between 0 and {}, inclusive", i32::MAX),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                &json!(n),
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            &Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    // Upstream `validateOnlyAddedTolerations`: every old toleration must still be there; only
    // its tolerationSeconds may change.
    let new_tol = list_at(new_spec, &["tolerations"]);
    if list_at(old_spec, &["tolerations"])
        .iter()
        .any(|o| !new_tol.iter().any(|t| same_toleration(t, o)))
    {
        errs.push(FieldError::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    let Some(new_map) = new_spec.as_object() else {
        return errs;
    };
    let old_map = old_spec.as_object().cloned().unwrap_or_default();
    let mut munged = new_map.clone();
    for key in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = munged.get_mut(key) {
            for (c, o) in cs.iter_mut().zip(list_at(old_spec, &[key])) {
                if let (Some(c), Some(image)) = (c.as_object_mut(), o.get("image")) {
                    c.insert("image".into(), image.clone());
                }
            }
        }
    }
    for key in ["activeDeadlineSeconds", "tolerations", "schedulingGates"] {
        copy_field(&mut munged, &old_map, key);
    }
    let old_grace = int_at(old_spec, &["terminationGracePeriodSeconds"]);
    if old_grace.is_some_and(|g| g < 0)
        && int_at(new_spec, &["terminationGracePeriodSeconds"]) == Some(1)
    {
        copy_field(&mut munged, &old_map, "terminationGracePeriodSeconds");
    }
    if !same_map(&munged, &old_map) {
        errs.push(FieldError::forbidden(
            "spec",
            &format!(
                "pod updates may not change fields other than {UPDATABLE_FIELDS}\n{}",
                spec_diff(&old_map, &munged)
            ),
        ));
    }
    errs
}

fn same_toleration(a: &Value, b: &Value) -> bool {
    ["key", "operator", "value", "effect"].iter().all(|k| {
        let (x, y) = (str_at(a, &[k]), str_at(b, &[k]));
        // An empty operator means Equal.
        x == y || (*k == "operator" && x.replace("Equal", "") == y.replace("Equal", ""))
    })
}

fn copy_field(to: &mut Map<String, Value>, from: &Map<String, Value>, key: &str) {
    match from.get(key) {
        Some(v) => {
            to.insert(key.into(), v.clone());
        }
        None => {
            to.remove(key);
        }
    }
}

/// Semantic equality: unset, null and empty values are the same.
fn same_map(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.keys()
        .chain(b.keys())
        .all(|k| crate::resources::validation::fields::same(a.get(k), b.get(k)))
}

/// A short diff of the changed spec fields, in the `-`/`+` shape of upstream's `cmp.Diff`.
fn spec_diff(old: &Map<String, Value>, new: &Map<String, Value>) -> String {
    field_diff("core.PodSpec", old, new)
}

/// A short diff of the fields of `type_name` that changed, in the `-`/`+` shape of
/// upstream's `cmp.Diff`.
pub(super) fn field_diff(
    type_name: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> String {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = format!("  {type_name}{{\n");
    for k in keys {
        if crate::resources::validation::fields::same(old.get(k), new.get(k)) {
            continue;
        }
        if let Some(v) = old.get(k) {
            out.push_str(&format!("- \t{k}: {v},\n"));
        }
        if let Some(v) = new.get(k) {
            out.push_str(&format!("+ \t{k}: {v},\n"));
        }
    }
    out.push_str("  }\n");
    out
}

/// The annotation of a node's mirror of a static pod.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// A node's mirror pod shows a static pod the node runs from a file: its mirror annotation
/// may not be added, removed or changed (upstream's rule) and its spec may not change,
/// since a change would never reach the pod.
pub fn validate_mirror_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mirror = |v: &Value| at(v, &["metadata", "annotations", MIRROR_ANNOTATION]).cloned();
    let mut errs = Vec::new();
    if mirror(new) != mirror(old) {
        errs.push(FieldError::forbidden(
            format!("metadata.annotations[{MIRROR_ANNOTATION}]"),
            "may not add, remove or change the mirror pod annotation",
        ));
    }
    if mirror(old).is_some() && at(new, &["spec"]) != at(old, &["spec"]) {
        errs.push(FieldError::forbidden(
            "spec",
            "a mirror pod's spec may not change: edit the static pod's manifest on its node",
        ));
    }
    errs
}

#[cfg(test)]
mod mirror_tests {
    use super::validate_mirror_update;
    use serde_json::json;

    #[test]
    fn a_mirror_pods_spec_and_annotation_stay() {
        let old = json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "h"}},
                         "spec": {"containers": [{"name": "c", "image": "a"}]}});
        assert!(validate_mirror_update(&old, &old).is_empty());
        let mut image = old.clone();
        image["spec"]["containers"][0]["image"] = json!("b");
        assert_eq!(validate_mirror_update(&image, &old).len(), 1);
        let mut unmarked = old.clone();
        unmarked["metadata"]["annotations"] = json!({});
        assert_eq!(validate_mirror_update(&unmarked, &old).len(), 1);
        // nor may an ordinary pod become one
        assert_eq!(validate_mirror_update(&old, &unmarked).len(), 1);
    }
}
