//! The schemas of the served API types: generated at build time from k8s-openapi's types
//! (`src/build_openapi.rs`), embedded gzip-compressed, and completed here with the
//! strategic-merge extensions upstream's documents carry (`x-kubernetes-patch-strategy`,
//! `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`),
//! read from the kinds' [`PatchSchema`]s, the same tags the server merges patches with.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;

use serde_json::{json, Map, Value};

use crate::resources::patch_schema::PatchStrategy;
use crate::resources::{PatchSchema, RESOURCES};

/// The generated definitions, name → schema, as gzip-compressed JSON.
static COMPRESSED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/openapi_schemas.json.gz"));

/// Where definitions live in an OpenAPI v3 document; the generated references use it.
pub const V3_PREFIX: &str = "#/components/schemas/";
/// Where definitions live in a Swagger 2.0 document.
pub const V2_PREFIX: &str = "#/definitions/";

/// The embedded definitions could not be read (a broken build).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The compressed bytes did not inflate.
    #[error("inflating the embedded OpenAPI schemas: {0}")]
    Inflate(#[from] std::io::Error),
    /// The text is not a JSON object of definitions.
    #[error("parsing the embedded OpenAPI schemas: {0}")]
    Parse(#[from] serde_json::Error),
    /// The text is JSON but not an object.
    #[error("the embedded OpenAPI schemas are not an object")]
    NotAnObject,
    /// An earlier read failed (the error is kept as text by the cache that met it).
    #[error("{0}")]
    Unreadable(String),
}

/// The definition Swagger 2.0 describes as a string of format `int-or-string`.
pub const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";

/// Every definition, with the strategic-merge extensions of the served kinds.
pub struct Definitions {
    defs: Map<String, Value>,
}

impl Definitions {
    /// Inflates and parses the embedded definitions and adds the patch extensions.
    pub fn load() -> Result<Self, SchemaError> {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(COMPRESSED).read_to_end(&mut text)?;
        let Value::Object(defs) = serde_json::from_slice(&text)? else {
            return Err(SchemaError::NotAnObject);
        };
        let mut d = Definitions { defs };

        for r in RESOURCES.iter() {
            if let Some(name) = d.kind_name(r.group, r.version, r.kind) {
                d.annotate(&name, r.patch_schema, &mut HashSet::new());
            }
        }
        Ok(d)
    }

    /// Adds (or replaces) one definition.
    pub fn insert(&mut self, name: String, schema: Value) {
        self.defs.insert(name, schema);
    }

    /// The definition of one name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.defs.get(name)
    }

    /// The definition name whose `x-kubernetes-group-version-kind` names this kind.
    pub fn kind_name(&self, group: &str, version: &str, kind: &str) -> Option<String> {
        let want = json!({"group": group, "version": version, "kind": kind});
        self.defs.iter().find_map(|(name, schema)| {
            let gvks = schema.get("x-kubernetes-group-version-kind")?.as_array()?;
            gvks.contains(&want).then(|| name.clone())
        })
    }

    /// Adds the patch extensions of `patch` to the definition `name` and, through the fields
    /// that lead to tagged ones, to the definitions they reference. Tags belong to a type's
    /// field, as Go's struct tags do, so a definition shared by several kinds (`PodSpec`)
    /// carries them once.
    fn annotate(&mut self, name: &str, patch: &'static PatchSchema, seen: &mut HashSet<String>) {
        let key = format!("{name}@{:p}", patch);
        if patch.fields.is_empty() || !seen.insert(key) {
            return;
        }
        let mut next = Vec::new();
        let Some(props) = self
            .defs
            .get_mut(name)
            .and_then(|d| d.get_mut("properties"))
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        for field in patch.fields {
            let Some(Value::Object(prop)) = props.get_mut(field.name) else {
                continue;
            };
            let is_list = prop.get("type").and_then(Value::as_str) == Some("array");
            let strategy = match (field.strategy, field.retain_keys) {
                (PatchStrategy::Merge, true) => Some("merge,retainKeys"),
                (PatchStrategy::Merge, false) => Some("merge"),
                (PatchStrategy::Replace, _) => Some("replace"),
                (PatchStrategy::Default, true) => Some("retainKeys"),
                (PatchStrategy::Default, false) => None,
            };
            if let Some(s) = strategy {
                prop.insert("x-kubernetes-patch-strategy".into(), json!(s));
            }
            if !field.merge_key.is_empty() {
                prop.insert(
                    "x-kubernetes-patch-merge-key".into(),
                    json!(field.merge_key),
                );
            }
            if is_list && field.strategy == PatchStrategy::Merge {
                if field.merge_key.is_empty() {
                    prop.insert("x-kubernetes-list-type".into(), json!("set"));
                } else {
                    prop.insert("x-kubernetes-list-type".into(), json!("map"));
                    prop.insert(
                        "x-kubernetes-list-map-keys".into(),
                        json!([field.merge_key]),
                    );
                }
            }
            let target = if is_list {
                prop.get("items").and_then(ref_name)
            } else {
                prop.get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(V3_PREFIX))
            };
            if let Some(r) = target {
                next.push((r.to_string(), field.schema));
            }
        }
        for (r, schema) in next {
            self.annotate(&r, schema, seen);
        }
    }

    /// The definitions `roots` reference, directly or through others, the roots included.
    pub fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let mut todo: Vec<String> = roots.into_iter().map(str::to_string).collect();
        while let Some(name) = todo.pop() {
            if out.contains_key(&name) {
                continue;
            }
            let Some(schema) = self.defs.get(&name) else {
                continue;
            };
            collect_refs(schema, &mut todo);
            out.insert(name, schema.clone());
        }
        out
    }
}

