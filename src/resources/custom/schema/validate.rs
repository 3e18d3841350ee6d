//! Validation of a custom resource against its schema, with upstream's messages (kube-openapi's
//! validator as apiextensions-apiserver reports it): types, required members, enums, bounds,
//! lengths, patterns, item counts and uniqueness, formats, and `allOf`/`anyOf`/`oneOf`/`not`.

use std::collections::HashSet;

use base64::Engine;
use serde_json::{json, Value};

use super::{child, index, Additional, Schema, Type};
use crate::resources::FieldError;

/// Validates a whole custom resource (its `apiVersion`, `kind` and `metadata` are the API's).
pub fn validate(obj: &Value, schema: &Schema) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(m) = obj.as_object() else {
        return vec![FieldError::invalid("", obj, "must be an object")];
    };
    for (k, v) in m {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(cs) = schema.property(k) {
            check(v, cs, k, &mut errs);
        }
    }
    required(m, schema, "", &mut errs);
    errs
}

/// Validates one value against one node; `path` names it in messages.
pub fn validate_value(v: &Value, schema: &Schema, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    check(v, schema, path, &mut errs);
    errs
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn fits(v: &Value, t: Type) -> bool {
    match t {
        Type::Object => v.is_object(),
        Type::Array => v.is_array(),
        Type::String => v.is_string(),
        Type::Integer => is_integer(v),
        Type::Number => v.is_number(),
        Type::Boolean => v.is_boolean(),
    }
}

fn wrong_type(path: &str, v: &Value, want: &str) -> FieldError {
    let got = type_name(v);
    FieldError::invalid(
        path,
        &json!(got),
        &format!("{path} in body must be of type {want}: \"{got}\""),
    )
}

fn check(v: &Value, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    if v.is_null() {
        if !s.nullable && (s.kind.is_some() || s.int_or_string) {
            let want = s.kind.map_or("string", Type::name);
            errs.push(wrong_type(path, v, want));
        }
        return;
    }
    if s.int_or_string {
        if !(v.is_string() || is_integer(v)) {
            errs.push(wrong_type(path, v, "integer,string"));
            return;
        }
    } else if let Some(t) = s.kind {
        if !fits(v, t) {
            errs.push(wrong_type(path, v, t.name()));
            return;
        }
    }
    values(v, s, path, errs);
    match v {
        Value::Object(m) => {
            for (k, cv) in m {
                let p = child(path, k);
                if s.embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                match (s.properties.iter().find(|(n, _)| n == k), &s.additional) {
                    (Some((_, cs)), _) => check(cv, cs, &p, errs),
                    (None, Additional::Schema(vs)) => check(cv, vs, &p, errs),
                    _ => {}
                }
            }
            required(m, s, path, errs);
            if s.embedded {
                for k in ["apiVersion", "kind"] {
                    if m.get(k).and_then(Value::as_str).unwrap_or("").is_empty() {
                        errs.push(FieldError::required(child(path, k), "must not be empty"));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = &s.items {
                for (i, item) in items.iter().enumerate() {
                    check(item, is, &index(path, i), errs);
                }
            }
        }
        _ => {}
    }
}

fn required(
    m: &serde_json::Map<String, Value>,
    s: &Schema,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    for r in &s.required {
        if !m.contains_key(r) {
            errs.push(FieldError::required(child(path, r), ""));
        }
    }
}

/// The value validations of one node (its type already fits).
fn values(v: &Value, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    let c = &s.checks;
    if !c.enumeration.is_empty() && !c.enumeration.contains(v) {
        let supported: Vec<String> = c
            .enumeration
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let refs: Vec<&str> = supported.iter().map(String::as_str).collect();
        errs.push(FieldError::not_supported(path, v, &refs));
    }
    if let Some(n) = v.as_f64() {
        numbers(v, n, s, path, errs);
    }
    if let Some(text) = v.as_str() {
        strings(v, text, s, path, errs);
    }
    if let Some(items) = v.as_array() {
        let len = items.len() as u64;
        if let Some(min) = c.min_items.filter(|m| len < *m) {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = c.max_items.filter(|m| len > *m) {
            errs.push(FieldError::too_many(
                path,
                items.len(),
                usize::try_from(max).unwrap_or(usize::MAX),
            ));
        }
        // Duplicates are found through the items' canonical JSON text (object members are
        // sorted), in linear time: a list may hold hundreds of thousands of items.
        if c.unique_items || s.list_type.as_deref() == Some("set") {
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                if !seen.insert(item.to_string()) {
                    errs.push(FieldError::duplicate(index(path, i), item));
                }
            }
        }
        if s.list_type.as_deref() == Some("map") && !s.list_map_keys.is_empty() {
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let key: Vec<&Value> = s
                    .list_map_keys
                    .iter()
                    .map(|k| item.get(k).unwrap_or(&Value::Null))
                    .collect();
                if !seen.insert(json!(key).to_string()) {
                    errs.push(FieldError::duplicate(index(path, i), &json!(key)));
                }
            }
        }
    }
    if let Some(m) = v.as_object() {
        let len = m.len() as u64;
        if let Some(min) = c.min_properties.filter(|x| len < *x) {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body should have at least {min} properties"),
            ));
        }
        if let Some(max) = c.max_properties.filter(|x| len > *x) {
            errs.push(FieldError::too_many(
                path,
                m.len(),
                usize::try_from(max).unwrap_or(usize::MAX),
            ));
        }
    }
    for sub in &s.all_of {
        values_and_children(v, sub, path, errs);
    }
    if !s.any_of.is_empty() && !s.any_of.iter().any(|sub| passes(v, sub, path)) {
        errs.push(FieldError::invalid(
            path,
            v,
            &format!("{path} in body must be valid against any of the schemas"),
        ));
    }
    if !s.one_of.is_empty() {
        let n = s.one_of.iter().filter(|sub| passes(v, sub, path)).count();
        if n != 1 {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body must be valid against exactly one of the schemas"),
            ));
        }
    }
    if let Some(not) = &s.not {
        if passes(v, not, path) {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body must not validate the schema (not)"),
            ));
        }
    }
}

