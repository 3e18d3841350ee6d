//! Reading and comparing fields of an object's JSON form, so per-kind rules read like the
//! upstream Go that walks typed structs.

use serde_json::{Map, Value};

static EMPTY_MAP: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();

/// The value at `path` (object keys), if every step exists.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(*k))
}

/// The string at `path`, or `""` when absent (Go's zero value).
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `path`, if present.
pub fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

/// The list at `path`, or an empty slice.
pub fn list_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The map at `path`, or an empty map.
pub fn map_at<'a>(v: &'a Value, path: &[&str]) -> &'a Map<String, Value> {
    at(v, path)
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY_MAP.get_or_init(Map::new))
}

/// Whether the field at `path` is set to something other than null.
pub fn is_set(v: &Value, path: &[&str]) -> bool {
    at(v, path).is_some_and(|x| !x.is_null())
}

/// The object at `path`, created (as `{}`) along the way when missing; `None` when a step
/// exists but is not an object.
pub fn object_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for k in path {
        let m = cur.as_object_mut()?;
        let next = m
            .entry(k.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if next.is_null() {
            *next = Value::Object(Map::new());
        }
        cur = next;
    }
    cur.as_object_mut()
}

/// Sets `key` in `m` to `value` when it is absent or null (upstream's "if x == nil { x = d }").
pub fn default_field(m: &mut Map<String, Value>, key: &str, value: Value) {
    match m.get(key) {
        None | Some(Value::Null) => {
            m.insert(key.to_string(), value);
        }
        Some(Value::String(s)) if s.is_empty() => {
            m.insert(key.to_string(), value);
        }
        _ => {}
    }
}

/// Compares two optional fields as upstream's semantic equality does: absent, null, empty
/// string, empty list and empty map all count as unset.
pub fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn unset(v: Option<&Value>) -> bool {
        match v {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(m)) => m.is_empty(),
            _ => false,
        }
    }
    if unset(a) && unset(b) {
        return true;
    }
    a == b
}

/// Replaces `new[key]` with `old[key]` (removing it when `old` has none): upstream's
/// `PrepareForUpdate` keeping what only a subresource may change.
pub fn keep_old(new: &mut Value, old: &Value, key: &str) {
    if let Some(m) = new.as_object_mut() {
        match old.get(key) {
            Some(v) => {
                m.insert(key.to_string(), v.clone());
            }
            None => {
                m.remove(key);
            }
        }
    }
}
