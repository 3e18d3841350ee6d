//! `metadata.managedFields` entries and the two ways a write changes them: an update
//! ([`track_update`]) and an apply ([`apply`]).

use serde_json::{json, Map, Value};

use super::fieldset::{FieldSet, FieldsError};
use super::path::{self, Element};
use super::structure::{self, merge, remove};
use crate::resources::patch_schema::{PatchField, PatchSchema};

/// Most `Update` entries kept; older ones are folded into one, as upstream's
/// `DefaultMaxUpdateManagers`.
const MAX_UPDATE_MANAGERS: usize = 10;
/// The manager older `Update` entries are folded into.
const ANCIENT_MANAGER: &str = "ancient-changes";
/// How an entry's fields were set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// By applying them.
    Apply,
    /// By create, update or a patch of another kind.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The manager's name.
    pub manager: String,
    /// How the fields were set.
    pub operation: Operation,
    /// The API version the fields are named in.
    pub api_version: String,
    /// When the entry last changed (RFC 3339).
    pub time: String,
    /// The subresource written through (`status`), or empty.
    pub subresource: String,
    /// The fields.
    pub fields: FieldSet,
}

impl Entry {
    fn same_manager(&self, manager: &str, op: Operation, subresource: &str) -> bool {
        self.manager == manager && self.operation == op && self.subresource == subresource
    }

    /// Upstream's `printManager`: how a conflict names the manager.
    fn printed(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
            if !self.time.is_empty() {
                s.push_str(&format!(" at {}", self.time));
            }
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut e = json!({
            "manager": self.manager,
            "operation": self.operation.as_str(),
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        });
        if !self.subresource.is_empty() {
            e["subresource"] = json!(self.subresource);
        }
        e
    }

    fn from_json(v: &Value) -> Result<Entry, FieldsError> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let operation = match s("operation").as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            other => return Err(FieldsError::Invalid(format!("operation {other:?}"))),
        };
        let fields = match v.get("fieldsV1") {
            Some(f) => FieldSet::from_fields_v1(f)?,
            None => FieldSet::new(),
        };
        Ok(Entry {
            manager: s("manager"),
            operation,
            api_version: s("apiVersion"),
            time: s("time"),
            subresource: s("subresource"),
            fields,
        })
    }
}

/// The entries of a `managedFields` list.
fn entries_in(list: &Value) -> Result<Vec<Entry>, FieldsError> {
    match list {
        Value::Array(list) => list.iter().map(Entry::from_json).collect(),
        _ => Ok(Vec::new()),
    }
}

fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        let list: Vec<Value> = entries.iter().map(Entry::to_json).collect();
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// What a write is.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The manager.
    pub manager: &'a str,
    /// The API version written (`apps/v1`).
    pub api_version: String,
    /// The subresource written through, or empty.
    pub subresource: &'a str,
    /// Whether the kind has a `status` subresource (then status belongs to it alone).
    pub has_status: bool,
    /// The kind's merge metadata.
    pub schema: &'static PatchSchema,
    /// Now, RFC 3339.
    pub now: &'a str,
}

impl Request<'_> {
    fn root(&self) -> PatchField {
        structure::root(self.schema)
    }

    fn entry(&self, op: Operation, fields: FieldSet) -> Entry {
        Entry {
            manager: self.manager.to_string(),
            operation: op,
            api_version: self.api_version.clone(),
            time: self.now.to_string(),
            subresource: self.subresource.to_string(),
            fields,
        }
    }
}

/// The entries to start from: those the request itself carries when they differ from the
/// stored ones (a client resetting or migrating them, as kubectl does when it moves
/// client-side apply to server-side apply), else the stored ones.
fn base_entries(old: Option<&Value>, new: &Value) -> Vec<Entry> {
    let stored = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let sent = new.pointer("/metadata/managedFields");
    let chosen = match (sent, stored) {
        (Some(s), _) if s.as_array().is_some_and(|a| !a.is_empty()) && Some(s) != stored => {
            // upstream clears the entries when sent one empty entry
            if s.as_array()
                .is_some_and(|a| a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty))
            {
                return Vec::new();
            }
            Some(s)
        }
        _ => stored,
    };
    chosen
        .map(|v| entries_in(v).unwrap_or_default())
        .unwrap_or_default()
}

