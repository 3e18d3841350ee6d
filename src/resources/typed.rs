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
pub fn decode_as<T: DeserializeOwned + Serialize>(obj: Value) -> Result<Decoded, DecodeError> {
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| DecodeError(e.to_string()))?;
    let object = serde_json::to_value(&typed).map_err(|e| DecodeError(e.to_string()))?;
    let mut unknown_fields = Vec::new();
    collect_unknown(&obj, &object, String::new(), &mut unknown_fields);
    Ok(Decoded {
        object,
        unknown_fields,
    })
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