fn passes(v: &Value, s: &Schema, path: &str) -> bool {
    let mut errs = Vec::new();
    values_and_children(v, s, path, &mut errs);
    errs.is_empty()
}

/// A value-validation node: its checks, and those of its `properties`/`items` below.
fn values_and_children(v: &Value, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    values(v, s, path, errs);
    if let Value::Object(m) = v {
        required(m, s, path, errs);
        for (k, cs) in &s.properties {
            if let Some(cv) = m.get(k) {
                values_and_children(cv, cs, &child(path, k), errs);
            }
        }
    }
    if let (Value::Array(items), Some(is)) = (v, &s.items) {
        for (i, item) in items.iter().enumerate() {
            values_and_children(item, is, &index(path, i), errs);
        }
    }
}

fn numbers(v: &Value, n: f64, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    let c = &s.checks;
    if let Some(min) = c.minimum {
        if c.exclusive_minimum && n <= min {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body should be greater than {min}"),
            ));
        } else if n < min {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body should be greater than or equal to {min}"),
            ));
        }
    }
    if let Some(max) = c.maximum {
        if c.exclusive_maximum && n >= max {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body should be less than {max}"),
            ));
        } else if n > max {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body should be less than or equal to {max}"),
            ));
        }
    }
    if let Some(m) = c.multiple_of {
        let q = n / m;
        if q.fract() != 0.0 {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body should be a multiple of {m}"),
            ));
        }
    }
    match c.format.as_deref() {
        Some("int32") if !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&n) => {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body must be of type int32: \"{v}\""),
            ));
        }
        _ => {}
    }
}

