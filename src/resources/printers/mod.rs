//! Table columns for `kubectl get`, as upstream's `pkg/printers/internalversion` defines them.
//!
//! The server answers `Accept: application/json;as=Table` with every column, wide ones
//! included (upstream generates with `Wide: true`); kubectl hides priority-1 columns unless
//! `-o wide` and upper-cases the headers. One file per kind holds its columns and row function.

pub mod certificatesigningrequest;
pub mod configmap;
pub mod controllerrevision;
pub mod crd;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod duration;
pub mod endpoints;
pub mod endpointslice;
pub mod event;
pub mod job;
pub mod lease;
pub mod namespace;
pub mod node;
pub mod persistentvolume;
pub mod persistentvolumeclaim;
pub mod pod;
pub mod pod_template;
pub mod poddisruptionbudget;
pub mod rbac;
pub mod replicaset;
pub mod replicationcontroller;
pub mod scale;
pub mod secret;
pub mod service;
pub mod serviceaccount;
pub mod statefulset;
pub mod storageclass;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Fills one row: cells of `obj`, one per column; `now` is used for ages.
pub type RowFn = dyn Fn(&Value, DateTime<Utc>) -> Vec<Value> + Send + Sync;

/// One column of a `meta.k8s.io/v1 Table`.
pub struct Column {
    /// Header as upstream spells it, e.g. `Name` (kubectl shows it upper-cased).
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean`.
    pub type_: &'static str,
    /// OpenAPI format, e.g. `name` for the name column.
    pub format: &'static str,
    /// Column description.
    pub description: &'static str,
    /// 0 for default columns, 1 for `-o wide` ones.
    pub priority: i32,
}

/// Columns and the function that fills one row.
pub struct Printer {
    /// The columns.
    pub columns: &'static [Column],
    /// Cells of one row, one per column; `now` is used for ages.
    pub row: &'static RowFn,
}

/// The `Name` column every kind starts with.
pub(crate) const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};

/// The `Age` column (time since `metadata.creationTimestamp`).
pub(crate) const AGE: Column = Column {
    name: "Age",
    type_: "string",
    format: "",
    description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
    priority: 0,
};

/// The `Created At` column of kinds upstream prints with its default table (the creation
/// timestamp itself, not an age).
pub(crate) const CREATED_AT: Column = Column {
    name: "Created At",
    type_: "date",
    format: "",
    description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
    priority: 0,
};

/// A string column.
pub(crate) const fn text_column(
    name: &'static str,
    description: &'static str,
    priority: i32,
) -> Column {
    Column {
        name,
        type_: "string",
        format: "",
        description,
        priority,
    }
}

/// The value at `path` inside `obj`, if any.
pub(crate) fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, key| v.get(key))
}

/// The string at `path`, or `""` as Go's zero value.
pub(crate) fn text<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    at(obj, path).and_then(Value::as_str).unwrap_or("")
}

/// The list at `path`, or an empty one.
pub(crate) fn list<'a>(obj: &'a Value, path: &[&str]) -> &'a [Value] {
    at(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The number of entries of the map at `path`.
pub(crate) fn map_len(obj: &Value, path: &[&str]) -> usize {
    at(obj, path)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn is_deleting(obj: &Value) -> bool {
    at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null())
}

/// A string cell.
pub(crate) fn cell(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

/// The `Name` cell.
pub(crate) fn name_cell(obj: &Value) -> Value {
    cell(text(obj, &["metadata", "name"]))
}

/// The `Age` cell, as upstream's `translateTimestampSince(obj.CreationTimestamp)`.
pub(crate) fn age_cell(obj: &Value, now: DateTime<Utc>) -> Value {
    cell(duration::since(
        at(obj, &["metadata", "creationTimestamp"]),
        now,
    ))
}

/// Upstream's `labels.FormatLabels`: `k=v` pairs sorted by key, or `<none>`.
pub(crate) fn format_labels(labels: Option<&Value>) -> String {
    let Some(map) = labels.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "<none>".to_string();
    };
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// Upstream's `helper.GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order.
pub(crate) fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// A storage quantity as printed: the stored text, or `0` when absent (Go's zero Quantity).
pub(crate) fn storage_quantity(map: Option<&Value>) -> String {
    match map.and_then(|m| m.get("storage")).and_then(Value::as_str) {
        Some(q) if !q.is_empty() => q.to_string(),
        _ => "0".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_are_sorted_pairs() {
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn access_modes_are_abbreviated_in_upstream_order() {
        let modes = json!(["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"]);
        assert_eq!(access_modes(modes.as_array().unwrap()), "RWO,RWX");
        assert_eq!(access_modes(&[]), "");
    }
}
