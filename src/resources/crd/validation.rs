//! Upstream's `ValidateCustomResourceDefinition` and its update rules: the name is
//! `plural.group`, names are DNS labels, exactly one storage version, every version has a
//! structural schema, printer columns and scale paths are usable, and group, scope and names
//! stay as created.

use serde_json::{json, Value};

use crate::resources::custom::{jsonpath, schema};
use crate::resources::validation::fields::{list_at, str_at};
use crate::resources::validation::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, validate_object_meta,
    validate_object_meta_update, NameRule,
};
use crate::resources::FieldError;

/// A create.
pub fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(obj, false, NameRule::Dns1123Subdomain);
    let group = str_at(obj, &["spec", "group"]);
    let plural = str_at(obj, &["spec", "names", "plural"]);
    let name = str_at(obj, &["metadata", "name"]);
    if name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else {
        for m in is_dns1123_subdomain(group) {
            errs.push(FieldError::invalid("spec.group", &json!(group), &m));
        }
        if !group.contains('.') {
            errs.push(FieldError::invalid(
                "spec.group",
                &json!(group),
                "should be a domain with at least one dot",
            ));
        }
    }
    let scope = str_at(obj, &["spec", "scope"]);
    if !matches!(scope, "Cluster" | "Namespaced") {
        errs.push(FieldError::not_supported(
            "spec.scope",
            &json!(scope),
            &["Cluster", "Namespaced"],
        ));
    }
    errs.extend(names(obj));
    errs.extend(versions(obj));
    errs
}

fn names(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let n = |k: &str| str_at(obj, &["spec", "names", k]);
    for (k, required) in [("plural", true), ("singular", false), ("listKind", false)] {
        let v = n(k);
        let path = format!("spec.names.{k}");
        if v.is_empty() {
            if required {
                errs.push(FieldError::required(path, ""));
            }
            continue;
        }
        let check = if k == "listKind" {
            is_dns1035_label(&v.to_lowercase())
        } else {
            is_dns1035_label(v)
        };
        for m in check {
            errs.push(FieldError::invalid(path.clone(), &json!(v), &m));
        }
    }
    let kind = n("kind");
    if kind.is_empty() {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    if !kind.is_empty() && n("listKind") == kind {
        errs.push(FieldError::invalid(
            "spec.names.listKind",
            &json!(kind),
            "kind and listKind may not be the same",
        ));
    }
    for list in ["shortNames", "categories"] {
        for (i, s) in list_at(obj, &["spec", "names", list]).iter().enumerate() {
            let s = s.as_str().unwrap_or("");
            for m in is_dns1123_label(s) {
                errs.push(FieldError::invalid(
                    format!("spec.names.{list}[{i}]"),
                    &json!(s),
                    &m,
                ));
            }
        }
    }
    errs
}

fn versions(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let versions = list_at(obj, &["spec", "versions"]);
    if versions.is_empty() {
        errs.push(FieldError::invalid(
            "spec.versions",
            &json!(versions),
            "must have exactly one version marked as storage version",
        ));
        return errs;
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    let names = json!(versions
        .iter()
        .map(|v| str_at(v, &["name"]))
        .collect::<Vec<_>>());
    if storage != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            &names,
            "must have exactly one version marked as storage version",
        ));
    }
    if !versions
        .iter()
        .any(|v| v.get("served").and_then(Value::as_bool) == Some(true))
    {
        errs.push(FieldError::invalid(
            "spec.versions",
            &names,
            "must have at least one version marked as served",
        ));
    }
    let strategy = str_at(obj, &["spec", "conversion", "strategy"]);
    if !matches!(strategy, "" | "None") {
        errs.push(FieldError::not_supported(
            "spec.conversion.strategy",
            &json!(strategy),
            &["None"],
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let path = format!("spec.versions[{i}]");
        let name = str_at(v, &["name"]);
        if seen.contains(&name) {
            errs.push(FieldError::duplicate(format!("{path}.name"), &json!(name)));
        }
        seen.push(name);
        for m in is_dns1035_label(name) {
            errs.push(FieldError::invalid(
                format!("{path}.name"),
                &json!(name),
                &m,
            ));
        }
        match v.pointer("/schema/openAPIV3Schema") {
            Some(s) => {
                let (_, e) = schema::parse(s, &format!("{path}.schema.openAPIV3Schema"));
                errs.extend(e);
            }
            None => errs.push(FieldError::required(
                format!("{path}.schema.openAPIV3Schema"),
                "schemas are required",
            )),
        }
        errs.extend(columns(v, &path));
        errs.extend(scale(v, &path));
    }
    errs
}

fn columns(v: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, c) in list_at(v, &["additionalPrinterColumns"]).iter().enumerate() {
        let p = format!("{path}.additionalPrinterColumns[{i}]");
        if str_at(c, &["name"]).is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        }
        let t = str_at(c, &["type"]);
        if !matches!(t, "integer" | "number" | "string" | "boolean" | "date") {
            errs.push(FieldError::not_supported(
                format!("{p}.type"),
                &json!(t),
                &["boolean", "date", "integer", "number", "string"],
            ));
        }
        let jp = str_at(c, &["jsonPath"]);
        if let Err(e) = jsonpath::parse(jp) {
            errs.push(FieldError::invalid(
                format!("{p}.jsonPath"),
                &json!(jp),
                &e.to_string(),
            ));
        }
    }
    errs
}