fn strings(v: &Value, text: &str, s: &Schema, path: &str, errs: &mut Vec<FieldError>) {
    let c = &s.checks;
    let chars = text.chars().count() as u64;
    if let Some(min) = c.min_length.filter(|m| chars < *m) {
        errs.push(FieldError::invalid(
            path,
            v,
            &format!("{path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(max) = c.max_length.filter(|m| chars > *m) {
        errs.push(FieldError::too_long(
            path,
            usize::try_from(max).unwrap_or(usize::MAX),
        ));
    }
    if let Some((re, text_of)) = &c.pattern {
        if !re.is_match(text) {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{path} in body should match '{text_of}'"),
            ));
        }
    }
    let bad_format = match c.format.as_deref() {
        Some("byte") => base64::engine::general_purpose::STANDARD
            .decode(text)
            .is_err(),
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_err(),
        Some("date") => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_err(),
        Some("uuid") => !is_uuid(text),
        _ => false,
    };
    if bad_format {
        let f = c.format.as_deref().unwrap_or("");
        errs.push(FieldError::invalid(
            path,
            v,
            &format!("{path} in body must be of type {f}: \"{text}\""),
        ));
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::parse;
    use super::*;

    fn schema() -> Schema {
        let (s, errs) = parse(
            &json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object",
            "required": ["image"],
            "properties": {
                "image": {"type": "string", "minLength": 1, "pattern": "^[a-z]+$"},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
                "color": {"type": "string", "enum": ["red", "blue"]},
                "port": {"x-kubernetes-int-or-string": true},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "when": {"type": "string", "format": "date-time"}
            }}}}),
            "",
        );
        assert!(errs.is_empty(), "{errs:?}");
        s
    }

    fn messages(obj: Value) -> Vec<String> {
        validate(&obj, &schema())
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.detail))
            .collect()
    }

    #[test]
    fn a_fitting_object_passes() {
        let ok = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"},
            "spec": {"image": "nginx", "replicas": 3, "color": "red", "port": "http", "tags": ["a"],
                     "when": "2026-12-07T10:00:00Z"}});
        assert!(messages(ok).is_empty());
    }

    #[test]
    fn each_rule_reports_as_upstream() {
        assert_eq!(messages(json!({"metadata": {}})), ["spec: Required value"]);
        assert_eq!(
            messages(json!({"spec": {"image": "nginx", "replicas": "3"}})),
            ["spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""]
        );
        assert_eq!(
            messages(json!({"spec": {"image": "nginx", "replicas": 11, "color": "pink"}})),
            [
                "spec.color: Unsupported value: \"pink\": supported values: \"red\", \"blue\"",
                "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"image": "Nginx", "port": 1.5, "tags": ["a", "a", "b"]}})),
            [
                "spec.image: Invalid value: \"Nginx\": spec.image in body should match '^[a-z]+$'",
                "spec.port: Invalid value: \"number\": spec.port in body must be of type integer,string: \"number\"",
                "spec.tags: Too many: 3: must have at most 2 items",
                "spec.tags[1]: Duplicate value: \"a\"",
            ]
        );
        assert_eq!(
            messages(json!({"spec": {}})),
            ["spec.image: Required value"]
        );
    }

    #[test]
    fn keyed_lists_refuse_a_key_twice_and_long_lists_are_checked_quickly() {
        let (s, errs) = parse(
            &json!({"type": "object", "properties": {"ports": {"type": "array",
                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "protocol"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}, "protocol": {"type": "string"}}}}}}),
            "",
        );
        assert!(errs.is_empty(), "{errs:?}");
        let obj = json!({"ports": [{"name": "a", "protocol": "TCP"}, {"name": "a", "protocol": "UDP"},
                                   {"protocol": "TCP", "name": "a"}]});
        let fields: Vec<String> = validate(&obj, &s)
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.detail))
            .collect();
        assert_eq!(fields, ["ports[2]: Duplicate value: [\"a\",\"TCP\"]"]);
        let many: Vec<Value> = (0..200_000)
            .map(|i| json!({"name": i.to_string(), "protocol": "TCP"}))
            .collect();
        assert!(validate(&json!({"ports": many}), &s).is_empty());
    }

    #[test]
    fn structural_rules_are_checked_when_read() {
        let (_, errs) = parse(
            &json!({"type": "object", "properties": {
                "a": {"properties": {}},
                "b": {"type": "array"},
                "c": {"type": "integer", "default": "x"},
                "d": {"$ref": "#/x", "type": "string"},
                "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}
            }}),
            "schema",
        );
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "schema.properties[a].type",
                "schema.properties[b].items",
                "schema.properties[c].default",
                "schema.properties[d].$ref",
                "schema.properties[metadata].properties[labels]",
            ]
        );
    }
}
