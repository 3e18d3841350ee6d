//! Pruning: members the schema does not name are dropped (unless a node preserves unknown
//! fields), as upstream's `structuralpruning.Prune`. The dropped paths are returned so a
//! request with `fieldValidation=Strict` can be refused and `Warn` can warn.

use serde_json::Value;

use super::{child, index, Schema};

/// Drops the members of `obj` (a whole custom resource) its schema does not know; returns
/// their paths. `apiVersion`, `kind` and `metadata` stay at the root.
pub fn prune(obj: &mut Value, schema: &Schema) -> Vec<String> {
    let mut dropped = Vec::new();
    walk(obj, schema, "", true, &mut dropped);
    dropped
}

fn walk(v: &mut Value, s: &Schema, path: &str, is_resource: bool, dropped: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let keep_unknown = s.keeps_unknown();
            let mut gone = Vec::new();
            for (k, child_value) in m.iter_mut() {
                if is_resource && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let p = child(path, k);
                if let Some(cs) = s.property(k) {
                    walk(child_value, cs, &p, cs.embedded, dropped);
                } else if !keep_unknown {
                    gone.push(k.clone());
                    dropped.push(p);
                }
            }
            for k in gone {
                m.remove(&k);
            }
        }
        Value::Array(items) => {
            if let Some(is) = &s.items {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, is, &index(path, i), is.embedded, dropped);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::parse;
    use super::*;

    #[test]
    fn unknown_members_go_and_are_named() {
        let (s, errs) = parse(
            &json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}}
            }}}}),
            "",
        );
        assert!(errs.is_empty(), "{errs:?}");
        let mut obj = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
            "spec": {"size": 1, "extra": true, "labels": {"k": "v"}, "free": {"any": {"x": 1}},
                     "items": [{"a": "b", "c": 1}]},
            "status": {"x": 1}});
        let dropped = prune(&mut obj, &s);
        assert_eq!(dropped, vec!["spec.extra", "spec.items[0].c", "status"]);
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
                "spec": {"size": 1, "labels": {"k": "v"}, "free": {"any": {"x": 1}}, "items": [{"a": "b"}]}})
        );
    }
}
