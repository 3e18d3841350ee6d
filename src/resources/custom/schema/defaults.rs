//! Defaulting from the schema's `default` values, as upstream's `structuraldefaulting`: a
//! member absent (or null where the node is not nullable) takes its node's default, and
//! defaulting goes on inside what was defaulted.

use serde_json::Value;

use super::{Additional, Schema};

/// Fills the defaults of `obj` from `schema`.
pub fn apply_defaults(obj: &mut Value, schema: &Schema) {
    match obj {
        Value::Object(m) => {
            for (name, cs) in &schema.properties {
                let absent = match m.get(name) {
                    None => true,
                    Some(Value::Null) => !cs.nullable,
                    Some(_) => false,
                };
                if absent {
                    match &cs.default {
                        Some(d) => {
                            m.insert(name.clone(), d.clone());
                        }
                        None => {
                            // A null the node does not allow is dropped, as upstream prunes it.
                            if m.get(name).is_some_and(Value::is_null) {
                                m.remove(name);
                            }
                            continue;
                        }
                    }
                }
                if let Some(v) = m.get_mut(name) {
                    apply_defaults(v, cs);
                }
            }
            if let Additional::Schema(vs) = &schema.additional {
                for v in m.values_mut() {
                    apply_defaults(v, vs);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = &schema.items {
                for item in items.iter_mut() {
                    apply_defaults(item, is);
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
    fn absent_and_null_members_take_defaults_deeply() {
        let (s, errs) = parse(
            &json!({"type": "object", "properties": {"spec": {"type": "object",
            "default": {},
            "properties": {
                "replicas": {"type": "integer", "default": 1},
                "mode": {"type": "string", "default": "fast"},
                "note": {"type": "string", "nullable": true, "default": "n"},
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "protocol": {"type": "string", "default": "TCP"}}}}
            }}}}),
            "",
        );
        assert!(errs.is_empty(), "{errs:?}");
        let mut obj = json!({"metadata": {}});
        apply_defaults(&mut obj, &s);
        assert_eq!(
            obj["spec"],
            json!({"replicas": 1, "mode": "fast", "note": "n"})
        );
        let mut obj = json!({"spec": {"replicas": 3, "mode": null, "note": null, "ports": [{}]}});
        apply_defaults(&mut obj, &s);
        assert_eq!(
            obj["spec"],
            json!({"replicas": 3, "mode": "fast", "note": null, "ports": [{"protocol": "TCP"}]})
        );
    }
}
