//! Generic validation rules shared by every kind: name formats, labels, annotations and the
//! object metadata checks of upstream's `apimachinery/pkg/api/validation/objectmeta.go`.
//! Per-kind rules live in the kind files and call into this module.

pub mod endpoint_ip;
pub mod fields;
pub mod names;

use serde_json::{json, Value};

pub use names::{
    is_config_map_key, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, is_valid_port_name, is_valid_port_num, NameRule,
};

use super::FieldError;
use fields::{at, int_at, list_at, map_at, str_at};

/// Upstream `FieldImmutableErrorMsg`.
pub const FIELD_IMMUTABLE: &str = "field is immutable";

/// Upstream `TotalAnnotationSizeLimitB`: keys and values together.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Upstream `isNegativeErrorMsg`.
pub const IS_NEGATIVE: &str = "must be greater than or equal to 0";

/// Upstream `ValidateNonnegativeField`.
pub fn validate_nonnegative(value: i64, path: &str) -> Vec<FieldError> {
    if value < 0 {
        vec![FieldError::invalid(path, &json!(value), IS_NEGATIVE)]
    } else {
        Vec::new()
    }
}

/// Upstream `ValidateImmutableField` on JSON values (unset and empty are equal).
pub fn validate_immutable(new: Option<&Value>, old: Option<&Value>, path: &str) -> Vec<FieldError> {
    if fields::same(new, old) {
        Vec::new()
    } else {
        let shown = new.cloned().unwrap_or(Value::Null);
        let shown = if shown.is_null() { json!("") } else { shown };
        vec![FieldError::invalid(path, &shown, FIELD_IMMUTABLE)]
    }
}

/// Upstream `ValidateLabels`: keys are qualified names, values label values.
pub fn validate_labels(labels: &serde_json::Map<String, Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels {
        for msg in is_qualified_name(k) {
            errs.push(FieldError::invalid(path, &json!(k), &msg));
        }
        let v = v.as_str().unwrap_or("");
        for msg in is_valid_label_value(v) {
            errs.push(FieldError::invalid(path, &json!(v), &msg));
        }
    }
    errs
}

/// Upstream `ValidateAnnotations`: keys are qualified names (case-insensitive), 256 KiB total.
pub fn validate_annotations(
    annotations: &serde_json::Map<String, Value>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0;
    for (k, v) in annotations {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, &json!(k), &msg));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// Upstream `ValidateOwnerReferences`.
fn validate_owner_references(refs: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = str_at(r, &["apiVersion"]);
        let kind = str_at(r, &["kind"]);
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.apiVersion"),
                &json!(api_version),
                "version must not be empty",
            ));
        }
        for (field, value) in [
            ("kind", kind),
            ("name", str_at(r, &["name"])),
            ("uid", str_at(r, &["uid"])),
        ] {
            if value.is_empty() {
                errs.push(FieldError::invalid(
                    format!("{path}.{field}"),
                    &json!(""),
                    "must not be empty",
                ));
            }
        }
        if api_version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                r,
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if at(r, &["controller"]).and_then(Value::as_bool) == Some(true) {
            let name = format!("{kind}/{}", str_at(r, &["name"]));
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    &Value::Array(refs.to_vec()),
                    &format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {name}"),
                )),
                None => first_controller = Some(name),
            }
        }
    }
    errs
}

/// Upstream `ValidateFinalizers`: qualified names; orphan and foreground are exclusive.
fn validate_finalizers(finalizers: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let names: Vec<&str> = finalizers.iter().filter_map(Value::as_str).collect();
    for f in &names {
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid(path, &json!(f), &msg));
        }
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            &json!(names),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// Upstream `ValidateObjectMeta` for a create: name (or generateName), namespace by scope,
/// generation, labels, annotations, ownerReferences, finalizers.
pub fn validate_object_meta(obj: &Value, namespaced: bool, name_rule: NameRule) -> Vec<FieldError> {
    let meta = at(obj, &["metadata"]).unwrap_or(&Value::Null);
    let mut errs = Vec::new();
    let generate_name = str_at(meta, &["generateName"]);
    if !generate_name.is_empty() {
        for msg in name_rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                &json!(generate_name),
                &msg,
            ));
        }
    }
    let name = str_at(meta, &["name"]);
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for msg in name_rule.check(name, false) {
            errs.push(FieldError::invalid("metadata.name", &json!(name), &msg));
        }
    }
    let namespace = str_at(meta, &["namespace"]);
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for msg in NameRule::Dns1123Label.check(namespace, false) {
                errs.push(FieldError::invalid(
                    "metadata.namespace",
                    &json!(namespace),
                    &msg,
                ));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    errs.extend(validate_nonnegative(
        int_at(meta, &["generation"]).unwrap_or(0),
        "metadata.generation",
    ));
    errs.extend(validate_meta_common(meta));
    errs
}

