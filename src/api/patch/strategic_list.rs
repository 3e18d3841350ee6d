//! Lists in a strategic merge patch: merging by merge key or as a set, the list-item
//! directives (`$patch: delete|replace`); `strategic_order` orders the result.
//!
//! Mirrors `mergeSlice` and its helpers in upstream's
//! `k8s.io/apimachinery/pkg/util/strategicpatch/patch.go`. Upstream compares items with Go's
//! `==` and scans lists linearly; here items are matched through a hash of their JSON
//! encoding (which keeps `1` and `1.0` apart, as Go's `int64`/`float64` do), so a large
//! hostile list costs linear time.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::error::sentinel;
use super::strategic_order::{encode, normalize_order, Positions};
use super::{go_format, strategic, PatchError};
use crate::resources::patch_schema::{PatchField, PatchSchema, PatchStrategy};

/// Go's type name for decoded JSON objects, the only items merged by key.
const MAP_TYPE: &str = "map[string]interface {}";
/// Go's type name for decoded JSON lists.
const LIST_TYPE: &str = "[]interface {}";

/// Upstream `mergeSliceHandler`: merge lists merge, every other list is replaced by the patch.
/// A `$deleteFromPrimitiveList` list is always merged (as a deletion).
pub(super) fn merge(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: &PatchField,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if field.strategy != PatchStrategy::Merge && !is_delete_list {
        return Ok(patch);
    }
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let element_type = element_type(&[&original, &patch])?;
    if element_type != MAP_TYPE {
        if is_delete_list {
            let doomed = Positions::new(&patch, "", false);
            return Ok(original
                .into_iter()
                .filter(|item| doomed.of(item).is_none())
                .collect());
        }
        let merged = union(original.iter().chain(&patch).cloned());
        let (in_patch, server_only) = partition_primitives(merged, &patch);
        return normalize_order(
            in_patch,
            server_only,
            &patch,
            &original,
            field.merge_key,
            false,
        );
    }
    if field.merge_key.is_empty() {
        return Err(PatchError::Internal(
            "cannot merge lists without merge key for struct".into(),
        ));
    }
    let key = field.merge_key;
    let (original, patch) = apply_item_directives(original, patch, key)?;
    let merged = merge_by_key(original.clone(), patch.clone(), key, field.schema)?;
    let (in_patch, server_only) = partition_maps(merged, &patch, key)?;
    normalize_order(in_patch, server_only, &patch, &original, key, true)
}

