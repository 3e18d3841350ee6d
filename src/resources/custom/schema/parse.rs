//! Reading an `openAPIV3Schema` into a [`Schema`], checking upstream's structural rules on
//! the way: every node has a type (unless it is int-or-string or preserves unknown fields),
//! the root is an object, `metadata` restricts at most `name` and `generateName`, no
//! references, and defaults fit their node.

use regex::Regex;
use serde_json::{json, Map, Value};

use super::{child, validate, Additional, Checks, Schema, Type};
use crate::resources::FieldError;

/// The deepest schema accepted (nodes nest, so a malicious CRD cannot make the server
/// recurse without bound).
pub const MAX_DEPTH: usize = 64;

/// Keywords structural schemas do not allow.
const FORBIDDEN: &[&str] = &[
    "$ref",
    "definitions",
    "dependencies",
    "additionalItems",
    "patternProperties",
    "$schema",
    "id",
];

/// Reads `schema` (found at `path` in the CRD), returning the tree and what breaks the
/// structural rules.
pub fn parse(schema: &Value, path: &str) -> (Schema, Vec<FieldError>) {
    let mut errs = Vec::new();
    let root = node(schema, path, 0, Place::Root, &mut errs);
    if root.kind != Some(Type::Object) {
        errs.push(FieldError::invalid(
            child(path, "type"),
            &json!(root.kind.map_or("", Type::name)),
            "must be object at the root",
        ));
    }
    if let Some(meta) = schema.pointer("/properties/metadata") {
        check_metadata(meta, &child(path, "properties[metadata]"), &mut errs);
    }
    (root, errs)
}

/// Where a node sits: value validations (`allOf` and friends) carry no types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Field,
    ValueValidation,
}

