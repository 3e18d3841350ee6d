//! Definitions of custom resources for the OpenAPI documents, as apiextensions-apiserver
//! publishes them: the CRD version's schema under the reversed group's name
//! (`com.example.v1.Widget`) with `apiVersion`, `kind` and `metadata` (an `ObjectMeta`
//! reference) added, and the list kind beside it.

use serde_json::{json, Value};

use super::schemas::{Definitions, V3_PREFIX};
use crate::resources::ResourceType;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// The definition name of a custom kind: `com.example.v1.Widget` for `example.com/v1`.
fn name(r: &ResourceType, kind: &str) -> String {
    let reversed: Vec<&str> = r.group.split('.').rev().collect();
    format!("{}.{}.{kind}", reversed.join("."), r.version)
}

fn gvk(r: &ResourceType, kind: &str) -> Value {
    json!([{"group": r.group, "version": r.version, "kind": kind}])
}

/// Adds the definitions of the custom kinds among `types` to `defs`.
pub fn add(defs: &mut Definitions, types: &[&ResourceType]) {
    for r in types {
        let Some(schema) = r.strategy.custom_schema() else {
            continue;
        };
        let mut object = schema.clone();
        if let Some(m) = object.as_object_mut() {
            let props = m.entry("properties").or_insert_with(|| json!({}));
            if let Some(p) = props.as_object_mut() {
                p.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
                p.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
                p.insert("metadata".into(), json!({"$ref": format!("{V3_PREFIX}{OBJECT_META}"), "description": "Standard object's metadata."}));
            }
            m.insert("x-kubernetes-group-version-kind".into(), gvk(r, r.kind));
        }
        let item = name(r, r.kind);
        let list_kind = format!("{}List", r.kind);
        let list = json!({
            "description": format!("{list_kind} is a list of {}", r.kind),
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "items": {"type": "array", "items": {"$ref": format!("{V3_PREFIX}{item}")}},
                "metadata": {"$ref": format!("{V3_PREFIX}{LIST_META}")},
            },
            "x-kubernetes-group-version-kind": gvk(r, &list_kind),
        });
        defs.insert(name(r, &list_kind), list);
        defs.insert(item, object);
    }
}
