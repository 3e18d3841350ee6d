//! Strategic merge patch, `application/strategic-merge-patch+json`, as the API server applies
//! it (upstream `StrategicMergeMapPatch` in `k8s.io/apimachinery/pkg/util/strategicpatch`,
//! with `MergeParallelList` and `IgnoreUnmatchedNulls` on).
//!
//! Objects merge key by key and `null` deletes a key; lists follow the kind's
//! [`PatchSchema`] (see `strategic_list`). The directives kubectl sends are honoured:
//! `$patch: replace|delete` on an object, `$retainKeys`, `$deleteFromPrimitiveList/<field>`
//! and `$setElementOrder/<field>`. Upstream's quirks are kept where a client could see them:
//! an unknown `$patch` value is an error, `$patch: merge` on an object is one too, and values
//! added whole (a new key or item) keep whatever directives upstream leaves in them.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::error::sentinel;
use super::strategic_list as list;
use super::strategic_order as order;
use super::{go_format, json_patch, PatchError};
use crate::resources::patch_schema::{PatchSchema, PatchStrategy};

/// The directive key (upstream `directiveMarker`).
pub(super) const DIRECTIVE: &str = "$patch";
/// `$patch: delete`.
pub(super) const DELETE: &str = "delete";
/// `$patch: replace`.
pub(super) const REPLACE: &str = "replace";
/// `$patch: merge`, which upstream rejects everywhere when applying.
pub(super) const MERGE: &str = "merge";
/// The list of keys an object keeps (upstream `retainKeysDirective`).
const RETAIN_KEYS: &str = "$retainKeys";
/// Prefix of the parallel list deleting items from a merged list of primitives.
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
/// Prefix of the parallel list giving the order of a merged list.
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Applies a strategic merge patch to `original` (an object) for a kind described by `schema`.
pub fn apply(schema: &PatchSchema, original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(patch)
        .map_err(|e| PatchError::BadRequest(json_patch::syntax_message(&e)))?;
    let patch = match patch {
        Value::Object(patch) => patch,
        // Decoding `null` into upstream's map leaves it nil: nothing to merge.
        Value::Null => return Ok(original.clone()),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                go_format::json_kind(&other)
            )))
        }
    };
    let original = original.as_object().cloned().unwrap_or_default();
    merge_map(original, patch, schema).map(Value::Object)
}

/// Upstream `mergeMap`: merges `patch` into `original`, both objects of the type `schema`
/// describes.
pub(super) fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: &PatchSchema,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        // Upstream `handleDirectiveInMergeMap`.
        return match directive.as_str() {
            Some(REPLACE) => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some(DELETE) => Ok(Map::new()),
            _ => Err(sentinel::bad_patch_type(directive, &patch)),
        };
    }
    retain_keys(&mut original, &mut patch)?;
    apply_element_orders(&mut original, &mut patch, schema)?;

    for (key, patch_value) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let field = directive_target(&key, DELETE_FROM_PRIMITIVE_LIST)
                .ok_or_else(sentinel::bad_primitive_list)?;
            (
                if field.is_empty() {
                    key.clone()
                } else {
                    field.to_string()
                },
                true,
            )
        } else {
            (key, false)
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        // A key the live object lacks, or holding another type, takes the patch value whole.
        let same_type = original
            .get(&key)
            .map(|live| go_format::type_name(live) == go_format::type_name(&patch_value));
        if same_type != Some(true) {
            if !is_delete_list {
                add_whole(&mut original, key, patch_value);
            }
            continue;
        }
        let Some(live) = original.get_mut(&key) else {
            continue;
        };
        let field = schema.field(&key);
        match (std::mem::take(live), patch_value) {
            (Value::Object(live_map), Value::Object(patch_map)) => {
                // Upstream `mergeMapHandler`.
                *live = Value::Object(if field.strategy == PatchStrategy::Replace {
                    patch_map
                } else {
                    merge_map(live_map, patch_map, field.schema)?
                });
            }
            (Value::Array(live_list), Value::Array(patch_list)) => {
                *live = Value::Array(list::merge(live_list, patch_list, field, is_delete_list)?);
            }
            (_, scalar) => *live = scalar,
        }
    }
    Ok(original)
}

/// A value that replaces or adds a key whole: upstream drops its nulls and the objects
/// carrying a `$patch` directive (`discardNullValuesFromPatch`, `removeDirectives`).
fn add_whole(original: &mut Map<String, Value>, key: String, mut value: Value) {
    discard_nulls(&mut value);
    match remove_directives(value) {
        Some(value) => original.insert(key, value),
        None => original.remove(&key),
    };
}

