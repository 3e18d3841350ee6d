//! The order of a merged strategic-merge-patch list.
//!
//! Mirrors upstream's `normalizeElementOrder`, `normalizeSliceOrder`, `mergeSortedSlice` and
//! `index` (`k8s.io/apimachinery/pkg/util/strategicpatch/patch.go`): items the patch names
//! keep the patch's (or `$setElementOrder`'s) order, items only the server has keep the live
//! order, and the two are interleaved by their live positions. kubectl users see this order in
//! every list they apply, so it is reproduced exactly, quirks included.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::error::sentinel;
use super::strategic_list::{as_map, is_delete_directive};
use super::{strategic, PatchError};

/// Upstream `normalizeElementOrder`: patch items in patch order, server-only items in live
/// order, then interleaved so that both relative orders hold and, where both are known, the
/// live order decides.
pub(super) fn normalize_order(
    in_patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
    is_map: bool,
) -> Result<Vec<Value>, PatchError> {
    let in_patch = sort_by(in_patch, patch_order, key, is_map)?;
    let server_only = sort_by(server_only, server_order, key, is_map)?;
    // Upstream `mergeSortedSlice`.
    let live = Positions::new(server_order, key, is_map);
    let mut left = server_only.into_iter().peekable();
    let mut right = in_patch.into_iter().peekable();
    let mut out = Vec::with_capacity(left.len() + right.len());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!((live.of(l), live.of(r)), (Some(a), Some(b)) if a < b),
        };
        out.extend(if take_left { left.next() } else { right.next() });
    }
    Ok(out)
}

/// Upstream `normalizeSliceOrder`: a stable sort by position in `order`; `$patch: delete`
/// items go last.
fn sort_by(
    items: Vec<Value>,
    order: &[Value],
    key: &str,
    is_map: bool,
) -> Result<Vec<Value>, PatchError> {
    let (mut items, deletions): (Vec<Value>, Vec<Value>) = if is_map {
        for item in items.iter().chain(order) {
            let map = as_map(item)?;
            if !map.contains_key(key) {
                return Err(sentinel::no_merge_key(map, key));
            }
        }
        items
            .into_iter()
            .partition(|item| !is_delete_directive(item))
    } else {
        (items, Vec::new())
    };
    let positions = Positions::new(order, key, is_map);
    items.sort_by_cached_key(|item| positions.of(item).unwrap_or(usize::MAX));
    items.extend(deletions);
    Ok(items)
}

/// The live list as upstream's `mergePatchIntoOriginal` sees it after merging: `mergeSlice`
/// works in place on the live list's backing array, so its `$patch: delete` items shift later
/// items left (leaving the last slots stale) and the patch items it appends overwrite the
/// freed slots. Upstream orders server-only items by this view, which decides where they land
/// when a patch with `$setElementOrder` both deletes and adds items; it is reproduced so the
/// merged order matches upstream's.
pub(super) fn live_view_after_merge(live: &[Value], patch: &[Value], key: &str) -> Vec<Value> {
    let mut view = live.to_vec();
    let mut len = view.len();
    let mut replaced = false;
    for item in patch {
        match item.get(strategic::DIRECTIVE).and_then(Value::as_str) {
            Some(strategic::DELETE) => {
                let Some(doomed) = item.get(key) else {
                    continue;
                };
                // Upstream `deleteMatchingEntries`: `append(l[:i], l[i+1:]...)` per match.
                while let Some(i) = view[..len].iter().position(|v| v.get(key) == Some(doomed)) {
                    for j in i..len - 1 {
                        view[j] = view[j + 1].clone();
                    }
                    len -= 1;
                }
            }
            Some(strategic::REPLACE) => replaced = true,
            _ => {}
        }
    }
    if replaced {
        return view;
    }
    // Upstream `mergeSliceWithoutSpecialElements` appends unmatched items after the kept ones.
    let mut present: HashSet<String> = view[..len]
        .iter()
        .map(|v| match_text(v, key, true))
        .collect();
    for item in patch
        .iter()
        .filter(|item| item.get(strategic::DIRECTIVE).is_none())
    {
        if present.insert(match_text(item, key, true)) {
            if let Some(slot) = view.get_mut(len) {
                *slot = item.clone();
            }
            len += 1;
        }
    }
    view
}

/// The text items are matched on: the merge key's value for objects, the item itself for
/// primitives. A missing key matches like JSON null, as upstream's `nil` does.
pub(super) fn match_text(item: &Value, key: &str, is_map: bool) -> String {
    if is_map {
        item.get(key).map_or_else(|| "null".to_string(), encode)
    } else {
        encode(item)
    }
}

/// The JSON encoding of `v`, the identity items are compared by.
pub(super) fn encode(v: &Value) -> String {
    v.to_string()
}

/// First position of each match text in a list (upstream's `index`).
pub(super) struct Positions<'k> {
    first: HashMap<String, usize>,
    key: &'k str,
    is_map: bool,
}

impl<'k> Positions<'k> {
    pub(super) fn new(list: &[Value], key: &'k str, is_map: bool) -> Self {
        let mut first = HashMap::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            first.entry(match_text(item, key, is_map)).or_insert(i);
        }
        Positions { first, key, is_map }
    }

    pub(super) fn of(&self, item: &Value) -> Option<usize> {
        self.first
            .get(&match_text(item, self.key, self.is_map))
            .copied()
    }
}
