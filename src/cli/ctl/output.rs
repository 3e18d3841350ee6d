//! Output formats of `get`: the server's `meta.k8s.io/v1 Table` printed as kubectl's
//! `HumanReadablePrinter` prints it (`printTable` in k8s.io/cli-runtime), and the objects
//! themselves as YAML, JSON or `kind/name`.

use serde::Serialize;
use serde_json::{json, Value};

use super::error::CtlError;
use super::tabwriter::{self, TABLE};

/// `-o` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Objects as YAML.
    Yaml,
    /// Objects as JSON.
    Json,
    /// The table with priority-1 columns too.
    Wide,
    /// `kind/name` per object.
    Name,
}

/// One server Table, or several merged into one (rows of every table share the first one's
/// columns when they are the same kind).
#[derive(Debug, Default)]
pub(crate) struct TableRows {
    /// `columnDefinitions` of the first table.
    pub columns: Vec<Value>,
    /// Rows of every table.
    pub rows: Vec<Value>,
}

impl TableRows {
    /// Adds a Table answer's columns (first time) and rows.
    pub fn extend(&mut self, table: &Value) {
        if self.columns.is_empty() {
            if let Some(c) = table.get("columnDefinitions").and_then(Value::as_array) {
                self.columns = c.clone();
            }
        }
        if let Some(r) = table.get("rows").and_then(Value::as_array) {
            self.rows.extend(r.iter().cloned());
        }
    }
}

/// Renders rows as kubectl does: upper-cased headers, priority-0 columns only unless `wide`,
/// a `NAMESPACE` column first with `-A`, nil cells empty, numbers as Go's `%v`, multi-line
/// cells cut at the first line break with `...`. Nothing at all when there are no rows.
pub(crate) fn table(t: &TableRows, wide: bool, with_namespace: bool) -> String {
    if t.rows.is_empty() {
        return String::new();
    }
    let shown: Vec<bool> = t
        .columns
        .iter()
        .map(|c| wide || c.get("priority").and_then(Value::as_i64).unwrap_or(0) == 0)
        .collect();
    let mut text = String::new();
    let mut header: Vec<String> = Vec::new();
    if with_namespace {
        header.push("NAMESPACE".into());
    }
    for (c, show) in t.columns.iter().zip(&shown) {
        if *show {
            header.push(
                c.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_uppercase(),
            );
        }
    }
    text.push_str(&header.join("\t"));
    text.push('\n');
    for row in &t.rows {
        let mut cells: Vec<String> = Vec::new();
        if with_namespace {
            let ns = row
                .pointer("/object/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            cells.push(ns.to_string());
        }
        let values = row
            .get("cells")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for (cell, show) in values.iter().zip(&shown) {
            if *show {
                cells.push(cell_text(cell));
            }
        }
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    tabwriter::align(&text, TABLE)
}

/// A cell as Go prints an `interface{}` decoded from JSON.
fn cell_text(cell: &Value) -> String {
    let s = match cell {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // tabwriter treats these as line ends; upstream truncates there (`cellBreakChars`).
    match s.find(['\n', '\r', '\x0c']) {
        Some(i) => format!("{}...", &s[..i]),
        None => s.replace('\t', " "),
    }
}

/// kubectl's stderr notice for an empty result (`No resources found in NS namespace.`).
pub(crate) fn no_resources(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("No resources found in {ns} namespace."),
        None => "No resources found".to_string(),
    }
}

/// The document `-o yaml|json` prints: the object itself when one object was asked for by
/// name, else a `v1 List` (kubectl's printer wraps lists that way, with an empty
/// `resourceVersion`).
pub(crate) fn document(objects: Vec<Value>, single: bool) -> Value {
    if single && objects.len() == 1 {
        return objects.into_iter().next().unwrap_or(Value::Null);
    }
    json!({
        "apiVersion": "v1",
        "items": objects,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    })
}

/// YAML as kubectl writes it (keys sorted, block style).
pub(crate) fn yaml(doc: &Value) -> Result<String, CtlError> {
    serde_yaml_ng::to_string(doc).map_err(|e| CtlError::Usage(format!("rendering YAML: {e}")))
}

/// JSON as kubectl writes it: four-space indentation and a trailing newline.
pub(crate) fn json_text(doc: &Value) -> Result<String, CtlError> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    doc.serialize(&mut ser)
        .map_err(|e| CtlError::Usage(format!("rendering JSON: {e}")))?;
    buf.push(b'\n');
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_table() -> TableRows {
        let mut t = TableRows::default();
        t.extend(&json!({
            "kind": "Table",
            "columnDefinitions": [
                {"name": "Name", "priority": 0}, {"name": "Ready", "priority": 0},
                {"name": "Status", "priority": 0}, {"name": "Restarts", "priority": 0},
                {"name": "Age", "priority": 0}, {"name": "IP", "priority": 1},
                {"name": "Node", "priority": 1}, {"name": "Nominated Node", "priority": 1},
            ],
            "rows": [{"cells": ["shared-volumes", "0/2", "Pending", 0, "12s", "<none>", "pi-1", null],
                      "object": {"metadata": {"name": "shared-volumes", "namespace": "default"}}}]
        }));
        t
    }

    #[test]
    fn default_table_hides_wide_columns() {
        assert_eq!(
            table(&pod_table(), false, false),
            "NAME             READY   STATUS    RESTARTS   AGE\n\
             shared-volumes   0/2     Pending   0          12s\n"
        );
    }

    #[test]
    fn wide_table_shows_every_column_and_empty_nil_cells() {
        assert_eq!(
            table(&pod_table(), true, false),
            "NAME             READY   STATUS    RESTARTS   AGE   IP       NODE   NOMINATED NODE\n\
             shared-volumes   0/2     Pending   0          12s   <none>   pi-1   \n"
        );
    }

    #[test]
    fn all_namespaces_adds_the_namespace_column() {
        let text = table(&pod_table(), false, true);
        assert!(text.starts_with("NAMESPACE   NAME  "), "{text}");
        assert!(text
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("default     shared-volumes"));
    }

    #[test]
    fn empty_tables_print_nothing_and_multiline_cells_are_cut() {
        assert_eq!(table(&TableRows::default(), false, false), "");
        assert_eq!(cell_text(&json!("first\nsecond")), "first...");
        assert_eq!(cell_text(&json!(true)), "true");
        assert_eq!(
            no_resources(Some("default")),
            "No resources found in default namespace."
        );
    }

    #[test]
    fn documents_are_objects_or_lists() {
        let one = json!({"kind": "Pod"});
        assert_eq!(document(vec![one.clone()], true), one);
        let list = document(vec![one.clone()], false);
        assert_eq!(list["kind"], "List");
        assert_eq!(list["items"][0], one);
        assert_eq!(json_text(&one).unwrap(), "{\n    \"kind\": \"Pod\"\n}\n");
        assert_eq!(yaml(&one).unwrap(), "kind: Pod\n");
    }
}