/// Upstream `sliceElementType`: the one Go type of every item of `lists`.
pub(super) fn element_type(lists: &[&[Value]]) -> Result<&'static str, PatchError> {
    let mut seen: Option<&'static str> = None;
    for item in lists.iter().flat_map(|list| list.iter()) {
        let t = go_format::type_name(item);
        match seen {
            None if t == LIST_TYPE => return Err(sentinel::list_of_lists()),
            None => seen = Some(t),
            Some(first) if first != t => {
                let all: Vec<String> = lists.iter().map(|l| go_format::list(l)).collect();
                return Err(PatchError::Internal(format!(
                    "list element types are not identical: [{}]",
                    all.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    seen.ok_or_else(|| PatchError::Internal("no elements in any of the given slices".into()))
}

/// Whether `t`, from [`element_type`], is the type of items merged by key.
pub(super) fn is_map_type(t: &str) -> bool {
    t == MAP_TYPE
}

/// Upstream `mergeSliceWithSpecialElements`: `$patch: delete` items remove every live item
/// with their merge key value; `$patch: replace` makes the remaining patch items the list.
fn apply_item_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(map) = item.as_object() else {
            plain.push(item);
            continue;
        };
        match map.get(strategic::DIRECTIVE) {
            None => plain.push(item),
            Some(Value::String(d)) if d == strategic::DELETE => {
                let value = map
                    .get(key)
                    .ok_or_else(|| sentinel::no_merge_key(map, key))?;
                original = delete_matching(original, key, value)?;
            }
            Some(Value::String(d)) if d == strategic::REPLACE => replace = true,
            Some(Value::String(d)) if d == strategic::MERGE => {
                return Err(PatchError::Internal(
                    "merging lists cannot yet be specified in the patch".into(),
                ))
            }
            Some(other) => return Err(sentinel::bad_patch_type(other, map)),
        }
    }
    Ok(if replace {
        (plain, Vec::new())
    } else {
        (original, plain)
    })
}

/// Upstream `deleteMatchingEntries`: drops the items whose `key` equals `value`; like
/// upstream's repeated scan it fails on any item that is not an object.
fn delete_matching(
    original: Vec<Value>,
    key: &str,
    value: &Value,
) -> Result<Vec<Value>, PatchError> {
    let mut kept = Vec::with_capacity(original.len());
    for item in original {
        match item.as_object() {
            None => return Err(sentinel::not_a_map(kept.len())),
            Some(m) if m.get(key) == Some(value) => {}
            Some(_) => kept.push(item),
        }
    }
    Ok(kept)
}

/// Upstream `mergeSliceWithoutSpecialElements`: each patch item merges into the live item
/// with the same merge key value, or is appended as is.
fn merge_by_key(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    items: &PatchSchema,
) -> Result<Vec<Value>, PatchError> {
    let mut index = KeyedItems::new(&original, key);
    for item in patch {
        let Value::Object(item) = item else { continue };
        let value = item
            .get(key)
            .ok_or_else(|| sentinel::no_merge_key(&item, key))?;
        match index.find(value)? {
            Some(i) => {
                // `find` only returns positions of objects.
                if let Some(Value::Object(live)) = original.get_mut(i).map(std::mem::take) {
                    original[i] = Value::Object(strategic::merge_map(live, item, items)?);
                }
            }
            None => {
                index.insert(value, original.len());
                original.push(Value::Object(item));
            }
        }
    }
    Ok(original)
}

/// Upstream `deduplicateScalars` (the merged order is normalised afterwards).
fn union(items: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut seen = HashSet::new();
    items.filter(|item| seen.insert(encode(item))).collect()
}

/// Upstream `partitionPrimitivesByPresentInList`: (items in `by`, the others).
pub(super) fn partition_primitives(merged: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let present = Positions::new(by, "", false);
    merged
        .into_iter()
        .partition(|item| present.of(item).is_some())
}

/// Upstream `partitionMapsByPresentInList`: (items whose merge key value is in `by`, the others).
pub(super) fn partition_maps(
    merged: Vec<Value>,
    by: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let index = KeyedItems::new(by, key);
    let (mut in_by, mut others) = (Vec::new(), Vec::new());
    for item in merged {
        let map = as_map(&item)?;
        let value = map
            .get(key)
            .ok_or_else(|| sentinel::no_merge_key(map, key))?;
        if index.find(value)?.is_some() {
            in_by.push(item);
        } else {
            others.push(item);
        }
    }
    Ok((in_by, others))
}

/// Whether `item` is a `$patch: delete` list item.
pub(super) fn is_delete_directive(item: &Value) -> bool {
    item.get(strategic::DIRECTIVE)
        .is_some_and(|d| d.as_str() == Some(strategic::DELETE))
}

/// Upstream `findMapInSliceBasedOnKeyValue` over one list: items carrying the merge key, by
/// value; the scan fails at the first item that is not an object.
struct KeyedItems {
    by_value: HashMap<String, usize>,
    first_non_map: Option<usize>,
}

impl KeyedItems {
    fn new(list: &[Value], key: &str) -> Self {
        let mut by_value = HashMap::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            if let Some(value) = item.as_object().and_then(|m| m.get(key)) {
                by_value.entry(encode(value)).or_insert(i);
            }
        }
        KeyedItems {
            by_value,
            first_non_map: list.iter().position(|item| !item.is_object()),
        }
    }

    fn insert(&mut self, value: &Value, position: usize) {
        self.by_value.entry(encode(value)).or_insert(position);
    }

    fn find(&self, value: &Value) -> Result<Option<usize>, PatchError> {
        let hit = self.by_value.get(&encode(value)).copied();
        match (hit, self.first_non_map) {
            (Some(i), Some(stop)) if i < stop => Ok(Some(i)),
            (_, Some(stop)) => Err(sentinel::not_a_map(stop)),
            (hit, None) => Ok(hit),
        }
    }
}

/// Upstream `mergeKeyValueEqual`, used to check a `$setElementOrder` list against its patch.
pub(super) fn same_item(left: &Value, right: &Value, key: &str) -> Result<bool, PatchError> {
    if key.is_empty() {
        return Ok(left == right);
    }
    let (l, r) = (as_map(left)?, as_map(right)?);
    let lv = l.get(key).ok_or_else(|| sentinel::no_merge_key(l, key))?;
    let rv = r.get(key).ok_or_else(|| sentinel::no_merge_key(r, key))?;
    Ok(lv == rv)
}

/// `value` as an object, or upstream's `ErrBadArgType`.
pub(super) fn as_map(value: &Value) -> Result<&Map<String, Value>, PatchError> {
    value
        .as_object()
        .ok_or_else(|| sentinel::bad_arg_type(MAP_TYPE, value))
}