/// The definition name a `$ref` schema points at.
pub fn ref_name(schema: &Value) -> Option<&str> {
    schema.get("$ref")?.as_str()?.strip_prefix(V3_PREFIX)
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(name) = ref_name(v) {
                out.push(name.to_string());
            }
            m.values().for_each(|c| collect_refs(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

/// OpenAPI v3 ignores the siblings of a `$ref`: as upstream, a reference that carries its own
/// description (or default) becomes `allOf: [{$ref}]` beside them.
pub fn wrap_refs_v3(v: &mut Value) {
    match v {
        Value::Object(m) => {
            // (a `properties` map may have a member named `$ref`, JSONSchemaProps does: only a
            // string is a reference)
            if m.len() > 1 && m.get("$ref").is_some_and(Value::is_string) {
                if let Some(r) = m.remove("$ref") {
                    m.insert("allOf".into(), json!([{"$ref": r}]));
                }
            }
            // a map's values are wrapped too (upstream gives them a default), which kubectl
            // explain needs to name their type (`map[string]Quantity`)
            if let Some(Value::Object(values)) = m.get_mut("additionalProperties") {
                if values.len() == 1 && values.get("$ref").is_some_and(Value::is_string) {
                    if let Some(r) = values.remove("$ref") {
                        values.insert("allOf".into(), json!([{"$ref": r}]));
                    }
                }
            }
            m.values_mut().for_each(wrap_refs_v3);
        }
        Value::Array(a) => a.iter_mut().for_each(wrap_refs_v3),
        _ => {}
    }
}

/// Rewrites references to where Swagger 2.0 keeps definitions.
pub fn refs_to_v2(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                if let Some(name) = r.strip_prefix(V3_PREFIX) {
                    *r = format!("{V2_PREFIX}{name}");
                }
            }
            m.values_mut().for_each(refs_to_v2);
        }
        Value::Array(a) => a.iter_mut().for_each(refs_to_v2),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::reviews::REVIEWS;

    fn defs() -> Definitions {
        Definitions::load().expect("the embedded schemas load")
    }

    #[test]
    fn every_served_kind_and_list_has_a_schema_with_its_gvk() {
        let d = defs();
        for r in RESOURCES.iter() {
            let name = d.kind_name(r.group, r.version, r.kind);
            assert!(name.is_some(), "{} {}", r.api_version(), r.kind);
            let list = format!("{}List", r.kind);
            assert!(d.kind_name(r.group, r.version, &list).is_some(), "{list}");
        }
        for r in REVIEWS {
            assert!(
                d.kind_name(r.group, r.version, r.kind).is_some(),
                "{}",
                r.kind
            );
        }
        assert_eq!(
            d.kind_name("", "v1", "Pod").as_deref(),
            Some("io.k8s.api.core.v1.Pod")
        );
        assert_eq!(
            d.kind_name("apps", "v1", "DeploymentList").as_deref(),
            Some("io.k8s.api.apps.v1.DeploymentList")
        );
    }

    #[test]
    fn every_reference_resolves() {
        let d = defs();
        let mut refs = Vec::new();
        for schema in d.defs.values() {
            collect_refs(schema, &mut refs);
        }
        assert!(refs.len() > 500, "{} references", refs.len());
        for r in refs {
            assert!(d.get(&r).is_some(), "{r} is referenced but not defined");
        }
        let pod = d.closure(["io.k8s.api.core.v1.Pod"]);
        for name in [
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "io.k8s.api.core.v1.PodSpec",
            "io.k8s.api.core.v1.HTTPGetAction",
            "io.k8s.apimachinery.pkg.api.resource.Quantity",
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
            "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
        ] {
            assert!(pod.contains_key(name), "{name}");
        }
        assert!(!pod.contains_key("io.k8s.api.apps.v1.Deployment"));
    }

    #[test]
    fn patch_tags_become_extensions() {
        let d = defs();
        let spec = &d.get("io.k8s.api.core.v1.PodSpec").expect("PodSpec")["properties"];
        assert_eq!(spec["containers"]["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(spec["containers"]["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(spec["containers"]["x-kubernetes-list-type"], "map");
        assert_eq!(
            spec["containers"]["x-kubernetes-list-map-keys"],
            json!(["name"])
        );
        assert_eq!(
            spec["volumes"]["x-kubernetes-patch-strategy"],
            "merge,retainKeys"
        );
        let container = &d.get("io.k8s.api.core.v1.Container").expect("Container");
        assert_eq!(
            container["properties"]["env"]["x-kubernetes-patch-merge-key"],
            "name"
        );
        let meta = &d
            .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
            .expect("meta");
        assert_eq!(
            meta["properties"]["finalizers"]["x-kubernetes-list-type"],
            "set"
        );
        assert_eq!(
            meta["properties"]["ownerReferences"]["x-kubernetes-patch-merge-key"],
            "uid"
        );
        let deployment = &d.get("io.k8s.api.apps.v1.DeploymentSpec").expect("spec");
        assert_eq!(
            deployment["properties"]["strategy"]["x-kubernetes-patch-strategy"],
            "retainKeys"
        );
        let account = &d.get("io.k8s.api.core.v1.ServiceAccount").expect("account");
        assert_eq!(
            account["properties"]["secrets"]["x-kubernetes-patch-merge-key"],
            "name"
        );
        // untagged lists stay untagged
        assert!(spec["tolerations"]
            .get("x-kubernetes-patch-strategy")
            .is_none());
    }

    #[test]
    fn refs_with_siblings_wrap_in_all_of_and_v2_refs_move() {
        let mut v = json!({"a": {"$ref": "#/components/schemas/X", "description": "d"}, "b": {"$ref": "#/components/schemas/Y"}});
        wrap_refs_v3(&mut v);
        assert_eq!(
            v["a"],
            json!({"allOf": [{"$ref": "#/components/schemas/X"}], "description": "d"})
        );
        assert_eq!(v["b"], json!({"$ref": "#/components/schemas/Y"}));
        refs_to_v2(&mut v);
        assert_eq!(v["b"], json!({"$ref": "#/definitions/Y"}));
    }
}
