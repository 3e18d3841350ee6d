//! How a kind's values break into fields, for managed fields: objects merge field by field,
//! lists tagged for strategic merge with a key merge item by item (an item is named by its
//! key), lists of scalars tagged for merge are sets, every other list (and every scalar) is
//! one field. This is the strategic-merge metadata the server already keeps
//! ([`PatchSchema`]), which for the served kinds agrees with upstream's list types except
//! that a keyed list is keyed by its merge key alone (container ports by `containerPort`,
//! where upstream also keys by `protocol`).
//!
//! Every walk here is bounded by the depth of the value, which the JSON parser bounds.

use serde_json::{Map, Value};

use super::fieldset::FieldSet;
use super::path::Element;
use crate::resources::patch_schema::{PatchField, PatchSchema, PatchStrategy};

/// How a list field merges.
enum ListKind<'a> {
    /// Items matched by this key field.
    Keyed(&'a str),
    /// Scalars merged as a set.
    Set,
    /// Replaced whole.
    Atomic,
}

fn list_kind(field: &PatchField) -> ListKind<'_> {
    match (field.strategy, field.merge_key) {
        (PatchStrategy::Merge, "") => ListKind::Set,
        (PatchStrategy::Merge, key) => ListKind::Keyed(key),
        _ => ListKind::Atomic,
    }
}

/// The metadata of a whole object: an untagged field whose type is `schema`.
pub fn root(schema: &'static PatchSchema) -> PatchField {
    PatchField {
        name: "",
        strategy: PatchStrategy::Default,
        merge_key: "",
        retain_keys: false,
        schema,
    }
}

fn leaf() -> FieldSet {
    let mut s = FieldSet::new();
    s.mark();
    s
}

/// The key naming `item` in a list keyed by `key`, if it has one.
fn item_key(item: &Value, key: &str) -> Option<Element> {
    let k = item.get(key)?;
    let mut m = Map::new();
    m.insert(key.to_string(), k.clone());
    Some(Element::key(&m))
}

/// Whether every item of a keyed list has its key (else the list is treated as one field).
fn all_keyed(items: &[Value], key: &str) -> bool {
    items.iter().all(|i| i.get(key).is_some())
}

/// The fields `value` sets, below the node holding it (the node itself is a member only
/// when the value is one field: a scalar, an atomic list or an empty object).
pub fn fields_of(value: &Value, field: &PatchField) -> FieldSet {
    match value {
        Value::Object(m) => fields_of_object(m, |_| true, field),
        Value::Array(items) if !items.is_empty() => match list_kind(field) {
            ListKind::Keyed(key) if all_keyed(items, key) => {
                let mut set = FieldSet::new();
                for item in items {
                    if let Some(step) = item_key(item, key) {
                        let mut s = fields_of(item, &root(field.schema));
                        s.mark();
                        set.insert_set(step, s);
                    }
                }
                set
            }
            ListKind::Set => {
                let mut set = FieldSet::new();
                for item in items {
                    set.insert_set(Element::value(item), leaf());
                }
                set
            }
            _ => leaf(),
        },
        _ => leaf(),
    }
}

/// [`fields_of`] the object made of the members of `m` that `keep` accepts, read in place
/// (a caller leaving some members out need not copy the others).
pub fn fields_of_object(
    m: &Map<String, Value>,
    keep: impl Fn(&str) -> bool,
    field: &PatchField,
) -> FieldSet {
    if field.strategy == PatchStrategy::Replace {
        return leaf();
    }
    let set = fields_of_members(m, keep, field.schema);
    if set.is_empty() {
        leaf()
    } else {
        set
    }
}

/// The fields the members of `m` that `keep` accepts set, each below its name (without
/// the node holding them, which [`fields_of_object`] adds for an object with none).
pub fn fields_of_members(
    m: &Map<String, Value>,
    keep: impl Fn(&str) -> bool,
    schema: &PatchSchema,
) -> FieldSet {
    let mut set = FieldSet::new();
    for (k, v) in m.iter().filter(|(k, _)| keep(k)) {
        set.insert_set(Element::Field(k.clone()), fields_of(v, schema.field(k)));
    }
    set
}

/// What changed from `old` to `new`: the fields set or changed (nodes that appear are
/// members themselves), and the fields removed.
pub fn compare(old: &Value, new: &Value, field: &PatchField) -> (FieldSet, FieldSet) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if field.strategy != PatchStrategy::Replace => {
            compare_members(a, b, |_| true, field.schema)
        }
        (Value::Array(a), Value::Array(b)) if !a.is_empty() && !b.is_empty() => {
            match list_kind(field) {
                ListKind::Keyed(key) if all_keyed(a, key) && all_keyed(b, key) => {
                    compare_keyed(a, b, key, field.schema)
                }
                ListKind::Set => compare_sets(a, b),
                _ => atomic_change(old, new, field),
            }
        }
        _ => atomic_change(old, new, field),
    }
}

fn atomic_change(old: &Value, new: &Value, field: &PatchField) -> (FieldSet, FieldSet) {
    if old == new {
        return (FieldSet::new(), FieldSet::new());
    }
    let mut changed = fields_of(new, field);
    changed.mark();
    let mut removed = fields_of(old, field);
    removed.subtract(&changed);
    (changed, removed)
}

