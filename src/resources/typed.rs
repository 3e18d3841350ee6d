//! Decoding an object through its k8s-openapi type: what upstream's strict JSON decoder does.
//! The typed round trip drops unknown fields; comparing it with the input names them.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// An object normalised through its typed form.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The object with unknown fields dropped.
    pub object: Value,
    /// Paths of fields the kind does not have, e.g. `spec.containers[0].imagePullPolcy`.
    pub unknown_fields: Vec<String>,
}

/// The object does not fit its kind's schema (a field of the wrong type).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// Decodes `obj` as `T` and back, reporting the fields `T` does not know.
pub fn decode_as<T: DeserializeOwned + Serialize>(mut obj: Value) -> Result<Decoded, DecodeError> {
    quantities_as_strings(&mut obj, false);
    // Read from the borrowed tree: no copy of it is made to be consumed.
    let typed = T::deserialize(&obj).map_err(|e| DecodeError(e.to_string()))?;
    let object = serde_json::to_value(&typed).map_err(|e| DecodeError(e.to_string()))?;
    let mut unknown_fields = Vec::new();
    collect_unknown(&obj, &object, String::new(), &mut unknown_fields);
    Ok(Decoded {
        object,
        unknown_fields,
    })
}

/// Maps of quantities (`resources.limits`, `status.capacity`, ...) and single quantity fields.
const QUANTITY_MAPS: &[&str] = &[
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "hard",
    "used",
    "overhead",
    "allocatedResources",
];
const QUANTITY_FIELDS: &[&str] = &["sizeLimit", "divisor"];

/// Upstream accepts a JSON number where a quantity goes (`cpu: 1` in YAML); the typed
/// quantity only reads strings, so numbers there become their decimal text first.
fn quantities_as_strings(v: &mut Value, in_quantity_map: bool) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if let (true, Value::Number(n)) = (
                    in_quantity_map || QUANTITY_FIELDS.contains(&k.as_str()),
                    &*child,
                ) {
                    *child = Value::String(n.to_string());
                } else {
                    quantities_as_strings(child, QUANTITY_MAPS.contains(&k.as_str()));
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| quantities_as_strings(x, false)),
        _ => {}
    }
}

fn collect_unknown(input: &Value, known: &Value, path: String, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, v) in i {
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match k.get(key) {
                    Some(kv) => collect_unknown(v, kv, p, out),
                    // k8s-openapi omits empty/null optional fields, which are not unknown.
                    None if is_empty(v) => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(k)) => {
            for (n, (iv, kv)) in i.iter().zip(k.iter()).enumerate() {
                collect_unknown(iv, kv, format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_named() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
            "spec": {"containers": [{"name": "a", "image": "x", "imagePullPolcy": "Always"}]}});
        let d = decode_as::<Pod>(pod).unwrap();
        assert_eq!(d.unknown_fields, vec!["spec.containers[0].imagePullPolcy"]);
    }

    #[test]
    fn numeric_quantities_are_accepted() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
            "spec": {"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}],
                "volumes": [{"name": "v", "emptyDir": {"sizeLimit": 100}}]}});
        let d = decode_as::<Pod>(pod).unwrap();
        assert_eq!(
            d.object["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "1"
        );
        assert_eq!(
            d.object["spec"]["volumes"][0]["emptyDir"]["sizeLimit"],
            "100"
        );
        assert!(d.unknown_fields.is_empty());
    }

    #[test]
    fn wrong_types_are_errors() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {"containers": "nope"}});
        assert!(decode_as::<Pod>(pod).is_err());
    }
}
