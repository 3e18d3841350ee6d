//! JSON merge patch (RFC 7386), `application/merge-patch+json`.
//!
//! Upstream applies it with `gopkg.in/evanphx/json-patch.v4`'s `MergePatch`, whose corner
//! cases this module keeps: a body that is not JSON, `null`, or a scalar is a 400
//! `Invalid JSON Patch`; an array body replaces the whole document; nulls inside newly added
//! objects are dropped while nulls inside arrays are kept.

use serde_json::{Map, Value};

use super::PatchError;

/// Upstream's `jsonpatch.ErrBadJSONPatch` text.
const BAD_PATCH: &str = "Invalid JSON Patch";

/// Applies a merge patch to `original`.
pub fn apply(original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let patch: Value =
        serde_json::from_slice(patch).map_err(|_| PatchError::BadRequest(BAD_PATCH.into()))?;
    match patch {
        Value::Object(patch) => match original {
            Value::Object(doc) => {
                let mut doc = doc.clone();
                merge_objects(&mut doc, patch);
                Ok(Value::Object(doc))
            }
            // `MergePatch` turns a non-object document straight into the (pruned) patch.
            _ => {
                let mut patch = Value::Object(patch);
                prune_nulls(&mut patch);
                Ok(patch)
            }
        },
        Value::Array(_) => {
            let mut patch = patch;
            prune_nulls(&mut patch);
            Ok(patch)
        }
        _ => Err(PatchError::BadRequest(BAD_PATCH.into())),
    }
}

/// evanphx `mergeDocs`: `null` deletes; a key missing (or null) in the document takes the
/// pruned patch value; anything else merges recursively.
fn merge_objects(doc: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            doc.remove(&key);
            continue;
        }
        match doc.get_mut(&key) {
            Some(current) if !current.is_null() => merge_value(current, value),
            _ => {
                let mut value = value;
                prune_nulls(&mut value);
                doc.insert(key, value);
            }
        }
    }
}

/// evanphx `merge`: only object-into-object recurses; otherwise the patch value wins
/// (pruned only when the current value is not an object, as upstream does).
fn merge_value(current: &mut Value, patch: Value) {
    match (current.as_object_mut(), patch) {
        (Some(cur), Value::Object(patch)) => merge_objects(cur, patch),
        (Some(_), patch) => *current = patch,
        (None, mut patch) => {
            prune_nulls(&mut patch);
            *current = patch;
        }
    }
}

/// evanphx `pruneNulls`: drops null members of objects, recursing through arrays, whose own
/// null items stay.
fn prune_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, item| !item.is_null());
            map.values_mut().for_each(prune_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merge(original: Value, patch: Value) -> Result<Value, PatchError> {
        apply(&original, patch.to_string().as_bytes())
    }

    #[test]
    fn merges_objects_and_deletes_nulls() {
        let original = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}});
        let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": null});
        assert_eq!(
            merge(original, patch).unwrap(),
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}})
        );
    }

    #[test]
    fn lists_are_replaced_and_new_objects_pruned() {
        let original = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"spec": {"containers": [{"name": "c", "image": null}], "new": {"k": null, "v": 1}}});
        assert_eq!(
            merge(original, patch).unwrap(),
            json!({"spec": {"containers": [{"name": "c"}], "new": {"v": 1}}})
        );
    }

    #[test]
    fn array_body_replaces_the_document() {
        assert_eq!(
            merge(json!({"a": 1}), json!([{"x": null}, null])).unwrap(),
            json!([{}, null])
        );
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        for body in [&b"{"[..], b"null", b"\"x\"", b"3", b""] {
            let err = apply(&json!({}), body).unwrap_err();
            assert_eq!(err, PatchError::BadRequest("Invalid JSON Patch".into()));
        }
    }
}