fn scale(v: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(s) = v.pointer("/subresources/scale") else {
        return errs;
    };
    let p = format!("{path}.subresources.scale");
    for (k, under, required) in [
        ("specReplicasPath", ".spec.", true),
        ("statusReplicasPath", ".status.", true),
        ("labelSelectorPath", "", false),
    ] {
        let text = str_at(s, &[k]);
        if text.is_empty() {
            if required {
                errs.push(FieldError::required(format!("{p}.{k}"), ""));
            }
            continue;
        }
        let members_only = jsonpath::parse(text)
            .ok()
            .and_then(|steps| jsonpath::pointer(&steps))
            .is_some();
        if !members_only || !text.starts_with(under) {
            let what = if under.is_empty() {
                "should be a json path under either .spec or .status".to_string()
            } else {
                format!(
                    "should be a json path under {}",
                    under.trim_end_matches('.')
                )
            };
            errs.push(FieldError::invalid(format!("{p}.{k}"), &json!(text), &what));
        }
    }
    errs
}

/// An update: the create rules, and what may not change.
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(
        validate(new)
            .into_iter()
            .filter(|e| !e.field.starts_with("metadata.")),
    );
    for (path, label) in [
        (&["spec", "group"][..], "spec.group"),
        (&["spec", "scope"][..], "spec.scope"),
        (&["spec", "names", "plural"][..], "spec.names.plural"),
    ] {
        let (a, b) = (str_at(new, path), str_at(old, path));
        if a != b {
            errs.push(FieldError::invalid(label, &json!(a), "field is immutable"));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"metadata": {"name": "widgets.example.com"}, "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object"}},
                "subresources": {"scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}}]}})
    }

    #[test]
    fn a_sound_definition_passes() {
        assert_eq!(validate(&crd()), []);
    }

    #[test]
    fn broken_definitions_name_their_fields() {
        let mut c = crd();
        c["metadata"]["name"] = json!("gadgets.example.com");
        c["spec"]["group"] = json!("example");
        c["spec"]["versions"][0]["storage"] = json!(false);
        c["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] = json!(".status.x");
        c["spec"]["versions"][0]["additionalPrinterColumns"] =
            json!([{"name": "X", "type": "string", "jsonPath": "spec"}]);
        let fields: Vec<String> = validate(&c).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "metadata.name",
                "spec.group",
                "spec.versions",
                "spec.versions[0].additionalPrinterColumns[0].jsonPath",
                "spec.versions[0].subresources.scale.specReplicasPath",
            ]
        );
    }

    #[test]
    fn group_scope_and_plural_are_fixed() {
        let old = crd();
        let mut new = crd();
        new["spec"]["scope"] = json!("Cluster");
        let errs = validate_update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.scope");
    }
}