/// [`compare`] of the objects made of the members of `a` and of `b` that `keep` accepts,
/// read in place (a caller leaving some members out need not copy the others).
pub fn compare_objects(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    keep: impl Fn(&str) -> bool + Copy,
    field: &PatchField,
) -> (FieldSet, FieldSet) {
    if field.strategy != PatchStrategy::Replace {
        return compare_members(a, b, keep, field.schema);
    }
    // replaced whole: one field, as `atomic_change` of the two objects
    let kept = |m: &Map<String, Value>| m.iter().filter(|(k, _)| keep(k)).count();
    let same = kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| keep(k))
            .all(|(k, v)| b.get(k) == Some(v));
    if same {
        return (FieldSet::new(), FieldSet::new());
    }
    let mut changed = fields_of_object(b, keep, field);
    changed.mark();
    let mut removed = fields_of_object(a, keep, field);
    removed.subtract(&changed);
    (changed, removed)
}

/// What changed from the members of `a` to those of `b` that `keep` accepts, each below
/// its name.
pub fn compare_members(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    keep: impl Fn(&str) -> bool + Copy,
    schema: &PatchSchema,
) -> (FieldSet, FieldSet) {
    let (mut changed, mut removed) = (FieldSet::new(), FieldSet::new());
    for (k, vb) in b.iter().filter(|(k, _)| keep(k)) {
        let field = schema.field(k);
        let step = Element::Field(k.clone());
        match a.get(k) {
            Some(va) => {
                let (c, r) = compare(va, vb, field);
                changed.insert_set(step.clone(), c);
                removed.insert_set(step, r);
            }
            None => {
                let mut added = fields_of(vb, field);
                added.mark();
                changed.insert_set(step, added);
            }
        }
    }
    for (k, va) in a.iter().filter(|(k, _)| keep(k)) {
        if !b.contains_key(k) {
            let mut gone = fields_of(va, schema.field(k));
            gone.mark();
            removed.insert_set(Element::Field(k.clone()), gone);
        }
    }
    (changed, removed)
}

fn compare_keyed(
    a: &[Value],
    b: &[Value],
    key: &str,
    schema: &'static PatchSchema,
) -> (FieldSet, FieldSet) {
    let (mut changed, mut removed) = (FieldSet::new(), FieldSet::new());
    let item = root(schema);
    for vb in b {
        let Some(step) = item_key(vb, key) else {
            continue;
        };
        match a
            .iter()
            .find(|va| item_key(va, key).as_ref() == Some(&step))
        {
            Some(va) => {
                let (c, r) = compare(va, vb, &item);
                changed.insert_set(step.clone(), c);
                removed.insert_set(step, r);
            }
            None => {
                let mut added = fields_of(vb, &item);
                added.mark();
                changed.insert_set(step, added);
            }
        }
    }
    for va in a {
        let Some(step) = item_key(va, key) else {
            continue;
        };
        if !b.iter().any(|vb| item_key(vb, key).as_ref() == Some(&step)) {
            let mut gone = fields_of(va, &item);
            gone.mark();
            removed.insert_set(step, gone);
        }
    }
    (changed, removed)
}

fn compare_sets(a: &[Value], b: &[Value]) -> (FieldSet, FieldSet) {
    let (mut changed, mut removed) = (FieldSet::new(), FieldSet::new());
    for v in b.iter().filter(|v| !a.contains(v)) {
        changed.insert_set(Element::value(v), leaf());
    }
    for v in a.iter().filter(|v| !b.contains(v)) {
        removed.insert_set(Element::value(v), leaf());
    }
    (changed, removed)
}

/// `live` with `config` merged in: objects field by field, keyed lists item by item (new
/// items after the live ones), sets as unions; anything else is `config`'s.
pub fn merge(live: &Value, config: &Value, field: &PatchField) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if field.strategy != PatchStrategy::Replace => {
            let mut out = l.clone();
            for (k, cv) in c {
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, field.schema.field(k)),
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match list_kind(field) {
            ListKind::Keyed(key) if all_keyed(l, key) && all_keyed(c, key) => {
                let item = root(field.schema);
                let mut out = l.clone();
                for cv in c {
                    let step = item_key(cv, key);
                    match out.iter_mut().find(|lv| item_key(lv, key) == step) {
                        Some(lv) => *lv = merge(lv, cv, &item),
                        None => out.push(cv.clone()),
                    }
                }
                Value::Array(out)
            }
            ListKind::Set => {
                let mut out = l.clone();
                out.extend(c.iter().filter(|v| !l.contains(v)).cloned());
                Value::Array(out)
            }
            _ => config.clone(),
        },
        _ => config.clone(),
    }
}

/// Removes from `value` every field `set` names (a member node goes whole).
pub fn remove(value: &mut Value, set: &FieldSet, field: &PatchField) {
    for path in set.paths() {
        remove_path(value, &path, field);
    }
}

fn remove_path(value: &mut Value, path: &[Element], field: &PatchField) {
    let Some((step, rest)) = path.split_first() else {
        return;
    };
    match (value, step) {
        (Value::Object(m), Element::Field(k)) => {
            if rest.is_empty() {
                m.remove(k);
            } else if let Some(v) = m.get_mut(k) {
                remove_path(v, rest, field.schema.field(k));
            }
        }
        (Value::Array(items), Element::Key(_)) => {
            let ListKind::Keyed(key) = list_kind(field) else {
                return;
            };
            let Some(at) = items
                .iter()
                .position(|i| item_key(i, key).as_ref() == Some(step))
            else {
                return;
            };
            if rest.is_empty() {
                items.remove(at);
            } else if let Some(item) = items.get_mut(at) {
                remove_path(item, rest, &root(field.schema));
            }
        }
        (Value::Array(items), Element::Value(_)) if rest.is_empty() => {
            items.retain(|i| &Element::value(i) != step);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