/// Upstream `applyRetainKeysDirective`: every key the patch sets must be listed, and the
/// object keeps only the listed keys.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retained) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retained) = retained else {
        return Err(sentinel::bad_retain_keys());
    };
    let retained: HashSet<&str> = retained.iter().filter_map(Value::as_str).collect();
    let listed = |k: &str| retained.contains(k);
    let sets_unlisted = patch.iter().any(|(k, v)| {
        !v.is_null()
            && !k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            && !k.starts_with(SET_ELEMENT_ORDER)
            && !listed(k)
    });
    if sets_unlisted {
        return Err(sentinel::bad_retain_keys());
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// Upstream `mergePatchIntoOriginal`: merges each list named by a `$setElementOrder/<field>`
/// directive and orders it: the directive's order first, then the patch's, then the live
/// object's for items only the server knows.
fn apply_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: &PatchSchema,
) -> Result<(), PatchError> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive in directives {
        let Some(order) = patch.remove(&directive) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(sentinel::bad_arg_type("[]interface {}", &order));
        };
        let name = directive_target(&directive, SET_ELEMENT_ORDER)
            .ok_or_else(sentinel::bad_set_element_order)?
            .to_string();
        let live = list_at(original, &name)?;
        let patched = list_at(patch, &name)?;
        let field = schema.field(&name);
        check_element_order(patched.unwrap_or(&[]), &order, field.merge_key)?;
        let merged = match (live, patched) {
            (None, None) => continue,
            (Some(live), None) => live.to_vec(),
            (None, Some(patched)) => patched
                .iter()
                .cloned()
                .filter_map(remove_directives)
                .collect(),
            (Some(live), Some(patched)) => {
                list::merge(live.to_vec(), patched.to_vec(), field, false)?
            }
        };
        let key = field.merge_key;
        let (in_order, server_only) = if key.is_empty() {
            list::partition_primitives(merged, &order)
        } else {
            list::partition_maps(merged, &order, key)?
        };
        let live = live.unwrap_or(&[]);
        let element_type = list::element_type(&[live, patched.unwrap_or(&[])])?;
        let is_map = list::is_map_type(element_type);
        let server_order = match patched {
            Some(patched)
                if is_map && !key.is_empty() && field.strategy == PatchStrategy::Merge =>
            {
                order::live_view_after_merge(live, patched, key)
            }
            _ => live.to_vec(),
        };
        let ordered =
            order::normalize_order(in_order, server_only, &order, &server_order, key, is_map)?;
        original.insert(name.clone(), Value::Array(ordered));
        patch.remove(&name);
    }
    Ok(())
}

/// The list under `key`, if present; upstream's `ErrBadArgType` if it is not a list.
fn list_at<'m>(map: &'m Map<String, Value>, key: &str) -> Result<Option<&'m [Value]>, PatchError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(other) => Err(sentinel::bad_arg_type("[]interface {}", other)),
    }
}

/// Upstream `validatePatchWithSetOrderList`: the patch list's items (deletions aside) must
/// appear in the `$setElementOrder` list, in the same relative order.
fn check_element_order(patched: &[Value], order: &[Value], key: &str) -> Result<(), PatchError> {
    if patched.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut items = Vec::with_capacity(patched.len());
    for item in patched {
        // Upstream `extractToDeleteItems`: items of a keyed list must be objects.
        if !key.is_empty() {
            list::as_map(item)?;
            if list::is_delete_directive(item) {
                continue;
            }
        }
        items.push(item);
    }
    let (mut p, mut o) = (0, 0);
    while p < items.len() && o < order.len() {
        if items[p].get(DIRECTIVE).is_some() {
            p += 1;
            continue;
        }
        if list::same_item(items[p], &order[o], key)? {
            p += 1;
        }
        o += 1;
    }
    if p < items.len() && o >= order.len() {
        return Err(PatchError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            go_format::list(patched),
            go_format::list(order)
        )));
    }
    Ok(())
}

/// Upstream `extractKey`: the field named after `prefix/`; `None` when malformed.
fn directive_target<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    match key.split_once('/') {
        Some((p, field)) if p == prefix => Some(field),
        _ => None,
    }
}

/// Upstream `removeDirectives`: drops every object that carries `$patch`; `None` when the
/// value itself is one.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) if map.contains_key(DIRECTIVE) => None,
        Value::Object(map) => Some(Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// Upstream `discardNullValuesFromPatch`: drops null members of objects at any depth (null
/// list items stay).
fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}