fn validate_meta_common(meta: &Value) -> Vec<FieldError> {
    let mut errs = validate_labels(map_at(meta, &["labels"]), "metadata.labels");
    errs.extend(validate_annotations(
        map_at(meta, &["annotations"]),
        "metadata.annotations",
    ));
    errs.extend(validate_owner_references(
        list_at(meta, &["ownerReferences"]),
        "metadata.ownerReferences",
    ));
    errs.extend(validate_finalizers(
        list_at(meta, &["finalizers"]),
        "metadata.finalizers",
    ));
    errs
}

/// Upstream `ValidateObjectMetaUpdate`: identity fields are immutable, generation never goes
/// down, no new finalizers once deletion started, and labels/annotations stay valid.
/// (`resourceVersion` presence is not checked: the API fills it for unconditional updates.)
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let null = Value::Null;
    let nm = at(new, &["metadata"]).unwrap_or(&null);
    let om = at(old, &["metadata"]).unwrap_or(&null);
    let mut errs = Vec::new();
    if fields::is_set(om, &["deletionTimestamp"]) {
        let old_f = list_at(om, &["finalizers"]);
        let mut extra: Vec<&str> = list_at(nm, &["finalizers"])
            .iter()
            .filter(|f| !old_f.contains(f))
            .filter_map(Value::as_str)
            .collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let shown: Vec<String> = extra.iter().map(|s| format!("{s:?}")).collect();
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    shown.join(", ")
                ),
            ));
        }
    }
    let new_gen = int_at(nm, &["generation"]).unwrap_or(0);
    if new_gen < int_at(om, &["generation"]).unwrap_or(0) {
        errs.push(FieldError::invalid(
            "metadata.generation",
            &json!(new_gen),
            "must not be decremented",
        ));
    }
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        errs.extend(validate_immutable(
            nm.get(f),
            om.get(f),
            &format!("metadata.{f}"),
        ));
    }
    errs.extend(validate_meta_common(nm));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_required_unless_generate_name() {
        let errs = validate_object_meta(
            &json!({"metadata": {"namespace": "default"}}),
            true,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        let errs = validate_object_meta(
            &json!({"metadata": {"generateName": "Bad_", "name": "x", "namespace": "default"}}),
            true,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "metadata.generateName");
    }

    #[test]
    fn namespace_follows_scope() {
        let errs = validate_object_meta(
            &json!({"metadata": {"name": "a"}}),
            true,
            NameRule::Dns1123Subdomain,
        );
        assert_eq!(errs[0].to_string(), "metadata.namespace: Required value");
        let errs = validate_object_meta(
            &json!({"metadata": {"name": "a", "namespace": "x"}}),
            false,
            NameRule::Dns1123Label,
        );
        assert_eq!(
            errs[0].to_string(),
            "metadata.namespace: Forbidden: not allowed on this type"
        );
    }

    #[test]
    fn labels_and_annotations() {
        let obj = json!({"metadata": {"name": "a", "labels": {"app": "bad value"}, "annotations": {"ok/x": "y".repeat(TOTAL_ANNOTATION_SIZE_LIMIT)}}});
        let errs = validate_object_meta(&obj, false, NameRule::Dns1123Subdomain);
        assert_eq!(errs.len(), 2);
        assert!(errs[0]
            .to_string()
            .starts_with("metadata.labels: Invalid value: \"bad value\": a valid label"));
        assert_eq!(
            errs[1].to_string(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
    }

    #[test]
    fn owner_references_and_finalizers() {
        let obj = json!({"metadata": {"name": "a", "finalizers": ["orphan", "foregroundDeletion", "bad/x/y"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "Event", "name": "e", "uid": ""}]}});
        let errs: Vec<String> = validate_object_meta(&obj, false, NameRule::Dns1123Subdomain)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(errs.contains(
            &"metadata.ownerReferences.uid: Invalid value: \"\": must not be empty".to_string()
        ));
        assert!(errs
            .iter()
            .any(|e| e.contains("disallowed from being an owner")));
        assert!(errs.iter().any(|e| e.contains("cannot be both set")));
        assert!(errs
            .iter()
            .any(|e| e.starts_with("metadata.finalizers: Invalid value: \"bad/x/y\"")));
    }

    #[test]
    fn identity_is_immutable_on_update() {
        let old = json!({"metadata": {"name": "a", "uid": "1", "creationTimestamp": "2024-01-01T00:00:00Z"}});
        let new = json!({"metadata": {"name": "b", "uid": "1", "creationTimestamp": "2024-01-01T00:00:00Z"}});
        let errs = validate_object_meta_update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Invalid value: \"b\": field is immutable"
        );
        assert!(validate_object_meta_update(&old, &old).is_empty());
    }

    #[test]
    fn no_new_finalizers_while_deleting() {
        let old = json!({"metadata": {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x"]}});
        let new = json!({"metadata": {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x", "b.io/y"]}});
        let errs = validate_object_meta_update(&new, &old);
        assert_eq!(errs[0].to_string(), "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}");
    }
}