/// Records a create (`old` is `None`) or update to `new` by `req.manager` in `new`'s
/// `managedFields`.
pub fn track_update(old: Option<&Value>, new: &mut Value, req: &Request<'_>) {
    let mut entries = base_entries(old, new);
    let (mut changed, removed) = match old {
        Some(old) => req.compare_tracked(old, new),
        None => (req.tracked_fields(new), FieldSet::new()),
    };
    // the object itself is no field anyone holds
    changed.subtract(&leaf_root());
    for e in &mut entries {
        e.fields.subtract(&removed);
        if !e.same_manager(req.manager, Operation::Update, req.subresource) {
            e.fields.subtract(&changed);
        }
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.same_manager(req.manager, Operation::Update, req.subresource))
        {
            Some(e) => {
                e.fields.union_with(&changed);
                e.time = req.now.to_string();
                e.api_version = req.api_version.clone();
            }
            None => entries.push(req.entry(Operation::Update, changed)),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    cap_updates(&mut entries, req.now);
    write_entries(new, &entries);
}

fn leaf_root() -> FieldSet {
    let mut s = FieldSet::new();
    s.mark();
    s
}

/// Folds the oldest `Update` entries into one when there are too many.
fn cap_updates(entries: &mut Vec<Entry>, now: &str) {
    let updates = entries
        .iter()
        .filter(|e| e.operation == Operation::Update)
        .count();
    if updates <= MAX_UPDATE_MANAGERS {
        return;
    }
    let mut by_age: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == Operation::Update)
        .collect();
    by_age.sort_by(|&a, &b| entries[a].time.cmp(&entries[b].time));
    let excess = updates - MAX_UPDATE_MANAGERS + 1;
    let mut folded = FieldSet::new();
    let mut api_version = String::new();
    let mut drop: Vec<usize> = by_age.into_iter().take(excess).collect();
    for &i in &drop {
        folded.union_with(&entries[i].fields);
        api_version = entries[i].api_version.clone();
    }
    drop.sort_unstable();
    for i in drop.into_iter().rev() {
        entries.remove(i);
    }
    entries.push(Entry {
        manager: ANCIENT_MANAGER.into(),
        operation: Operation::Update,
        api_version,
        time: now.to_string(),
        subresource: String::new(),
        fields: folded,
    });
}

/// A field another manager holds with another value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager, printed as upstream prints it.
    pub manager: String,
    /// The field, printed as upstream prints it.
    pub field: String,
    /// The field's path.
    pub path: Vec<Element>,
}

/// Applies `config` (the applied configuration) by `req.manager` to `live` (`None` when
/// the object does not exist yet). Answers the object to store, with its managed fields,
/// or the conflicts when `force` is not set.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    req: &Request<'_>,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let root = req.root();
    let empty = Value::Object(Map::new());
    let live_value = live.unwrap_or(&empty);
    let mut entries = live.map(|l| base_entries(None, l)).unwrap_or_default();
    let mut applied_fields = req.tracked_fields(config);
    applied_fields.subtract(&leaf_root());
    let mut merged = merge(live_value, config, &root);
    let (mut changed, _) = req.compare_tracked(live_value, &merged);
    changed.subtract(&leaf_root());

    let mine = |e: &Entry| e.same_manager(req.manager, Operation::Apply, req.subresource);
    let mut conflicts = Vec::new();
    for e in entries.iter().filter(|e| !mine(e)) {
        let taken = e.fields.intersection(&changed);
        for p in taken.paths() {
            conflicts.push(Conflict {
                manager: e.printed(),
                field: path::display(&p),
                path: p,
            });
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    if force {
        for e in entries.iter_mut().filter(|e| !mine(e)) {
            e.fields.subtract(&changed);
        }
    }
    // what this manager applied before and applies no more goes, unless someone else holds it
    // (its old entry is replaced below, so its fields are taken rather than copied)
    let mut dropped = entries
        .iter_mut()
        .find(|e| mine(e))
        .map(|e| std::mem::take(&mut e.fields))
        .unwrap_or_default();
    dropped.subtract(&applied_fields);
    for e in entries.iter().filter(|e| !mine(e)) {
        dropped.subtract(&e.fields);
    }
    remove(
        &mut merged,
        &without_parents_of_kept(dropped, &applied_fields),
        &root,
    );
    entries.retain(|e| !mine(e));
    entries.push(req.entry(Operation::Apply, applied_fields));
    entries.retain(|e| !e.fields.is_empty());
    write_entries(&mut merged, &entries);
    Ok(merged)
}

/// Whether every conflict is over a field `config` (a client-side apply's last applied
/// configuration) sets: upstream's `lastAppliedManager` then lets kubectl's first
/// server-side apply of an object made by client-side apply take those fields, so the
/// move from one to the other raises no conflict.
pub fn within_last_applied(conflicts: &[Conflict], config: &Value, req: &Request<'_>) -> bool {
    let set = req.tracked_fields(config);
    conflicts.iter().all(|c| set.contains(&c.path))
}

/// `dropped` without the members that are parents of fields still applied (a list item
/// whose `.` was dropped but some of whose fields are applied again stays).
fn without_parents_of_kept(dropped: FieldSet, kept: &FieldSet) -> FieldSet {
    let kept = kept.paths();
    let mut out = FieldSet::new();
    for p in dropped.paths() {
        let still_parent = kept.iter().any(|k| k.len() > p.len() && k.starts_with(&p));
        if !still_parent {
            out.insert(&p);
        }
    }
    out
}

/// The message of a 409 for `conflicts`, as upstream's `getConflictMessage`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager, only.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests;
