//! The patch client-side apply sends: a three-way strategic merge patch between the last
//! applied configuration (`original`), the file (`modified`) and the live object
//! (`current`), as upstream's `strategicpatch.CreateThreeWayMergePatch` computes it.
//!
//! Changes and additions come from comparing the file with the live object, deletions from
//! comparing it with the last applied configuration, so fields other writers set (defaults,
//! the scheduler's `nodeName`, status) are left alone. Lists tagged `patchStrategy:merge`
//! are diffed item by item by their merge key ([`PatchSchema`]): a changed item carries only
//! its changed fields plus its key, a dropped item is `$patch: delete`, and
//! `$setElementOrder/<list>` keeps the file's order. This is what lets an edited image reach
//! the server without replacing the defaulted fields of the other containers, which a
//! plain JSON merge patch (RFC 7386 replaces lists whole) cannot do. Not computed:
//! `$retainKeys` for union fields (volume sources), so switching a volume's source type
//! needs the old source removed in a separate apply.

use serde_json::{Map, Value};

use crate::resources::patch_schema::{PatchField, PatchSchema, PatchStrategy};

/// The patch turning `current` into `modified` while deleting what `original` had and
/// `modified` no longer has. An empty object means "nothing to change".
pub(crate) fn three_way_patch(
    original: Option<&Value>,
    modified: &Value,
    current: &Value,
    schema: &PatchSchema,
) -> Value {
    match modified.as_object() {
        Some(new) => Value::Object(diff_maps(
            original.and_then(Value::as_object),
            new,
            current.as_object(),
            schema,
        )),
        None => modified.clone(),
    }
}