fn node(v: &Value, path: &str, depth: usize, place: Place, errs: &mut Vec<FieldError>) -> Schema {
    let mut s = Schema::default();
    let Some(m) = v.as_object() else {
        errs.push(FieldError::invalid(path, v, "must be an object"));
        return s;
    };
    if depth > MAX_DEPTH {
        errs.push(FieldError::forbidden(
            path,
            &format!("must not nest more than {MAX_DEPTH} levels"),
        ));
        return s;
    }
    for k in FORBIDDEN {
        if m.contains_key(*k) {
            errs.push(FieldError::forbidden(child(path, k), "must not be set"));
        }
    }
    s.kind = match m.get("type").and_then(Value::as_str).unwrap_or("") {
        "" => None,
        "object" => Some(Type::Object),
        "array" => Some(Type::Array),
        "string" => Some(Type::String),
        "integer" => Some(Type::Integer),
        "number" => Some(Type::Number),
        "boolean" => Some(Type::Boolean),
        other => {
            errs.push(FieldError::not_supported(
                child(path, "type"),
                &json!(other),
                &["array", "boolean", "integer", "number", "object", "string"],
            ));
            None
        }
    };
    s.nullable = flag(m, "nullable");
    s.preserve_unknown = flag(m, "x-kubernetes-preserve-unknown-fields");
    s.int_or_string = flag(m, "x-kubernetes-int-or-string");
    s.embedded = flag(m, "x-kubernetes-embedded-resource");
    if place != Place::ValueValidation {
        if s.kind.is_none() && !s.int_or_string && !s.preserve_unknown {
            errs.push(FieldError::required(
                child(path, "type"),
                "must not be empty for specified object fields",
            ));
        }
        if s.int_or_string && s.kind.is_some() {
            errs.push(FieldError::forbidden(
                child(path, "type"),
                "must be empty if x-kubernetes-int-or-string is true",
            ));
        }
    } else if s.kind.is_some() {
        errs.push(FieldError::forbidden(
            child(path, "type"),
            "must be empty to be structural",
        ));
    }
    if s.embedded && s.kind != Some(Type::Object) {
        errs.push(FieldError::invalid(
            child(path, "type"),
            &json!(s.kind.map_or("", Type::name)),
            "must be object if x-kubernetes-embedded-resource is true",
        ));
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        let mut out: Vec<(String, Schema)> = props
            .iter()
            .map(|(k, v)| {
                let p = format!("{path}.properties[{k}]");
                (k.clone(), node(v, &p, depth + 1, sub(place), errs))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        s.properties = out;
    }
    match m.get("additionalProperties") {
        Some(Value::Bool(true)) => s.additional = Additional::Any,
        Some(v @ Value::Object(_)) => {
            let p = child(path, "additionalProperties");
            s.additional = Additional::Schema(Box::new(node(v, &p, depth + 1, sub(place), errs)));
        }
        _ => {}
    }
    if !s.properties.is_empty() && !matches!(s.additional, Additional::Unspecified) {
        errs.push(FieldError::forbidden(
            child(path, "additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if let Some(items) = m.get("items") {
        let p = child(path, "items");
        s.items = Some(Box::new(node(items, &p, depth + 1, sub(place), errs)));
    } else if s.kind == Some(Type::Array) && place != Place::ValueValidation {
        errs.push(FieldError::required(
            child(path, "items"),
            "must be specified",
        ));
    }
    s.required = string_list(m, "required");
    s.list_type = m
        .get("x-kubernetes-list-type")
        .and_then(Value::as_str)
        .map(str::to_string);
    s.list_map_keys = string_list(m, "x-kubernetes-list-map-keys");
    s.checks = checks(m, path, errs);
    for (key, out) in [
        ("allOf", &mut s.all_of),
        ("anyOf", &mut s.any_of),
        ("oneOf", &mut s.one_of),
    ] {
        if let Some(list) = m.get(key).and_then(Value::as_array) {
            *out = list
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let p = format!("{path}.{key}[{i}]");
                    node(v, &p, depth + 1, Place::ValueValidation, errs)
                })
                .collect();
        }
    }
    if let Some(v) = m.get("not") {
        let p = child(path, "not");
        s.not = Some(Box::new(node(
            v,
            &p,
            depth + 1,
            Place::ValueValidation,
            errs,
        )));
    }
    if let Some(d) = m.get("default") {
        if place == Place::Root {
            errs.push(FieldError::forbidden(
                child(path, "default"),
                "must not be set at the root",
            ));
        } else {
            let p = child(path, "default");
            for e in validate::validate_value(d, &s, &p) {
                errs.push(e);
            }
            s.default = Some(d.clone());
        }
    }
    s
}

fn sub(place: Place) -> Place {
    match place {
        Place::ValueValidation => Place::ValueValidation,
        _ => Place::Field,
    }
}

fn string_list(m: &Map<String, Value>, key: &str) -> Vec<String> {
    m.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn flag(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn checks(m: &Map<String, Value>, path: &str, errs: &mut Vec<FieldError>) -> Checks {
    let num = |k: &str| m.get(k).and_then(Value::as_f64);
    let count = |k: &str| m.get(k).and_then(Value::as_u64);
    let pattern = m
        .get("pattern")
        .and_then(Value::as_str)
        .and_then(|p| match Regex::new(p) {
            Ok(r) => Some((r, p.to_string())),
            Err(e) => {
                errs.push(FieldError::invalid(
                    child(path, "pattern"),
                    &json!(p),
                    &format!("must be a valid regular expression: {e}"),
                ));
                None
            }
        });
    Checks {
        minimum: num("minimum"),
        maximum: num("maximum"),
        exclusive_minimum: flag(m, "exclusiveMinimum"),
        exclusive_maximum: flag(m, "exclusiveMaximum"),
        multiple_of: num("multipleOf").filter(|n| *n > 0.0),
        min_length: count("minLength"),
        max_length: count("maxLength"),
        pattern,
        min_items: count("minItems"),
        max_items: count("maxItems"),
        unique_items: flag(m, "uniqueItems"),
        min_properties: count("minProperties"),
        max_properties: count("maxProperties"),
        enumeration: m
            .get("enum")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        format: m.get("format").and_then(Value::as_str).map(str::to_string),
    }
}

/// Upstream lets a schema say of `metadata` only `type: object` and restrict `name` and
/// `generateName` (the API server owns the rest).
fn check_metadata(meta: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(m) = meta.as_object() else { return };
    for key in m.keys() {
        if !matches!(key.as_str(), "type" | "properties" | "description") {
            errs.push(FieldError::forbidden(
                child(path, key),
                "must not be specified for metadata",
            ));
        }
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            if !matches!(name.as_str(), "name" | "generateName") {
                errs.push(FieldError::forbidden(
                    format!("{path}.properties[{name}]"),
                    "must not be specified for metadata",
                ));
                continue;
            }
            let ok = p.as_object().is_some_and(|pm| {
                pm.get("type").and_then(Value::as_str) == Some("string")
                    && pm.keys().all(|k| {
                        matches!(
                            k.as_str(),
                            "type"
                                | "description"
                                | "pattern"
                                | "maxLength"
                                | "minLength"
                                | "enum"
                                | "format"
                        )
                    })
            });
            if !ok {
                errs.push(FieldError::forbidden(
                    format!("{path}.properties[{name}]"),
                    "must be a string with only pattern, length or enum restrictions",
                ));
            }
        }
    }
}
