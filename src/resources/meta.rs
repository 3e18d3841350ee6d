//! Object metadata the server owns: uid, timestamps, generated names, resourceVersion
//! preconditions (upstream's `rest.BeforeCreate`/`BeforeUpdate` and `FillObjectMetaSystemFields`).

use rand::Rng;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::store::Object;

/// Characters upstream uses for `generateName` suffixes (no vowels, no look-alikes).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Now, as Kubernetes writes timestamps (RFC 3339, whole seconds, UTC).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `prefix` plus five random characters, as upstream's `SimpleNameGenerator`.
pub fn generate_name(prefix: &str) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| ALPHANUMS[rng.random_range(0..ALPHANUMS.len())] as char)
        .collect();
    // names are limited to 253 characters; upstream trims the prefix to fit the suffix.
    // The prefix is not validated yet: cut at a character boundary, never inside one.
    let mut keep = prefix.len().min(253 - 5);
    while !prefix.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &prefix[..keep])
}

/// `metadata` as a mutable map, created if absent or not an object.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let Value::Object(map) = obj else {
        unreachable!("made an object above")
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let Value::Object(meta) = meta else {
        unreachable!("made an object above")
    };
    meta
}

/// Whether a stored object is marked for deletion (`metadata.deletionTimestamp` present),
/// read without parsing the rest of it.
pub fn deleting(obj: &Object) -> bool {
    #[derive(Deserialize)]
    struct Meta {
        #[serde(default, rename = "deletionTimestamp")]
        deletion_timestamp: Present,
    }
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        metadata: Option<Meta>,
    }
    obj.read::<Head>()
        .ok()
        .and_then(|h| h.metadata)
        .is_some_and(|m| m.deletion_timestamp.0)
}

/// Whether a member is there at all (even as `null`), not what it holds.
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Present(true))
    }
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// The string at JSON pointer `pointer` (`/spec/nodeName`) in `v`, or "" when there is
/// none or it is not a string.
pub fn str_at_pointer<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `metadata.name` or "".
pub fn name_of(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

/// The finalizers still pending on an object.
pub fn finalizers(obj: &Value) -> usize {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// Fills the fields the server sets on create and clears those clients may not set.
pub fn fill_on_create(obj: &mut Value) {
    let meta = meta_mut(obj);
    meta.insert(
        "uid".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    meta.insert("creationTimestamp".into(), Value::String(now()));
    for f in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "resourceVersion",
        "selfLink",
        "generation",
    ] {
        meta.remove(f);
    }
}

/// Carries the server-owned fields of the stored object into an update.
pub fn carry_on_update(new: &mut Value, old: &Value) {
    let old_meta = old.get("metadata").cloned().unwrap_or_default();
    let meta = meta_mut(new);
    if !meta
        .get("uid")
        .is_some_and(|u| u.as_str().is_some_and(|u| !u.is_empty()))
    {
        if let Some(uid) = old_meta.get("uid") {
            meta.insert("uid".into(), uid.clone());
        }
    }
    for f in [
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(f) {
            Some(v) => meta.insert(f.into(), v.clone()),
            None => meta.remove(f),
        };
    }
    meta.remove("selfLink");
}

/// Whether two states differ in anything but the resourceVersion.
pub fn differs(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        v
    };
    strip(a) != strip(b)
}

/// Whether anything outside metadata and status changed (generation rule).
pub fn spec_changed(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(a) != strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generated_names_keep_prefix_and_vary() {
        let a = generate_name("web-");
        let b = generate_name("web-");
        assert!(a.starts_with("web-") && a.len() == 9);
        assert_ne!(a, b);
        assert_eq!(generate_name(&"x".repeat(300)).len(), 253);
        // a multi-byte character straddling the cut is dropped whole
        let name = generate_name(&format!("{}é", "x".repeat(247)));
        assert_eq!(name.len(), 247 + 5);
        assert!(name.starts_with(&"x".repeat(247)));
    }

    #[test]
    fn update_keeps_server_fields() {
        let old = json!({"metadata": {"uid": "u1", "creationTimestamp": "t", "name": "a"}});
        let mut new = json!({"metadata": {"name": "a", "labels": {"x": "y"}}});
        carry_on_update(&mut new, &old);
        assert_eq!(new["metadata"]["uid"], "u1");
        assert_eq!(new["metadata"]["creationTimestamp"], "t");
        assert_eq!(new["metadata"]["labels"]["x"], "y");
    }
}