fn diff_maps(
    original: Option<&Map<String, Value>>,
    modified: &Map<String, Value>,
    current: Option<&Map<String, Value>>,
    schema: &PatchSchema,
) -> Map<String, Value> {
    let mut patch = Map::new();
    for (key, new) in modified {
        let field = schema.field(key);
        let live = current.and_then(|c| c.get(key));
        let old = original.and_then(|o| o.get(key));
        if new.is_null() {
            // An explicit null in the file asks for the field to be removed.
            if live.is_some_and(|l| !l.is_null()) {
                patch.insert(key.clone(), Value::Null);
            }
            continue;
        }
        match (new, live) {
            (Value::Object(n), Some(Value::Object(l)))
                if field.strategy != PatchStrategy::Replace =>
            {
                let sub = diff_maps(old.and_then(Value::as_object), n, Some(l), field.schema);
                if !sub.is_empty() {
                    patch.insert(key.clone(), Value::Object(sub));
                }
            }
            (Value::Array(n), Some(Value::Array(l))) if field.strategy == PatchStrategy::Merge => {
                let o = old
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                diff_merge_list(key, field, o, n, l, &mut patch);
            }
            _ => {
                if live != Some(new) {
                    patch.insert(key.clone(), new.clone());
                }
            }
        }
    }
    if let Some(original) = original {
        for key in original.keys() {
            if !modified.contains_key(key) {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    patch
}

/// A list merged by key (objects) or as a set (primitives).
fn diff_merge_list(
    key: &str,
    field: &PatchField,
    original: &[Value],
    modified: &[Value],
    current: &[Value],
    patch: &mut Map<String, Value>,
) {
    let merge_key = field.merge_key;
    if merge_key.is_empty() {
        diff_primitive_set(key, original, modified, current, patch);
        return;
    }
    let keyed = |items: &[Value]| items.iter().all(|i| i.get(merge_key).is_some());
    if !keyed(modified) || !keyed(current) || !keyed(original) {
        // Items without their merge key cannot be matched; send the list whole.
        if modified != current {
            patch.insert(key.to_string(), Value::Array(modified.to_vec()));
        }
        return;
    }
    let find =
        |items: &[Value], k: &Value| items.iter().find(|i| i.get(merge_key) == Some(k)).cloned();
    let mut items = Vec::new();
    for new in modified {
        let Some(k) = new.get(merge_key) else {
            continue;
        };
        match (find(current, k), new.as_object()) {
            (Some(live), Some(n)) => {
                let old = find(original, k);
                let mut sub = diff_maps(
                    old.as_ref().and_then(Value::as_object),
                    n,
                    live.as_object(),
                    field.schema,
                );
                if !sub.is_empty() {
                    sub.insert(merge_key.to_string(), k.clone());
                    items.push(Value::Object(sub));
                }
            }
            _ => items.push(new.clone()),
        }
    }
    for old in original {
        let Some(k) = old.get(merge_key) else {
            continue;
        };
        if find(modified, k).is_none() {
            let mut gone = Map::new();
            gone.insert(merge_key.to_string(), k.clone());
            gone.insert("$patch".into(), Value::String("delete".into()));
            items.push(Value::Object(gone));
        }
    }
    if items.is_empty() {
        return;
    }
    let order: Vec<Value> = modified
        .iter()
        .filter_map(|i| i.get(merge_key))
        .map(|k| {
            let mut m = Map::new();
            m.insert(merge_key.to_string(), k.clone());
            Value::Object(m)
        })
        .collect();
    patch.insert(format!("$setElementOrder/{key}"), Value::Array(order));
    patch.insert(key.to_string(), Value::Array(items));
}

/// A merged list of primitives (e.g. `finalizers`): additions in the list, removals through
/// `$deleteFromPrimitiveList/<list>`.
fn diff_primitive_set(
    key: &str,
    original: &[Value],
    modified: &[Value],
    current: &[Value],
    patch: &mut Map<String, Value>,
) {
    let added: Vec<Value> = modified
        .iter()
        .filter(|v| !current.contains(v))
        .cloned()
        .collect();
    let removed: Vec<Value> = original
        .iter()
        .filter(|v| !modified.contains(v))
        .cloned()
        .collect();
    if !added.is_empty() {
        patch.insert(key.to_string(), Value::Array(added));
    }
    if !removed.is_empty() {
        patch.insert(
            format!("$deleteFromPrimitiveList/{key}"),
            Value::Array(removed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::patch_schema::POD;
    use serde_json::json;

    fn pod(image: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "a"}},
               "spec": {"containers": [
                   {"name": "redis", "image": "redis", "volumeMounts": [{"name": "s", "mountPath": "/d"}]},
                   {"name": "nginx", "image": image}]}})
    }

    fn live(image: &str) -> Value {
        let mut v = pod(image);
        v["metadata"]["uid"] = json!("u1");
        v["spec"]["nodeName"] = json!("pi-1");
        for c in v["spec"]["containers"].as_array_mut().unwrap() {
            c["imagePullPolicy"] = json!("Always");
        }
        v["status"] = json!({"phase": "Pending"});
        v
    }

    #[test]
    fn unchanged_file_gives_an_empty_patch() {
        let p = three_way_patch(Some(&pod("nginx")), &pod("nginx"), &live("nginx"), &POD);
        assert_eq!(p, json!({}));
    }

    #[test]
    fn edited_image_patches_only_that_container() {
        let p = three_way_patch(
            Some(&pod("nginx")),
            &pod("nginx:1.27"),
            &live("nginx"),
            &POD,
        );
        assert_eq!(
            p,
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "redis"}, {"name": "nginx"}],
                "containers": [{"name": "nginx", "image": "nginx:1.27"}]}})
        );
    }

    #[test]
    fn fields_dropped_from_the_file_are_deleted_but_foreign_ones_kept() {
        let mut new = pod("nginx");
        new["metadata"].as_object_mut().unwrap().remove("labels");
        new["spec"]["containers"].as_array_mut().unwrap().pop();
        let p = three_way_patch(Some(&pod("nginx")), &new, &live("nginx"), &POD);
        assert_eq!(
            p,
            json!({"metadata": {"labels": null}, "spec": {
                "$setElementOrder/containers": [{"name": "redis"}],
                "containers": [{"name": "nginx", "$patch": "delete"}]}})
        );
    }

    #[test]
    fn new_items_are_sent_whole_and_lists_without_keys_replaced() {
        let mut new = pod("nginx");
        new["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "side", "image": "busybox"}));
        new["spec"]["containers"][0]["args"] = json!(["a", "b"]);
        let p = three_way_patch(Some(&pod("nginx")), &new, &live("nginx"), &POD);
        let items = p["spec"]["containers"].as_array().unwrap();
        assert!(
            items.contains(&json!({"name": "redis", "args": ["a", "b"]})),
            "{p}"
        );
        assert!(
            items.contains(&json!({"name": "side", "image": "busybox"})),
            "{p}"
        );
    }

    #[test]
    fn primitive_sets_add_and_remove_items() {
        let old = json!({"metadata": {"finalizers": ["a", "b"]}});
        let new = json!({"metadata": {"finalizers": ["a", "c"]}});
        let cur = json!({"metadata": {"finalizers": ["a", "b", "z"]}});
        let p = three_way_patch(Some(&old), &new, &cur, &POD);
        assert_eq!(
            p,
            json!({"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["b"]}})
        );
    }
}
