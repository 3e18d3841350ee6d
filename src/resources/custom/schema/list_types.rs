//! The merge metadata server-side apply needs, read from a structural schema's list types:
//! `x-kubernetes-list-type: map` with one key merges items by that key, `set` merges
//! scalars as a set, and every other list is atomic, as upstream treats a CRD's lists. A
//! map keyed by several fields is treated as atomic here (the field manager keys items by
//! one field).

use super::{Schema, Type};
use crate::resources::custom::leak;
use crate::resources::patch_schema::{PatchField, PatchSchema, PatchStrategy, LEAF, OBJECT_META};

/// The merge metadata of a custom resource whose schema is `root`.
pub fn patch_schema(root: &Schema) -> &'static PatchSchema {
    let mut fields = vec![PatchField {
        name: "metadata",
        strategy: PatchStrategy::Default,
        merge_key: "",
        retain_keys: false,
        schema: &OBJECT_META,
    }];
    fields.extend(tagged(root).into_iter().filter(|f| f.name != "metadata"));
    Box::leak(Box::new(PatchSchema {
        fields: Box::leak(fields.into_boxed_slice()),
    }))
}

/// The fields of an object node that are tagged lists or lead to them.
fn tagged(s: &Schema) -> Vec<PatchField> {
    let mut out = Vec::new();
    for (name, child) in &s.properties {
        let (strategy, key, inner) = if child.kind == Some(Type::Array) {
            match (child.list_type.as_deref(), child.list_map_keys.as_slice()) {
                (Some("map"), [key]) => {
                    (PatchStrategy::Merge, key.as_str(), child.items.as_deref())
                }
                (Some("set"), _) => (PatchStrategy::Merge, "", None),
                _ => (PatchStrategy::Default, "", None),
            }
        } else {
            (PatchStrategy::Default, "", Some(child))
        };
        let nested = inner.map(tagged).unwrap_or_default();
        if strategy == PatchStrategy::Default && nested.is_empty() {
            continue;
        }
        let schema: &'static PatchSchema = if nested.is_empty() {
            &LEAF
        } else {
            Box::leak(Box::new(PatchSchema {
                fields: Box::leak(nested.into_boxed_slice()),
            }))
        };
        out.push(PatchField {
            name: leak(name),
            strategy,
            merge_key: leak(key),
            retain_keys: false,
            schema,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::parse;
    use super::*;

    #[test]
    fn keyed_lists_sets_and_the_way_to_them() {
        let (s, errs) = parse(
            &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {"name": {"type": "string"},
                              "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}},
                "pairs": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["a", "b"],
                          "items": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}},
                "plain": {"type": "array", "items": {"type": "string"}},
                "size": {"type": "integer"}
            }}}}),
            "",
        );
        assert!(errs.is_empty(), "{errs:?}");
        let p = patch_schema(&s);
        assert_eq!(
            p.field("metadata").schema.field("finalizers").strategy,
            PatchStrategy::Merge
        );
        let spec = p.field("spec").schema;
        let ports = spec.field("ports");
        assert_eq!(
            (ports.strategy, ports.merge_key),
            (PatchStrategy::Merge, "name")
        );
        let tags = ports.schema.field("tags");
        assert_eq!((tags.strategy, tags.merge_key), (PatchStrategy::Merge, ""));
        for atomic in ["pairs", "plain", "size"] {
            assert_eq!(
                spec.field(atomic).strategy,
                PatchStrategy::Default,
                "{atomic}"
            );
        }
    }
}
