//! Custom resources: the served type a CustomResourceDefinition's version describes, built
//! from the CRD's JSON (names, scope, subresources, printer columns, structural schema).
//!
//! Served types are `&'static` like the built-in ones, so each distinct definition is built
//! once and kept for the life of the process ([`resource_type`] interns them by their
//! defining text): a CRD changed a thousand times costs a thousand small definitions, and
//! status updates, which do not change the definition, cost nothing.

pub mod jsonpath;
mod printer;
pub mod schema;
mod strategy;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use serde_json::{json, Value};

pub use strategy::CustomStrategy;

use super::{patch_schema, ResourceType};

/// Definitions built so far, by their defining text.
static BUILT: OnceLock<Mutex<HashMap<String, &'static ResourceType>>> = OnceLock::new();

/// The type `crd` (a CustomResourceDefinition as JSON) serves at `version`, if it names one.
/// Names come from `status.acceptedNames` once the CRD has them.
pub fn resource_type(crd: &Value, version: &str) -> Option<&'static ResourceType> {
    let spec = crd.get("spec")?;
    let v = spec
        .get("versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(version))?;
    let accepted = crd
        .pointer("/status/acceptedNames")
        .filter(|n| {
            n.get("plural")
                .and_then(Value::as_str)
                .is_some_and(|p| !p.is_empty())
        })
        .unwrap_or(&Value::Null);
    let defining = json!({
        "group": spec.get("group"),
        "names": spec.get("names"),
        "accepted": accepted,
        "scope": spec.get("scope"),
        "version": v,
        "storage": storage_version(crd),
    })
    .to_string();
    let built = BUILT.get_or_init(Mutex::default);
    // Nothing panics while the map is held, so a poisoned lock still holds a sound map.
    let mut built = built.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rt) = built.get(&defining) {
        return Some(rt);
    }
    let stored = storage_version(crd).unwrap_or(version);
    let rt = build(spec, accepted, v, stored)?;
    built.insert(defining, rt);
    Some(rt)
}

pub(crate) fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_list(v: Option<&Value>) -> &'static [&'static str] {
    let list: Vec<&'static str> = v
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(leak).collect())
        .unwrap_or_default();
    Box::leak(list.into_boxed_slice())
}

fn build(
    spec: &Value,
    accepted: &Value,
    version: &Value,
    storage_version: &str,
) -> Option<&'static ResourceType> {
    let names = if accepted.is_null() {
        spec.get("names")?
    } else {
        accepted
    };
    let name = |k: &str| names.get(k).and_then(Value::as_str).unwrap_or("");
    let kind = name("kind");
    let plural = name("plural");
    if kind.is_empty() || plural.is_empty() {
        return None;
    }
    let singular = match name("singular") {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let group = spec.get("group").and_then(Value::as_str)?;
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
    let subs = version.get("subresources");
    let mut subresources = Vec::new();
    if subs.and_then(|s| s.get("status")).is_some() {
        subresources.push("status");
    }
    if subs.and_then(|s| s.get("scale")).is_some() {
        subresources.push("scale");
    }
    let version_name = leak(version.get("name").and_then(Value::as_str)?);
    let kind = leak(kind);
    let group = leak(group);
    if version.to_string().contains("\"x-kubernetes-validations\"") {
        tracing::warn!(
            group,
            kind,
            version = version_name,
            "x-kubernetes-validations (CEL) rules of this custom resource are not enforced"
        );
    }
    let stored = format!("{group}/{storage_version}");
    let strategy = CustomStrategy::new(version, namespaced, stored);
    let strategy: &'static CustomStrategy = Box::leak(Box::new(strategy));
    let printer = printer::build(version.get("additionalPrinterColumns"));
    let rt = ResourceType {
        group,
        version: version_name,
        kind,
        plural: leak(plural),
        singular: leak(&singular),
        short_names: leak_list(names.get("shortNames")),
        namespaced,
        ephemeral: false,
        subresources: Box::leak(subresources.into_boxed_slice()),
        categories: leak_list(names.get("categories")),
        strategy,
        printer,
        patch_schema: strategy
            .schema()
            .map_or(&patch_schema::NONE, schema::patch_schema),
    };
    Some(Box::leak(Box::new(rt)))
}

/// Whether `crd`'s condition `kind` is `True`.
pub fn condition_true(crd: &Value, kind: &str) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Every type `crd` serves now: none until it is `Established`, then one per served version.
pub fn served_types(crd: &Value) -> Vec<&'static ResourceType> {
    if !condition_true(crd, "Established") {
        return Vec::new();
    }
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .filter_map(|name| resource_type(crd, name))
                .collect()
        })
        .unwrap_or_default()
}

/// The version `crd` stores objects at.
pub fn storage_version(crd: &Value) -> Option<&str> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))?
        .get("name")?
        .as_str()
}
